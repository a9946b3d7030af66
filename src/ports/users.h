/* users.h - the users port: where credentials live.
 *
 * Backends (one file each): users_sqlite.c (embedded default) and
 * users_mysql.c (MySQL/MariaDB, the original's `auth.user` table). The URL
 * picks one: `sqlite:///abs/path.db`, `sqlite://./rel/path.db` or
 * `mysql://user:pass@host:port/db`.
 *
 * A v2m_users handle is thread-safe: the MySQL backend keeps a small pool of
 * connections and reconnects after the server restarts; SQLite serialises.
 * Every statement is parameterised.
 *
 * Emails are compared without regard to ASCII case: the front lower-cases
 * every email it is given, new rows are stored lower-case, and rows written
 * with capitals by older versions are still found (SQLite compares with
 * COLLATE NOCASE, MySQL's default collations ignore case).
 *
 * Schema beyond the original's `user (id, email, password)`, added at open
 * when missing: user.admin, user.token_gen (bumped by every change that must
 * revoke the user's tokens), user.webhook_secret (signs the user's webhooks;
 * NULL until made) and the login_throttle table.
 */
#ifndef V2M_PORTS_USERS_H
#define V2M_PORTS_USERS_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"

#define V2M_USERS_URL_MAX 1024

typedef struct v2m_user {
    long long id;
    char email[256];
    char password[256];   /* crypt(3) hash, or legacy plaintext */
    int admin;
    long long token_gen;  /* tokens carrying another generation are revoked */
} v2m_user;

typedef int (*v2m_users_each)(void *ud, const v2m_user *u); /* non-zero stops */

/* Failed logins under one key ("user:..." or "addr:..."), shared by every
 * auth replica through the database. Times in milliseconds since the epoch. */
typedef struct v2m_throttle {
    long long failures;
    long long blocked_until;  /* refuse attempts before this; 0 = never blocked */
    long long updated_at;     /* time of the last counted attempt */
} v2m_throttle;

#define V2M_THROTTLE_KEY_MAX 100

typedef struct v2m_users v2m_users;

/* The users settings: V2M_USERS, and the original's MYSQL_HOST, MYSQL_PORT,
 * MYSQL_USER, MYSQL_PASSWORD, MYSQL_DB. */
extern const v2m_cfg_table v2m_users_table;

/* Load v2m_users_table: the users URL from V2M_USERS, else from the MYSQL_*
 * settings when MYSQL_HOST is set, else def. */
v2m_err v2m_users_url_from_env(const char *def, char *url, size_t urlsz, v2m_error *err);

v2m_users *v2m_users_open(const char *url, v2m_error *err);
void v2m_users_close(v2m_users *u);   /* safe on NULL */
v2m_err v2m_users_ping(v2m_users *u, v2m_error *err);
v2m_err v2m_users_get(v2m_users *u, const char *email, v2m_user *out, v2m_error *err);
/* Adds with a random token generation (so tokens of a deleted user with the
 * same email stay revoked). V2M_EEXIST also when an email differing only in
 * case exists. */
v2m_err v2m_users_add(v2m_users *u, const char *email, const char *password, int admin,
                      v2m_error *err);
v2m_err v2m_users_set_password(v2m_users *u, const char *email, const char *password,
                               v2m_error *err);
v2m_err v2m_users_set_admin(v2m_users *u, const char *email, int admin, v2m_error *err);
v2m_err v2m_users_rehash(v2m_users *u, long long id, const char *old, const char *hash,
                         v2m_error *err);
v2m_err v2m_users_del(v2m_users *u, const char *email, v2m_error *err);
v2m_err v2m_users_list(v2m_users *u, v2m_users_each fn, void *ud, v2m_error *err);

v2m_err v2m_users_throttle_get(v2m_users *u, const char *key, v2m_throttle *out,
                               v2m_error *err);
v2m_err v2m_users_throttle_set(v2m_users *u, const char *key, const v2m_throttle *prev,
                               const v2m_throttle *next, v2m_error *err);
v2m_err v2m_users_throttle_clear(v2m_users *u, const char *key, v2m_error *err);
v2m_err v2m_users_throttle_prune(v2m_users *u, long long before_ms, v2m_error *err);

/* Webhook secrets: V2M_WEBHOOK_SECRET_LEN lowercase hex digits (32 random
 * bytes from getrandom), kept in the user's row, never in v2m_user (so
 * lists and caches of users never hold them). out needs
 * V2M_WEBHOOK_SECRET_MAX bytes. */
#define V2M_WEBHOOK_SECRET_LEN 64
#define V2M_WEBHOOK_SECRET_MAX 129
/* A new random secret replaces the user's and is written to out (to be
 * shown once). V2M_ENOTFOUND when there is no such user. */
v2m_err v2m_users_webhook_secret_rotate(v2m_users *u, const char *email, char *out,
                                        size_t outsz, v2m_error *err);
/* The user's secret into out; "" when the user has none and create is 0.
 * With create, a user without one gets one (atomically: concurrent callers
 * all see the same secret). V2M_ENOTFOUND when there is no such user. */
v2m_err v2m_users_webhook_secret(v2m_users *u, const char *email, int create, char *out,
                                 size_t outsz, v2m_error *err);

/* An email the user table can hold: 1..255 bytes, printable, one '@'. */
v2m_err v2m_users_check_email(const char *email, v2m_error *err);

/* email with ASCII capitals lower-cased into out (outsz bytes, truncating);
 * the form every lookup and new row uses. */
void v2m_users_normalize_email(const char *email, char *out, size_t outsz);

#endif
