/* auth.h - the auth service: HTTP Basic credentials in, JWT out. */
#ifndef V2M_AUTH_AUTH_H
#define V2M_AUTH_AUTH_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"
#include "common/netaddr.h"
#include "ports/users.h"
#include "throttle.h"

#define V2M_TRUSTED_PROXIES_DEFAULT "127.0.0.0/8,::1"
#define V2M_USER_CACHE_MS 2000   /* how long /validate trusts a user row it read */

typedef struct v2m_auth_config {
    char host[256];
    int port;
    char users_url[V2M_USERS_URL_MAX];
    char *secret;         /* JWT_SECRET; never logged */
    long token_ttl;       /* seconds, V2M_TOKEN_TTL */
    long threads;         /* V2M_HTTP_THREADS */
    v2m_cidr_list trusted;         /* V2M_TRUSTED_PROXIES */
    v2m_throttle_policy throttle;  /* V2M_LOGIN_* */
} v2m_auth_config;

/* Read the service's environment (JWT_SECRET, V2M_LISTEN, V2M_USERS or
 * MYSQL_*, V2M_TOKEN_TTL, V2M_HTTP_THREADS, V2M_TRUSTED_PROXIES,
 * V2M_LOGIN_FREE_FAILURES, V2M_LOGIN_DELAY, V2M_LOGIN_DELAY_MAX,
 * V2M_LOGIN_FORGET). */
/* The auth service's own settings (the users and HTTP server tables are the
 * ports' and the server's). */
extern const v2m_cfg_table v2m_auth_table;

v2m_err v2m_auth_config_load(v2m_auth_config *c, v2m_error *err);
void v2m_auth_config_free(v2m_auth_config *c);

/* Split "Basic base64(user:pass)" into user and pass (NUL-terminated, in
 * buffers of at least 1025 bytes). V2M_EINVAL when absent or garbled. */
v2m_err v2m_auth_parse_basic(const char *header, char *user, size_t usz, char *pass,
                             size_t psz);

#endif
