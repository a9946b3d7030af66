/* jobs_mongo.c - job records in MongoDB: collection `jobs` of database
 * `videos`, beside the GridFS files they describe.
 *
 *   {_id: ObjectId(video_fid), owner, filename, size: int64,
 *    status: "queued"|"converting"|"done"|"failed"|"expired", progress: double,
 *    mp3_fid: null|string, error: null|string, attempts: int32,
 *    created_at: date, updated_at: date, ended_at: date|0, options: string,
 *    callback_url: string, track: int32, language: string, error_code: string,
 *    video_gone: bool, deleting: bool, deleting_at: date}
 * (a record written before the last nine fields existed reads them as empty;
 * `deleting` marks a record whose deletion began: every look-up but the
 * deleter's and the janitor's leaves it out with {deleting: {$ne: true}},
 * which matches records without the field too)
 *
 * Changes are findAndModify with the allowed statuses in the query, so each is
 * atomic on the server. Every write has the durable write concern (majority
 * unless the URL names w, see mongo_int.h): a transition the services acted
 * on survives a failover. The client pool makes the handle thread-safe.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "jobs_int.h"
#include "mongo_int.h"
#include "utf8_int.h"

#define DB "videos"
#define COLL "jobs"

typedef struct {
    v2m__mongo mongo;  /* first: opened and closed by mongo.c */
    atomic_int indexed;
    atomic_int backfilled;   /* old records' ends are recorded (see backfill_ends) */
} jmongo;

static v2m_err jm_open(const char *url, void **impl, v2m_error *err)
{
    return v2m__mongo_open(url, sizeof(jmongo), impl, err);
}

static void iter_text(const bson_t *doc, const char *key, char *dst, size_t dstsz)
{
    bson_iter_t it;
    uint32_t len;
    const char *s;

    dst[0] = '\0';
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
        s = bson_iter_utf8(&it, &len);
        v2m__strlcpy_utf8(dst, dstsz, s, len);
    }
}

static int64_t iter_i64(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key)) {
        if (BSON_ITER_HOLDS_DATE_TIME(&it))
            return bson_iter_date_time(&it);
        if (BSON_ITER_HOLDS_NUMBER(&it))
            return bson_iter_as_int64(&it);
    }
    return 0;
}

static void doc_job(const bson_t *doc, v2m_job *j)
{
    bson_iter_t it;
    char status[16];
    int s;

    memset(j, 0, sizeof *j);
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
        bson_oid_to_string(bson_iter_oid(&it), j->video_fid);
    iter_text(doc, "owner", j->owner, sizeof j->owner);
    iter_text(doc, "filename", j->filename, sizeof j->filename);
    j->size = iter_i64(doc, "size");
    iter_text(doc, "status", status, sizeof status);
    s = v2m_job_status_parse(status);
    j->status = s < 0 ? V2M_JOB_FAILED : (v2m_job_status)s;
    if (bson_iter_init_find(&it, doc, "progress") && BSON_ITER_HOLDS_NUMBER(&it))
        j->progress = bson_iter_as_double(&it);
    iter_text(doc, "mp3_fid", j->mp3_fid, sizeof j->mp3_fid);
    iter_text(doc, "error", j->error, sizeof j->error);
    j->attempts = (int)iter_i64(doc, "attempts");
    j->created_at = iter_i64(doc, "created_at");
    j->updated_at = iter_i64(doc, "updated_at");
    j->ended_at = iter_i64(doc, "ended_at");
    iter_text(doc, "options", j->options, sizeof j->options);
    iter_text(doc, "callback_url", j->callback_url, sizeof j->callback_url);
    j->track = (int)iter_i64(doc, "track");
    iter_text(doc, "language", j->language, sizeof j->language);
    iter_text(doc, "error_code", j->error_code, sizeof j->error_code);
    if (bson_iter_init_find(&it, doc, "video_gone"))
        j->video_gone = bson_iter_as_bool(&it);
    if (bson_iter_init_find(&it, doc, "deleting") && bson_iter_as_bool(&it))
        j->deleting_at = iter_i64(doc, "deleting_at");
}

/* Leave out records whose deletion began. */
static void append_live(bson_t *filter)
{
    bson_t ne;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "deleting", &ne);
    BSON_APPEND_BOOL(&ne, "$ne", true);
    bson_append_document_end(filter, &ne);
}

static v2m_err ensure_index(jmongo *m, mongoc_collection_t *coll, v2m_error *err)
{
    bson_t *cmd;
    bson_error_t be;
    bool ok;

    if (atomic_load(&m->indexed))
        return V2M_OK;
    /* ended_at and deleting_at serve the janitor's look-ups. */
    cmd = BCON_NEW("createIndexes", COLL, "indexes", "[", "{", "key", "{", "owner",
                   BCON_INT32(1), "created_at", BCON_INT32(-1), "}", "name",
                   "owner_1_created_at_-1", "}", "{", "key", "{", "ended_at", BCON_INT32(1), "}",
                   "name", "ended_at_1", "}", "{", "key", "{", "deleting_at", BCON_INT32(1), "}",
                   "name", "deleting_at_1", "}", "]");
    ok = mongoc_collection_write_command_with_opts(coll, cmd, NULL, NULL, &be);
    bson_destroy(cmd);
    if (!ok)
        return v2m__mongo_fail(err, &be, "create jobs index");
    atomic_store(&m->indexed, 1);
    return V2M_OK;
}

static v2m_err jm_create(void *impl, const v2m_job *j, v2m_error *err)
{
    jmongo *m = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t oid;
    bson_error_t be;
    v2m_err rc = ensure_index(m, coll, err);

    if (rc)
        goto out;
    bson_oid_init_from_string(&oid, j->video_fid);
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_UTF8(&doc, "owner", j->owner);
    BSON_APPEND_UTF8(&doc, "filename", j->filename);
    BSON_APPEND_INT64(&doc, "size", j->size);
    BSON_APPEND_UTF8(&doc, "status", v2m_job_status_name(j->status));
    BSON_APPEND_DOUBLE(&doc, "progress", j->progress);
    BSON_APPEND_NULL(&doc, "mp3_fid");
    BSON_APPEND_NULL(&doc, "error");
    BSON_APPEND_INT32(&doc, "attempts", 0);
    BSON_APPEND_DATE_TIME(&doc, "created_at", j->created_at);
    BSON_APPEND_DATE_TIME(&doc, "updated_at", j->updated_at);
    BSON_APPEND_INT64(&doc, "ended_at", 0);
    BSON_APPEND_UTF8(&doc, "options", j->options);
    BSON_APPEND_UTF8(&doc, "callback_url", j->callback_url);
    BSON_APPEND_INT32(&doc, "track", 0);
    BSON_APPEND_UTF8(&doc, "language", "");
    BSON_APPEND_UTF8(&doc, "error_code", "");
    BSON_APPEND_BOOL(&doc, "video_gone", false);
    if (!mongoc_collection_insert_one(coll, &doc, NULL, NULL, &be)) {
        rc = v2m__mongo_fail(err, &be, "insert job");
        if (rc == V2M_EEXIST)
            rc = v2m_fail(err, V2M_EEXIST, "job %s exists", j->video_fid);
    }
out:
    bson_destroy(&doc);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

/* The record of fid; live only, or also one being deleted. */
static v2m_err get_with(mongoc_collection_t *coll, const char *fid, int live, v2m_job *out,
                        v2m_error *err)
{
    bson_oid_t oid;
    bson_t *filter, *opts;
    mongoc_cursor_t *cur;
    const bson_t *d;
    bson_error_t be;
    v2m_err rc = V2M_OK;

    bson_oid_init_from_string(&oid, fid);
    filter = BCON_NEW("_id", BCON_OID(&oid));
    if (live)
        append_live(filter);
    opts = BCON_NEW("limit", BCON_INT64(1));
    cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    if (mongoc_cursor_next(cur, &d))
        doc_job(d, out);
    else if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "find job");
    else
        rc = v2m_fail(err, V2M_ENOTFOUND, "no job %s", fid);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    return rc;
}

static v2m_err jm_get(void *impl, const char *fid, v2m_job *out, v2m_error *err)
{
    jmongo *m = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    v2m_err rc = get_with(coll, fid, 1, out, err);

    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

static v2m_err jm_update(void *impl, const char *fid, const v2m_job_change *chg, int64_t now,
                         v2m_job *out, v2m_error *err)
{
    jmongo *m = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
    bson_t query = BSON_INITIALIZER, update = BSON_INITIALIZER, reply;
    bson_t st, in, set, inc;
    bson_oid_t oid;
    bson_iter_t it;
    bson_error_t be;
    char key[16];
    int n = 0;
    v2m_err rc = V2M_OK;

    bson_oid_init_from_string(&oid, fid);
    BSON_APPEND_OID(&query, "_id", &oid);
    BSON_APPEND_DOCUMENT_BEGIN(&query, "status", &st);
    BSON_APPEND_ARRAY_BEGIN(&st, "$in", &in);
    for (int i = 0; i <= V2M_JOB_EXPIRED; i++)
        if (chg->from & V2M_JOB_BIT(i)) {
            snprintf(key, sizeof key, "%d", n++);
            BSON_APPEND_UTF8(&in, key, v2m_job_status_name((v2m_job_status)i));
        }
    bson_append_array_end(&st, &in);
    bson_append_document_end(&query, &st);
    append_live(&query);

    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (chg->status >= 0)
        BSON_APPEND_UTF8(&set, "status", v2m_job_status_name((v2m_job_status)chg->status));
    if (chg->progress >= 0)
        BSON_APPEND_DOUBLE(&set, "progress", chg->progress);
    if (chg->mp3_fid) {
        if (*chg->mp3_fid)
            BSON_APPEND_UTF8(&set, "mp3_fid", chg->mp3_fid);
        else
            BSON_APPEND_NULL(&set, "mp3_fid");
    }
    if (chg->error) {
        if (*chg->error)
            BSON_APPEND_UTF8(&set, "error", chg->error);
        else
            BSON_APPEND_NULL(&set, "error");
    }
    BSON_APPEND_DATE_TIME(&set, "updated_at", now);
    if (chg->status == V2M_JOB_DONE || chg->status == V2M_JOB_FAILED)
        BSON_APPEND_DATE_TIME(&set, "ended_at", now);
    else if (chg->status == V2M_JOB_QUEUED || chg->status == V2M_JOB_CONVERTING)
        BSON_APPEND_INT64(&set, "ended_at", 0);
    if (chg->track >= 0)
        BSON_APPEND_INT32(&set, "track", chg->track);
    if (chg->language)
        BSON_APPEND_UTF8(&set, "language", chg->language);
    if (chg->error_code)
        BSON_APPEND_UTF8(&set, "error_code", chg->error_code);
    if (chg->video_gone >= 0)
        BSON_APPEND_BOOL(&set, "video_gone", chg->video_gone != 0);
    if (chg->reset_attempts)
        BSON_APPEND_INT32(&set, "attempts", 0);
    bson_append_document_end(&update, &set);
    if (chg->add_attempt && !chg->reset_attempts) {
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
        BSON_APPEND_INT32(&inc, "attempts", 1);
        bson_append_document_end(&update, &inc);
    }
    mongoc_find_and_modify_opts_set_update(fam, &update);
    mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    if (!mongoc_collection_find_and_modify_with_opts(coll, &query, fam, &reply, &be)) {
        rc = v2m__mongo_fail(err, &be, "update job");
    } else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t doc;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&doc, data, len))
            doc_job(&doc, out);
        else
            rc = v2m_fail(err, V2M_EPROTO, "mongodb: malformed findAndModify reply");
    } else {
        /* Nothing matched: no such job, or a status outside chg->from. */
        rc = get_with(coll, fid, 1, out, err);
        if (rc == V2M_OK)
            rc = v2m_fail(err, V2M_ESTATE, "job %s is %s", fid, v2m_job_status_name(out->status));
    }
    bson_destroy(&reply);
    bson_destroy(&query);
    bson_destroy(&update);
    mongoc_find_and_modify_opts_destroy(fam);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

static v2m_err jm_list(void *impl, const char *owner, int limit, int offset, v2m_jobs_each fn,
                       void *ud, v2m_error *err)
{
    jmongo *m = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    bson_t *filter = owner ? BCON_NEW("owner", BCON_UTF8(owner)) : bson_new();
    bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(-1), "_id", BCON_INT32(-1),
                            "}", "skip", BCON_INT64(offset));
    mongoc_cursor_t *cur;
    const bson_t *d;
    bson_error_t be;
    v2m_job j;
    v2m_err rc = V2M_OK;

    if (limit > 0)
        BSON_APPEND_INT64(opts, "limit", limit);
    append_live(filter);
    cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    while (mongoc_cursor_next(cur, &d)) {
        doc_job(d, &j);
        if (fn(ud, &j))
            break;
    }
    if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "list jobs");
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

static v2m_err jm_del(void *impl, const char *fid, v2m_error *err)
{
    jmongo *m = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    bson_oid_t oid;
    bson_t *sel;
    bson_t reply;
    bson_iter_t it;
    bson_error_t be;
    v2m_err rc = V2M_OK;

    bson_oid_init_from_string(&oid, fid);
    sel = BCON_NEW("_id", BCON_OID(&oid));
    if (!mongoc_collection_delete_one(coll, sel, NULL, &reply, &be))
        rc = v2m__mongo_fail(err, &be, "delete job");
    else if (!bson_iter_init_find(&it, &reply, "deletedCount") || !BSON_ITER_HOLDS_NUMBER(&it) ||
             bson_iter_as_int64(&it) == 0)
        rc = v2m_fail(err, V2M_ENOTFOUND, "no job %s", fid);
    bson_destroy(&reply);
    bson_destroy(sel);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

/* The document findAndModify returned (as "value"), into out; V2M_ENOTFOUND
 * when it matched nothing. */
static v2m_err fam_value(const bson_t *reply, const char *fid, v2m_job *out, v2m_error *err)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    bson_t doc;

    if (!bson_iter_init_find(&it, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return v2m_fail(err, V2M_ENOTFOUND, "no job %s", fid);
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(&doc, data, len))
        return v2m_fail(err, V2M_EPROTO, "mongodb: malformed findAndModify reply");
    doc_job(&doc, out);
    return V2M_OK;
}

static v2m_err jm_del_begin(void *impl, const char *fid, const char *owner, int64_t now,
                            v2m_job *out, v2m_error *err)
{
    jmongo *m = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
    bson_t *query, *update, reply;
    bson_oid_t oid;
    bson_error_t be;
    v2m_err rc;

    bson_oid_init_from_string(&oid, fid);
    query = BCON_NEW("_id", BCON_OID(&oid));
    if (owner)
        BSON_APPEND_UTF8(query, "owner", owner);
    append_live(query);
    update = BCON_NEW("$set", "{", "deleting", BCON_BOOL(true), "deleting_at",
                      BCON_DATE_TIME(now), "}");
    mongoc_find_and_modify_opts_set_update(fam, update);
    mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    if (!mongoc_collection_find_and_modify_with_opts(coll, query, fam, &reply, &be)) {
        rc = v2m__mongo_fail(err, &be, "mark job deleted");
    } else if ((rc = fam_value(&reply, fid, out, err)) == V2M_ENOTFOUND) {
        /* Not live: unknown, someone else's, or marked already (a deletion
         * asked again): then it is the record as marked. */
        rc = get_with(coll, fid, 0, out, err);
        if (rc == V2M_OK && (!out->deleting_at || (owner && strcmp(out->owner, owner) != 0)))
            rc = v2m_fail(err, V2M_ENOTFOUND, "no job %s", fid);
    }
    bson_destroy(&reply);
    bson_destroy(query);
    bson_destroy(update);
    mongoc_find_and_modify_opts_destroy(fam);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

/* Run a janitor query: filter, sorted ascending by key, at most limit. */
static v2m_err find_sorted(jmongo *m, bson_t *filter, const char *key, int limit,
                           v2m_jobs_each fn, void *ud, v2m_error *err)
{
    mongoc_client_t *c = mongoc_client_pool_pop(m->mongo.pool);
    mongoc_collection_t *coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    bson_t *opts = BCON_NEW("sort", "{", key, BCON_INT32(1), "}", "limit", BCON_INT64(limit));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *d;
    bson_error_t be;
    v2m_job j;
    v2m_err rc = V2M_OK;

    while (mongoc_cursor_next(cur, &d)) {
        doc_job(d, &j);
        if (fn(ud, &j))
            break;
    }
    if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "list jobs");
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

/* Records of jobs that ended before their end was recorded (no ended_at, or
 * 0) get their last change as their end, so retention applies to them too.
 * Once per handle, before its first look-up by end time, a batch at a time;
 * each change is conditional, so handles doing it at once agree. */
static v2m_err backfill_ends(jmongo *m, v2m_error *err)
{
    mongoc_client_t *c;
    mongoc_collection_t *coll;
    bson_t *filter, *opts;
    v2m_err rc = V2M_OK;
    int n = 1000;

    if (atomic_load(&m->backfilled))
        return V2M_OK;
    c = mongoc_client_pool_pop(m->mongo.pool);
    coll = v2m__mongo_coll(&m->mongo, c, DB, COLL);
    filter = BCON_NEW("status", "{", "$in", "[", BCON_UTF8("done"), BCON_UTF8("failed"), "]", "}",
                      "ended_at", "{", "$in", "[", BCON_INT64(0), BCON_NULL, "]", "}");
    opts = BCON_NEW("projection", "{", "updated_at", BCON_INT32(1), "}", "limit",
                    BCON_INT64(1000));
    for (int batch = 0; rc == V2M_OK && n == 1000 && batch < 100; batch++) {
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
        const bson_t *d;
        bson_error_t be;
        bson_iter_t it;

        n = 0;
        while (rc == V2M_OK && mongoc_cursor_next(cur, &d)) {
            bson_t *sel, *upd;
            n++;
            if (!bson_iter_init_find(&it, d, "_id"))
                continue;
            sel = BCON_NEW("_id", BCON_OID(bson_iter_oid(&it)), "ended_at", "{", "$in", "[",
                           BCON_INT64(0), BCON_NULL, "]", "}");
            upd = BCON_NEW("$set", "{", "ended_at", BCON_DATE_TIME(iter_i64(d, "updated_at")),
                           "}");
            if (!mongoc_collection_update_one(coll, sel, upd, NULL, NULL, &be))
                rc = v2m__mongo_fail(err, &be, "record when old jobs ended");
            bson_destroy(sel);
            bson_destroy(upd);
        }
        if (rc == V2M_OK && mongoc_cursor_error(cur, &be))
            rc = v2m__mongo_fail(err, &be, "find old ended jobs");
        mongoc_cursor_destroy(cur);
    }
    if (rc == V2M_OK && n < 1000)
        atomic_store(&m->backfilled, 1);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(m->mongo.pool, c);
    return rc;
}

static v2m_err jm_ended(void *impl, unsigned mask, int64_t before, int flags, int limit,
                        v2m_jobs_each fn, void *ud, v2m_error *err)
{
    bson_t *filter = bson_new();
    bson_t st, in, ne;
    char key[16];
    int n = 0;
    v2m_err rc = backfill_ends(impl, err);

    if (rc) {
        bson_destroy(filter);
        return rc;
    }
    BSON_APPEND_DOCUMENT_BEGIN(filter, "status", &st);
    BSON_APPEND_ARRAY_BEGIN(&st, "$in", &in);
    for (int i = 0; i <= V2M_JOB_EXPIRED; i++)
        if (mask & V2M_JOB_BIT(i)) {
            snprintf(key, sizeof key, "%d", n++);
            BSON_APPEND_UTF8(&in, key, v2m_job_status_name((v2m_job_status)i));
        }
    bson_append_array_end(&st, &in);
    bson_append_document_end(filter, &st);
    /* A job that has not ended holds ended_at as the number 0, which a
     * comparison with dates never matches. */
    BSON_APPEND_DOCUMENT_BEGIN(filter, "ended_at", &st);
    BSON_APPEND_DATE_TIME(&st, "$gt", 0);
    BSON_APPEND_DATE_TIME(&st, "$lt", before);
    bson_append_document_end(filter, &st);
    if (flags & V2M_JOBS_VIDEO_STORED) {
        BSON_APPEND_DOCUMENT_BEGIN(filter, "video_gone", &ne);
        BSON_APPEND_BOOL(&ne, "$ne", true);
        bson_append_document_end(filter, &ne);
    }
    append_live(filter);
    rc = find_sorted(impl, filter, "ended_at", limit, fn, ud, err);
    bson_destroy(filter);
    return rc;
}

static v2m_err jm_deleting(void *impl, int64_t before, int limit, v2m_jobs_each fn, void *ud,
                           v2m_error *err)
{
    bson_t *filter = BCON_NEW("deleting", BCON_BOOL(true), "deleting_at", "{", "$lt",
                              BCON_DATE_TIME(before), "}");
    v2m_err rc = find_sorted(impl, filter, "deleting_at", limit, fn, ud, err);
    bson_destroy(filter);
    return rc;
}

const v2m__jobs_ops v2m__jobs_mongo = {
    .open = jm_open,
    .close = v2m__mongo_close,
    .ping = v2m__mongo_ping,
    .create = jm_create,
    .get = jm_get,
    .update = jm_update,
    .list = jm_list,
    .del = jm_del,
    .del_begin = jm_del_begin,
    .ended = jm_ended,
    .deleting = jm_deleting,
};
