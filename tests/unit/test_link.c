/* Signed download links (common/link.c): the layout of a link, its
 * signature recomputed here from the documented recipe with OpenSSL, expiry,
 * tampering, another secret, malformed parameters, and links off without a
 * secret. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/link.h"

#define FID "0123456789abcdef01234567"
#define SECRET "correct horse battery staple"

/* The signature by the recipe of docs/API.md: key = HMAC-SHA256(secret,
 * "v2m link key"); sig = base64url(HMAC-SHA256(key, "v2m download link v1\n"
 * fid "\n" expiry)) without padding. */
static void recipe(const char *secret, const char *fid, long long e, char out[44])
{
    unsigned char key[32], mac[32];
    unsigned int n = 0;
    char msg[128], b64[48];
    int len = snprintf(msg, sizeof msg, "v2m download link v1\n%s\n%lld", fid, e);

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)"v2m link key", 12,
         key, &n);
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, (size_t)len, mac, &n);
    EVP_EncodeBlock((unsigned char *)b64, mac, 32);
    for (int i = 0; i < 43; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    out[43] = '\0';
}

int main(void)
{
    v2m_links l, other, off;
    v2m_error err = {0};
    char url[V2M_LINK_MAX], e[32], s[64], want[44], bad[80];

    CHECK(v2m_links_init(&l, SECRET, 7 * 86400, &err) == V2M_OK && l.on);
    CHECK(v2m_links_init(&other, SECRET "!", 7 * 86400, &err) == V2M_OK && other.on);
    CHECK(v2m_links_init(&off, NULL, 7 * 86400, &err) == V2M_OK && !off.on);
    CHECK(v2m_links_init(&off, "", 60, &err) == V2M_OK && !off.on);
    /* A short secret is refused, and the message does not repeat it. */
    CHECK(v2m_links_init(&off, "short-secret-15", 60, &err) == V2M_ECONFIG);
    CHECK(strstr(err.msg, "V2M_LINK_SECRET") && !strstr(err.msg, "short-secret"));
    CHECK(v2m_links_init(&off, "just-16-bytes-ok", 60, &err) == V2M_OK && off.on);
    CHECK(v2m_links_init(&off, NULL, 60, &err) == V2M_OK);

    /* The link: /d/<fid>?e=<expiry>&s=<43 base64url>, expiry now + ttl
     * rounded up to a minute. */
    CHECK(v2m_link_make(&l, FID, 1700000000, url, sizeof url) == 0);
    CHECK(sscanf(url, "/d/" FID "?e=%31[0-9]&s=%63s", e, s) == 2);
    CHECK_STR(e, "1700604840"); /* 1700000000 + 604800 = ...604800, up to ...604840 */
    recipe(SECRET, FID, 1700604840LL, want);
    CHECK_STR(s, want);
    CHECK(strlen(url) < V2M_LINK_MAX);
    /* Polls within the same minute get the same link. */
    {
        char again[V2M_LINK_MAX];
        CHECK(v2m_link_make(&l, FID, 1700000010, again, sizeof again) == 0);
        CHECK_STR(again, url);
    }

    /* Checking: good until the expiry, expired from it on. */
    CHECK(v2m_link_check(&l, FID, e, s, 1700000000) == V2M_LINK_OK);
    CHECK(v2m_link_check(&l, FID, e, s, 1700604839) == V2M_LINK_OK);
    CHECK(v2m_link_check(&l, FID, e, s, 1700604840) == V2M_LINK_EXPIRED);
    CHECK(v2m_link_check(&l, FID, e, s, 1900000000) == V2M_LINK_EXPIRED);
    /* Another secret (a rotated one), or links off: bad. */
    CHECK(v2m_link_check(&other, FID, e, s, 1700000000) == V2M_LINK_BAD);
    CHECK(v2m_links_init(&off, NULL, 60, &err) == V2M_OK);
    CHECK(v2m_link_check(&off, FID, e, s, 1700000000) == V2M_LINK_BAD);
    CHECK(v2m_link_make(&off, FID, 1700000000, url, sizeof url) == -1);
    /* Tampering: another fid, a later expiry, a changed signature character. */
    CHECK(v2m_link_check(&l, "0123456789abcdef01234568", e, s, 1700000000) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "1700604841", s, 1700000000) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "9999999999", s, 1700000000) == V2M_LINK_BAD);
    for (int i = 0; i < 43; i++) {
        snprintf(bad, sizeof bad, "%s", s);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        CHECK(v2m_link_check(&l, FID, e, bad, 1700000000) == V2M_LINK_BAD);
    }
    /* An expired link with a wrong signature is bad, not expired: only a
     * genuine link learns that its time is up. */
    snprintf(bad, sizeof bad, "%s", s);
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    CHECK(v2m_link_check(&l, FID, e, bad, 1900000000) == V2M_LINK_BAD);
    /* Malformed: missing, padded, longer, standard base64, odd expiries, bad fids. */
    CHECK(v2m_link_check(&l, FID, NULL, s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, e, NULL, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, NULL, e, s, 0) == V2M_LINK_BAD);
    snprintf(bad, sizeof bad, "%s=", s);
    CHECK(v2m_link_check(&l, FID, e, bad, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, e, "", 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "", s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "+1700604840", s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "01700604840", s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "1700604840 ", s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "-1", s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID, "99999999999999999999999", s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, FID "0", e, s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_check(&l, "../../etc/passwd", e, s, 0) == V2M_LINK_BAD);
    CHECK(v2m_link_make(&l, "not-a-fid", 0, url, sizeof url) == -1);
    /* A buffer too small: refused, not cut. */
    CHECK(v2m_link_make(&l, FID, 0, url, 40) == -1);
    /* Expiry 0..: a link made to expire at a given time. */
    CHECK(v2m_link_make_until(&l, FID, 5, url, sizeof url) == 0);
    CHECK(sscanf(url, "/d/" FID "?e=%31[0-9]&s=%63s", e, s) == 2);
    CHECK(v2m_link_check(&l, FID, e, s, 4) == V2M_LINK_OK);
    CHECK(v2m_link_check(&l, FID, e, s, 5) == V2M_LINK_EXPIRED);
    return check_exit("test_link");
}
