/* users_int.h - the users port's backend interface.
 *
 * Internal to src/ports: only users.c and the users backends include it;
 * services use users.h. A backend is one file defining a v2m__users_ops
 * table, listed by URL scheme in users.c's backends[].
 */
#ifndef V2M_PORTS_USERS_INT_H
#define V2M_PORTS_USERS_INT_H

#include "users.h"

/* A backend. users.c checks and lower-cases emails; the backend stores the
 * rows, every statement parameterised. */
typedef struct v2m__users_ops {
    v2m_err (*open)(const char *url, void **impl, v2m_error *err);
    void (*close)(void *impl);
    v2m_err (*ping)(void *impl, v2m_error *err);
    /* V2M_ENOTFOUND when there is no such email. */
    v2m_err (*get)(void *impl, const char *email, v2m_user *out, v2m_error *err);
    /* V2M_EEXIST when the email is taken. */
    v2m_err (*add)(void *impl, const char *email, const char *password, int admin,
                   long long token_gen, v2m_error *err);
    /* A new password; bumps token_gen. V2M_ENOTFOUND when there is no such email. */
    v2m_err (*set_password)(void *impl, const char *email, const char *password,
                            v2m_error *err);
    /* Set the admin flag; bumps token_gen when it changes. */
    v2m_err (*set_admin)(void *impl, const char *email, int admin, v2m_error *err);
    /* Replace row id's password with a new hash of the same password (legacy
     * plaintext rows), only while it still is old; token_gen is kept.
     * V2M_ESTATE when the row changed meanwhile or is gone. */
    v2m_err (*rehash)(void *impl, long long id, const char *old, const char *hash,
                      v2m_error *err);
    v2m_err (*del)(void *impl, const char *email, v2m_error *err);
    v2m_err (*list)(void *impl, v2m_users_each fn, void *ud, v2m_error *err);
    /* Login throttling. V2M_ENOTFOUND when key has no row. */
    v2m_err (*throttle_get)(void *impl, const char *key, v2m_throttle *out, v2m_error *err);
    /* Compare and set: write next when key's row still equals prev (prev NULL:
     * when there is no row). V2M_ESTATE when another writer came first. */
    v2m_err (*throttle_set)(void *impl, const char *key, const v2m_throttle *prev,
                            const v2m_throttle *next, v2m_error *err);
    v2m_err (*throttle_clear)(void *impl, const char *key, v2m_error *err);
    /* Delete the rows last counted before before_ms and not blocked after it. */
    v2m_err (*throttle_prune)(void *impl, long long before_ms, v2m_error *err);
    /* The user's webhook secret into out ("" when none). V2M_ENOTFOUND when
     * there is no such email. */
    v2m_err (*secret_get)(void *impl, const char *email, char *out, size_t outsz,
                          v2m_error *err);
    /* Store secret; with only_if_none, only while the user has none
     * (V2M_ESTATE otherwise). V2M_ENOTFOUND when there is no such email. */
    v2m_err (*secret_set)(void *impl, const char *email, const char *secret, int only_if_none,
                          v2m_error *err);
} v2m__users_ops;

/* The backends, one file each; users.c lists them by URL scheme. */
extern const v2m__users_ops v2m__users_sqlite;   /* users_sqlite.c */
extern const v2m__users_ops v2m__users_mysql;    /* users_mysql.c */

#endif
