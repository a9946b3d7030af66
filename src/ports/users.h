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
 */
#ifndef V2M_PORTS_USERS_H
#define V2M_PORTS_USERS_H

#include <stddef.h>

#include "common/err.h"

#define V2M_USERS_URL_MAX 1024

typedef struct v2m_user {
    long long id;
    char email[256];
    char password[256];   /* crypt(3) hash, or legacy plaintext */
    int admin;
} v2m_user;

typedef int (*v2m_users_each)(void *ud, const v2m_user *u); /* non-zero stops */

typedef struct v2m_users_ops {
    const char *scheme;   /* "sqlite", "mysql" */
    v2m_err (*open)(const char *url, void **impl, v2m_error *err);
    void (*close)(void *impl);
    v2m_err (*ping)(void *impl, v2m_error *err);
    /* V2M_ENOTFOUND when there is no such email. */
    v2m_err (*get)(void *impl, const char *email, v2m_user *out, v2m_error *err);
    /* V2M_EEXIST when the email is taken. */
    v2m_err (*add)(void *impl, const char *email, const char *password, int admin,
                   v2m_error *err);
    v2m_err (*set_password)(void *impl, const char *email, const char *password,
                            v2m_error *err);
    v2m_err (*del)(void *impl, const char *email, v2m_error *err);
    v2m_err (*list)(void *impl, v2m_users_each fn, void *ud, v2m_error *err);
} v2m_users_ops;

extern const v2m_users_ops v2m_users_sqlite;
extern const v2m_users_ops v2m_users_mysql;

typedef struct v2m_users v2m_users;

/* The users URL from V2M_USERS, else from the original's MYSQL_HOST,
 * MYSQL_USER, MYSQL_PASSWORD, MYSQL_DB, MYSQL_PORT when MYSQL_HOST is set,
 * else def. */
v2m_err v2m_users_url_from_env(const char *def, char *url, size_t urlsz, v2m_error *err);

v2m_users *v2m_users_open(const char *url, v2m_error *err);
void v2m_users_close(v2m_users *u);   /* safe on NULL */
v2m_err v2m_users_ping(v2m_users *u, v2m_error *err);
v2m_err v2m_users_get(v2m_users *u, const char *email, v2m_user *out, v2m_error *err);
v2m_err v2m_users_add(v2m_users *u, const char *email, const char *password, int admin,
                      v2m_error *err);
v2m_err v2m_users_set_password(v2m_users *u, const char *email, const char *password,
                               v2m_error *err);
v2m_err v2m_users_del(v2m_users *u, const char *email, v2m_error *err);
v2m_err v2m_users_list(v2m_users *u, v2m_users_each fn, void *ud, v2m_error *err);

/* An email the user table can hold: 1..255 bytes, printable, one '@'. */
v2m_err v2m_users_check_email(const char *email, v2m_error *err);

#endif
