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

#define TTL 86400L

static int refused(const char *tok, time_t now)
{
    v2m_claims c;
    v2m_error e = {0};
    return v2m_token_verify(secret, tok, now, TTL, &c, NULL, &e) == V2M_EDENIED && e.msg[0];
}

static int accepted(const char *tok, time_t now, v2m_claims *c)
{
    v2m_error e = {0};
    v2m_err rc = v2m_token_verify(secret, tok, now, TTL, c, NULL, &e);
    if (rc != V2M_OK)
        fprintf(stderr, "  refused: %s\n", e.msg);
    return rc == V2M_OK;
}

/* A hand-made HS256 token with the given header and claims, checked. */
static int hs256_refused(const char *hdr, const char *payload, time_t now)
{
    char *t = make(hdr, payload, EVP_sha256(), secret);
    int r = refused(t, now);
    free(t);
    return r;
}

static int hs256_accepted(const char *hdr, const char *payload, time_t now, v2m_claims *c)
{
    char *t = make(hdr, payload, EVP_sha256(), secret);
    int r = accepted(t, now, c);
    free(t);
    return r;
}

static const char *HDR = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* Claims JSON with the four claims at the given times, plus extra text. */
static const char *claims_at(long long iat, long long exp, const char *extra)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"username\":\"a@b.c\",\"exp\":%lld,\"iat\":%lld,\"admin\":false%s}", exp, iat,
             extra);
    return buf;
}

static int bearer(const char *h, const char *want)
{
    char out[64];
    int r = v2m_token_from_bearer(h, out, sizeof out);
    if (!want)
        return r == -1;
    return r == 0 && strcmp(out, want) == 0;
}

int main(void)
{
    time_t now = 1800000000;
    char *tok = NULL, *t;
    v2m_claims c;
    json_t *claims = NULL;
    v2m_error e = {0};
    char payload[512];

    /* Round trip with the four claims and gen. */
    CHECK(v2m_token_issue(secret, "georgio@email.com", 1, 7, 86400, now, &tok, &e) == V2M_OK);
    CHECK(tok && strchr(tok, '.') && strchr(strchr(tok, '.') + 1, '.'));
    CHECK(v2m_token_verify(secret, tok, now + 10, TTL, &c, &claims, &e) == V2M_OK);
    CHECK_STR(c.username, "georgio@email.com");
    CHECK(c.admin == 1);
    CHECK(c.iat == now);
    CHECK(c.exp == now + 86400);
    CHECK(c.gen == 7);
    CHECK(claims && json_integer_value(json_object_get(claims, "exp")) == now + 86400);
    CHECK(json_is_true(json_object_get(claims, "admin")));
    CHECK(json_integer_value(json_object_get(claims, "gen")) == 7);
    json_decref(claims);
    /* A verifier with a shorter ttl than the issuer's refuses the token. */
    CHECK(v2m_token_verify(secret, tok, now + 10, 3600, &c, NULL, &e) == V2M_EDENIED);
    CHECK(strstr(e.msg, "lifetime") != NULL);

    /* Expired: exactly at exp and after. */
    CHECK(refused(tok, now + 86400));
    CHECK(refused(tok, now + 90000));
    /* Another secret. */
    {
        v2m_claims c2;
        CHECK(v2m_token_verify("other-secret", tok, now, TTL, &c2, NULL, &e) == V2M_EDENIED);
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
    CHECK(v2m_token_verify(secret, t, now, TTL, &c, NULL, &e) == V2M_OK);
    CHECK(c.admin == 0);
    CHECK(c.gen == 0); /* no gen claim (the original's tokens): generation 0 */
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

    /* iat: up to V2M_TOKEN_LEEWAY (60 s) in the future is clock skew; more is
     * refused, and so is a negative one. */
    CHECK(hs256_accepted(HDR, claims_at(now + 60, now + 600, ""), now, &c));
    CHECK(hs256_refused(HDR, claims_at(now + 61, now + 600, ""), now));
    CHECK(hs256_refused(HDR, claims_at(now + 100000, now + 100100, ""), now));
    CHECK(hs256_refused(HDR, claims_at(-1, now + 600, ""), now));
    /* Lifetime exp - iat: up to the ttl given to the verifier. */
    CHECK(hs256_accepted(HDR, claims_at(now - 10, now - 10 + TTL, ""), now, &c));
    CHECK(hs256_refused(HDR, claims_at(now - 10, now - 10 + TTL + 1, ""), now));
    CHECK(hs256_refused(HDR, claims_at(0, now + 10, ""), now));
    /* Tokens that never expire: exp = 2^63-1 is refused by the ttl rule... */
    CHECK(hs256_refused(HDR, claims_at(now, 9223372036854775807LL, ""), now));
    /* ...and exp = 2^63 is not even an integer JSON we read. */
    CHECK(hs256_refused(HDR,
                        "{\"username\":\"a@b.c\",\"exp\":9223372036854775808,\"iat\":1,"
                        "\"admin\":false}",
                        now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"x\":1e400"), now));
    /* The gen claim: a non-negative integer when present. */
    CHECK(hs256_accepted(HDR, claims_at(now, now + 100, ",\"gen\":12"), now, &c));
    CHECK(c.gen == 12);
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"gen\":-1"), now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"gen\":\"12\""), now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"gen\":1.5"), now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"gen\":null"), now));
    /* Unknown claims are fine. */
    CHECK(hs256_accepted(HDR, claims_at(now, now + 100, ",\"nbf\":1,\"jti\":\"x\""), now, &c));
    /* crit in the header: refused whatever it lists. */
    CHECK(hs256_accepted("{\"alg\":\"HS256\"}", claims_at(now, now + 100, ""), now, &c));
    CHECK(hs256_refused("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
                        claims_at(now, now + 100, ""), now));
    CHECK(hs256_refused("{\"alg\":\"HS256\",\"crit\":[]}", claims_at(now, now + 100, ""), now));
    CHECK(hs256_refused("{\"alg\":\"HS256\",\"crit\":null}", claims_at(now, now + 100, ""), now));
    /* Duplicate header members, even when both say HS256. */
    CHECK(hs256_refused("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", claims_at(now, now + 100, ""),
                        now));
    CHECK(hs256_refused("{\"alg\":\"none\",\"alg\":\"HS256\"}", claims_at(now, now + 100, ""),
                        now));
    CHECK(hs256_refused("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JWT\"}",
                        claims_at(now, now + 100, ""), now));
    /* Duplicate claim names: each reader might take another one. */
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"username\":\"admin@b.c\""), now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"admin\":true"), now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"exp\":1"), now));
    CHECK(hs256_refused(HDR, claims_at(now, now + 100, ",\"gen\":1,\"gen\":2"), now));
    /* An escaped NUL cannot cut the username short. */
    CHECK(hs256_refused(HDR,
                        "{\"username\":\"a@b.c\\u0000x\",\"exp\":1900000000,\"iat\":1800000000,"
                        "\"admin\":false}",
                        now));

    /* Bearer headers: any run of spaces (or tabs) after the scheme. */
    CHECK(bearer("Bearer abc.def.ghi", "abc.def.ghi"));
    CHECK(bearer("Bearer  abc", "abc"));
    CHECK(bearer("Bearer     abc", "abc"));
    CHECK(bearer("bearer\tabc", "abc"));
    CHECK(bearer("BEARER abc  ", "abc"));
    CHECK(bearer("Bearer", NULL));
    CHECK(bearer("Bearer ", NULL));
    CHECK(bearer("Bearer    ", NULL));
    CHECK(bearer("Bearerabc", NULL));
    CHECK(bearer("Basic abc", NULL));
    CHECK(bearer(" Bearer abc", NULL));
    CHECK(bearer(NULL, NULL));
    {
        char big[100];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        memcpy(big, "Bearer ", 7);
        CHECK(bearer(big, NULL)); /* does not fit the 64-byte buffer */
    }
    return check_exit("test_token");
}
