/* link.c - signed, expiring download links (see link.h). */
#include "link.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oid.h"

/* What a signature covers starts with this, so a MAC made under the same key
 * for anything else can never pass for a download link. The version names
 * the layout: a new layout gets a new string. */
#define LINK_DOMAIN "v2m download link v1"
/* The key is HMAC(secret, this) rather than the secret itself: the secret
 * is not kept in memory, and one secret could serve other purposes later
 * under other labels. */
#define KEY_LABEL "v2m link key"

static const v2m_cfg_var link_vars[] = {
    {.name = "V2M_LINK_SECRET", .parse = v2m_cfg_parse_text, .max = 1024,
     .shown = "none: no signed links",
     .help = "key of signed download links, at least 16 bytes, the same on gateway and "
             "notification (changing it kills old links)"},
    {.name = "V2M_LINK_TTL", .def = "7d", .parse = v2m_cfg_parse_duration, .min = 60,
     .max = 365 * 86400, .help = "how long a signed download link works"},
};
const v2m_cfg_table v2m_link_table = V2M_CFG_TABLE("links", link_vars);

v2m_err v2m_links_init(v2m_links *l, const char *secret, long ttl, v2m_error *err)
{
    unsigned int n = 0;

    memset(l, 0, sizeof *l);
    l->ttl = ttl;
    if (!secret || !*secret)
        return V2M_OK;
    if (strlen(secret) < V2M_LINK_SECRET_MIN)
        return v2m_fail(err, V2M_ECONFIG, "V2M_LINK_SECRET: expected at least %d bytes",
                        V2M_LINK_SECRET_MIN);
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)KEY_LABEL,
              strlen(KEY_LABEL), l->key, &n) || n != sizeof l->key)
        return v2m_fail(err, V2M_EINTERNAL, "HMAC failed");
    l->on = 1;
    return V2M_OK;
}

v2m_err v2m_links_load(v2m_links *l, v2m_error *err)
{
    v2m_cfg cfg;
    v2m_err rc;

    memset(l, 0, sizeof *l);
    if ((rc = v2m_cfg_load(&cfg, &v2m_link_table, err)))
        return rc;
    return v2m_links_init(l, v2m_cfg_text(&cfg, "V2M_LINK_SECRET"),
                          (long)v2m_cfg_num(&cfg, "V2M_LINK_TTL"), err);
}

/* The signature of fid until expires, base64url without padding, into sig
 * (V2M_LINK_SIG_LEN + 1 bytes). */
static int sign(const v2m_links *l, const char *fid, int64_t expires, char *sig)
{
    char msg[128], b64[48];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%" PRId64, LINK_DOMAIN, fid, expires);

    if (n < 0 || (size_t)n >= sizeof msg ||
        !HMAC(EVP_sha256(), l->key, (int)sizeof l->key, (const unsigned char *)msg, (size_t)n,
              mac, &maclen) || maclen != 32)
        return -1;
    if (EVP_EncodeBlock((unsigned char *)b64, mac, 32) != 44)
        return -1;
    for (int i = 0; i < V2M_LINK_SIG_LEN; i++)
        sig[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    sig[V2M_LINK_SIG_LEN] = '\0';
    return 0;
}

int v2m_link_make_until(const v2m_links *l, const char *fid, int64_t expires, char *out,
                        size_t outsz)
{
    char sig[V2M_LINK_SIG_LEN + 1];
    int n;

    if (!l->on || !fid || !v2m_oid_valid(fid) || expires < 0 || sign(l, fid, expires, sig))
        return -1;
    n = snprintf(out, outsz, "/d/%s?e=%" PRId64 "&s=%s", fid, expires, sig);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int v2m_link_make(const v2m_links *l, const char *fid, int64_t now, char *out, size_t outsz)
{
    int64_t e = now + l->ttl;
    return v2m_link_make_until(l, fid, (e + 59) / 60 * 60, out, outsz);
}

/* A decimal of at most 18 digits, no sign, no leading zero; -1 otherwise. */
static int64_t parse_expiry(const char *e)
{
    int64_t v = 0;
    size_t n = strlen(e);

    if (n == 0 || n > 18 || (e[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (e[i] < '0' || e[i] > '9')
            return -1;
        v = v * 10 + (e[i] - '0');
    }
    return v;
}

v2m_link_verdict v2m_link_check(const v2m_links *l, const char *fid, const char *e,
                                const char *s, int64_t now)
{
    char want[V2M_LINK_SIG_LEN + 1];
    int64_t exp;

    if (!l->on || !fid || !e || !s || !v2m_oid_valid(fid) || strlen(s) != V2M_LINK_SIG_LEN)
        return V2M_LINK_BAD;
    exp = parse_expiry(e);
    if (exp < 0 || sign(l, fid, exp, want))
        return V2M_LINK_BAD;
    if (CRYPTO_memcmp(want, s, V2M_LINK_SIG_LEN) != 0)
        return V2M_LINK_BAD;
    return now >= exp ? V2M_LINK_EXPIRED : V2M_LINK_OK;
}
