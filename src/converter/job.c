/* job.c - the converter's work on one message, made safe to repeat.
 *
 * The job record says what is already done, so a message delivered again
 * after a crash (or twice) neither makes a second MP3 nor loses the
 * notification:
 *   done already    -> publish the result again (the crash may have come
 *                      before the publish), ack
 *   failed already  -> ack
 *   queued or converting -> convert (again)
 * An MP3 is published in the store only when complete; if another worker
 * finished the same job meanwhile, ours is deleted so no orphan remains. The
 * id of the MP3 being written is noted in the record (still converting)
 * before its first byte, so the attempt after a crash removes the remains.
 */
#include "job.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "media/media.h"

typedef struct progress_ctx {
    cv_ctx *c;
    const char *fid;
    struct timespec last;
} progress_ctx;

static void on_progress(void *opaque, double f)
{
    progress_ctx *p = opaque;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* About once a second, and always the final 1.0 is left to done. */
    if (now.tv_sec - p->last.tv_sec < 1 || f >= 1.0)
        return;
    p->last = now;
    v2m_jobs_progress(p->c->jobs, p->fid, f, NULL);
}

/* Media engine adapters over the store's streams. */
static int in_read(void *o, uint8_t *buf, int size)
{
    size_t got = 0;
    if (v2m_store_read(o, buf, (size_t)size, &got, NULL) != V2M_OK)
        return -1;
    return (int)got;
}

static int64_t in_seek(void *o, int64_t off, int whence)
{
    int64_t pos;
    if (whence == V2M_MEDIA_SEEK_SIZE)
        return v2m_store_reader_meta(o)->length;
    if (v2m_store_seek(o, off, whence, &pos, NULL) != V2M_OK)
        return -1;
    return pos;
}

static int out_write(void *o, const uint8_t *buf, int size)
{
    return v2m_store_upload_write(o, buf, (size_t)size, NULL) == V2M_OK ? 0 : -1;
}

static int out_seek(void *o, int64_t off)
{
    return v2m_store_upload_seek(o, off, NULL) == V2M_OK ? 0 : -1;
}

/* The input itself is the problem (not media, refused format, too long,
 * corrupt, no audio...): trying again cannot help, the job fails at once.
 * Failures of the store (a read or a write) are worth another attempt. */
static int permanent(v2m_err e)
{
    return e >= V2M_EMEDIA_EMPTY && e != V2M_EMEDIA_WRITE;
}

static void mp3_name(const char *video, char *out, size_t n)
{
    const char *dot = strrchr(video, '.');
    int len = dot && dot != video ? (int)(dot - video) : (int)strlen(video);
    snprintf(out, n, "%.*s.mp3", len > 200 ? 200 : len, video[0] ? video : "audio");
}

static cv_outcome tell(cv_ctx *c, const v2m_msg *in, const v2m_job *j, v2m_error *err)
{
    v2m_msg out = *in;
    snprintf(out.mp3_fid, sizeof out.mp3_fid, "%s", j->status == V2M_JOB_DONE ? j->mp3_fid : "");
    snprintf(out.status, sizeof out.status, "%s", v2m_job_status_name(j->status));
    snprintf(out.error, sizeof out.error, "%s", j->error);
    snprintf(out.filename, sizeof out.filename, "%s", j->filename);
    if (c->publish(c->publish_opaque, &out, err) != V2M_OK)
        return CV_RETRY;
    return j->status == V2M_JOB_DONE ? CV_DONE : CV_FAILED;
}

cv_outcome cv_process(cv_ctx *c, const char *body, size_t len, v2m_error *err)
{
    v2m_msg m;
    v2m_job job;
    v2m_store_reader *rd = NULL;
    v2m_store_upload *up = NULL;
    v2m_store_meta vmeta, mmeta;
    v2m_media_io in;
    v2m_media_sink out;
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error e = {0};
    progress_ctx pc;
    char name[256];
    v2m_err rc;

    if (v2m_msg_parse(body, len, &m, err) != V2M_OK)
        return CV_INVALID;

    rc = v2m_jobs_begin(c->jobs, m.video_fid, &job, &e);
    if (rc == V2M_ENOTFOUND) {
        /* A message from a gateway that keeps no job records (the original
         * system's): make the record from the stored video. */
        rc = v2m_store_stat(c->store, V2M_NS_VIDEOS, m.video_fid, &vmeta, &e);
        if (rc == V2M_ENOTFOUND) {
            v2m_fail(err, V2M_ENOTFOUND, "video %s is not in the store", m.video_fid);
            return CV_INVALID;
        }
        if (rc == V2M_OK)
            rc = v2m_jobs_create(c->jobs, m.video_fid, m.username, vmeta.filename, vmeta.length,
                                 &e);
        if (rc == V2M_OK || rc == V2M_EEXIST)
            rc = v2m_jobs_begin(c->jobs, m.video_fid, &job, &e);
    }
    if (rc == V2M_ESTATE) {
        V2M_LOG(V2M_INFO, "job already %s video_fid=%s, result published again",
                v2m_job_status_name(job.status), m.video_fid);
        return tell(c, &m, &job, err);
    }
    if (rc) {
        v2m_fail(err, e.code, "job record: %s", v2m_error_msg(&e));
        return CV_RETRY;
    }
    if (c->max_attempts > 0 && job.attempts > c->max_attempts) {
        /* Started this often without an outcome: the input crashes or stalls
         * the worker, or a backend kept failing. Give up and say so. */
        char why[300];
        snprintf(why, sizeof why, "conversion did not finish after repeated attempts%s%.200s",
                 job.error[0] ? ": " : "", job.error);
        v2m_jobs_fail(c->jobs, m.video_fid, why, &job, NULL);
        if (job.mp3_fid[0])
            v2m_store_delete(c->store, V2M_NS_MP3S, job.mp3_fid, NULL);
        return tell(c, &m, &job, err);
    }
    if (job.mp3_fid[0]) {
        /* An earlier attempt died while writing this MP3: remove its remains. */
        V2M_LOG(V2M_INFO, "removing the unfinished MP3 of an earlier attempt video_fid=%s mp3_fid=%s",
                m.video_fid, job.mp3_fid);
        v2m_store_delete(c->store, V2M_NS_MP3S, job.mp3_fid, NULL);
    }

    rc = v2m_store_reader_open(c->store, V2M_NS_VIDEOS, m.video_fid, &rd, &e);
    if (rc == V2M_ENOTFOUND) {
        v2m_jobs_fail(c->jobs, m.video_fid, "the uploaded video is gone from the store", &job, NULL);
        return tell(c, &m, &job, err);
    }
    if (rc)
        goto transient;
    mp3_name(job.filename, name, sizeof name);
    rc = v2m_store_upload_open(c->store, V2M_NS_MP3S, name, "audio/mpeg", job.owner, &up, &e);
    if (rc)
        goto transient;
    {
        /* Note the id before writing, so a crash leaves no nameless orphan. */
        v2m_job_change chg = V2M_JOB_CHANGE_INIT;
        chg.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
        chg.mp3_fid = v2m_store_upload_fid(up);
        if ((rc = v2m_jobs_update(c->jobs, m.video_fid, &chg, NULL, &e)))
            goto transient;
    }

    in = (v2m_media_io){.opaque = rd, .read = in_read, .seek = in_seek};
    out = (v2m_media_sink){.opaque = up, .write = out_write, .seek = out_seek};
    v2m_media_opts_init(&o);
    o.filename = job.filename;
    o.max_duration = c->max_duration;
    o.cancel = c->cancel;
    pc = (progress_ctx){.c = c, .fid = m.video_fid};
    clock_gettime(CLOCK_MONOTONIC, &pc.last);
    o.progress = on_progress;
    o.progress_opaque = &pc;
    rc = v2m_media_convert(&in, &out, &o, &st, &e);
    v2m_store_reader_close(rd);
    rd = NULL;
    if (rc && permanent(rc)) {
        v2m_store_upload_abort(up);
        V2M_LOG(V2M_INFO, "conversion failed video_fid=%s reason=\"%s\"", m.video_fid,
                v2m_error_msg(&e));
        if (v2m_jobs_fail(c->jobs, m.video_fid, v2m_error_msg(&e), &job, &e) && e.code != V2M_ESTATE)
            return v2m_fail(err, e.code, "job record: %s", v2m_error_msg(&e)), CV_RETRY;
        return tell(c, &m, &job, err);
    }
    if (rc)
        goto transient;
    rc = v2m_store_upload_finish(up, &mmeta, &e);
    up = NULL;
    if (rc)
        goto transient;
    rc = v2m_jobs_done(c->jobs, m.video_fid, mmeta.fid, &job, &e);
    if (rc == V2M_ESTATE && strcmp(job.mp3_fid, mmeta.fid) != 0) {
        /* Another worker finished first: keep its MP3, drop ours. */
        v2m_store_delete(c->store, V2M_NS_MP3S, mmeta.fid, NULL);
    } else if (rc) {
        v2m_store_delete(c->store, V2M_NS_MP3S, mmeta.fid, NULL);
        goto transient;
    }
    V2M_LOG(V2M_INFO, "converted video_fid=%s mp3_fid=%s seconds=%.1f bytes=%lld passthrough=%d",
            m.video_fid, job.mp3_fid, st.duration, (long long)st.bytes_out, st.passthrough);
    return tell(c, &m, &job, err);

transient:
    v2m_store_reader_close(rd);
    v2m_store_upload_abort(up);
    v2m_fail(err, e.code ? e.code : rc, "%s", v2m_error_msg(&e));
    v2m_jobs_requeue(c->jobs, m.video_fid, v2m_error_msg(&e), NULL, NULL);
    return CV_RETRY;
}
