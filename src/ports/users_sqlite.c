/* users_sqlite.c - users in an SQLite file (the embedded default).
 *
 * One connection opened in serialized mode (SQLite's own mutex makes it safe
 * from several threads); WAL and a busy timeout so v2m-admin can write while
 * v2m-auth runs.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sqlite.h"
#include "users.h"

typedef struct {
    sqlite3 *db;
    char path[V2M_USERS_URL_MAX];
} users_sqlite;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS user ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " email TEXT NOT NULL UNIQUE,"
    " password TEXT NOT NULL,"
    " admin INTEGER NOT NULL DEFAULT 0)";

static v2m_err db_fail(users_sqlite *s, v2m_error *err, const char *what)
{
    int code = sqlite3_errcode(s->db);
    v2m_err c = (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_CANTOPEN)
                    ? V2M_EUNAVAIL
                    : V2M_EIO;
    return v2m_fail(err, c, "sqlite %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static v2m_err s_open(const char *url, void **impl, v2m_error *err)
{
    users_sqlite *s = calloc(1, sizeof *s);
    const char *path = url + strlen("sqlite://");
    v2m_err rc;

    if (!s)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (!*path) {
        free(s);
        return v2m_fail(err, V2M_ECONFIG, "users URL '%s' has no file path", url);
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    if ((rc = v2m_sqlite_open(path, "FULL", schema, "sqlite users", &s->db, err))) {
        free(s);
        return rc;
    }
    *impl = s;
    return V2M_OK;
}

static void s_close(void *impl)
{
    users_sqlite *s = impl;
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

static v2m_err s_ping(void *impl, v2m_error *err)
{
    users_sqlite *s = impl;
    if (sqlite3_exec(s->db, "SELECT 1 FROM user LIMIT 1", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, err, "ping");
    return V2M_OK;
}

static void row_to_user(sqlite3_stmt *st, v2m_user *u)
{
    const unsigned char *e = sqlite3_column_text(st, 1);
    const unsigned char *p = sqlite3_column_text(st, 2);
    u->id = sqlite3_column_int64(st, 0);
    snprintf(u->email, sizeof u->email, "%s", e ? (const char *)e : "");
    snprintf(u->password, sizeof u->password, "%s", p ? (const char *)p : "");
    u->admin = sqlite3_column_int(st, 3) != 0;
}

static v2m_err s_get(void *impl, const char *email, v2m_user *out, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc;
    int r;

    if (sqlite3_prepare_v2(s->db, "SELECT id, email, password, admin FROM user WHERE email = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "select");
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        row_to_user(st, out);
        rc = V2M_OK;
    } else if (r == SQLITE_DONE) {
        rc = v2m_fail(err, V2M_ENOTFOUND, "no such user");
    } else {
        rc = db_fail(s, err, "select");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run one parameterised write; returns the number of changed rows or -1. */
static int s_write(users_sqlite *s, const char *sql, const char *a, const char *b, int admin,
                   int nargs)
{
    sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (nargs > 1)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    if (nargs > 2)
        sqlite3_bind_int(st, 3, admin);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? sqlite3_changes(s->db) : -1;
}

static v2m_err s_add(void *impl, const char *email, const char *password, int admin,
                     v2m_error *err)
{
    users_sqlite *s = impl;
    if (s_write(s, "INSERT INTO user (email, password, admin) VALUES (?, ?, ?)", email, password,
                admin, 3) < 0) {
        if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
            return v2m_fail(err, V2M_EEXIST, "user %s already exists", email);
        return db_fail(s, err, "insert");
    }
    return V2M_OK;
}

static v2m_err s_set_password(void *impl, const char *email, const char *password,
                              v2m_error *err)
{
    users_sqlite *s = impl;
    int n = s_write(s, "UPDATE user SET password = ? WHERE email = ?", password, email, 0, 2);
    if (n < 0)
        return db_fail(s, err, "update");
    return n ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
}

static v2m_err s_del(void *impl, const char *email, v2m_error *err)
{
    users_sqlite *s = impl;
    int n = s_write(s, "DELETE FROM user WHERE email = ?", email, NULL, 0, 1);
    if (n < 0)
        return db_fail(s, err, "delete");
    return n ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
}

static v2m_err s_list(void *impl, v2m_users_each fn, void *ud, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_user u;
    int r;

    if (sqlite3_prepare_v2(s->db, "SELECT id, email, password, admin FROM user ORDER BY email",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "select");
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_user(st, &u);
        if (fn(ud, &u))
            break;
    }
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return db_fail(s, err, "select");
    return V2M_OK;
}

const v2m_users_ops v2m_users_sqlite = {
    .scheme = "sqlite",
    .open = s_open,
    .close = s_close,
    .ping = s_ping,
    .get = s_get,
    .add = s_add,
    .set_password = s_set_password,
    .del = s_del,
    .list = s_list,
};
