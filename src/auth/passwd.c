/* passwd.c - crypt(3) hashing and constant-time verification. */
#include "passwd.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

v2m_err v2m_passwd_hash(const char *password, char *out, size_t outsz, v2m_error *err)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd;
    const char *h;
    v2m_err rc = V2M_OK;

    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt))
        return v2m_fail(err, V2M_EINTERNAL, "crypt_gensalt: no yescrypt salt");
    cd = calloc(1, sizeof *cd);
    if (!cd)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    h = crypt_rn(password, salt, cd, sizeof *cd);
    if (!h || h[0] == '*' || strlen(h) >= outsz)
        rc = v2m_fail(err, V2M_EINTERNAL, "crypt: hashing failed");
    else
        strcpy(out, h);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rc;
}

/* Equal-length digests make the comparison independent of where the inputs
 * differ and of their lengths. */
static int same_secret(const char *a, const char *b)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, strlen(a), da);
    SHA256((const unsigned char *)b, strlen(b), db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

int v2m_passwd_verify(const char *password, const char *stored, int *legacy)
{
    /* A fixed yescrypt setting for the dummy hash of unknown users. */
    static const char dummy[] = "$y$j9T$V2mDummySaltForTiming/$";
    struct crypt_data *cd;
    const char *h;
    int ok = 0;

    if (legacy)
        *legacy = 0;
    if (stored && stored[0] != '$') {
        if (legacy)
            *legacy = 1;
        return same_secret(password, stored);
    }
    cd = calloc(1, sizeof *cd);
    if (!cd)
        return 0;
    h = crypt_rn(password, stored ? stored : dummy, cd, sizeof *cd);
    if (stored && h && h[0] != '*')
        ok = same_secret(h, stored);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

v2m_err v2m_passwd_check_new(const char *password, v2m_error *err)
{
    size_t n = strlen(password), chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)password[i] & 0xc0) != 0x80; /* not a continuation byte */
    if (n == 0)
        return v2m_fail(err, V2M_EINVAL, "password is empty");
    if (chars < V2M_PASSWORD_MIN)
        return v2m_fail(err, V2M_EINVAL, "password too short: at least %d characters",
                        V2M_PASSWORD_MIN);
    if (n > V2M_PASSWORD_MAX)
        return v2m_fail(err, V2M_EINVAL, "password longer than %d bytes", V2M_PASSWORD_MAX);
    if (strpbrk(password, "\r\n"))
        return v2m_fail(err, V2M_EINVAL, "password contains a line break");
    return V2M_OK;
}
