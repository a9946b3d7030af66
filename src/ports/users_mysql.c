/* users_mysql.c - users in MySQL/MariaDB through MariaDB Connector/C.
 *
 * The table is the original's `user (id, email, password)`, plus an `admin`
 * column that is added on first contact when missing. Connections are made
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

#include "common/config.h"
#include "common/log.h"
#include "users.h"

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

static int part(CURLU *u, CURLUPart what, char *out, size_t outsz, const char *def)
{
    char *v = NULL;
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
    if (!mysql_real_connect(c, m->host, m->user, m->pass, m->db, m->port, NULL, 0)) {
        v2m_fail(err, V2M_EUNAVAIL, "user database %s:%u unavailable: %s", m->host, m->port,
                 mysql_error(c));
        mysql_close(c);
        return NULL;
    }
    /* Databases made by the original system have no admin column yet. */
    if (mysql_query(c, "SELECT admin FROM user LIMIT 0") != 0) {
        if (mysql_errno(c) == ER_BAD_FIELD_ERROR) {
            if (mysql_query(c, "ALTER TABLE user ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE"))
                V2M_LOG(V2M_WARN, "cannot add admin column: %s", mysql_error(c));
            else
                V2M_LOG(V2M_INFO, "added admin column to %s.user", m->db);
        } else {
            v2m_fail(err, V2M_EUNAVAIL, "user database %s:%u: %s", m->host, m->port,
                     mysql_error(c));
            mysql_close(c);
            return NULL;
        }
    } else {
        MYSQL_RES *r = mysql_store_result(c);
        mysql_free_result(r);
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

/* One statement: string params (and an optional int), optional result rows
 * of (id, email, password, admin). Returns affected rows in *affected. */
typedef struct {
    const char *sql;
    const char *s[2];
    int ns;
    int has_int;
    int ival;
    v2m_users_each each;
    void *ud;
    long long affected;
    unsigned my_errno;
    char my_error[256];
} stmt_job;

static int stmt_run(MYSQL *c, stmt_job *j)
{
    MYSQL_STMT *st = mysql_stmt_init(c);
    MYSQL_BIND in[3], out[4];
    unsigned long lens[2], olen[4];
    v2m_user u;
    long long id = 0;
    int admin = 0, rc = -1;
    my_bool nulls[4];

    if (!st) {
        j->my_errno = mysql_errno(c);
        snprintf(j->my_error, sizeof j->my_error, "%s", mysql_error(c));
        return -1;
    }
    if (mysql_stmt_prepare(st, j->sql, (unsigned long)strlen(j->sql)))
        goto fail;
    memset(in, 0, sizeof in);
    for (int i = 0; i < j->ns; i++) {
        lens[i] = (unsigned long)strlen(j->s[i]);
        in[i].buffer_type = MYSQL_TYPE_STRING;
        in[i].buffer = (void *)j->s[i];
        in[i].buffer_length = lens[i];
        in[i].length = &lens[i];
    }
    if (j->has_int) {
        in[j->ns].buffer_type = MYSQL_TYPE_LONG;
        in[j->ns].buffer = &j->ival;
    }
    if ((j->ns || j->has_int) && mysql_stmt_bind_param(st, in))
        goto fail;
    if (mysql_stmt_execute(st))
        goto fail;
    j->affected = (long long)mysql_stmt_affected_rows(st);
    if (j->each) {
        memset(out, 0, sizeof out);
        memset(&u, 0, sizeof u);
        out[0].buffer_type = MYSQL_TYPE_LONGLONG;
        out[0].buffer = &id;
        out[1].buffer_type = MYSQL_TYPE_STRING;
        out[1].buffer = u.email;
        out[1].buffer_length = sizeof u.email - 1;
        out[2].buffer_type = MYSQL_TYPE_STRING;
        out[2].buffer = u.password;
        out[2].buffer_length = sizeof u.password - 1;
        out[3].buffer_type = MYSQL_TYPE_LONG;
        out[3].buffer = &admin;
        for (int i = 0; i < 4; i++) {
            out[i].length = &olen[i];
            out[i].is_null = &nulls[i];
        }
        if (mysql_stmt_bind_result(st, out))
            goto fail;
        for (;;) {
            memset(u.email, 0, sizeof u.email);
            memset(u.password, 0, sizeof u.password);
            int f = mysql_stmt_fetch(st);
            if (f == MYSQL_NO_DATA)
                break;
            if (f == 1)
                goto fail;
            /* MYSQL_DATA_TRUNCATED cannot happen for VARCHAR(255) columns. */
            u.id = id;
            u.admin = admin != 0;
            if (j->each(j->ud, &u))
                break;
        }
    }
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

static v2m_err m_get(void *impl, const char *email, v2m_user *out, v2m_error *err)
{
    stmt_job j = {.sql = "SELECT id, email, password, admin FROM user WHERE email = ?",
                  .s = {email}, .ns = 1, .each = copy_first, .ud = out};
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
                     v2m_error *err)
{
    stmt_job j = {.sql = "INSERT INTO user (email, password, admin) VALUES (?, ?, ?)",
                  .s = {email, password}, .ns = 2, .has_int = 1, .ival = admin != 0};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc == V2M_EEXIST)
        return v2m_fail(err, V2M_EEXIST, "user %s already exists", email);
    return rc;
}

static v2m_err m_set_password(void *impl, const char *email, const char *password,
                              v2m_error *err)
{
    stmt_job j = {.sql = "UPDATE user SET password = ? WHERE email = ?",
                  .s = {password, email}, .ns = 2};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    return j.affected > 0 ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
}

static v2m_err m_del(void *impl, const char *email, v2m_error *err)
{
    stmt_job j = {.sql = "DELETE FROM user WHERE email = ?", .s = {email}, .ns = 1};
    v2m_err rc = exec_job(impl, &j, err);
    if (rc)
        return rc;
    return j.affected > 0 ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no such user: %s", email);
}

static v2m_err m_list(void *impl, v2m_users_each fn, void *ud, v2m_error *err)
{
    stmt_job j = {.sql = "SELECT id, email, password, admin FROM user ORDER BY email",
                  .each = fn, .ud = ud};
    return exec_job(impl, &j, err);
}

const v2m_users_ops v2m_users_mysql = {
    .scheme = "mysql",
    .open = m_open,
    .close = m_close,
    .ping = m_ping,
    .get = m_get,
    .add = m_add,
    .set_password = m_set_password,
    .del = m_del,
    .list = m_list,
};
