/* segments.c - segment tasks: handed out by the joining conversion, encoded
 * by any converter's segments lane (see segments.h). */
#include "segments.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jobopts.h"
#include "common/log.h"
#include "ports/store.h"

static void seg_name(char *out, size_t n, const char *video_fid, int k, int segments)
{
    snprintf(out, n, "%s.%dof%d", video_fid, k, segments);
}

/* ---- the joining side ---- */

static int r_request(void *opaque, int segments, int upto, double gain_db)
{
    cv_remote *r = opaque;
    v2m_error err = {0};

    if (!r->c->publish_segment || segments > V2M_MEDIA_REMOTE_SEGMENTS)
        return -1;
    r->segments = segments;
    for (int k = 1; k <= upto && k < segments; k++) {
        /* gain_db: what a normalized conversion measured on the whole input
         * (every segment gets that one gain); JSON reals round-trip exactly. */
        json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:f}", "video_fid", r->video_fid, "segment", k,
                              "segments", segments, "options", r->options ? r->options : "", "gain_db",
                              gain_db);
        char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        v2m_err rc = body ? r->c->publish_segment(r->c->publish_opaque, body, &err) : V2M_ENOMEM;
        free(body);
        json_decref(o);
        if (rc) {
            /* Those not handed out are encoded here once the wait is over. */
            V2M_LOG(V2M_WARN, "segment task not published video_fid=%s segment=%d: %s", r->video_fid, k,
                    v2m_error_msg(&err));
            return k > 1 ? 0 : -1;
        }
    }
    V2M_LOG(V2M_INFO, "segments handed out video_fid=%s segments=%d handed=%d", r->video_fid, segments, upto);
    return 0;
}

typedef struct found {
    char fid[V2M_FID_LEN + 1];
} found;

static int first_found(void *ud, const v2m_store_meta *m)
{
    found *f = ud;
    memcpy(f->fid, m->fid, sizeof f->fid);
    return 1;
}

static int rd_read(void *o, uint8_t *buf, int size)
{
    size_t got = 0;
    if (v2m_store_read(o, buf, (size_t)size, &got, NULL) != V2M_OK)
        return -1;
    return (int)got;
}

static int64_t rd_seek(void *o, int64_t off, int whence)
{
    int64_t pos;
    if (whence == V2M_MEDIA_SEEK_SIZE)
        return v2m_store_reader_meta(o)->length;
    if (v2m_store_seek(o, off, whence, &pos, NULL) != V2M_OK)
        return -1;
    return pos;
}

static int r_fetch(void *opaque, int k, v2m_media_io *io)
{
    cv_remote *r = opaque;
    char name[64];
    found f = {{0}};
    v2m_store_reader *rd;
    v2m_error err = {0};

    seg_name(name, sizeof name, r->video_fid, k, r->segments);
    if (v2m_store_find(r->c->store, V2M_NS_SEGMENTS, name, first_found, &f, &err) != V2M_OK) {
        V2M_LOG(V2M_WARN, "segments: looking for %s failed: %s", name, v2m_error_msg(&err));
        return 0; /* the store may come back: wait on */
    }
    if (!f.fid[0])
        return 0;
    if (v2m_store_reader_open(r->c->store, V2M_NS_SEGMENTS, f.fid, &rd, &err) != V2M_OK)
        return 0;
    *io = (v2m_media_io){.opaque = rd, .read = rd_read, .seek = rd_seek};
    return 1;
}

static void r_release(void *opaque, v2m_media_io *io)
{
    (void)opaque;
    v2m_store_reader_close(io->opaque);
    io->opaque = NULL;
}

static int r_work(void *opaque)
{
    cv_remote *r = opaque;
    return r->c->take_segment() > 0;
}

void cv_remote_init(cv_remote *r, cv_ctx *c, const char *video_fid, const char *options)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    r->video_fid = video_fid;
    r->options = options;
    r->remote = (v2m_media_remote){.opaque = r, .request = r_request, .fetch = r_fetch,
                                   .release = r_release, .work = c->take_segment ? r_work : NULL,
                                   .wait = c->segment_wait};
}

typedef struct sweep {
    v2m_store *store;
    int n;
} sweep;

static int delete_found(void *ud, const v2m_store_meta *m)
{
    sweep *s = ud;
    if (v2m_store_delete(s->store, V2M_NS_SEGMENTS, m->fid, NULL) == V2M_OK)
        s->n++;
    return 0;
}

void cv_segments_delete(cv_ctx *c, const char *video_fid, int segments)
{
    char name[64];
    sweep s = {c->store, 0};
    for (int k = 1; k < segments && k < V2M_MEDIA_REMOTE_SEGMENTS; k++) {
        seg_name(name, sizeof name, video_fid, k, segments);
        v2m_store_find(c->store, V2M_NS_SEGMENTS, name, delete_found, &s, NULL);
    }
    if (s.n)
        V2M_LOG(V2M_INFO, "segments removed video_fid=%s count=%d", video_fid, s.n);
}

/* ---- the segments lane ---- */

static int sink_write(void *o, const uint8_t *buf, int size)
{
    return v2m_store_upload_write(o, buf, (size_t)size, NULL) == V2M_OK ? 0 : -1;
}

/* Does the job still want its segments? 1 yes, 0 no (ended or deleted),
 * -1 the record cannot be read. */
static int wanted(cv_ctx *c, const char *video_fid, v2m_job *job)
{
    v2m_error e = {0};
    v2m_err rc = v2m_jobs_get(c->jobs, video_fid, job, &e);
    if (rc == V2M_ENOTFOUND)
        return 0;
    if (rc)
        return -1;
    return job->status == V2M_JOB_QUEUED || job->status == V2M_JOB_CONVERTING;
}

cv_outcome cv_segment_process(cv_ctx *c, const char *body, size_t len, v2m_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    const char *fid = NULL, *options = "";
    int k = 0, n = 0;
    double gain_db = NAN; /* absent: a joining side that measured none (the
                             engine checks a given one) */
    char name[64];
    found f = {{0}};
    v2m_job job;
    v2m_jobopts jo;
    v2m_media_opts o;
    v2m_store_reader *rd = NULL;
    v2m_store_upload *up = NULL;
    v2m_store_meta meta;
    v2m_media_stats st;
    v2m_error e = {0};
    cv_outcome out = CV_DONE;

    if (!root ||
        json_unpack(root, "{s:s, s:i, s:i, s?s, s?F}", "video_fid", &fid, "segment", &k, "segments", &n,
                    "options", &options, "gain_db", &gain_db) != 0 ||
        strlen(fid) != V2M_FID_LEN || n < 2 || n > V2M_MEDIA_REMOTE_SEGMENTS || k < 1 || k >= n) {
        json_decref(root);
        v2m_fail(err, V2M_EINVAL, "malformed segment task");
        return CV_INVALID;
    }
    seg_name(name, sizeof name, fid, k, n);
    int w = wanted(c, fid, &job);
    if (w < 0) {
        v2m_fail(err, V2M_EUNAVAIL, "job record of %s cannot be read", fid);
        out = CV_RETRY;
        goto done;
    }
    if (w == 0 || v2m_store_find(c->store, V2M_NS_SEGMENTS, name, first_found, &f, NULL) != V2M_OK ||
        f.fid[0]) {
        V2M_LOG(V2M_DEBUG, "segment task needs nothing video_fid=%s segment=%d", fid, k);
        goto done;
    }
    V2M_LOG(V2M_INFO, "segment task started video_fid=%s segment=%d/%d", fid, k, n);
    v2m_jobopts_init(&jo);
    if (options[0] && v2m_jobopts_decode(options, &jo, &e) != V2M_OK) {
        v2m_fail(err, V2M_EINVAL, "segment task options: %s", v2m_error_msg(&e));
        out = CV_INVALID;
        goto done;
    }
    if (v2m_store_reader_open(c->store, V2M_NS_VIDEOS, fid, &rd, &e) != V2M_OK) {
        if (e.code == V2M_ENOTFOUND)
            goto done;
        v2m_fail(err, e.code, "%s", v2m_error_msg(&e));
        out = CV_RETRY;
        goto done;
    }
    if (v2m_store_upload_open(c->store, V2M_NS_SEGMENTS, name, "application/octet-stream", job.owner, &up,
                              &e) != V2M_OK) {
        v2m_fail(err, e.code, "%s", v2m_error_msg(&e));
        out = CV_RETRY;
        goto done;
    }
    v2m_media_opts_init(&o);
    v2m_jobopts_apply(c->defaults, &jo, &o);
    o.max_duration = c->max_duration;
    o.cancel = c->cancel;
    o.gain_given = !isnan(gain_db);
    o.gain_db = o.gain_given ? gain_db : 0;
    v2m_media_io in = {.opaque = rd, .read = rd_read, .seek = rd_seek};
    v2m_media_sink sink = {.opaque = up, .write = sink_write};
    v2m_err rc = v2m_media_segment(&in, &o, k, n, &sink, &st, &e);
    if (rc) {
        v2m_store_upload_abort(up);
        up = NULL;
        /* The joining converter encodes it itself when it does not come;
         * only a failure of the store is worth another attempt here. */
        V2M_LOG(V2M_WARN, "segment failed video_fid=%s segment=%d/%d: %s", fid, k, n, v2m_error_msg(&e));
        if (rc == V2M_EIO || rc == V2M_EMEDIA_WRITE) {
            v2m_fail(err, rc, "%s", v2m_error_msg(&e));
            out = CV_RETRY;
        }
        goto done;
    }
    rc = v2m_store_upload_finish(up, &meta, &e);
    up = NULL;
    if (rc) {
        v2m_fail(err, rc, "%s", v2m_error_msg(&e));
        out = CV_RETRY;
        goto done;
    }
    /* Stored after the job ended (the joining side may have finished
     * without it): nobody will read it. */
    if (wanted(c, fid, &job) == 0)
        v2m_store_delete(c->store, V2M_NS_SEGMENTS, meta.fid, NULL);
    V2M_LOG(V2M_INFO, "segment encoded video_fid=%s segment=%d/%d seconds=%.1f bytes=%lld", fid, k, n,
            (double)st.samples / (st.sample_rate > 0 ? st.sample_rate : 44100), (long long)meta.length);
done:
    v2m_store_upload_abort(up);
    v2m_store_reader_close(rd);
    json_decref(root);
    return out;
}
