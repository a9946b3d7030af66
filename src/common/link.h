/* link.h - signed, expiring download links: /d/<mp3_fid>?e=<expiry>&s=<sig>.
 *
 * A link names one MP3 and the second it stops working; its signature is
 * HMAC-SHA256, under a key of the installation, over a fixed domain string,
 * the fid and the expiry, written base64url without padding (43 characters).
 * Anyone holding the link may fetch that MP3 until it expires, without a
 * token; changing the secret (V2M_LINK_SECRET) kills every link made before.
 * The gateway checks links and puts fresh ones in job records' JSON; the
 * notification worker puts one in each mail, so both need the same secret.
 *
 * Threads: a v2m_links is read-only once loaded and may be shared.
 */
#ifndef V2M_LINK_H
#define V2M_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

#define V2M_LINK_SIG_LEN 43        /* base64url of 32 bytes, no padding */
#define V2M_LINK_SECRET_MIN 16     /* bytes of V2M_LINK_SECRET, at least */
#define V2M_LINK_MAX 96            /* "/d/<24>?e=<20>&s=<43>" and its NUL fit */

typedef struct v2m_links {
    int on;                        /* 0: no secret set, no links made or accepted */
    unsigned char key[32];         /* derived from the secret; the secret is not kept */
    long ttl;                      /* V2M_LINK_TTL seconds */
} v2m_links;

/* V2M_LINK_SECRET, V2M_LINK_TTL. */
extern const v2m_cfg_table v2m_link_table;

/* Load v2m_link_table into l (off, without an error, when no secret is set;
 * V2M_ECONFIG for a secret shorter than V2M_LINK_SECRET_MIN bytes). */
v2m_err v2m_links_load(v2m_links *l, v2m_error *err);
/* The same from values (tests); secret may be NULL (off). */
v2m_err v2m_links_init(v2m_links *l, const char *secret, long ttl, v2m_error *err);

/* The path and query of a link to fid valid until now + ttl (rounded up to
 * a whole minute, so a link stays the same across a minute of polls), into
 * out (at least V2M_LINK_MAX bytes). -1 when links are off or fid is not an
 * ObjectId. */
int v2m_link_make(const v2m_links *l, const char *fid, int64_t now, char *out, size_t outsz);
/* The same with a given expiry (tests, and links made to expire). */
int v2m_link_make_until(const v2m_links *l, const char *fid, int64_t expires, char *out,
                        size_t outsz);

typedef enum v2m_link_verdict {
    V2M_LINK_OK = 0,
    V2M_LINK_BAD = 1,        /* off, malformed or a wrong signature */
    V2M_LINK_EXPIRED = 2,    /* signed by us, but its time is up */
} v2m_link_verdict;

/* Check the e and s parameters of a link to fid at time now. The signature
 * is checked first (in constant time), so only a genuine link learns that it
 * expired. e and s may be NULL (BAD). */
v2m_link_verdict v2m_link_check(const v2m_links *l, const char *fid, const char *e,
                                const char *s, int64_t now);

#endif
