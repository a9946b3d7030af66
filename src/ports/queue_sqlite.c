/* queue_sqlite.c - durable queues in one SQLite file (the embedded default).
 *
 * One table holds every queue's messages:
 *   messages(id, queue, body, attempts, retries, visible_at, lease, created_at, error)
 * A message is ready when visible_at <= now (ms since the epoch, shared by all
 * processes). Taking one sets a random lease token and visible_at = now +
 * lease_ms in one write transaction (BEGIN IMMEDIATE), so two consumers never
 * hold the same message. Settling (ack/retry/dead/release) only applies while
 * the token still matches. queue.c's keeper thread has the leases its handle
 * holds renewed every lease_ms/3 (qs_keep); when the process dies the lease
 * runs out and the message is ready again. A message's delivery is its row id
 * and its lease token. <q>.retry is not a separate table: a retried message stays
 * in <q> with visible_at in the future. <q>.dead is the queue name
 * `<q>.dead`. WAL, synchronous=FULL and a busy timeout let several processes
 * share the file; a committed publish survives a crash.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/sqlite.h"
#include "queue_int.h"
#include "clock_int.h"
#include "url_path_int.h"
#include "mkdir_p_int.h"
#include "utf8_int.h"

typedef struct {
    sqlite3 *db;
    pthread_mutex_t mu;       /* the connection */
    v2m_queue_opts o;
    char path[PATH_MAX];
} qsql;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " queue TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"   /* deliveries so far */
    " retries INTEGER NOT NULL DEFAULT 0,"    /* settled by retry */
    " visible_at INTEGER NOT NULL,"           /* ms; ready when <= now */
    " lease INTEGER NOT NULL DEFAULT 0,"      /* token of the holder, 0 when none */
    " created_at INTEGER NOT NULL,"
    " error TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_ready ON messages(queue, visible_at, id);";

static v2m_err db_fail(qsql *s, v2m_error *err, const char *what)
{
    return v2m_sqlite_fail(err, s->db, "sqlite queue", s->path, what);
}

static int64_t new_token(void)
{
    uint64_t t = 0;
    while (t == 0) {
        if (getrandom(&t, sizeof t, 0) != sizeof t)
            t = (uint64_t)v2m__mono_ms() * 2654435761u ^ (uint64_t)rand();
        t &= INT64_MAX;
    }
    return (int64_t)t;
}

static void qs_close(void *impl)
{
    qsql *s = impl;

    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static v2m_err qs_open(const char *url, const v2m_queue_opts *o, void **impl, v2m_error *err)
{
    qsql *s = calloc(1, sizeof *s);
    char dir[PATH_MAX], *slash;
    v2m_err rc;

    if (!s)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    s->o = *o;
    pthread_mutex_init(&s->mu, NULL);
    if ((rc = v2m__url_path(url, "sqlite", s->path, sizeof s->path, err)))
        goto fail;
    /* The embedded default lives in ./var, which may not exist yet. */
    snprintf(dir, sizeof dir, "%s", s->path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (v2m__mkdir_p(dir) != 0) {
            rc = v2m_fail(err, V2M_EUNAVAIL, "queue directory %s: %s", dir, strerror(errno));
            goto fail;
        }
    }
    if ((rc = v2m_sqlite_open(s->path, "FULL", schema, "sqlite queue", &s->db, err)))
        goto fail;
    *impl = s;
    return V2M_OK;
fail:
    qs_close(s);
    return rc;
}

/* Run sql with int64/text parameters given by fmt ('i' int64, 't' text,
 * 'b' blob as pointer + size_t); returns the sqlite result of the step and
 * leaves the statement finalized. Caller holds s->mu. */
static int exec1(qsql *s, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int r, i = 1;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errcode(s->db);
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++, i++) {
        if (*f == 'i') {
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
        } else if (*f == 't') {
            const char *t = va_arg(ap, const char *);
            if (t)
                sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
        } else {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            sqlite3_bind_blob64(st, i, p, n, SQLITE_TRANSIENT);
        }
    }
    va_end(ap);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r;
}

static int qs_keep_every_ms(const v2m_queue_opts *o) { return o->lease_ms / 3; }

/* Renew the leases of the held messages. */
static void qs_keep(void *impl, v2m_queue_msg *const *held, size_t n)
{
    qsql *s = impl;

    if (n == 0)
        return;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        const v2m__delivery *d = v2m__queue_delivery_c(held[i]);
        int r = exec1(s, "UPDATE messages SET visible_at = ? WHERE id = ? AND lease = ?", "iii",
                      v2m__now_ms() + s->o.lease_ms, (int64_t)d->id, (int64_t)d->key);
        if (r != SQLITE_DONE)
            V2M_LOG(V2M_WARN, "sqlite queue cannot renew lease id=%llu err=%s",
                    (unsigned long long)d->id, sqlite3_errmsg(s->db));
    }
    pthread_mutex_unlock(&s->mu);
}

static v2m_err qs_ping(void *impl, v2m_error *err)
{
    qsql *s = impl;
    return v2m_sqlite_ping(s->db, &s->mu, "SELECT count(*) FROM messages WHERE 0", "sqlite queue",
                           s->path, err);
}

static v2m_err qs_declare(void *impl, const char *queue, v2m_error *err)
{
    /* Queues are rows' names: nothing to create beyond the table. */
    return qs_ping(impl, err);
}

static v2m_err qs_publish(void *impl, const char *queue, const void *body, size_t len,
                          v2m_error *err)
{
    qsql *s = impl;
    int64_t now = v2m__now_ms();
    v2m_err rc = V2M_OK;

    pthread_mutex_lock(&s->mu);
    if (exec1(s,
              "INSERT INTO messages (queue, body, visible_at, created_at) VALUES (?, ?, ?, ?)",
              "tbii", queue, body, len, now, now) != SQLITE_DONE)
        rc = db_fail(s, err, "publish");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* A retried message waits in <q> with visible_at in the future: a message
 * published for later does the same. */
static v2m_err qs_publish_later(void *impl, const char *queue, const void *body, size_t len,
                                int delay_ms, v2m_error *err)
{
    qsql *s = impl;
    int64_t now = v2m__now_ms();
    v2m_err rc = V2M_OK;

    pthread_mutex_lock(&s->mu);
    if (exec1(s,
              "INSERT INTO messages (queue, body, visible_at, created_at) VALUES (?, ?, ?, ?)",
              "tbii", queue, body, len, now + (delay_ms > 0 ? delay_ms : 0), now) != SQLITE_DONE)
        rc = db_fail(s, err, "publish");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Take the oldest ready message of queue, or set *out = NULL. Messages
 * delivered max_attempts times without being settled go to <q>.dead on the
 * way. Caller holds s->mu. */
/* Whether queue has a visible message, looked at without the write lock:
 * idle consumers poll often. */
static v2m_err peek(qsql *s, const char *queue, int *ready, v2m_error *err)
{
    sqlite3_stmt *st = NULL;
    int r;

    *ready = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM messages WHERE queue = ? AND visible_at <= ? LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "prepare peek");
    sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v2m__now_ms());
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW)
        return db_fail(s, err, "peek");
    *ready = r == SQLITE_ROW;
    return V2M_OK;
}

/* The first visible message of a queue, leased with a token. */
typedef struct leased {
    v2m_queue_msg *m;   /* NULL when there was none */
    int64_t id, token;
    int attempts, retries;
} leased;

/* In the write transaction: lease the first visible message of queue to
 * l->token until now plus the lease time. */
static v2m_err lease_first(qsql *s, const char *queue, int64_t now, leased *l, v2m_error *err)
{
    sqlite3_stmt *st = NULL;
    v2m_err rc = V2M_OK;
    int r;

    l->m = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE messages SET lease = ?1, visible_at = ?2,"
                           " attempts = attempts + 1"
                           " WHERE id = (SELECT id FROM messages WHERE queue = ?3"
                           " AND visible_at <= ?4 ORDER BY visible_at, id LIMIT 1)"
                           " RETURNING id, body, attempts, retries, error",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "prepare take");
    sqlite3_bind_int64(st, 1, l->token);
    sqlite3_bind_int64(st, 2, now + s->o.lease_ms);
    sqlite3_bind_text(st, 3, queue, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        l->id = sqlite3_column_int64(st, 0);
        l->attempts = sqlite3_column_int(st, 2);
        l->retries = sqlite3_column_int(st, 3);
        l->m = v2m__queue_msg_new(queue, sqlite3_column_blob(st, 1),
                                  (size_t)sqlite3_column_bytes(st, 1));
        if (!l->m)
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        else if (sqlite3_column_text(st, 4))
            v2m__strlcpy_utf8(l->m->error, sizeof l->m->error,
                              (const char *)sqlite3_column_text(st, 4),
                              (size_t)sqlite3_column_bytes(st, 4));
        if (l->m)
            sqlite3_step(st);   /* run the statement to its end */
    } else if (r != SQLITE_DONE) {
        rc = db_fail(s, err, "take");
    }
    sqlite3_finalize(st);
    return rc;
}

/* In the write transaction: move a message its consumers kept dying on to
 * the dead queue, and commit. */
static v2m_err bury(qsql *s, const char *queue, int64_t now, const leased *l, v2m_error *err)
{
    char dq[V2M_QUEUE_NAME_MAX + 8];

    v2m__queue_dead_name(queue, dq, sizeof dq);
    if (exec1(s,
              "UPDATE messages SET queue = ?, lease = 0, visible_at = ?, attempts = ?,"
              " error = ? WHERE id = ?",
              "tiiti", dq, now, (int64_t)(l->attempts - 1),
              "gave up: its consumers died before settling it", l->id) != SQLITE_DONE)
        return db_fail(s, err, "dead-letter");
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, err, "commit");
    V2M_LOG(V2M_WARN, "sqlite queue dead-lettered unsettled message queue=%s id=%lld "
            "deliveries=%d", queue, (long long)l->id, l->attempts - 1);
    return V2M_OK;
}

static v2m_err take(qsql *s, const char *queue, v2m_queue_msg **out, v2m_error *err)
{
    leased l = {0};
    int64_t now;
    int ready;
    v2m_err rc;

    *out = NULL;
    for (;;) {
        if ((rc = peek(s, queue, &ready, err)) || !ready)
            return rc;
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(s, err, "begin");
        now = v2m__now_ms();
        l.token = new_token();
        if ((rc = lease_first(s, queue, now, &l, err)))
            goto rollback;
        if (!l.m) {
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
            return V2M_OK;
        }
        if (l.attempts > s->o.max_attempts && !v2m__queue_ends_with(queue, ".dead")) {
            /* Its consumers kept dying on it: give up on it here. */
            if ((rc = bury(s, queue, now, &l, err)))
                goto rollback;
            v2m__queue_msg_free(l.m);
            l.m = NULL;
            continue;
        }
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_fail(s, err, "commit");
            goto rollback;
        }
        v2m__queue_delivery(l.m)->id = (uint64_t)l.id;
        v2m__queue_delivery(l.m)->key = (uint64_t)l.token;
        l.m->attempt = l.attempts;
        l.m->redelivered = l.attempts - 1 > l.retries;
        *out = l.m;
        return V2M_OK;
    }
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    v2m__queue_msg_free(l.m);
    return rc;
}

static v2m_err qs_consume(void *impl, const char *queue, int timeout_ms, v2m_queue_msg **out,
                          v2m_error *err)
{
    qsql *s = impl;
    int64_t deadline = v2m__mono_ms() + timeout_ms;
    v2m_err rc;

    for (;;) {
        v2m_queue_msg *m = NULL;

        if (s->o.stop && atomic_load(s->o.stop))
            return v2m_fail(err, V2M_ECANCELLED, "queue consume: stopping");
        pthread_mutex_lock(&s->mu);
        rc = take(s, queue, &m, err);
        pthread_mutex_unlock(&s->mu);
        if (rc)
            return rc;
        if (m) {
            *out = m;
            return V2M_OK;
        }
        if (v2m__mono_ms() >= deadline)
            return v2m_fail(err, V2M_ETIMEOUT, "queue %s: no message within %d ms", queue,
                            timeout_ms);
        {
            int64_t left = deadline - v2m__mono_ms();
            v2m__sleep_ms(left < 50 ? (left > 0 ? left : 0) : 50, s->o.stop);
        }
    }
}

/* Apply a settlement (sql with parameters fmt..., the last two being id and
 * token) and free m. */
static v2m_err settle(qsql *s, v2m_queue_msg *m, const char *what, v2m_error *err,
                      const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    v2m_err rc = V2M_OK;
    int i = 1;

    const v2m__delivery *d = v2m__queue_delivery_c(m);

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, what);
        goto out;
    }
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++, i++) {
        if (*f == 'i')
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
        else
            sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    sqlite3_bind_int64(st, i++, (int64_t)d->id);
    sqlite3_bind_int64(st, i, (int64_t)d->key);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, err, what);
    else if (sqlite3_changes(s->db) == 0)
        rc = v2m_fail(err, V2M_ETIMEOUT,
                      "queue %s: lease of message %llu expired before %s; it is redelivered",
                      m->queue, (unsigned long long)d->id, what);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    v2m__queue_msg_free(m);
    return rc;
}

static v2m_err qs_ack(void *impl, v2m_queue_msg *m, v2m_error *err)
{
    return settle(impl, m, "ack", err, "DELETE FROM messages WHERE id = ? AND lease = ?", "");
}

static v2m_err qs_retry(void *impl, v2m_queue_msg *m, int delay_ms, const char *reason,
                        v2m_error *err)
{
    return settle(impl, m, "retry", err,
                  "UPDATE messages SET lease = 0, visible_at = ?, retries = retries + 1,"
                  " error = ? WHERE id = ? AND lease = ?",
                  "it", v2m__now_ms() + delay_ms, reason);
}

static v2m_err qs_dead(void *impl, v2m_queue_msg *m, const char *reason, v2m_error *err)
{
    char dq[V2M_QUEUE_NAME_MAX + 8];

    v2m__queue_dead_name(m->queue, dq, sizeof dq);
    return settle(impl, m, "dead-letter", err,
                  "UPDATE messages SET queue = ?, lease = 0, visible_at = ?, error = ?"
                  " WHERE id = ? AND lease = ?",
                  "tit", dq, v2m__now_ms(), reason);
}

static v2m_err qs_release(void *impl, v2m_queue_msg *m, v2m_error *err)
{
    return settle(impl, m, "release", err,
                  "UPDATE messages SET lease = 0, visible_at = ?, attempts = attempts - 1"
                  " WHERE id = ? AND lease = ?",
                  "i", v2m__now_ms());
}

static v2m_err qs_count(void *impl, const char *queue, long *n, v2m_error *err)
{
    qsql *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc = V2M_OK;

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM messages WHERE queue = ? AND visible_at <= ?", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare count");
    } else {
        sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, v2m__now_ms());
        if (sqlite3_step(st) == SQLITE_ROW)
            *n = (long)sqlite3_column_int64(st, 0);
        else
            rc = db_fail(s, err, "count");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

const v2m__queue_ops v2m__queue_sqlite = {
    .open = qs_open,
    .close = qs_close,
    .ping = qs_ping,
    .declare = qs_declare,
    .publish = qs_publish,
    .publish_later = qs_publish_later,
    .consume = qs_consume,
    .ack = qs_ack,
    .retry = qs_retry,
    .dead = qs_dead,
    .release = qs_release,
    .count = qs_count,
    .keep_every_ms = qs_keep_every_ms,
    .keep = qs_keep,
};
