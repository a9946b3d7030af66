/* store_gridfs.c - files in MongoDB GridFS (databases `videos` and `mp3s`,
 * bucket `fs`), written and read chunk by chunk through libmongoc.
 *
 * Documents follow the GridFS spec, so pymongo's gridfs reads what v2m
 * writes and the other way round:
 *   fs.files  {_id: ObjectId, length: int64, chunkSize: int32, uploadDate: date,
 *              filename: string, metadata: {owner, contentType}}
 *   fs.chunks {_id: ObjectId, files_id: <the file's _id>, n: int32, data: binary}
 *
 * Upload: chunks go out as they fill; the first chunk stays in memory until
 * finish so the head of the file can be rewritten (an MP3's Xing frame);
 * the files document is inserted last and makes the file visible. An abort
 * or a failed finish deletes the chunks written so far.
 *
 * Leftovers: an upload whose process died leaves chunks without a files
 * document (its head chunk never went out). v2m_store_sweep removes them
 * once their files_id and every chunk's _id (ObjectIds, so their creation
 * times) are older than its age and there is no part record (fs.uploads)
 * under that id: a find over fs.chunks for files_id below an ObjectId of the
 * cutoff time, sorted by files_id, then a look-up by _id in fs.uploads and
 * fs.files for each candidate.
 *
 * Download: a read fetches only the chunk that covers its offset (find
 * {files_id, n}); when reads run on into the next chunk a cursor streams the
 * following chunks a few at a time.
 *
 * Reading files of other writers: `length` and `chunkSize` may be any numeric
 * type; owner and contentType are taken from `metadata`, else from the
 * deprecated top-level `contentType`.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store_int.h"
#include "clock_int.h"
#include "mongo_int.h"
#include "utf8_int.h"

#define CS V2M_STORE_CHUNK
#define READ_BATCH 4   /* chunks per cursor batch on sequential reads */
#define SWEEP_MAX 1000 /* abandoned uploads per namespace and sweep; the rest next time */

typedef struct {
    v2m__mongo mongo;  /* first: opened and closed by mongo.c */
    atomic_int indexed[V2M_NS_COUNT];   /* per namespace: GridFS indexes ensured */
} gfs;

typedef struct {
    gfs *g;
    mongoc_client_t *client;
    mongoc_collection_t *files, *chunks;
    bson_oid_t oid;
    v2m_store_meta meta;
    v2m_store_ns ns;
    uint8_t *head;        /* chunk 0: [0, CS) */
    uint8_t *cur;         /* chunk cur_n (>= 1) being filled */
    size_t cur_len;
    int32_t cur_n;
    int64_t length;
    int sent;             /* some chunk was inserted */
} gup;

typedef struct {
    gfs *g;
    mongoc_client_t *client;
    mongoc_collection_t *chunks;
    bson_value_t files_id;    /* the files document's _id, as stored */
    char fid[V2M_FID_LEN + 1];
    int64_t length;
    int64_t cs;               /* chunkSize of this file */
    uint8_t *buf;             /* chunk buf_n, buf_len bytes */
    size_t buf_len;
    int64_t buf_n;            /* -1: nothing cached */
    mongoc_cursor_t *cursor;  /* streams chunks from cursor_n on */
    int64_t cursor_n;
} grd;

static v2m_err g_open(const char *url, void **impl, v2m_error *err)
{
    return v2m__mongo_open(url, sizeof(gfs), impl, err);
}

/* The indexes the GridFS spec asks a writer to create; the same names as
 * other drivers use, so creating them again is a no-op. */
static v2m_err ensure_indexes(gfs *g, mongoc_client_t *c, v2m_store_ns ns, v2m_error *err)
{
    const char *db = v2m_store_ns_name(ns);
    mongoc_database_t *d;
    bson_t *files_cmd, *chunks_cmd;
    bson_error_t be;
    bool ok;

    if (atomic_load(&g->indexed[ns]))
        return V2M_OK;
    files_cmd = BCON_NEW("createIndexes", "fs.files", "indexes", "[", "{", "key", "{",
                         "filename", BCON_INT32(1), "uploadDate", BCON_INT32(1), "}", "name",
                         "filename_1_uploadDate_1", "}", "]");
    chunks_cmd = BCON_NEW("createIndexes", "fs.chunks", "indexes", "[", "{", "key", "{",
                          "files_id", BCON_INT32(1), "n", BCON_INT32(1), "}", "name",
                          "files_id_1_n_1", "unique", BCON_BOOL(true), "}", "]");
    d = mongoc_client_get_database(c, db);
    ok = mongoc_database_write_command_with_opts(d, files_cmd, NULL, NULL, &be) &&
         mongoc_database_write_command_with_opts(d, chunks_cmd, NULL, NULL, &be);
    mongoc_database_destroy(d);
    bson_destroy(files_cmd);
    bson_destroy(chunks_cmd);
    if (!ok)
        return v2m__mongo_fail(err, &be, "create GridFS indexes");
    atomic_store(&g->indexed[ns], 1);
    return V2M_OK;
}

static void up_free(gup *up)
{
    if (up->files)
        mongoc_collection_destroy(up->files);
    if (up->chunks)
        mongoc_collection_destroy(up->chunks);
    if (up->client)
        mongoc_client_pool_push(up->g->mongo.pool, up->client);
    free(up->head);
    free(up->cur);
    free(up);
}

static v2m_err g_up_open(void *impl, v2m_store_ns ns, const v2m_store_meta *meta, void **out,
                         v2m_error *err)
{
    gfs *g = impl;
    gup *up = calloc(1, sizeof *up);
    v2m_err rc;

    if (!up)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    up->g = g;
    up->ns = ns;
    up->meta = *meta;
    up->cur_n = 1;
    bson_oid_init_from_string(&up->oid, meta->fid);
    up->head = malloc(CS);
    up->cur = malloc(CS);
    up->client = mongoc_client_pool_pop(g->mongo.pool);
    if (!up->head || !up->cur) {
        up_free(up);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    rc = ensure_indexes(g, up->client, ns, err);
    if (rc) {
        up_free(up);
        return rc;
    }
    /* The files document publishes the file: durable (mongo_int.h), and so
     * then are the chunks written before it. */
    up->files = v2m__mongo_coll(&g->mongo, up->client, v2m_store_ns_name(ns), "fs.files");
    up->chunks = mongoc_client_get_collection(up->client, v2m_store_ns_name(ns), "fs.chunks");
    *out = up;
    return V2M_OK;
}

static v2m_err put_chunk(gup *up, int32_t n, const uint8_t *data, size_t len, v2m_error *err)
{
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t id;
    bson_error_t be;
    bool ok;

    bson_oid_init(&id, NULL);
    BSON_APPEND_OID(&doc, "_id", &id);
    BSON_APPEND_OID(&doc, "files_id", &up->oid);
    BSON_APPEND_INT32(&doc, "n", n);
    BSON_APPEND_BINARY(&doc, "data", BSON_SUBTYPE_BINARY, data, (uint32_t)len);
    ok = mongoc_collection_insert_one(up->chunks, &doc, NULL, NULL, &be);
    bson_destroy(&doc);
    if (!ok) {
        char what[96];
        snprintf(what, sizeof what, "insert chunk %d of %s", (int)n, up->meta.fid);
        return v2m__mongo_fail(err, &be, what);
    }
    up->sent = 1;
    return V2M_OK;
}

static v2m_err g_up_write(void *impl, int64_t off, const void *buf, size_t n, v2m_error *err)
{
    gup *up = impl;
    const uint8_t *p = buf;

    while (n > 0) {
        size_t k;
        if (off < CS) {
            k = (size_t)(CS - off) < n ? (size_t)(CS - off) : n;
            memcpy(up->head + off, p, k);
        } else {
            /* store.c lets only appends reach here */
            size_t in = (size_t)(off % CS);
            if (off / CS != up->cur_n || in != up->cur_len)
                return v2m_fail(err, V2M_EINTERNAL, "gridfs: write at %lld out of order",
                                (long long)off);
            k = CS - in < n ? CS - in : n;
            memcpy(up->cur + in, p, k);
            up->cur_len += k;
            if (up->cur_len == CS) {
                v2m_err rc = put_chunk(up, up->cur_n, up->cur, CS, err);
                if (rc)
                    return rc;
                up->cur_n++;
                up->cur_len = 0;
            }
        }
        off += (int64_t)k;
        p += k;
        n -= k;
        if (off > up->length)
            up->length = off;
    }
    return V2M_OK;
}

static void delete_chunks(gup *up)
{
    bson_t *sel;
    bson_error_t be;

    if (!up->sent)
        return;
    sel = BCON_NEW("files_id", BCON_OID(&up->oid));
    if (!mongoc_collection_delete_many(up->chunks, sel, NULL, NULL, &be))
        V2M_LOG(V2M_WARN, "gridfs cannot remove chunks of an aborted upload fid=%s err=%s",
                up->meta.fid, be.message);
    bson_destroy(sel);
}

static void g_up_abort(void *impl)
{
    gup *up = impl;
    if (!up)
        return;
    delete_chunks(up);
    up_free(up);
}

static v2m_err g_up_finish(void *impl, int64_t length, v2m_error *err)
{
    gup *up = impl;
    bson_t doc = BSON_INITIALIZER, md;
    bson_error_t be;
    v2m_err rc = V2M_OK;

    if (length != up->length) {
        rc = v2m_fail(err, V2M_EINTERNAL, "gridfs: length %lld != written %lld",
                      (long long)length, (long long)up->length);
        goto fail;
    }
    if (up->cur_len > 0 && (rc = put_chunk(up, up->cur_n, up->cur, up->cur_len, err)))
        goto fail;
    if (length > 0 && (rc = put_chunk(up, 0, up->head, length < CS ? (size_t)length : CS, err)))
        goto fail;
    BSON_APPEND_OID(&doc, "_id", &up->oid);
    BSON_APPEND_INT64(&doc, "length", length);
    BSON_APPEND_INT32(&doc, "chunkSize", CS);
    BSON_APPEND_DATE_TIME(&doc, "uploadDate", up->meta.created_ms);
    BSON_APPEND_UTF8(&doc, "filename", up->meta.filename);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "metadata", &md);
    BSON_APPEND_UTF8(&md, "owner", up->meta.owner);
    BSON_APPEND_UTF8(&md, "contentType", up->meta.content_type);
    bson_append_document_end(&doc, &md);
    if (!mongoc_collection_insert_one(up->files, &doc, NULL, NULL, &be)) {
        bson_t *sel = BCON_NEW("_id", BCON_OID(&up->oid));
        rc = v2m__mongo_fail(err, &be, "insert files document");
        /* The insert may have happened before the connection broke. */
        bson_error_t be2;
        mongoc_collection_delete_one(up->files, sel, NULL, NULL, &be2);
        bson_destroy(sel);
        bson_destroy(&doc);
        goto fail;
    }
    bson_destroy(&doc);
    up_free(up);
    return V2M_OK;
fail:
    g_up_abort(up);
    return rc;
}

/* Fill m from a files document. */
static v2m_err files_meta(const bson_t *doc, const char *fid, v2m_store_meta *m,
                          int64_t *chunk_size, v2m_error *err)
{
    bson_iter_t it, sub;
    const char *s;
    uint32_t len;

    memset(m, 0, sizeof *m);
    memcpy(m->fid, fid, V2M_FID_LEN + 1);
    m->length = -1;
    *chunk_size = 0;
    if (bson_iter_init_find(&it, doc, "length") && BSON_ITER_HOLDS_NUMBER(&it))
        m->length = bson_iter_as_int64(&it);
    if (bson_iter_init_find(&it, doc, "chunkSize") && BSON_ITER_HOLDS_NUMBER(&it))
        *chunk_size = bson_iter_as_int64(&it);
    if (m->length < 0 || *chunk_size <= 0 || *chunk_size > 16 * 1024 * 1024)
        return v2m_fail(err, V2M_EIO, "gridfs: files document of %s has no valid length or "
                                      "chunkSize", fid);
    if (bson_iter_init_find(&it, doc, "uploadDate") && BSON_ITER_HOLDS_DATE_TIME(&it))
        m->created_ms = bson_iter_date_time(&it);
    if (bson_iter_init_find(&it, doc, "filename") && BSON_ITER_HOLDS_UTF8(&it)) {
        s = bson_iter_utf8(&it, &len);
        v2m__strlcpy_utf8(m->filename, sizeof m->filename, s, len);
    }
    if (bson_iter_init_find(&it, doc, "contentType") && BSON_ITER_HOLDS_UTF8(&it)) {
        s = bson_iter_utf8(&it, &len);
        v2m__strlcpy_utf8(m->content_type, sizeof m->content_type, s, len);
    }
    if (bson_iter_init_find(&it, doc, "metadata") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &sub)) {
        while (bson_iter_next(&sub)) {
            if (!BSON_ITER_HOLDS_UTF8(&sub))
                continue;
            s = bson_iter_utf8(&sub, &len);
            if (strcmp(bson_iter_key(&sub), "owner") == 0)
                v2m__strlcpy_utf8(m->owner, sizeof m->owner, s, len);
            else if (strcmp(bson_iter_key(&sub), "contentType") == 0 && len > 0)
                v2m__strlcpy_utf8(m->content_type, sizeof m->content_type, s, len);
        }
    }
    return V2M_OK;
}

/* Find the files document of fid with client c. *doc is a copy to destroy. */
static v2m_err find_files_doc(mongoc_client_t *c, v2m_store_ns ns, const char *fid,
                              bson_t **doc, v2m_error *err)
{
    mongoc_collection_t *files = mongoc_client_get_collection(c, v2m_store_ns_name(ns), "fs.files");
    bson_oid_t oid;
    bson_t *filter, *opts;
    const bson_t *d;
    mongoc_cursor_t *cur;
    bson_error_t be;
    v2m_err rc = V2M_OK;

    bson_oid_init_from_string(&oid, fid);
    filter = BCON_NEW("_id", BCON_OID(&oid));
    opts = BCON_NEW("limit", BCON_INT64(1));
    cur = mongoc_collection_find_with_opts(files, filter, opts, NULL);
    *doc = NULL;
    if (mongoc_cursor_next(cur, &d))
        *doc = bson_copy(d);
    else if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "find files document");
    else
        rc = v2m_fail(err, V2M_ENOTFOUND, "no file %s in %s", fid, v2m_store_ns_name(ns));
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(files);
    return rc;
}

static v2m_err g_find(void *impl, v2m_store_ns ns, const char *filename, v2m_store_found_fn fn, void *ud,
                      v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *files = mongoc_client_get_collection(c, v2m_store_ns_name(ns), "fs.files");
    bson_t *filter = BCON_NEW("filename", BCON_UTF8(filename));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(files, filter, NULL, NULL);
    const bson_t *d;
    bson_error_t be;
    v2m_err rc = V2M_OK;

    while (mongoc_cursor_next(cur, &d)) {
        bson_iter_t it;
        char fid[V2M_FID_LEN + 1];
        v2m_store_meta m;
        int64_t cs;
        if (!bson_iter_init_find(&it, d, "_id") || !BSON_ITER_HOLDS_OID(&it))
            continue; /* not one of ours: GridFS allows any _id */
        bson_oid_to_string(bson_iter_oid(&it), fid);
        if (files_meta(d, fid, &m, &cs, NULL) == V2M_OK && fn(ud, &m))
            break;
    }
    if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "find files by name");
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(files);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

static v2m_err g_stat(void *impl, v2m_store_ns ns, const char *fid, v2m_store_meta *meta,
                      v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    bson_t *doc = NULL;
    int64_t cs;
    v2m_err rc = find_files_doc(c, ns, fid, &doc, err);

    mongoc_client_pool_push(g->mongo.pool, c);
    if (rc == V2M_OK)
        rc = files_meta(doc, fid, meta, &cs, err);
    bson_destroy(doc);
    return rc;
}

static void rd_free(grd *r)
{
    if (r->cursor)
        mongoc_cursor_destroy(r->cursor);
    if (r->chunks)
        mongoc_collection_destroy(r->chunks);
    if (r->client)
        mongoc_client_pool_push(r->g->mongo.pool, r->client);
    bson_value_destroy(&r->files_id);
    free(r->buf);
    free(r);
}

static v2m_err g_rd_open(void *impl, v2m_store_ns ns, const char *fid, void **out,
                         v2m_store_meta *meta, v2m_error *err)
{
    gfs *g = impl;
    grd *r = calloc(1, sizeof *r);
    bson_t *doc = NULL;
    bson_iter_t it;
    v2m_err rc;

    if (!r)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    r->g = g;
    r->buf_n = -1;
    r->files_id.value_type = BSON_TYPE_NULL;
    memcpy(r->fid, fid, sizeof r->fid);
    r->client = mongoc_client_pool_pop(g->mongo.pool);
    rc = find_files_doc(r->client, ns, fid, &doc, err);
    if (rc == V2M_OK)
        rc = files_meta(doc, fid, meta, &r->cs, err);
    if (rc == V2M_OK) {
        bson_iter_init_find(&it, doc, "_id");
        bson_value_copy(bson_iter_value(&it), &r->files_id);
        r->length = meta->length;
        r->buf = malloc((size_t)r->cs);
        if (!r->buf)
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    bson_destroy(doc);
    if (rc) {
        rd_free(r);
        return rc;
    }
    r->chunks = mongoc_client_get_collection(r->client, v2m_store_ns_name(ns), "fs.chunks");
    *out = r;
    return V2M_OK;
}

/* Take chunk n from d into r->buf after checking it. */
static v2m_err take_chunk(grd *r, const bson_t *d, int64_t n, v2m_error *err)
{
    bson_iter_t it;
    bson_subtype_t sub;
    const uint8_t *data = NULL;
    uint32_t len = 0;
    int64_t want = r->length - n * r->cs < r->cs ? r->length - n * r->cs : r->cs;

    if (!bson_iter_init_find(&it, d, "n") || !BSON_ITER_HOLDS_NUMBER(&it) ||
        bson_iter_as_int64(&it) != n)
        return v2m_fail(err, V2M_EIO, "gridfs: file %s: chunk %lld missing", r->fid,
                        (long long)n);
    if (bson_iter_init_find(&it, d, "data") && BSON_ITER_HOLDS_BINARY(&it))
        bson_iter_binary(&it, &sub, &len, &data);
    if (!data || (int64_t)len != want)
        return v2m_fail(err, V2M_EIO, "gridfs: file %s: chunk %lld has %u bytes, expected %lld",
                        r->fid, (long long)n, len, (long long)want);
    memcpy(r->buf, data, len);
    r->buf_len = len;
    r->buf_n = n;
    return V2M_OK;
}

/* Make chunk n the cached one: continue the cursor when reads are
 * sequential, else fetch exactly that chunk. */
static v2m_err load_chunk(grd *r, int64_t n, v2m_error *err)
{
    const bson_t *d;
    bson_error_t be;
    bson_t *filter, *opts;
    int sequential = (r->cursor && r->cursor_n == n) || r->buf_n == n - 1;
    v2m_err rc;

    if (r->cursor && r->cursor_n != n) {
        mongoc_cursor_destroy(r->cursor);
        r->cursor = NULL;
    }
    if (!r->cursor) {
        filter = bson_new();
        BSON_APPEND_VALUE(filter, "files_id", &r->files_id);
        if (sequential) {
            BCON_APPEND(filter, "n", "{", "$gte", BCON_INT64(n), "}");
            opts = BCON_NEW("sort", "{", "n", BCON_INT32(1), "}", "batchSize",
                            BCON_INT32(READ_BATCH));
        } else {
            BCON_APPEND(filter, "n", BCON_INT64(n));
            opts = BCON_NEW("limit", BCON_INT64(1));
        }
        r->cursor = mongoc_collection_find_with_opts(r->chunks, filter, opts, NULL);
        r->cursor_n = n;
        bson_destroy(filter);
        bson_destroy(opts);
    }
    if (!mongoc_cursor_next(r->cursor, &d)) {
        if (mongoc_cursor_error(r->cursor, &be)) {
            char what[96];
            snprintf(what, sizeof what, "read chunk %lld of %s", (long long)n, r->fid);
            rc = v2m__mongo_fail(err, &be, what);
        } else {
            rc = v2m_fail(err, V2M_EIO, "gridfs: file %s: chunk %lld missing", r->fid,
                          (long long)n);
        }
        mongoc_cursor_destroy(r->cursor);
        r->cursor = NULL;
        return rc;
    }
    rc = take_chunk(r, d, n, err);
    r->cursor_n = n + 1;
    if (rc || !sequential) {
        mongoc_cursor_destroy(r->cursor);
        r->cursor = NULL;
    }
    return rc;
}

static v2m_err g_rd_pread(void *impl, void *buf, size_t n, int64_t off, size_t *got,
                          v2m_error *err)
{
    grd *r = impl;
    int64_t cn = off / r->cs;
    size_t in = (size_t)(off % r->cs), k;

    if (r->buf_n != cn) {
        v2m_err rc = load_chunk(r, cn, err);
        if (rc)
            return rc;
    }
    k = r->buf_len - in < n ? r->buf_len - in : n;
    memcpy(buf, r->buf + in, k);
    *got = k;
    return V2M_OK;
}

static void g_rd_close(void *impl)
{
    if (impl)
        rd_free(impl);
}

static v2m_err g_del(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    /* A deletion is durable: a deleted file does not come back with a new
     * primary. */
    mongoc_collection_t *files = v2m__mongo_coll(&g->mongo, c, v2m_store_ns_name(ns), "fs.files");
    mongoc_collection_t *chunks =
        v2m__mongo_coll(&g->mongo, c, v2m_store_ns_name(ns), "fs.chunks");
    bson_oid_t oid;
    bson_t *sel_files, *sel_chunks;
    bson_t reply;
    bson_error_t be;
    bson_iter_t it;
    v2m_err rc = V2M_OK;
    int64_t deleted = 0;

    bson_oid_init_from_string(&oid, fid);
    sel_files = BCON_NEW("_id", BCON_OID(&oid));
    sel_chunks = BCON_NEW("files_id", BCON_OID(&oid));
    /* The files document first: the file is gone for readers once it is. */
    if (!mongoc_collection_delete_one(files, sel_files, NULL, &reply, &be)) {
        rc = v2m__mongo_fail(err, &be, "delete files document");
    } else {
        if (bson_iter_init_find(&it, &reply, "deletedCount") && BSON_ITER_HOLDS_NUMBER(&it))
            deleted = bson_iter_as_int64(&it);
        /* Chunks go also when the files document was already gone, so a
         * second delete cleans what a first one left behind. */
        if (!mongoc_collection_delete_many(chunks, sel_chunks, NULL, NULL, &be))
            V2M_LOG(V2M_WARN, "gridfs cannot remove chunks fid=%s err=%s", fid, be.message);
        if (deleted == 0)
            rc = v2m_fail(err, V2M_ENOTFOUND, "no file %s in %s", fid, v2m_store_ns_name(ns));
    }
    bson_destroy(&reply);
    bson_destroy(sel_files);
    bson_destroy(sel_chunks);
    mongoc_collection_destroy(files);
    mongoc_collection_destroy(chunks);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

/* 1 when coll has a document with _id oid, 0 when not, -1 on an error (be). */
static int has_id(mongoc_collection_t *coll, const bson_oid_t *oid, bson_error_t *be)
{
    bson_t *filter = BCON_NEW("_id", BCON_OID(oid));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    int r = mongoc_cursor_next(cur, &doc) ? 1 : 0;

    if (r == 0 && mongoc_cursor_error(cur, be))
        r = -1;
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    return r;
}

/* The files_ids of fs.chunks older than cutoff_s whose chunks are all older
 * too, in index order, at most SWEEP_MAX of them, into ids (*n). */
static v2m_err stale_files_ids(mongoc_collection_t *chunks, uint32_t cutoff_s, bson_oid_t *ids,
                               size_t *n, v2m_error *err)
{
    uint8_t raw[12] = {0};
    bson_oid_t cut, cur_fid;
    bson_t *filter, *opts;
    mongoc_cursor_t *cur;
    const bson_t *doc;
    bson_error_t be;
    int have = 0, fresh = 0;
    v2m_err rc = V2M_OK;

    *n = 0;
    raw[0] = (uint8_t)(cutoff_s >> 24);
    raw[1] = (uint8_t)(cutoff_s >> 16);
    raw[2] = (uint8_t)(cutoff_s >> 8);
    raw[3] = (uint8_t)cutoff_s;
    bson_oid_init_from_data(&cut, raw);
    /* An ObjectId starts with its creation time in seconds: files_id below
     * cut is an upload begun before the cutoff; the index on {files_id, n}
     * serves both the filter and the order. */
    filter = BCON_NEW("files_id", "{", "$lt", BCON_OID(&cut), "}");
    opts = BCON_NEW("projection", "{", "files_id", BCON_INT32(1), "_id", BCON_INT32(1), "}",
                    "sort", "{", "files_id", BCON_INT32(1), "}");
    cur = mongoc_collection_find_with_opts(chunks, filter, opts, NULL);
    while (*n < SWEEP_MAX && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        bson_oid_t fid;

        if (!bson_iter_init_find(&it, doc, "files_id") || !BSON_ITER_HOLDS_OID(&it))
            continue;
        bson_oid_copy(bson_iter_oid(&it), &fid);
        if (!have || !bson_oid_equal(&fid, &cur_fid)) {
            if (have && !fresh)
                bson_oid_copy(&cur_fid, &ids[(*n)++]);
            bson_oid_copy(&fid, &cur_fid);
            have = 1;
            fresh = 0;
        }
        /* A chunk inserted since the cutoff: its upload is still going. */
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it) &&
            (uint32_t)bson_oid_get_time_t(bson_iter_oid(&it)) >= cutoff_s)
            fresh = 1;
    }
    if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "list chunks");
    else if (have && !fresh && *n < SWEEP_MAX)
        bson_oid_copy(&cur_fid, &ids[(*n)++]);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    return rc;
}

/* Leftovers of one namespace: chunks of stale files_ids with neither a part
 * record nor a files document. The record is looked for first: a part's
 * finish inserts the files document before it removes the record, so one
 * of the two is always seen. */
static v2m_err sweep_ns(mongoc_client_t *c, v2m_store_ns ns, int64_t cutoff_ms, long *count,
                        v2m_error *err)
{
    mongoc_collection_t *chunks = mongoc_client_get_collection(c, v2m_store_ns_name(ns), "fs.chunks");
    mongoc_collection_t *files = mongoc_client_get_collection(c, v2m_store_ns_name(ns), "fs.files");
    mongoc_collection_t *uploads = mongoc_client_get_collection(c, v2m_store_ns_name(ns), "fs.uploads");
    bson_oid_t *ids = malloc(SWEEP_MAX * sizeof *ids);
    size_t n = 0;
    v2m_err rc = ids ? V2M_OK : v2m_fail(err, V2M_ENOMEM, "out of memory");

    if (rc == V2M_OK)
        rc = stale_files_ids(chunks, (uint32_t)(cutoff_ms / 1000), ids, &n, err);
    for (size_t i = 0; rc == V2M_OK && i < n; i++) {
        bson_error_t be;
        bson_t reply, *sel;
        bson_iter_t it;
        char fid[V2M_FID_LEN + 1];
        int in_uploads = has_id(uploads, &ids[i], &be), in_files = 0;

        if (in_uploads == 0)
            in_files = has_id(files, &ids[i], &be);
        if (in_uploads < 0 || in_files < 0) {
            rc = v2m__mongo_fail(err, &be, "look for a files document");
            break;
        }
        if (in_uploads || in_files)
            continue;
        sel = BCON_NEW("files_id", BCON_OID(&ids[i]));
        if (!mongoc_collection_delete_many(chunks, sel, NULL, &reply, &be)) {
            rc = v2m__mongo_fail(err, &be, "delete leftover chunks");
        } else if (bson_iter_init_find(&it, &reply, "deletedCount") &&
                   BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_int64(&it) > 0) {
            bson_oid_to_string(&ids[i], fid);
            V2M_LOG(V2M_INFO, "store swept leftover chunks db=%s fid=%s chunks=%lld",
                    v2m_store_ns_name(ns), fid, (long long)bson_iter_as_int64(&it));
            *count += (long)bson_iter_as_int64(&it);
        }
        bson_destroy(&reply);
        bson_destroy(sel);
    }
    free(ids);
    mongoc_collection_destroy(chunks);
    mongoc_collection_destroy(files);
    mongoc_collection_destroy(uploads);
    return rc;
}

/* Finished segments uploaded before cutoff_ms, at most SWEEP_MAX of them:
 * a segment is read within minutes of being written, so an old one is what
 * a joining converter that died before its cleanup left behind (store.h). */
static v2m_err sweep_segments(gfs *g, mongoc_client_t *c, int64_t cutoff_ms, long *count,
                              v2m_error *err)
{
    mongoc_collection_t *files =
        mongoc_client_get_collection(c, v2m_store_ns_name(V2M_NS_SEGMENTS), "fs.files");
    bson_t *filter = BCON_NEW("uploadDate", "{", "$lt", BCON_DATE_TIME(cutoff_ms), "}");
    /* Whole files documents (they are small): no projection. */
    bson_t *opts = BCON_NEW("limit", BCON_INT64(SWEEP_MAX));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(files, filter, opts, NULL);
    bson_oid_t *ids = malloc(SWEEP_MAX * sizeof *ids);
    const bson_t *doc;
    bson_error_t be;
    size_t n = 0;
    v2m_err rc = ids ? V2M_OK : v2m_fail(err, V2M_ENOMEM, "out of memory");

    while (rc == V2M_OK && n < SWEEP_MAX && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
            bson_oid_copy(bson_iter_oid(&it), &ids[n++]);
    }
    if (rc == V2M_OK && mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "list old segments");
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(files);
    /* Deleted after the cursor is gone: g_del takes a client of its own. */
    for (size_t i = 0; rc == V2M_OK && i < n; i++) {
        char fid[V2M_FID_LEN + 1];
        bson_oid_to_string(&ids[i], fid);
        /* Another sweeper may have been first: not found is no error. */
        if (g_del(g, V2M_NS_SEGMENTS, fid, NULL) == V2M_OK) {
            V2M_LOG(V2M_INFO, "store swept old segment fid=%s", fid);
            (*count)++;
        }
    }
    free(ids);
    return rc;
}

static v2m_err g_sweep(void *impl, int64_t older_than_ms, long *count, v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    int64_t cutoff = v2m__now_ms() - older_than_ms;
    v2m_err rc = V2M_OK;

    for (int ns = V2M_NS_VIDEOS; ns < V2M_NS_COUNT && rc == V2M_OK; ns++)
        rc = sweep_ns(c, (v2m_store_ns)ns, cutoff, count, err);
    if (rc == V2M_OK)
        rc = sweep_segments(g, c, cutoff, count, err);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

/* Resumable uploads (store.h's parts). The record is a document of the
 * namespace's `fs.uploads` collection, {_id: <the part's ObjectId>, info:
 * string, offset: int64}; its offset is what counts. The bytes are chunks
 * of fs.chunks under files_id = that id, written (upserted on {files_id,
 * n}, so writing one again is harmless) as they fill; the record's offset
 * follows each full chunk. A partial last chunk is stored when an append
 * closes, and read back and completed by the next append. With no files
 * document the chunks stay invisible to readers until finish inserts it. */
typedef struct {
    gfs *g;
    mongoc_client_t *client;
    mongoc_collection_t *chunks, *uploads;
    bson_oid_t oid;
    char fid[V2M_FID_LEN + 1];
    uint8_t *cur;         /* chunk cur_n, cur_len bytes */
    size_t cur_len;
    int32_t cur_n;
    int64_t start, off;
} gpart;

/* A collection of ns; the upload records and files documents with the
 * durable write concern (an offset told to a client stays true across a
 * failover, and with it the chunks before it), the chunks without. */
static mongoc_collection_t *coll(const gfs *g, mongoc_client_t *c, v2m_store_ns ns,
                                 const char *name)
{
    mongoc_collection_t *k = mongoc_client_get_collection(c, v2m_store_ns_name(ns), name);

    if (strcmp(name, "fs.chunks") != 0)
        v2m__mongo_durable(&g->mongo, k);
    return k;
}

/* Upsert chunk n of the part oid. */
static v2m_err upsert_chunk(mongoc_collection_t *chunks, const bson_oid_t *oid, int32_t n,
                            const uint8_t *data, size_t len, v2m_error *err)
{
    bson_t *sel = BCON_NEW("files_id", BCON_OID(oid), "n", BCON_INT32(n));
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    bson_t doc = BSON_INITIALIZER;
    bson_error_t be;
    bool ok;

    BSON_APPEND_OID(&doc, "files_id", oid);
    BSON_APPEND_INT32(&doc, "n", n);
    BSON_APPEND_BINARY(&doc, "data", BSON_SUBTYPE_BINARY, data, (uint32_t)len);
    ok = mongoc_collection_replace_one(chunks, sel, &doc, opts, NULL, &be);
    bson_destroy(&doc);
    bson_destroy(sel);
    bson_destroy(opts);
    return ok ? V2M_OK : v2m__mongo_fail(err, &be, "write chunk of an upload");
}

static v2m_err set_offset(mongoc_collection_t *uploads, const bson_oid_t *oid, int64_t off,
                          v2m_error *err)
{
    bson_t *sel = BCON_NEW("_id", BCON_OID(oid));
    bson_t *upd = BCON_NEW("$set", "{", "offset", BCON_INT64(off), "}");
    bson_error_t be;
    bool ok = mongoc_collection_update_one(uploads, sel, upd, NULL, NULL, &be);
    bson_destroy(sel);
    bson_destroy(upd);
    return ok ? V2M_OK : v2m__mongo_fail(err, &be, "update upload record");
}

/* The record of oid: info (may be NULL) and offset; V2M_ENOTFOUND. */
static v2m_err find_record(mongoc_collection_t *uploads, const bson_oid_t *oid,
                           const char *fid, char *info, size_t infosz, int64_t *offset,
                           v2m_error *err)
{
    bson_t *filter = BCON_NEW("_id", BCON_OID(oid));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(uploads, filter, NULL, NULL);
    const bson_t *d;
    bson_error_t be;
    bson_iter_t it;
    v2m_err rc = V2M_OK;

    if (mongoc_cursor_next(cur, &d)) {
        *offset = bson_iter_init_find(&it, d, "offset") && BSON_ITER_HOLDS_NUMBER(&it)
                      ? bson_iter_as_int64(&it) : 0;
        if (info) {
            uint32_t len = 0;
            const char *s = bson_iter_init_find(&it, d, "info") && BSON_ITER_HOLDS_UTF8(&it)
                                ? bson_iter_utf8(&it, &len) : "";
            if (len >= infosz)
                len = (uint32_t)infosz - 1;
            memcpy(info, s, len);
            info[len] = '\0';
        }
    } else if (mongoc_cursor_error(cur, &be)) {
        rc = v2m__mongo_fail(err, &be, "find upload record");
    } else {
        rc = v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    return rc;
}

/* Chunk n of oid into buf (CS bytes); *len = its size, 0 when absent. */
static v2m_err get_chunk(mongoc_collection_t *chunks, const bson_oid_t *oid, int32_t n,
                         uint8_t *buf, size_t *len, v2m_error *err)
{
    bson_t *filter = BCON_NEW("files_id", BCON_OID(oid), "n", BCON_INT32(n));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(chunks, filter, NULL, NULL);
    const bson_t *d;
    bson_error_t be;
    bson_iter_t it;
    v2m_err rc = V2M_OK;

    *len = 0;
    if (mongoc_cursor_next(cur, &d)) {
        bson_subtype_t sub;
        const uint8_t *data = NULL;
        uint32_t dl = 0;
        if (bson_iter_init_find(&it, d, "data") && BSON_ITER_HOLDS_BINARY(&it))
            bson_iter_binary(&it, &sub, &dl, &data);
        if (dl > CS)
            dl = CS;
        if (dl)
            memcpy(buf, data, dl);
        *len = dl;
    } else if (mongoc_cursor_error(cur, &be)) {
        rc = v2m__mongo_fail(err, &be, "find chunk of an upload");
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    return rc;
}

static v2m_err g_part_create(void *impl, v2m_store_ns ns, const char *fid, const char *info,
                             v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *uploads = coll(g, c, ns, "fs.uploads");
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t oid;
    bson_error_t be;
    v2m_err rc = ensure_indexes(g, c, ns, err);

    bson_oid_init_from_string(&oid, fid);
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_UTF8(&doc, "info", info);
    BSON_APPEND_INT64(&doc, "offset", 0);
    if (rc == V2M_OK && !mongoc_collection_insert_one(uploads, &doc, NULL, NULL, &be))
        rc = v2m__mongo_fail(err, &be, "insert upload record");
    bson_destroy(&doc);
    mongoc_collection_destroy(uploads);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

static v2m_err g_part_info(void *impl, v2m_store_ns ns, const char *fid, char *info,
                           size_t infosz, int64_t *offset, v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *uploads = coll(g, c, ns, "fs.uploads");
    bson_oid_t oid;
    v2m_err rc;

    bson_oid_init_from_string(&oid, fid);
    rc = find_record(uploads, &oid, fid, info, infosz, offset, err);
    mongoc_collection_destroy(uploads);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

static void part_free(gpart *p)
{
    if (p->chunks)
        mongoc_collection_destroy(p->chunks);
    if (p->uploads)
        mongoc_collection_destroy(p->uploads);
    if (p->client)
        mongoc_client_pool_push(p->g->mongo.pool, p->client);
    free(p->cur);
    free(p);
}

static v2m_err g_part_append(void *impl, v2m_store_ns ns, const char *fid, int64_t off,
                             void **out, v2m_error *err)
{
    gfs *g = impl;
    gpart *p = calloc(1, sizeof *p);
    int64_t have = 0;
    v2m_err rc;

    if (!p)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    p->g = g;
    p->cur = malloc(CS);
    p->client = mongoc_client_pool_pop(g->mongo.pool);
    p->chunks = coll(g, p->client, ns, "fs.chunks");
    p->uploads = coll(g, p->client, ns, "fs.uploads");
    memcpy(p->fid, fid, sizeof p->fid);
    bson_oid_init_from_string(&p->oid, fid);
    if (!p->cur) {
        part_free(p);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    rc = find_record(p->uploads, &p->oid, fid, NULL, 0, &have, err);
    if (rc == V2M_OK && have != off)
        rc = v2m_fail(err, V2M_ESTATE, "upload %s holds %lld bytes, not %lld", fid,
                      (long long)have, (long long)off);
    p->start = p->off = off;
    p->cur_n = (int32_t)(off / CS);
    /* The partial last chunk, stored by the previous append, to complete
     * (it may hold more, written by an append that was discarded). */
    if (rc == V2M_OK && off % CS) {
        rc = get_chunk(p->chunks, &p->oid, p->cur_n, p->cur, &p->cur_len, err);
        if (rc == V2M_OK && p->cur_len < (size_t)(off % CS))
            rc = v2m_fail(err, V2M_EIO, "gridfs: upload %s: last chunk holds %zu bytes, not %lld",
                          fid, p->cur_len, (long long)(off % CS));
        p->cur_len = (size_t)(off % CS);
    }
    if (rc) {
        part_free(p);
        return rc;
    }
    *out = p;
    return V2M_OK;
}

static v2m_err g_part_write(void *impl, const void *buf, size_t n, v2m_error *err)
{
    gpart *p = impl;
    const uint8_t *s = buf;

    while (n > 0) {
        size_t k = CS - p->cur_len < n ? CS - p->cur_len : n;
        memcpy(p->cur + p->cur_len, s, k);
        p->cur_len += k;
        p->off += (int64_t)k;
        s += k;
        n -= k;
        if (p->cur_len == CS) {
            v2m_err rc = upsert_chunk(p->chunks, &p->oid, p->cur_n, p->cur, CS, err);
            if (!rc)
                rc = set_offset(p->uploads, &p->oid, p->off, err);
            if (rc)
                return rc;
            p->cur_n++;
            p->cur_len = 0;
        }
    }
    return V2M_OK;
}

static v2m_err g_part_close(void *impl, int64_t *offset, v2m_error *err)
{
    gpart *p = impl;
    v2m_err rc = V2M_OK;

    if (p->cur_len)
        rc = upsert_chunk(p->chunks, &p->oid, p->cur_n, p->cur, p->cur_len, err);
    if (!rc)
        rc = set_offset(p->uploads, &p->oid, p->off, err);
    if (offset)
        *offset = p->off;
    part_free(p);
    return rc;
}

static v2m_err g_part_discard(void *impl, v2m_error *err)
{
    gpart *p = impl;
    /* Chunks written meanwhile stay, beyond the offset: the next append
     * rewrites them, finish trims what is past the length. */
    v2m_err rc = set_offset(p->uploads, &p->oid, p->start, err);
    part_free(p);
    return rc;
}

static v2m_err g_part_pread(void *impl, v2m_store_ns ns, const char *fid, void *buf, size_t n,
                            int64_t off, size_t *got, v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *chunks = coll(g, c, ns, "fs.chunks");
    mongoc_collection_t *uploads = coll(g, c, ns, "fs.uploads");
    uint8_t *chunk = malloc(CS);
    bson_oid_t oid;
    int64_t have = 0;
    v2m_err rc;

    *got = 0;
    bson_oid_init_from_string(&oid, fid);
    rc = chunk ? find_record(uploads, &oid, fid, NULL, 0, &have, err)
               : v2m_fail(err, V2M_ENOMEM, "out of memory");
    while (rc == V2M_OK && *got < n && off < have) {
        size_t len, in = (size_t)(off % CS), k;
        rc = get_chunk(chunks, &oid, (int32_t)(off / CS), chunk, &len, err);
        if (rc || len <= in)
            break;
        k = len - in < n - *got ? len - in : n - *got;
        if ((int64_t)k > have - off)
            k = (size_t)(have - off);
        memcpy((uint8_t *)buf + *got, chunk + in, k);
        *got += k;
        off += (int64_t)k;
    }
    free(chunk);
    mongoc_collection_destroy(chunks);
    mongoc_collection_destroy(uploads);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

static v2m_err delete_part(mongoc_collection_t *uploads, mongoc_collection_t *chunks,
                           const bson_oid_t *oid, int records, v2m_error *err)
{
    bson_t *sel = BCON_NEW("_id", BCON_OID(oid));
    bson_t *csel = BCON_NEW("files_id", BCON_OID(oid));
    bson_error_t be;
    v2m_err rc = V2M_OK;

    /* The record first: the upload is gone for clients once it is. */
    if (records && !mongoc_collection_delete_one(uploads, sel, NULL, NULL, &be))
        rc = v2m__mongo_fail(err, &be, "delete upload record");
    else if (!mongoc_collection_delete_many(chunks, csel, NULL, NULL, &be))
        rc = v2m__mongo_fail(err, &be, "delete chunks of an upload");
    bson_destroy(sel);
    bson_destroy(csel);
    return rc;
}

static v2m_err g_part_finish(void *impl, v2m_store_ns ns, const char *fid,
                             const v2m_store_meta *meta, v2m_store_meta *out, v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *chunks = coll(g, c, ns, "fs.chunks");
    mongoc_collection_t *uploads = coll(g, c, ns, "fs.uploads");
    mongoc_collection_t *files = coll(g, c, ns, "fs.files");
    bson_t doc = BSON_INITIALIZER, md, *sel = NULL, *rsel = NULL;
    bson_oid_t oid;
    bson_error_t be;
    int64_t length = 0;
    v2m_err rc;

    bson_oid_init_from_string(&oid, fid);
    rc = find_record(uploads, &oid, fid, NULL, 0, &length, err);
    if (rc)
        goto done;
    /* Chunks past the length (written before a crash and never counted) go. */
    sel = BCON_NEW("files_id", BCON_OID(&oid), "n", "{", "$gte",
                   BCON_INT32((int32_t)((length + CS - 1) / CS)), "}");
    if (!mongoc_collection_delete_many(chunks, sel, NULL, NULL, &be)) {
        rc = v2m__mongo_fail(err, &be, "trim chunks of an upload");
        goto done;
    }
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_INT64(&doc, "length", length);
    BSON_APPEND_INT32(&doc, "chunkSize", CS);
    BSON_APPEND_DATE_TIME(&doc, "uploadDate", meta->created_ms);
    BSON_APPEND_UTF8(&doc, "filename", meta->filename);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "metadata", &md);
    BSON_APPEND_UTF8(&md, "owner", meta->owner);
    BSON_APPEND_UTF8(&md, "contentType", meta->content_type);
    bson_append_document_end(&doc, &md);
    if (!mongoc_collection_insert_one(files, &doc, NULL, NULL, &be)) {
        rc = v2m__mongo_fail(err, &be, "insert files document");
        goto done;
    }
    /* Published: the record goes (a leftover would only be swept later). */
    rsel = BCON_NEW("_id", BCON_OID(&oid));
    if (!mongoc_collection_delete_one(uploads, rsel, NULL, NULL, &be))
        V2M_LOG(V2M_WARN, "gridfs cannot remove upload record id=%s err=%s", fid, be.message);
    *out = *meta;
    out->length = length;
done:
    bson_destroy(&doc);
    if (sel)
        bson_destroy(sel);
    if (rsel)
        bson_destroy(rsel);
    mongoc_collection_destroy(chunks);
    mongoc_collection_destroy(uploads);
    mongoc_collection_destroy(files);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

static v2m_err g_part_abort(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *chunks = coll(g, c, ns, "fs.chunks");
    mongoc_collection_t *uploads = coll(g, c, ns, "fs.uploads");
    bson_oid_t oid;
    int64_t off;
    v2m_err rc;

    bson_oid_init_from_string(&oid, fid);
    rc = find_record(uploads, &oid, fid, NULL, 0, &off, err);
    if (rc == V2M_OK)
        rc = delete_part(uploads, chunks, &oid, 1, err);
    mongoc_collection_destroy(chunks);
    mongoc_collection_destroy(uploads);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

static v2m_err g_part_list(void *impl, v2m_store_ns ns, v2m_store_part_fn fn, void *ud,
                           v2m_error *err)
{
    gfs *g = impl;
    mongoc_client_t *c = mongoc_client_pool_pop(g->mongo.pool);
    mongoc_collection_t *uploads = coll(g, c, ns, "fs.uploads");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(uploads, &filter, NULL, NULL);
    char *info = malloc(V2M_STORE_INFO_MAX + 1);
    const bson_t *d;
    bson_error_t be;
    v2m_err rc = V2M_OK;

    while (info && mongoc_cursor_next(cur, &d)) {
        bson_iter_t it;
        char fid[V2M_FID_LEN + 1];
        int64_t off = 0;
        uint32_t len = 0;
        const char *s;

        if (!bson_iter_init_find(&it, d, "_id") || !BSON_ITER_HOLDS_OID(&it))
            continue;
        bson_oid_to_string(bson_iter_oid(&it), fid);
        if (bson_iter_init_find(&it, d, "offset") && BSON_ITER_HOLDS_NUMBER(&it))
            off = bson_iter_as_int64(&it);
        s = bson_iter_init_find(&it, d, "info") && BSON_ITER_HOLDS_UTF8(&it)
                ? bson_iter_utf8(&it, &len) : "";
        if (len > V2M_STORE_INFO_MAX)
            continue;
        memcpy(info, s, len);
        info[len] = '\0';
        if (fn(ud, fid, info, off))
            break;
    }
    if (!info)
        rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
    else if (mongoc_cursor_error(cur, &be))
        rc = v2m__mongo_fail(err, &be, "list upload records");
    free(info);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(uploads);
    mongoc_client_pool_push(g->mongo.pool, c);
    return rc;
}

const v2m__store_ops v2m__store_gridfs = {
    .open = g_open,
    .close = v2m__mongo_close,
    .ping = v2m__mongo_ping,
    .up_open = g_up_open,
    .up_write = g_up_write,
    .up_finish = g_up_finish,
    .up_abort = g_up_abort,
    .rd_open = g_rd_open,
    .rd_pread = g_rd_pread,
    .rd_close = g_rd_close,
    .stat = g_stat,
    .find = g_find,
    .del = g_del,
    .sweep = g_sweep,
    .part_create = g_part_create,
    .part_info = g_part_info,
    .part_append = g_part_append,
    .part_write = g_part_write,
    .part_close = g_part_close,
    .part_discard = g_part_discard,
    .part_pread = g_part_pread,
    .part_finish = g_part_finish,
    .part_abort = g_part_abort,
    .part_list = g_part_list,
};
