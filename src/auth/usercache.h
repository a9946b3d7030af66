/* usercache.h - what /validate needs of a user row, cached for seconds.
 *
 * /validate refuses tokens of deleted users and tokens whose generation or
 * admin flag no longer match the user's row. Reading the row on every call
 * would put the database behind every gateway request, so rows (and their
 * absence) are kept here for at most ttl_ms, on a monotonic clock. A change
 * in the database is therefore seen by every auth replica within ttl_ms.
 * Thread-safe: the table is split into shards with a mutex each.
 */
#ifndef V2M_AUTH_USERCACHE_H
#define V2M_AUTH_USERCACHE_H

#include "common/err.h"
#include "ports/users.h"

#define V2M_USER_CACHE_MAX_MS 4000  /* revocation must land within 5 s */

typedef struct v2m_user_cache v2m_user_cache;

typedef struct v2m_user_state {
    int exists;
    int admin;
    long long token_gen;
    long long read_at;    /* wall-clock seconds when it was read, for comparing with iat */
} v2m_user_state;

/* ttl_ms 0 turns caching off (every lookup reads the database). */
v2m_user_cache *v2m_user_cache_new(long long ttl_ms);
void v2m_user_cache_free(v2m_user_cache *c);   /* safe on NULL */

/* The state of email (compared without ASCII case) as read from users at most
 * max_age_ms (itself at most the ttl; 0: read now) before now_ms, a
 * CLOCK_MONOTONIC time. A user that does not exist is a success with
 * exists = 0. Database failures are not cached. */
v2m_err v2m_user_cache_get(v2m_user_cache *c, v2m_users *users, const char *email,
                           long long now_ms, long long max_age_ms, v2m_user_state *out,
                           v2m_error *err);

/* Lookups answered from the cache and from the database, for /metrics. */
void v2m_user_cache_counts(v2m_user_cache *c, unsigned long *hits, unsigned long *misses);

#endif
