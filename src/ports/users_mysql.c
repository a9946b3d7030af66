/* users_mysql.c - users in MySQL/MariaDB through MariaDB Connector/C.
 *
 * The table is the original's `user (id, email, password)`, plus the `admin`,
 * `token_gen` and `webhook_secret` columns and the `login_throttle` table, added on first
 * contact when missing. Emails are compared with the table's collation, which
 * ignores case by default (utf8mb4_general_ci, latin1_swedish_ci, ...). Connections are made
 * lazily and pooled; a connection that the server dropped (restart, timeout)
 * is closed and the statement retried once on a fresh one, so a database
 * restart needs no service restart. When the server cannot be reached the
 * caller gets V2M_EUNAVAIL within the connect timeout.
 */
#include <curl/curl.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redact.h"
#include "common/log.h"
#include "users_int.h"

#define POOL_MAX 16

typedef struct {
    char host[256], user[128], pass[256], db[128];
    unsigned port;
    pthread_mutex_t mu;
    MYSQL *idle[POOL_MAX];
    int nidle;
} users_mysql;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mysql_library_init(0, NULL, NULL); }

/* One part of the URL into out, or def when the URL has none; -1 when it is
 * longer than out, which is then left empty (never unset: callers read it). */
static int part(CURLU *u, CURLUPart what, char *out, size_t outsz, const char *def)
{
    char *v = NULL;
    out[0] = '\0';
    if (curl_url_get(u, what, &v, CURLU_URLDECODE) != CURLUE_OK || !v) {
        snprintf(out, outsz, "%s", def);
        return 0;
    }
    int ok = strlen(v) < outsz;
    if (ok)
        snprintf(out, outsz, "%s", v);
    curl_free(v);
    return ok ? 0 : -1;
}

static v2m_err m_open(const char *url, void **impl, v2m_error *err)
{
    users_mysql *m = calloc(1, sizeof *m);
    CURLU *u = curl_url();
    char port[16], path[128];
    int bad = 0;

    if (!m || !u) {
        free(m);
        curl_url_cleanup(u);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    pthread_once(&lib_once, lib_init);
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        bad = 1;
    } else {
        bad |= part(u, CURLUPART_HOST, m->host, sizeof m->host, "127.0.0.1");
        bad |= part(u, CURLUPART_USER, m->user, sizeof m->user, "auth_user");
        bad |= part(u, CURLUPART_PASSWORD, m->pass, sizeof m->pass, "");
        bad |= part(u, CURLUPART_PORT, port, sizeof port, "3306");
        bad |= part(u, CURLUPART_PATH, path, sizeof path, "/auth");
        m->port = (unsigned)strtoul(port, NULL, 10);
        snprintf(m->db, sizeof m->db, "%s", path[0] == '/' ? path + 1 : path);
        if (!m->db[0])
            snprintf(m->db, sizeof m->db, "auth");
    }
    curl_url_cleanup(u);
    if (bad) {
        char safe[V2M_USERS_URL_MAX];
        v2m_url_redact(url, safe, sizeof safe);
        free(m);
        return v2m_fail(err, V2M_ECONFIG, "users URL '%s': expected mysql://user:pass@host:port/db",
                        safe);
    }
    pthread_mutex_init(&m->mu, NULL);
    *impl = m;
    return V2M_OK;
}

static void m_close(void *impl)
{
    users_mysql *m = impl;
    if (!m)
        return;
    for (int i = 0; i < m->nidle; i++)
        mysql_close(m->idle[i]);
    pthread_mutex_destroy(&m->mu);
    explicit_bzero(m->pass, sizeof m->pass);
    free(m);
}

static int conn_lost(unsigned e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
           e == CR_CONN_HOST_ERROR || e == ER_CONNECTION_KILLED || e == 4031 /* idle kill */;
}

/* Run a statement whose result, if any, is discarded; returns mysql_errno. */
static unsigned query(MYSQL *c, const char *sql)
{
    if (mysql_query(c, sql) != 0)
        return mysql_errno(c);
    mysql_free_result(mysql_store_result(c));
    return 0;
}

/* Add what databases made by the original system (or an older v2m) lack.
 * Several replicas may try at once: a column or table someone else just
 * added is fine. */
static v2m_err ensure_schema(users_mysql *m, MYSQL *c, v2m_error *err)
{
    static const struct {
        const char *probe, *add, *what;
    } steps[] = {
        {"SELECT admin FROM user LIMIT 0",
         "ALTER TABLE user ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE", "admin column"},
        {"SELECT token_gen FROM user LIMIT 0",
         "ALTER TABLE user ADD COLUMN token_gen BIGINT NOT NULL DEFAULT 0", "token_gen column"},
        {"SELECT webhook_secret FROM user LIMIT 0",
         "ALTER TABLE user ADD COLUMN webhook_secret VARCHAR(128) NULL", "webhook_secret column"},
        {"SELECT 1 FROM login_throttle LIMIT 0",
         "CREATE TABLE IF NOT EXISTS login_throttle ("
         " throttle_key VARCHAR(100) NOT NULL PRIMARY KEY,"
         " failures INT NOT NULL,"
         " blocked_until BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         "login_throttle table"},
    };
    unsigned e;

    if (query(c, "SELECT u.admin, u.token_gen, u.webhook_secret FROM user u, login_throttle t LIMIT 0") == 0)
        return V2M_OK;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        e = query(c, steps[i].probe);
        if (e == 0)
            continue;
        if (e != ER_BAD_FIELD_ERROR && e != ER_NO_SUCH_TABLE)
            return v2m_fail(err, V2M_EUNAVAIL, "user database %s:%u: %s", m->host, m->port,
                            mysql_error(c));
        e = query(c, steps[i].add);
        if (e == 0)
            V2M_LOG(V2M_INFO, "added %s to database %s", steps[i].what, m->db);
        else if (e != ER_DUP_FIELDNAME && query(c, steps[i].probe) != 0)
            return v2m_fail(err, V2M_EUNAVAIL, "user database %s:%u: cannot add %s: %s",
                            m->host, m->port, steps[i].what, mysql_error(c));
    }
    return V2M_OK;
}

static MYSQL *conn_new(users_mysql *m, v2m_error *err)
{
    MYSQL *c = mysql_init(NULL);
    unsigned connect_to = 3, rw_to = 10;
    my_bool off = 0;

    if (!c) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &connect_to);
    mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &rw_to);
    mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &rw_to);
    mysql_options(c, MYSQL_OPT_RECONNECT, &off);
    mysql_options(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, so a write
     * that leaves a row as it was still counts as done. */
    if (!mysql_real_connect(c, m->host, m->user, m->pass, m->db, m->port, NULL,
                            CLIENT_FOUND_ROWS)) {
        v2m_fail(err, V2M_EUNAVAIL, "user database %s:%u unavailable: %s", m->host, m->port,
                 mysql_error(c));
        mysql_close(c);
        return NULL;
    }
    if (ensure_schema(m, c, err) != V2M_OK) {
        mysql_close(c);
        return NULL;
    }
    return c;
}

static MYSQL *conn_get(users_mysql *m, v2m_error *err)
{
    MYSQL *c = NULL;
    pthread_mutex_lock(&m->mu);
    if (m->nidle > 0)
        c = m->idle[--m->nidle];
    pthread_mutex_unlock(&m->mu);
    return c ? c : conn_new(m, err);
}

static void conn_put(users_mysql *m, MYSQL *c)
{
    pthread_mutex_lock(&m->mu);
    if (m->nidle < POOL_MAX) {
        m->idle[m->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    if (c)
        mysql_close(c);
}

/* One statement: parameters (text or 64-bit integers), and optionally rows
 * of a known shape. Returns the affected (matched) rows in affected. */
typedef struct {
    const char *s;      /* text, or NULL for an integer */
    long long i;
} stmt_param;

enum { ROWS_NONE, ROWS_USER, ROWS_THROTTLE, ROWS_SECRET };

#define PARAMS_MAX 8

typedef struct {
    const char *sql;
    stmt_param p[PARAMS_MAX];
    int np;
    int rows;
    v2m_users_each each;      /* ROWS_USER */
    void *ud;
    v2m_throttle *thr;        /* ROWS_THROTTLE: the first row */
    char *text;               /* ROWS_SECRET: the first row's one column ("" for NULL) */
    size_t textsz;
    int nrows;
    long long affected;
    unsigned my_errno;
    char my_error[256];
} stmt_job;

#define S(v) {.s = (v)}
#define I(v) {.i = (long long)(v)}

static int fetch_rows(MYSQL_STMT *st, stmt_job *j)
{
    MYSQL_BIND out[5];
    unsigned long olen[5];
    my_bool nulls[5];
    long long ll[5] = {0};
    v2m_user u;
    int ncols = j->rows == ROWS_USER ? 5 : 3;

    memset(out, 0, sizeof out);
    memset(&u, 0, sizeof u);
    if (j->rows == ROWS_SECRET) {
        memset(j->text, 0, j->textsz);
        out[0].buffer_type = MYSQL_TYPE_STRING;
        out[0].buffer = j->text;
        out[0].buffer_length = j->textsz - 1;
        out[0].length = &olen[0];
        out[0].is_null = &nulls[0];
        if (mysql_stmt_bind_result(st, out))
            return -1;
        for (;;) {
            int f = mysql_stmt_fetch(st);
            if (f == MYSQL_NO_DATA)
                break;
            if (f == 1 || f == MYSQL_DATA_TRUNCATED)
                return -1;
            if (++j->nrows == 1 && nulls[0])
                j->text[0] = '\0';
        }
        return 0;
    }
    for (int i = 0; i < ncols; i++) {
        out[i].buffer_type = MYSQL_TYPE_LONGLONG;
        out[i].buffer = &ll[i];
        out[i].length = &olen[i];
        out[i].is_null = &nulls[i];
    }
    if (j->rows == ROWS_USER) {
        out[1].buffer_type = MYSQL_TYPE_STRING;
        out[1].buffer = u.email;
        out[1].buffer_length = sizeof u.email - 1;
        out[2].buffer_type = MYSQL_TYPE_STRING;
        out[2].buffer = u.password;
        out[2].buffer_length = sizeof u.password - 1;
    }
    if (mysql_stmt_bind_result(st, out))
        return -1;
    for (;;) {
        memset(u.email, 0, sizeof u.email);
        memset(u.password, 0, sizeof u.password);
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1)
            return -1;
        /* MYSQL_DATA_TRUNCATED cannot happen for VARCHAR(255) columns. */
        j->nrows++;
        if (j->rows == ROWS_THROTTLE) {
            if (j->nrows == 1) {
                j->thr->failures = ll[0];
                j->thr->blocked_until = ll[1];
                j->thr->updated_at = ll[2];
            }
            continue;
        }
        u.id = ll[0];
        u.admin = ll[3] != 0;
        u.token_gen = ll[4];
        if (j->each(j->ud, &u))
            break;
    }
    explicit_bzero(&u, sizeof u);
    return 0;
}

static int stmt_run(MYSQL *c, stmt_job *j)
{
    MYSQL_STMT *st = mysql_stmt_init(c);
    MYSQL_BIND in[PARAMS_MAX];
    unsigned long lens[PARAMS_MAX];
    int rc = -1;

    if (!st) {
        j->my_errno = mysql_errno(c);
        snprintf(j->my_error, sizeof j->my_error, "%s", mysql_error(c));
        return -1;
    }
    if (mysql_stmt_prepare(st, j->sql, (unsigned long)strlen(j->sql)))
        goto fail;
    memset(in, 0, sizeof in);
    for (int i = 0; i < j->np; i++) {
        if (j->p[i].s) {
            lens[i] = (unsigned long)strlen(j->p[i].s);
            in[i].buffer_type = MYSQL_TYPE_STRING;
            in[i].buffer = (void *)j->p[i].s;
            in[i].buffer_length = lens[i];
            in[i].length = &lens[i];
        } else {
            in[i].buffer_type = MYSQL_TYPE_LONGLONG;
            in[i].buffer = &j->p[i].i;
        }
    }
    if (j->np && mysql_stmt_bind_param(st, in))
        goto fail;
    if (mysql_stmt_execute(st))
        goto fail;
    j->affected = (long long)mysql_stmt_affected_rows(st);
    if (j->rows != ROWS_NONE && fetch_rows(st, j))
        goto fail;
    rc = 0;
    goto done;
fail:
    j->my_errno = mysql_stmt_errno(st);
    snprintf(j->my_error, sizeof j->my_error, "%s", mysql_stmt_error(st));
done:
    mysql_stmt_close(st);
    return rc;
}

static v2m_err exec_job(users_mysql *m, stmt_job *j, v2m_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        MYSQL *c = conn_get(m, err);
        if (!c)
            return V2M_EUNAVAIL;
        j->my_errno = 0;
        j->my_error[0] = '\0';
        if (stmt_run(c, j) == 0) {
            conn_put(m, c);
            return V2M_OK;
        }
        if (conn_lost(j->my_errno)) {
            mysql_close(c); /* dropped by the server: try once on a new one */
            V2M_LOG(V2M_WARN, "user database connection lost, reconnecting errno=%u",
                    j->my_errno);
            continue;
        }
        conn_put(m, c);
        if (j->my_errno == ER_DUP_ENTRY)
            return v2m_fail(err, V2M_EEXIST, "user already exists");
        return v2m_fail(err, V2M_EIO, "user database: %s", j->my_error);
    }
    return v2m_fail(err, V2M_EUNAVAIL, "user database %s:%u unavailable: %s", m->host, m->port,
                    j->my_error);
}

static v2m_err m_ping(void *impl, v2m_error *err)
{
    stmt_job j = {.sql = "SELECT 1 FROM user LIMIT 0"};
    return exec_job(impl, &j, err);
}

static int copy_first(void *ud, const v2m_user *u)
{
    v2m_user *dst = ud;
    *dst = *u;
    dst->id = u->id ? u->id : -1;
    return 1;
}

#define USER_COLS "id, email, password, admin, token_gen"

static v2m_err m_get(void *impl, const char *email, v2m_user *out, v2m_error *err)
{
    stmt_job j = {.sql = "SELECT " USER_COLS " FROM user WHERE email = ? ORDER BY id LIMIT 1",
                  .p = {S(email)}, .np = 1, .rows = ROWS_USER, .each = copy_first, .ud = out};
    v2m_err rc;
    memset(out, 0, sizeof *out);
    rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    if (out->id == 0)
        return v2m_fail(err, V2M_ENOTFOUND, "no such user");
    return V2M_OK;
}

static v2m_err m_add(void *impl, const char *email, const char *password, int admin,
                     long long token_gen, v2m_error *err)
{
    stmt_job j = {.sql = "INSERT INTO user (email, password, admin, token_gen) VALUES (?, ?, ?, ?)",
                  .p = {S(email), S(password), I(admin != 0), I(token_gen)}, .np = 4};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc == V2M_EEXIST)
        return v2m_fail(err, V2M_EEXIST, "user %s already exists", email);
    return rc;
}

static v2m_err m_changed(v2m_err rc, const stmt_job *j, const char *email, v2m_error *err)
{
    if (rc)
        return rc;
    return j->affected > 0 ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
}

static v2m_err m_set_password(void *impl, const char *email, const char *password,
                              v2m_error *err)
{
    stmt_job j = {.sql = "UPDATE user SET password = ?, token_gen = token_gen + 1 WHERE email = ?",
                  .p = {S(password), S(email)}, .np = 2};
    return m_changed(exec_job(impl, &j, err), &j, email, err);
}

static v2m_err m_set_admin(void *impl, const char *email, int admin, v2m_error *err)
{
    /* token_gen first: MySQL evaluates SET left to right with the new values. */
    stmt_job j = {.sql = "UPDATE user SET token_gen = token_gen + (admin <> ?), admin = ?"
                         " WHERE email = ?",
                  .p = {I(admin != 0), I(admin != 0), S(email)}, .np = 3};
    return m_changed(exec_job(impl, &j, err), &j, email, err);
}

static v2m_err m_rehash(void *impl, long long id, const char *old, const char *hash,
                        v2m_error *err)
{
    stmt_job j = {.sql = "UPDATE user SET password = ? WHERE id = ? AND password = BINARY ?",
                  .p = {S(hash), I(id), S(old)}, .np = 3};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    return j.affected > 0 ? V2M_OK : v2m_fail(err, V2M_ESTATE, "the password changed meanwhile");
}

static v2m_err m_del(void *impl, const char *email, v2m_error *err)
{
    stmt_job j = {.sql = "DELETE FROM user WHERE email = ?", .p = {S(email)}, .np = 1};
    return m_changed(exec_job(impl, &j, err), &j, email, err);
}

static v2m_err m_list(void *impl, v2m_users_each fn, void *ud, v2m_error *err)
{
    stmt_job j = {.sql = "SELECT " USER_COLS " FROM user ORDER BY email", .rows = ROWS_USER,
                  .each = fn, .ud = ud};
    return exec_job(impl, &j, err);
}

static v2m_err m_throttle_get(void *impl, const char *key, v2m_throttle *out, v2m_error *err)
{
    stmt_job j = {.sql = "SELECT failures, blocked_until, updated_at FROM login_throttle"
                         " WHERE throttle_key = ?",
                  .p = {S(key)}, .np = 1, .rows = ROWS_THROTTLE, .thr = out};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    return j.nrows ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no throttle row");
}

static v2m_err m_throttle_set(void *impl, const char *key, const v2m_throttle *prev,
                              const v2m_throttle *next, v2m_error *err)
{
    stmt_job ins = {.sql = "INSERT INTO login_throttle"
                           " (throttle_key, failures, blocked_until, updated_at)"
                           " VALUES (?, ?, ?, ?)",
                    .p = {S(key), I(next->failures), I(next->blocked_until), I(next->updated_at)},
                    .np = 4};
    stmt_job upd = {.sql = "UPDATE login_throttle SET failures = ?, blocked_until = ?,"
                           " updated_at = ? WHERE throttle_key = ? AND failures = ?"
                           " AND blocked_until = ? AND updated_at = ?",
                    .np = 7};
    v2m_error e2 = {0};
    v2m_err rc;

    if (!prev) {
        rc = exec_job(impl, &ins, &e2);
        if (rc == V2M_EEXIST)
            return v2m_fail(err, V2M_ESTATE, "throttle row changed meanwhile");
        if (rc && err)
            *err = e2;
        return rc;
    }
    upd.p[0] = (stmt_param)I(next->failures);
    upd.p[1] = (stmt_param)I(next->blocked_until);
    upd.p[2] = (stmt_param)I(next->updated_at);
    upd.p[3] = (stmt_param)S(key);
    upd.p[4] = (stmt_param)I(prev->failures);
    upd.p[5] = (stmt_param)I(prev->blocked_until);
    upd.p[6] = (stmt_param)I(prev->updated_at);
    rc = exec_job(impl, &upd, err);
    if (rc)
        return rc;
    return upd.affected > 0 ? V2M_OK
                            : v2m_fail(err, V2M_ESTATE, "throttle row changed meanwhile");
}

static v2m_err m_throttle_clear(void *impl, const char *key, v2m_error *err)
{
    stmt_job j = {.sql = "DELETE FROM login_throttle WHERE throttle_key = ?", .p = {S(key)},
                  .np = 1};
    return exec_job(impl, &j, err);
}

static v2m_err m_throttle_prune(void *impl, long long before_ms, v2m_error *err)
{
    stmt_job j = {.sql = "DELETE FROM login_throttle WHERE updated_at < ? AND blocked_until < ?",
                  .p = {I(before_ms), I(before_ms)}, .np = 2};
    return exec_job(impl, &j, err);
}

static v2m_err m_secret_get(void *impl, const char *email, char *out, size_t outsz,
                            v2m_error *err)
{
    stmt_job j = {.sql = "SELECT webhook_secret FROM user WHERE email = ? ORDER BY id LIMIT 1",
                  .p = {S(email)}, .np = 1, .rows = ROWS_SECRET, .text = out, .textsz = outsz};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    return j.nrows ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no such user");
}

static v2m_err m_secret_set(void *impl, const char *email, const char *secret, int only_if_none,
                            v2m_error *err)
{
    stmt_job j = {.sql = only_if_none ? "UPDATE user SET webhook_secret = ? WHERE email = ?"
                                        " AND (webhook_secret IS NULL OR webhook_secret = '')"
                                      : "UPDATE user SET webhook_secret = ? WHERE email = ?",
                  .p = {S(secret), S(email)}, .np = 2};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    if (j.affected > 0)
        return V2M_OK;
    return only_if_none
               ? v2m_fail(err, V2M_ESTATE, "the user has a webhook secret already or is gone")
               : v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
}

const v2m__users_ops v2m__users_mysql = {
    .open = m_open,
    .close = m_close,
    .ping = m_ping,
    .get = m_get,
    .add = m_add,
    .set_password = m_set_password,
    .set_admin = m_set_admin,
    .rehash = m_rehash,
    .del = m_del,
    .list = m_list,
    .throttle_get = m_throttle_get,
    .throttle_set = m_throttle_set,
    .throttle_clear = m_throttle_clear,
    .throttle_prune = m_throttle_prune,
    .secret_get = m_secret_get,
    .secret_set = m_secret_set,
};
