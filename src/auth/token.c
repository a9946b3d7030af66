/* token.c - issue HS256 tokens with libjwt, verify them ourselves.
 *
 * libjwt 1.10 (Debian 12) is not trusted with verification: its jwt_decode
 * accepts an HS512 token signed with the same secret, ignores exp, compares
 * signatures with strcmp and keeps the last of duplicate claim names. So the
 * verifier does it all here: the header's algorithm and members, the
 * HMAC-SHA256 signature (OpenSSL HMAC, compared with CRYPTO_memcmp), then the
 * claims, parsed with jansson refusing duplicate names, and their types and
 * times. libjwt only builds and signs the tokens we issue.
 */
#include "token.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* base64url without padding, as JWS uses it. */
static size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz)
{
    size_t len;
    if (outsz < 4 * ((n + 2) / 3) + 1)
        return 0;
    len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return len;
}

/* Decode a base64url segment of n bytes and parse it as JSON, refusing
 * duplicate member names; NULL when malformed. */
static json_t *decode_segment(const char *seg, size_t n)
{
    char *tmp;
    unsigned char *raw;
    size_t padded = (n + 3) / 4 * 4;
    int len;
    json_t *j = NULL;

    if (n == 0 || n > V2M_TOKEN_MAX)
        return NULL;
    tmp = malloc(padded + 1);
    raw = malloc(padded + 1);
    if (!tmp || !raw)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char ch = seg[i];
        if (ch == '-')
            ch = '+';
        else if (ch == '_')
            ch = '/';
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9')))
            goto out;
        tmp[i] = ch;
    }
    for (size_t i = n; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = '\0';
    len = EVP_DecodeBlock(raw, (unsigned char *)tmp, (int)padded);
    if (len < 0)
        goto out;
    len -= (int)(padded - n); /* EVP_DecodeBlock counts padding as zero bytes */
    if (len <= 0)
        goto out;
    j = json_loadb((const char *)raw, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
out:
    free(tmp);
    free(raw);
    return j;
}

v2m_err v2m_token_issue(const char *secret, const char *username, int admin, long long gen,
                        long ttl, time_t now, char **out, v2m_error *err)
{
    jwt_t *jwt = NULL;
    char *s = NULL;
    v2m_err rc = V2M_OK;

    *out = NULL;
    if (jwt_new(&jwt) != 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (jwt_add_grant(jwt, "username", username) || jwt_add_grant_int(jwt, "exp", (long)now + ttl) ||
        jwt_add_grant_int(jwt, "iat", (long)now) || jwt_add_grant_bool(jwt, "admin", admin != 0) ||
        jwt_add_grant_int(jwt, "gen", (long)gen) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret))) {
        rc = v2m_fail(err, V2M_EINTERNAL, "cannot build token");
        goto done;
    }
    s = jwt_encode_str(jwt);
    if (!s) {
        rc = v2m_fail(err, V2M_EINTERNAL, "cannot sign token");
        goto done;
    }
    *out = s; /* libjwt 1.10 allocates with malloc */
done:
    jwt_free(jwt);
    return rc;
}

/* Check the header and the signature; on success *payload_at and *payload_len
 * locate the claims segment. */
static v2m_err check_signature(const char *secret, const char *token, const char **payload_at,
                               size_t *payload_len, v2m_error *err)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char want[128];
    size_t wantlen, sig_len;
    json_t *hdr;
    const char *alg;

    if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
        return v2m_fail(err, V2M_EDENIED, "token is not three dot-separated parts");
    hdr = decode_segment(token, (size_t)(dot1 - token));
    if (!hdr || !json_is_object(hdr)) {
        json_decref(hdr);
        return v2m_fail(err, V2M_EDENIED,
                        "token header is not base64url JSON (or repeats a member)");
    }
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0) {
        v2m_fail(err, V2M_EDENIED, "token algorithm '%s' refused (HS256 only)",
                 alg ? alg : "(none)");
        json_decref(hdr);
        return V2M_EDENIED;
    }
    if (json_object_get(hdr, "crit")) {
        json_decref(hdr);
        return v2m_fail(err, V2M_EDENIED, "token header has crit (no extension is understood)");
    }
    json_decref(hdr);
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)token,
              (size_t)(dot2 - token), mac, &maclen))
        return v2m_fail(err, V2M_EINTERNAL, "HMAC failed");
    wantlen = b64url_encode(mac, maclen, want, sizeof want);
    sig_len = strlen(dot2 + 1);
    if (sig_len != wantlen || CRYPTO_memcmp(want, dot2 + 1, wantlen) != 0)
        return v2m_fail(err, V2M_EDENIED, "token signature does not match");
    *payload_at = dot1 + 1;
    *payload_len = (size_t)(dot2 - dot1 - 1);
    return V2M_OK;
}

v2m_err v2m_token_verify(const char *secret, const char *token, time_t now, long max_ttl,
                         v2m_claims *c, json_t **claims, v2m_error *err)
{
    const char *payload = NULL;
    size_t payload_len = 0;
    json_t *j = NULL, *v;
    v2m_err rc;

    memset(c, 0, sizeof *c);
    if (claims)
        *claims = NULL;
    if (!token || !*token)
        return v2m_fail(err, V2M_EDENIED, "empty token");
    if (strlen(token) > V2M_TOKEN_MAX)
        return v2m_fail(err, V2M_EDENIED, "token longer than %d bytes", V2M_TOKEN_MAX);
    rc = check_signature(secret, token, &payload, &payload_len, err);
    if (rc != V2M_OK)
        return rc;
    j = decode_segment(payload, payload_len);
    if (!j || !json_is_object(j)) {
        rc = v2m_fail(err, V2M_EDENIED,
                      "token claims are not a JSON object (or repeat a name)");
        goto done;
    }
    v = json_object_get(j, "username");
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > V2M_EMAIL_MAX) {
        rc = v2m_fail(err, V2M_EDENIED, "token has no valid username claim");
        goto done;
    }
    snprintf(c->username, sizeof c->username, "%s", json_string_value(v));
    v = json_object_get(j, "exp");
    if (!json_is_integer(v)) {
        rc = v2m_fail(err, V2M_EDENIED, "token has no integer exp claim");
        goto done;
    }
    c->exp = json_integer_value(v);
    v = json_object_get(j, "iat");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        rc = v2m_fail(err, V2M_EDENIED, "token has no non-negative integer iat claim");
        goto done;
    }
    c->iat = json_integer_value(v);
    v = json_object_get(j, "admin");
    if (!json_is_boolean(v)) {
        rc = v2m_fail(err, V2M_EDENIED, "token has no boolean admin claim");
        goto done;
    }
    c->admin = json_is_true(v);
    v = json_object_get(j, "gen");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        rc = v2m_fail(err, V2M_EDENIED, "token gen claim is not a non-negative integer");
        goto done;
    }
    c->gen = v ? json_integer_value(v) : 0;
    if (c->exp <= (long long)now) {
        rc = v2m_fail(err, V2M_EDENIED, "token expired at %lld", c->exp);
        goto done;
    }
    if (c->iat > (long long)now + V2M_TOKEN_LEEWAY) {
        rc = v2m_fail(err, V2M_EDENIED, "token issued in the future (iat %lld)", c->iat);
        goto done;
    }
    /* iat >= 0, so exp - iat cannot overflow. */
    if (c->exp - c->iat > (long long)max_ttl) {
        rc = v2m_fail(err, V2M_EDENIED, "token lifetime %lld s is longer than %ld s",
                      c->exp - c->iat, max_ttl);
        goto done;
    }
    if (claims) {
        *claims = j;
        j = NULL;
    }
    rc = V2M_OK;
done:
    json_decref(j);
    return rc;
}

int v2m_token_from_bearer(const char *header, char *out, size_t outsz)
{
    size_t n;

    if (!header || strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return -1;
    header += 6;
    while (*header == ' ' || *header == '\t')
        header++;
    n = strlen(header);
    while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= outsz)
        return -1;
    memcpy(out, header, n);
    out[n] = '\0';
    return 0;
}
