/* Tokens: round trip, and every refusal the verifier must make. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token.h"
#include "check.h"

static const char *secret = "unit-test-secret";

static void b64url(const char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
    while (len && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* Build a token by hand: header and payload JSON, signed with md (or none). */
static char *make(const char *hdr, const char *payload, const EVP_MD *md, const char *key)
{
    char h[1024], p[2048], sig[256] = "";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char *out = malloc(4096);

    b64url(hdr, strlen(hdr), h);
    b64url(payload, strlen(payload), p);
    snprintf(out, 4096, "%s.%s", h, p);
    if (md) {
        HMAC(md, key, (int)strlen(key), (unsigned char *)out, strlen(out), mac, &maclen);
        b64url((const char *)mac, maclen, sig);
    }
    strcat(out, ".");
    strcat(out, sig);
    return out;
}

static int refused(const char *tok, time_t now)
{
    v2m_claims c;
    v2m_error e = {0};
    return v2m_token_verify(secret, tok, now, &c, NULL, &e) == V2M_EDENIED && e.msg[0];
}

int main(void)
{
    time_t now = 1800000000;
    char *tok = NULL, *t;
    v2m_claims c;
    json_t *claims = NULL;
    v2m_error e = {0};
    char payload[512];

    /* Round trip with the four claims. */
    CHECK(v2m_token_issue(secret, "georgio@email.com", 1, 86400, now, &tok, &e) == V2M_OK);
    CHECK(tok && strchr(tok, '.') && strchr(strchr(tok, '.') + 1, '.'));
    CHECK(v2m_token_verify(secret, tok, now + 10, &c, &claims, &e) == V2M_OK);
    CHECK_STR(c.username, "georgio@email.com");
    CHECK(c.admin == 1);
    CHECK(c.iat == now);
    CHECK(c.exp == now + 86400);
    CHECK(claims && json_integer_value(json_object_get(claims, "exp")) == now + 86400);
    CHECK(json_is_true(json_object_get(claims, "admin")));
    json_decref(claims);

    /* Expired: exactly at exp and after. */
    CHECK(refused(tok, now + 86400));
    CHECK(refused(tok, now + 90000));
    /* Another secret. */
    {
        v2m_claims c2;
        CHECK(v2m_token_verify("other-secret", tok, now, &c2, NULL, &e) == V2M_EDENIED);
    }
    /* Tampered payload and signature. */
    t = strdup(tok);
    t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
    CHECK(refused(t, now));
    free(t);
    t = strdup(tok);
    *strchr(t, '.') = '\0';
    CHECK(refused(t, now));
    free(t);
    free(tok);

    snprintf(payload, sizeof payload,
             "{\"username\":\"a@b.c\",\"exp\":%lld,\"iat\":%lld,\"admin\":false}",
             (long long)now + 100, (long long)now);
    /* A correct hand-made HS256 token passes (the test builder is right)... */
    t = make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret);
    CHECK(v2m_token_verify(secret, t, now, &c, NULL, &e) == V2M_OK);
    CHECK(c.admin == 0);
    free(t);
    /* ...but alg none, HS512 and HS384 with the same secret do not. */
    t = make("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, secret);
    CHECK(refused(t, now));
    free(t);
    t = make("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha512(), secret);
    CHECK(refused(t, now));
    free(t);
    t = make("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", payload, EVP_sha384(), secret);
    CHECK(refused(t, now));
    free(t);
    /* An HS256 signature under a header claiming another alg. */
    t = make("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), secret);
    CHECK(refused(t, now));
    free(t);
    /* Missing or mistyped claims. */
    {
        const char *bad[] = {
            "{\"exp\":1900000000,\"iat\":1,\"admin\":true}",
            "{\"username\":\"a@b.c\",\"iat\":1,\"admin\":true}",
            "{\"username\":\"a@b.c\",\"exp\":1900000000,\"admin\":true}",
            "{\"username\":\"a@b.c\",\"exp\":1900000000,\"iat\":1}",
            "{\"username\":\"a@b.c\",\"exp\":\"1900000000\",\"iat\":1,\"admin\":true}",
            "{\"username\":\"a@b.c\",\"exp\":1900000000,\"iat\":1,\"admin\":\"yes\"}",
            "{\"username\":\"\",\"exp\":1900000000,\"iat\":1,\"admin\":true}",
            "{\"username\":7,\"exp\":1900000000,\"iat\":1,\"admin\":true}",
            "[1,2,3]",
            "not json",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            t = make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", bad[i], EVP_sha256(), secret);
            CHECK(refused(t, now));
            free(t);
        }
    }
    /* Malformed strings. */
    CHECK(refused("", now));
    CHECK(refused("abc", now));
    CHECK(refused("a.b", now));
    CHECK(refused("a.b.c.d", now));
    CHECK(refused("!!!.???.***", now));
    {
        char *big = malloc(V2M_TOKEN_MAX + 10);
        memset(big, 'a', V2M_TOKEN_MAX + 9);
        big[V2M_TOKEN_MAX + 9] = '\0';
        big[10] = '.';
        big[20] = '.';
        CHECK(refused(big, now));
        free(big);
    }
    return check_exit("test_token");
}
