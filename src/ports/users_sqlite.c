/* users_sqlite.c - users in an SQLite file (the embedded default).
 *
 * One connection opened in serialized mode (SQLite's own mutex makes it safe
 * from several threads); WAL and a busy timeout so v2m-admin can write while
 * v2m-auth runs.
 */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sqlite.h"
#include "users_int.h"

typedef struct {
    sqlite3 *db;
    char path[V2M_USERS_URL_MAX];
} users_sqlite;

/* New tables compare emails without case; older ones get an index that
 * lets "email = ? COLLATE NOCASE" find rows quickly all the same. token_gen
 * and webhook_secret are added to older tables in s_open. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS user ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " password TEXT NOT NULL,"
    " admin INTEGER NOT NULL DEFAULT 0,"
    " token_gen INTEGER NOT NULL DEFAULT 0,"
    " webhook_secret TEXT);"
    "CREATE INDEX IF NOT EXISTS user_email_nocase ON user (email COLLATE NOCASE);"
    "CREATE TABLE IF NOT EXISTS login_throttle ("
    " throttle_key TEXT NOT NULL PRIMARY KEY,"
    " failures INTEGER NOT NULL,"
    " blocked_until INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL)";

#define USER_COLS "id, email, password, admin, token_gen"

static v2m_err db_fail(users_sqlite *s, v2m_error *err, const char *what)
{
    return v2m_sqlite_fail(err, s->db, "sqlite", s->path, what);
}

static int has_column(users_sqlite *s, const char *col)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    int ok;

    snprintf(sql, sizeof sql, "SELECT %s FROM user LIMIT 0", col);
    ok = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return ok;
}

/* Tables made by older versions lack the columns added since (token_gen
 * with revocation, webhook_secret with webhooks): add them. Another process
 * may do the same at the same moment, hence the second look. */
static v2m_err add_column(users_sqlite *s, const char *col, const char *type, v2m_error *err)
{
    char sql[160], *msg = NULL;

    if (has_column(s, col))
        return V2M_OK;
    snprintf(sql, sizeof sql, "ALTER TABLE user ADD COLUMN %s %s", col, type);
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK && !has_column(s, col)) {
        v2m_err rc = v2m_fail(err, V2M_EUNAVAIL, "sqlite users %s: cannot add %s: %s",
                              s->path, col, msg ? msg : "?");
        sqlite3_free(msg);
        return rc;
    }
    sqlite3_free(msg);
    V2M_LOG(V2M_INFO, "added %s column to the user table of %s", col, s->path);
    return V2M_OK;
}

/* Rows written by older versions may differ only in case; a login then
 * picks the exact lower-case one, else the oldest. Say so once. */
static void warn_case_duplicates(users_sqlite *s)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM (SELECT 1 FROM user GROUP BY lower(email)"
                           " HAVING count(*) > 1)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0)
        V2M_LOG(V2M_WARN,
                "%d emails in %s exist in several spellings that differ only in case; "
                "remove the extra rows with v2m-admin user del",
                sqlite3_column_int(st, 0), s->path);
    sqlite3_finalize(st);
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
    if ((rc = add_column(s, "token_gen", "INTEGER NOT NULL DEFAULT 0", err)) ||
        (rc = add_column(s, "webhook_secret", "TEXT", err))) {
        sqlite3_close(s->db);
        free(s);
        return rc;
    }
    warn_case_duplicates(s);
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
    u->token_gen = sqlite3_column_int64(st, 4);
}

/* One parameterised statement. Parameters: 's' text, 'i' 64-bit integer,
 * in the order of fmt, from the variadic arguments. Returns SQLITE_ROW when
 * it yielded a row (left in *stp for the caller to read and finalize; NULL
 * for other results), SQLITE_DONE, or an error code. Writes report what they
 * changed with RETURNING, not sqlite3_changes(), which another thread's
 * statement on the shared connection may overwrite. */
static int s_run(users_sqlite *s, sqlite3_stmt **stp, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int r, i = 1;

    if (stp)
        *stp = NULL;
    if ((r = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return r;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++, i++) {
        if (*f == 's')
            sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(st, i, va_arg(ap, long long));
    }
    va_end(ap);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW && stp)
        *stp = st;
    else
        sqlite3_finalize(st);
    return r;
}

static v2m_err s_get(void *impl, const char *email, v2m_user *out, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st = NULL;
    int r = s_run(s, &st,
                  "SELECT " USER_COLS " FROM user WHERE email = ?1 COLLATE NOCASE"
                  " ORDER BY email = ?1 COLLATE BINARY DESC, id LIMIT 1",
                  "s", email);

    if (r == SQLITE_ROW) {
        row_to_user(st, out);
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ENOTFOUND, "no such user");
    return db_fail(s, err, "select");
}

static v2m_err s_add(void *impl, const char *email, const char *password, int admin,
                     long long token_gen, v2m_error *err)
{
    users_sqlite *s = impl;
    int r = s_run(s, NULL,
                  "INSERT INTO user (email, password, admin, token_gen) VALUES (?, ?, ?, ?)",
                  "ssii", email, password, (long long)(admin != 0), token_gen);
    if (r == SQLITE_DONE)
        return V2M_OK;
    if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
        return v2m_fail(err, V2M_EEXIST, "user %s already exists", email);
    return db_fail(s, err, "insert");
}

/* A write that names the rows it changed with RETURNING id. */
static v2m_err s_change(users_sqlite *s, int r, sqlite3_stmt *st, const char *email,
                        v2m_error *err)
{
    if (r == SQLITE_ROW) {
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
    return db_fail(s, err, "update");
}

static v2m_err s_set_password(void *impl, const char *email, const char *password,
                              v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r = s_run(s, &st,
                  "UPDATE user SET password = ?, token_gen = token_gen + 1"
                  " WHERE email = ? COLLATE NOCASE RETURNING id",
                  "ss", password, email);
    return s_change(s, r, st, email, err);
}

static v2m_err s_set_admin(void *impl, const char *email, int admin, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r = s_run(s, &st,
                  "UPDATE user SET token_gen = token_gen + (admin <> ?1), admin = ?1"
                  " WHERE email = ?2 COLLATE NOCASE RETURNING id",
                  "is", (long long)(admin != 0), email);
    return s_change(s, r, st, email, err);
}

static v2m_err s_rehash(void *impl, long long id, const char *old, const char *hash,
                        v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r = s_run(s, &st, "UPDATE user SET password = ? WHERE id = ? AND password = ? RETURNING id",
                  "sis", hash, id, old);
    if (r == SQLITE_ROW) {
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ESTATE, "the password changed meanwhile");
    return db_fail(s, err, "update");
}

static v2m_err s_del(void *impl, const char *email, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r = s_run(s, &st, "DELETE FROM user WHERE email = ? COLLATE NOCASE RETURNING id", "s",
                  email);
    if (r == SQLITE_ROW) {
        /* Step on so every matching row goes. */
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        return r == SQLITE_DONE ? V2M_OK : db_fail(s, err, "delete");
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
    return db_fail(s, err, "delete");
}

static v2m_err s_list(void *impl, v2m_users_each fn, void *ud, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_user u;
    int r;

    if (sqlite3_prepare_v2(s->db, "SELECT " USER_COLS " FROM user ORDER BY email", -1, &st,
                           NULL) != SQLITE_OK)
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

static v2m_err s_throttle_get(void *impl, const char *key, v2m_throttle *out, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r = s_run(s, &st,
                  "SELECT failures, blocked_until, updated_at FROM login_throttle"
                  " WHERE throttle_key = ?",
                  "s", key);
    if (r == SQLITE_ROW) {
        out->failures = sqlite3_column_int64(st, 0);
        out->blocked_until = sqlite3_column_int64(st, 1);
        out->updated_at = sqlite3_column_int64(st, 2);
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ENOTFOUND, "no throttle row");
    return db_fail(s, err, "select throttle");
}

static v2m_err s_throttle_set(void *impl, const char *key, const v2m_throttle *prev,
                              const v2m_throttle *next, v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r;

    if (!prev)
        r = s_run(s, &st,
                  "INSERT INTO login_throttle (throttle_key, failures, blocked_until, updated_at)"
                  " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                  "siii", key, next->failures, next->blocked_until, next->updated_at);
    else
        r = s_run(s, &st,
                  "UPDATE login_throttle SET failures = ?, blocked_until = ?, updated_at = ?"
                  " WHERE throttle_key = ? AND failures = ? AND blocked_until = ?"
                  " AND updated_at = ? RETURNING 1",
                  "iiisiii", next->failures, next->blocked_until, next->updated_at, key,
                  prev->failures, prev->blocked_until, prev->updated_at);
    if (r == SQLITE_ROW) {
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ESTATE, "throttle row changed meanwhile");
    return db_fail(s, err, "write throttle");
}

static v2m_err s_throttle_clear(void *impl, const char *key, v2m_error *err)
{
    users_sqlite *s = impl;
    int r = s_run(s, NULL, "DELETE FROM login_throttle WHERE throttle_key = ?", "s", key);
    return r == SQLITE_DONE ? V2M_OK : db_fail(s, err, "delete throttle");
}

static v2m_err s_throttle_prune(void *impl, long long before_ms, v2m_error *err)
{
    users_sqlite *s = impl;
    int r = s_run(s, NULL,
                  "DELETE FROM login_throttle WHERE updated_at < ?1 AND blocked_until < ?1", "i",
                  before_ms);
    return r == SQLITE_DONE ? V2M_OK : db_fail(s, err, "prune throttle");
}

static v2m_err s_secret_get(void *impl, const char *email, char *out, size_t outsz,
                            v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st = NULL;
    int r = s_run(s, &st,
                  "SELECT webhook_secret FROM user WHERE email = ?1 COLLATE NOCASE"
                  " ORDER BY email = ?1 COLLATE BINARY DESC, id LIMIT 1",
                  "s", email);

    if (r == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, outsz, "%s", v ? (const char *)v : "");
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ENOTFOUND, "no such user");
    return db_fail(s, err, "select");
}

static v2m_err s_secret_set(void *impl, const char *email, const char *secret, int only_if_none,
                            v2m_error *err)
{
    users_sqlite *s = impl;
    sqlite3_stmt *st;
    int r = s_run(s, &st,
                  only_if_none ? "UPDATE user SET webhook_secret = ? WHERE email = ? COLLATE NOCASE"
                                 " AND (webhook_secret IS NULL OR webhook_secret = '') RETURNING id"
                               : "UPDATE user SET webhook_secret = ? WHERE email = ? COLLATE NOCASE"
                                 " RETURNING id",
                  "ss", secret, email);
    if (r == SQLITE_ROW) {
        sqlite3_finalize(st);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, only_if_none ? V2M_ESTATE : V2M_ENOTFOUND,
                        only_if_none ? "the user has a webhook secret already or is gone"
                                     : "no such user");
    return db_fail(s, err, "update");
}

const v2m__users_ops v2m__users_sqlite = {
    .open = s_open,
    .close = s_close,
    .ping = s_ping,
    .get = s_get,
    .add = s_add,
    .set_password = s_set_password,
    .set_admin = s_set_admin,
    .rehash = s_rehash,
    .del = s_del,
    .list = s_list,
    .throttle_get = s_throttle_get,
    .throttle_set = s_throttle_set,
    .throttle_clear = s_throttle_clear,
    .throttle_prune = s_throttle_prune,
    .secret_get = s_secret_get,
    .secret_set = s_secret_set,
};
