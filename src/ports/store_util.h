/* store_util.h - helpers shared by the store, jobs and queue backends.
 *
 * Internal to src/ports: services include store.h, jobs.h and queue.h only.
 * Everything here is thread-safe. The MongoDB client pool is in mongo_int.h,
 * so that only the MongoDB backends see libmongoc.
 */
#ifndef V2M_PORTS_STORE_UTIL_H
#define V2M_PORTS_STORE_UTIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/redact.h"
#include "common/err.h"

/* Wall clock in milliseconds since the epoch (timestamps that are stored),
 * and a monotonic clock in milliseconds (deadlines and intervals). */
int64_t v2m__now_ms(void);
int64_t v2m__mono_ms(void);

/* Sleep ms milliseconds, in slices of at most 50 ms, returning early with 1
 * when *stop (may be NULL) becomes non-zero; 0 after the full sleep. */
int v2m__sleep_ms(int64_t ms, const atomic_int *stop);

/* The local path of a `scheme://...` URL: `scheme:///abs/path` (parsed with
 * libcurl's URL API, percent-decoded; `scheme://localhost/abs` also works) or
 * the relative form `scheme://./rel/path` / `scheme://../rel` taken as is.
 * V2M_ECONFIG when the URL has another scheme or no path. */
v2m_err v2m__url_path(const char *url, const char *scheme, char *path, size_t pathsz,
                      v2m_error *err);

/* mkdir -p with mode 0755; 0 or -1 with errno. */
int v2m__mkdir_p(const char *path);

/* A fresh ObjectId as 24 lower-case hex digits plus NUL. */
void v2m__oid_new(char out[25]);

/* Normalise a file or job id: 24 hex digits (either case) into lower case.
 * V2M_ENOTFOUND for anything else, since no such object can exist. */
v2m_err v2m__oid_norm(const char *in, char out[25], v2m_error *err);

/* Copy a NUL-terminated string into dst, cutting it at a UTF-8 character
 * boundary when it does not fit. */
void v2m__strlcpy_utf8(char *dst, size_t dstsz, const char *src, size_t srclen);

#endif
