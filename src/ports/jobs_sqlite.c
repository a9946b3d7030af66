/* jobs_sqlite.c - job records in SQLite (the embedded default).
 *
 * `file:///dir` (the store's URL) means `<dir>/jobs.db`; `sqlite:///path`
 * names the database itself. WAL and a busy timeout let several processes
 * (gateway, converters) share the file. Each change is one UPDATE ... WHERE
 * status IN (...) RETURNING, atomic on its own. One connection per handle,
 * serialised by a mutex, so the handle is thread-safe.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sqlite.h"
#include "jobs_int.h"
#include "url_path_int.h"
#include "mkdir_p_int.h"
#include "utf8_int.h"

typedef struct {
    sqlite3 *db;
    pthread_mutex_t mu;
    char path[PATH_MAX];
} jsql;

#define COLS "video_fid, owner, filename, size, status, progress, mp3_fid, error, attempts, " \
             "created_at, updated_at, ended_at, options, callback_url, track, language, " \
             "error_code, video_gone, deleting_at"

/* Only live records: one whose deletion began is gone for everyone but the
 * deleter (see v2m_jobs_delete_begin). */
#define LIVE "deleting_at = 0"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " video_fid TEXT PRIMARY KEY,"
    " owner TEXT NOT NULL,"
    " filename TEXT NOT NULL DEFAULT '',"
    " size INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL,"
    " progress REAL NOT NULL DEFAULT 0,"
    " mp3_fid TEXT,"
    " error TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " ended_at INTEGER NOT NULL DEFAULT 0,"
    " options TEXT NOT NULL DEFAULT '',"
    " callback_url TEXT NOT NULL DEFAULT '',"
    " track INTEGER NOT NULL DEFAULT 0,"
    " language TEXT NOT NULL DEFAULT '',"
    " error_code TEXT NOT NULL DEFAULT '',"
    " video_gone INTEGER NOT NULL DEFAULT 0,"
    " deleting_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs(owner, created_at DESC, video_fid DESC);"
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at DESC, video_fid DESC);";

static v2m_err db_fail(jsql *s, v2m_error *err, const char *what)
{
    return v2m_sqlite_fail(err, s->db, "sqlite", s->path, what);
}

/* Columns added after the first release, with their definitions: a database
 * made before gets them when opened (ADD COLUMN is instant in SQLite). */
static const char *const added[][2] = {
    {"ended_at", "INTEGER NOT NULL DEFAULT 0"},
    {"options", "TEXT NOT NULL DEFAULT ''"},
    {"callback_url", "TEXT NOT NULL DEFAULT ''"},
    {"track", "INTEGER NOT NULL DEFAULT 0"},
    {"language", "TEXT NOT NULL DEFAULT ''"},
    {"error_code", "TEXT NOT NULL DEFAULT ''"},
    {"video_gone", "INTEGER NOT NULL DEFAULT 0"},
    {"deleting_at", "INTEGER NOT NULL DEFAULT 0"},
};

/* Indexes on added columns: made once the columns exist. The janitor's
 * look-ups go by end time, and by the (rare) deletions left unfinished. */
static const char added_indexes[] =
    "CREATE INDEX IF NOT EXISTS jobs_ended ON jobs(ended_at) WHERE ended_at > 0;"
    "CREATE INDEX IF NOT EXISTS jobs_deleting ON jobs(deleting_at) WHERE deleting_at > 0;";

static v2m_err migrate(jsql *s, v2m_error *err)
{
    char sql[200];
    int older = 0;

    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
        sqlite3_stmt *st = NULL;
        int have;
        snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('jobs') WHERE name = '%s'",
                 added[i][0]);
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
            return db_fail(s, err, "read schema");
        have = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (have)
            continue;
        older = 1;
        snprintf(sql, sizeof sql, "ALTER TABLE jobs ADD COLUMN %s %s", added[i][0], added[i][1]);
        /* Another process may add it at the same moment: check again. */
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK &&
            !strstr(sqlite3_errmsg(s->db), "duplicate column"))
            return db_fail(s, err, "add a column");
    }
    if (sqlite3_exec(s->db, added_indexes, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, err, "create indexes");
    /* Jobs that ended before their end was recorded: their last change is
     * when they ended, so retention applies to them too. */
    if (older && sqlite3_exec(s->db,
                              "UPDATE jobs SET ended_at = updated_at WHERE ended_at = 0"
                              " AND status IN ('done', 'failed')",
                              NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, err, "record when old jobs ended");
    return V2M_OK;
}

static void js_close(void *impl)
{
    jsql *s = impl;
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static v2m_err js_open(const char *url, void **impl, v2m_error *err)
{
    jsql *s = calloc(1, sizeof *s);
    v2m_err rc;

    if (!s)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    if (strncmp(url, "file://", 7) == 0) {
        rc = v2m__url_path(url, "file", s->path, sizeof s->path - 16, err);
        if (rc)
            goto fail;
        if (v2m__mkdir_p(s->path) != 0) {
            rc = v2m_fail(err, V2M_EUNAVAIL, "jobs directory %s: %s", s->path, strerror(errno));
            goto fail;
        }
        strcat(s->path, "/jobs.db");
    } else if ((rc = v2m__url_path(url, "sqlite", s->path, sizeof s->path, err))) {
        goto fail;
    }
    if ((rc = v2m_sqlite_open(s->path, "NORMAL", schema, "sqlite jobs", &s->db, err)) ||
        (rc = migrate(s, err)))
        goto fail;
    *impl = s;
    return V2M_OK;
fail:
    js_close(s);
    return rc;
}

static v2m_err js_ping(void *impl, v2m_error *err)
{
    jsql *s = impl;
    return v2m_sqlite_ping(s->db, &s->mu, "SELECT count(*) FROM jobs WHERE 0", "sqlite", s->path,
                           err);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t dstsz)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    v2m__strlcpy_utf8(dst, dstsz, t ? t : "", t ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

static void row_job(sqlite3_stmt *st, v2m_job *j)
{
    char status[16];
    int s;

    memset(j, 0, sizeof *j);
    col_text(st, 0, j->video_fid, sizeof j->video_fid);
    col_text(st, 1, j->owner, sizeof j->owner);
    col_text(st, 2, j->filename, sizeof j->filename);
    j->size = sqlite3_column_int64(st, 3);
    col_text(st, 4, status, sizeof status);
    s = v2m_job_status_parse(status);
    j->status = s < 0 ? V2M_JOB_FAILED : (v2m_job_status)s;
    j->progress = sqlite3_column_double(st, 5);
    col_text(st, 6, j->mp3_fid, sizeof j->mp3_fid);
    col_text(st, 7, j->error, sizeof j->error);
    j->attempts = sqlite3_column_int(st, 8);
    j->created_at = sqlite3_column_int64(st, 9);
    j->updated_at = sqlite3_column_int64(st, 10);
    j->ended_at = sqlite3_column_int64(st, 11);
    col_text(st, 12, j->options, sizeof j->options);
    col_text(st, 13, j->callback_url, sizeof j->callback_url);
    j->track = sqlite3_column_int(st, 14);
    col_text(st, 15, j->language, sizeof j->language);
    col_text(st, 16, j->error_code, sizeof j->error_code);
    j->video_gone = sqlite3_column_int(st, 17) != 0;
    j->deleting_at = sqlite3_column_int64(st, 18);
}

static v2m_err js_create(void *impl, const v2m_job *j, v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc = V2M_OK;
    int r;

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO jobs (" COLS ")"
                           " VALUES (?,?,?,?,?,?,NULL,NULL,0,?,?,0,?,?,0,'','',0,0)", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare insert");
        goto out;
    }
    sqlite3_bind_text(st, 1, j->video_fid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->filename, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, j->size);
    sqlite3_bind_text(st, 5, v2m_job_status_name(j->status), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, j->progress);
    sqlite3_bind_int64(st, 7, j->created_at);
    sqlite3_bind_int64(st, 8, j->updated_at);
    sqlite3_bind_text(st, 9, j->options, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, j->callback_url, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_CONSTRAINT)
        rc = v2m_fail(err, V2M_EEXIST, "job %s exists", j->video_fid);
    else if (r != SQLITE_DONE)
        rc = db_fail(s, err, "insert job");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Run a statement that yields at most one job row; V2M_ENOTFOUND when none. */
static v2m_err one_row(jsql *s, sqlite3_stmt *st, const char *fid, v2m_job *out, v2m_error *err)
{
    int r = sqlite3_step(st);

    if (r == SQLITE_ROW) {
        row_job(st, out);
        return V2M_OK;
    }
    if (r == SQLITE_DONE)
        return v2m_fail(err, V2M_ENOTFOUND, "no job %s", fid);
    return db_fail(s, err, "read job");
}

static v2m_err get_locked(jsql *s, const char *fid, v2m_job *out, v2m_error *err)
{
    sqlite3_stmt *st = NULL;
    v2m_err rc;

    if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM jobs WHERE video_fid = ? AND " LIVE, -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(s, err, "prepare select");
    sqlite3_bind_text(st, 1, fid, -1, SQLITE_STATIC);
    rc = one_row(s, st, fid, out, err);
    sqlite3_finalize(st);
    return rc;
}

static v2m_err js_get(void *impl, const char *fid, v2m_job *out, v2m_error *err)
{
    jsql *s = impl;
    v2m_err rc;

    pthread_mutex_lock(&s->mu);
    rc = get_locked(s, fid, out, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static v2m_err js_update(void *impl, const char *fid, const v2m_job_change *c, int64_t now,
                         v2m_job *out, v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    char from[64] = ",";
    v2m_err rc;

    for (int i = 0; i <= V2M_JOB_EXPIRED; i++)
        if (c->from & V2M_JOB_BIT(i)) {
            strcat(from, v2m_job_status_name((v2m_job_status)i));
            strcat(from, ",");
        }
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(
            s->db,
            "UPDATE jobs SET"
            " status = COALESCE(?1, status),"
            " progress = COALESCE(?2, progress),"
            " mp3_fid = CASE WHEN ?3 IS NULL THEN mp3_fid WHEN ?3 = '' THEN NULL ELSE ?3 END,"
            " error = CASE WHEN ?4 IS NULL THEN error WHEN ?4 = '' THEN NULL ELSE ?4 END,"
            " attempts = CASE WHEN ?13 THEN 0 ELSE attempts + ?5 END,"
            " updated_at = ?6,"
            " ended_at = CASE WHEN ?1 IN ('done', 'failed') THEN ?6"
            "                 WHEN ?1 IN ('queued', 'converting') THEN 0 ELSE ended_at END,"
            " track = COALESCE(?9, track),"
            " language = COALESCE(?10, language),"
            " error_code = COALESCE(?11, error_code),"
            " video_gone = COALESCE(?12, video_gone)"
            " WHERE video_fid = ?7 AND instr(?8, ',' || status || ',') > 0 AND " LIVE
            " RETURNING " COLS,
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare update");
        goto out;
    }
    if (c->status >= 0)
        sqlite3_bind_text(st, 1, v2m_job_status_name((v2m_job_status)c->status), -1,
                          SQLITE_STATIC);
    if (c->progress >= 0)
        sqlite3_bind_double(st, 2, c->progress);
    if (c->mp3_fid)
        sqlite3_bind_text(st, 3, c->mp3_fid, -1, SQLITE_STATIC);
    if (c->error)
        sqlite3_bind_text(st, 4, c->error, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, c->add_attempt ? 1 : 0);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_text(st, 7, fid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, from, -1, SQLITE_STATIC);
    if (c->track >= 0)
        sqlite3_bind_int(st, 9, c->track);
    if (c->language)
        sqlite3_bind_text(st, 10, c->language, -1, SQLITE_STATIC);
    if (c->error_code)
        sqlite3_bind_text(st, 11, c->error_code, -1, SQLITE_STATIC);
    if (c->video_gone >= 0)
        sqlite3_bind_int(st, 12, c->video_gone ? 1 : 0);
    sqlite3_bind_int(st, 13, c->reset_attempts ? 1 : 0);
    rc = one_row(s, st, fid, out, err);
    /* Finish the statement before anything else: RETURNING commits at the end. */
    if (rc == V2M_OK && sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, err, "update job");
    sqlite3_finalize(st);
    st = NULL;
    if (rc == V2M_ENOTFOUND) {
        /* No row changed: either no such job or a status outside c->from. */
        rc = get_locked(s, fid, out, err);
        if (rc == V2M_OK)
            rc = v2m_fail(err, V2M_ESTATE, "job %s is %s", fid, v2m_job_status_name(out->status));
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static v2m_err js_list(void *impl, const char *owner, int limit, int offset, v2m_jobs_each fn,
                       void *ud, v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc = V2M_OK;
    v2m_job j;
    int r;

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           owner ? "SELECT " COLS " FROM jobs WHERE owner = ?3 AND " LIVE
                                   " ORDER BY created_at DESC, video_fid DESC LIMIT ?1 OFFSET ?2"
                                 : "SELECT " COLS " FROM jobs WHERE " LIVE
                                   " ORDER BY created_at DESC, video_fid DESC LIMIT ?1 OFFSET ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare list");
        goto out;
    }
    sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
    sqlite3_bind_int(st, 2, offset);
    if (owner)
        sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        row_job(st, &j);
        if (fn(ud, &j))
            break;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = db_fail(s, err, "list jobs");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static v2m_err js_del(void *impl, const char *fid, v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc = V2M_OK;

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE video_fid = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_fail(s, err, "prepare delete");
        goto out;
    }
    sqlite3_bind_text(st, 1, fid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, err, "delete job");
    else if (sqlite3_changes(s->db) == 0)
        rc = v2m_fail(err, V2M_ENOTFOUND, "no job %s", fid);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static v2m_err js_del_begin(void *impl, const char *fid, const char *owner, int64_t now,
                            v2m_job *out, v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc;

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE jobs SET deleting_at ="
                           " CASE WHEN deleting_at = 0 THEN ?1 ELSE deleting_at END"
                           " WHERE video_fid = ?2 AND (?3 IS NULL OR owner = ?3)"
                           " RETURNING " COLS,
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare delete");
        goto out;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_text(st, 2, fid, -1, SQLITE_STATIC);
    if (owner)
        sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
    rc = one_row(s, st, fid, out, err);
    if (rc == V2M_OK && sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, err, "mark job deleted");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Rows of a prepared janitor query, to fn. */
static v2m_err each_row(jsql *s, sqlite3_stmt *st, v2m_jobs_each fn, void *ud, v2m_error *err)
{
    v2m_job j;
    int r;

    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        row_job(st, &j);
        if (fn(ud, &j))
            return V2M_OK;
    }
    return r == SQLITE_DONE ? V2M_OK : db_fail(s, err, "list jobs");
}

static v2m_err js_ended(void *impl, unsigned mask, int64_t before, int flags, int limit,
                        v2m_jobs_each fn, void *ud, v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    char from[64] = ",";
    v2m_err rc;

    for (int i = 0; i <= V2M_JOB_EXPIRED; i++)
        if (mask & V2M_JOB_BIT(i)) {
            strcat(from, v2m_job_status_name((v2m_job_status)i));
            strcat(from, ",");
        }
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " COLS " FROM jobs WHERE ended_at > 0 AND ended_at < ?1"
                           " AND instr(?2, ',' || status || ',') > 0"
                           " AND (?3 = 0 OR video_gone = 0) AND " LIVE
                           " ORDER BY ended_at LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare list");
        goto out;
    }
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (flags & V2M_JOBS_VIDEO_STORED) ? 1 : 0);
    sqlite3_bind_int(st, 4, limit);
    rc = each_row(s, st, fn, ud, err);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static v2m_err js_deleting(void *impl, int64_t before, int limit, v2m_jobs_each fn, void *ud,
                           v2m_error *err)
{
    jsql *s = impl;
    sqlite3_stmt *st = NULL;
    v2m_err rc;

    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " COLS " FROM jobs WHERE deleting_at > 0 AND deleting_at < ?1"
                           " ORDER BY deleting_at LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "prepare list");
        goto out;
    }
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int(st, 2, limit);
    rc = each_row(s, st, fn, ud, err);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

const v2m__jobs_ops v2m__jobs_sqlite = {
    .open = js_open,
    .close = js_close,
    .ping = js_ping,
    .create = js_create,
    .get = js_get,
    .update = js_update,
    .list = js_list,
    .del = js_del,
    .del_begin = js_del_begin,
    .ended = js_ended,
    .deleting = js_deleting,
};
