/* fuzz_token.c - bearer token verification (v2m_token_verify) with a fixed
 * secret, at a fixed time.
 *
 * The first byte of the input picks the mode:
 *   'R' (and anything unknown): the rest is a raw token, as a client sends it.
 *   'S': the rest is "HEADER\nPAYLOAD" (or only PAYLOAD, under the header
 *        {"alg":"HS256","typ":"JWT"}): both are base64url-encoded and the
 *        token is signed with the secret, so the signature check passes and
 *        the algorithm, decoding and claim checks see the mutated JSON.
 *   'I': the rest is "ADMIN TTL USERNAME": a token is issued for it and must
 *        verify with the same claims while unexpired.
 * Checks: every refusal is V2M_EDENIED; an accepted token's claims are the
 * ones the payload carries, of the right types, unexpired. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token.h"
#include "fuzz.h"

static const char secret[] = "fuzz-secret-0123456789";
#define NOW ((time_t)1700000000)
#define MAX_TTL (10L * 365 * 86400) /* the largest V2M_TOKEN_TTL */

/* base64url without padding; out needs 4*(n+2)/3+1 bytes. */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

static void verify(const char *token, const char *payload, size_t plen)
{
    v2m_claims c;
    json_t *claims = NULL, *p;
    v2m_error err = {0};
    v2m_err rc = v2m_token_verify(secret, token, NOW, MAX_TTL, &c, &claims, &err);

    if (rc != V2M_OK) {
        FUZZ_CHECK(rc == V2M_EDENIED || rc == V2M_EINTERNAL);
        FUZZ_CHECK(claims == NULL);
        return;
    }
    FUZZ_CHECK(json_is_object(claims));
    FUZZ_CHECK(c.username[0] && strlen(c.username) <= V2M_EMAIL_MAX);
    FUZZ_CHECK(c.exp > (long long)NOW);
    FUZZ_CHECK(c.iat <= (long long)NOW + 60 && c.exp - c.iat <= MAX_TTL);
    FUZZ_CHECK(c.gen >= 0);
    FUZZ_CHECK(c.admin == 0 || c.admin == 1);
    FUZZ_CHECK(c.exp == json_integer_value(json_object_get(claims, "exp")));
    FUZZ_CHECK(c.iat == json_integer_value(json_object_get(claims, "iat")));
    if (payload) {
        /* The claims checked are the payload's, not something else. libjwt
         * reads the decoded payload as a C string: up to its first NUL. */
        p = json_loadb(payload, strnlen(payload, plen), 0, NULL);
        FUZZ_CHECK(json_is_object(p));
        FUZZ_CHECK(json_is_integer(json_object_get(p, "exp")));
        FUZZ_CHECK(c.exp == json_integer_value(json_object_get(p, "exp")));
        FUZZ_CHECK(json_is_boolean(json_object_get(p, "admin")));
        FUZZ_CHECK(c.admin == json_is_true(json_object_get(p, "admin")));
        FUZZ_CHECK(json_is_string(json_object_get(p, "username")));
        json_decref(p);
    }
    json_decref(claims);
}

static void signed_token(const char *in, size_t n)
{
    static const char def_hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *nl = memchr(in, '\n', n);
    const char *hdr = nl ? in : def_hdr, *pay = nl ? nl + 1 : in;
    size_t hlen = nl ? (size_t)(nl - in) : strlen(def_hdr), plen = nl ? n - hlen - 1 : n;
    char *tok = malloc(4 * (hlen + plen + 2) / 3 + 128);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t off;

    if (!tok)
        return;
    b64url((const unsigned char *)hdr, hlen, tok);
    off = strlen(tok);
    tok[off++] = '.';
    b64url((const unsigned char *)pay, plen, tok + off);
    off += strlen(tok + off);
    FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)tok, off, mac,
                    &maclen) != NULL);
    tok[off++] = '.';
    b64url(mac, maclen, tok + off);
    verify(tok, pay, plen);
    free(tok);
}

static void issued_token(const char *in)
{
    int admin = 0, used = 0;
    long ttl = 0;
    char *tok = NULL;
    v2m_claims c;
    v2m_error err = {0};

    if (sscanf(in, "%d %ld %n", &admin, &ttl, &used) < 2 || used == 0)
        return;
    /* The service takes its lifetime from V2M_TOKEN_TTL, 1 s to 10 years. */
    if (ttl < -10L * 365 * 86400 || ttl > 10L * 365 * 86400)
        return;
    in += used;
    if (v2m_token_issue(secret, in, admin, 7, ttl, NOW, &tok, &err) != V2M_OK)
        return;
    v2m_err rc = v2m_token_verify(secret, tok, NOW, MAX_TTL, &c, NULL, &err);
    /* What was issued for a usable name and a lifetime in the future verifies. */
    if (ttl > 0 && *in && strlen(in) <= V2M_EMAIL_MAX &&
        strlen(tok) <= V2M_TOKEN_MAX) {
        FUZZ_CHECK(rc == V2M_OK);
        FUZZ_CHECK(strcmp(c.username, in) == 0);
        FUZZ_CHECK(c.admin == (admin != 0));
        FUZZ_CHECK(c.exp == (long long)NOW + ttl);
        FUZZ_CHECK(c.iat == (long long)NOW);
        FUZZ_CHECK(c.gen == 7);
    }
    if (ttl <= 0)
        FUZZ_CHECK(rc == V2M_EDENIED);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in;

    if (size == 0 || size > 3 * V2M_TOKEN_MAX)
        return 0;
    in = malloc(size);
    if (!in)
        return 0;
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    switch (data[0]) {
    case 'S':
        signed_token(in, size - 1);
        break;
    case 'I':
        issued_token(in);
        break;
    default:
        verify(in, NULL, 0);
        break;
    }
    free(in);
    return 0;
}
