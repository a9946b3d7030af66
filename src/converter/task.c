/* task.c - the converter's work on one message, made safe to repeat.
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
 *
 * A job may be deleted by its owner at any moment (the gateway marks the
 * record, then deletes the files, then the record). Every step of the task
 * that finds the record gone (V2M_ENOTFOUND) stops, removes the MP3 it was
 * making and acks the message quietly (CV_GONE); the running conversion
 * looks at the record once a second and stops too. Whichever side comes
 * last removes the MP3, so nothing is left behind in any order of events.
 */
#include "task.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "media/media.h"
#include "segments.h"

/* What a running conversion watches. The media engine takes one cancel
 * flag, so the task has its own, raised when the worker's is (shutdown) or
 * when the record is found gone (the job was deleted). Checked on every read
 * of the input and every progress report; the record is looked at, with a
 * progress update, once a second. */
typedef struct watch {
    cv_ctx *c;
    const char *fid;
    v2m_store_reader *rd;
    atomic_int stop;
    int gone;             /* the record was deleted */
    double f;             /* progress so far */
    struct timespec last;
} watch;

static void watch_poll(watch *w)
{
    struct timespec now;

    if (w->c->cancel && atomic_load(w->c->cancel))
        atomic_store(&w->stop, 1);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - w->last.tv_sec < 1)
        return;
    w->last = now;
    if (v2m_jobs_progress(w->c->jobs, w->fid, w->f, NULL) == V2M_ENOTFOUND) {
        w->gone = 1;
        atomic_store(&w->stop, 1);
    }
}

static void on_progress(void *opaque, double f)
{
    watch *w = opaque;
    /* The final 1.0 is left to done. */
    if (f < 1.0)
        w->f = f;
    watch_poll(w);
}

/* Media engine adapters over the store's streams. */
static int in_read(void *o, uint8_t *buf, int size)
{
    watch *w = o;
    size_t got = 0;
    watch_poll(w);
    if (atomic_load(&w->stop))
        return -1;
    if (v2m_store_read(w->rd, buf, (size_t)size, &got, NULL) != V2M_OK)
        return -1;
    return (int)got;
}

static int64_t in_seek(void *o, int64_t off, int whence)
{
    watch *w = o;
    int64_t pos;
    if (whence == V2M_MEDIA_SEEK_SIZE)
        return v2m_store_reader_meta(w->rd)->length;
    if (v2m_store_seek(w->rd, off, whence, &pos, NULL) != V2M_OK)
        return -1;
    return pos;
}

/* More readers of the same video, one per segment of a conversion on
 * several cores; each is used from one thread. The task's stop flag ends
 * them too; the record is watched by the conversion's own thread. */
typedef struct seg_reader {
    watch *w;
    v2m_store_reader *rd;
} seg_reader;

static int seg_read(void *o, uint8_t *buf, int size)
{
    seg_reader *s = o;
    size_t got = 0;
    if (atomic_load(&s->w->stop))
        return -1;
    if (v2m_store_read(s->rd, buf, (size_t)size, &got, NULL) != V2M_OK)
        return -1;
    return (int)got;
}

static int64_t seg_seek(void *o, int64_t off, int whence)
{
    seg_reader *s = o;
    int64_t pos;
    if (whence == V2M_MEDIA_SEEK_SIZE)
        return v2m_store_reader_meta(s->rd)->length;
    if (v2m_store_seek(s->rd, off, whence, &pos, NULL) != V2M_OK)
        return -1;
    return pos;
}

static int seg_open(void *opaque, v2m_media_io *io)
{
    watch *w = opaque;
    seg_reader *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->w = w;
    if (v2m_store_reader_open(w->c->store, V2M_NS_VIDEOS, w->fid, &s->rd, NULL) != V2M_OK) {
        free(s);
        return -1;
    }
    *io = (v2m_media_io){.opaque = s, .read = seg_read, .seek = seg_seek};
    return 0;
}

static void seg_close(void *opaque, v2m_media_io *io)
{
    seg_reader *s = io->opaque;
    (void)opaque;
    if (s) {
        v2m_store_reader_close(s->rd);
        free(s);
    }
    io->opaque = NULL;
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
    snprintf(out.error_code, sizeof out.error_code, "%s", j->error_code);
    if (!out.callback_url[0])
        snprintf(out.callback_url, sizeof out.callback_url, "%s", j->callback_url);
    if (c->publish(c->publish_opaque, &out, err) != V2M_OK)
        return CV_RETRY;
    return j->status == V2M_JOB_DONE ? CV_DONE : CV_FAILED;
}

/* One message being worked on, through the four phases of cv_process. */
typedef struct task {
    cv_ctx *c;
    v2m_msg m;
    v2m_job job;
    v2m_store_reader *rd;
    v2m_store_upload *up;
    v2m_media_stats st;
    v2m_error e;    /* why the last backend call failed */
    v2m_err rc;     /* its code */
    int segments;   /* handed out to other converters: their segments to remove */
} task;

/* Where a phase leaves the task. */
typedef enum step {
    STEP_NEXT,       /* go on with the next phase */
    STEP_PUBLISH,    /* the record has its outcome: publish it */
    STEP_TRANSIENT,  /* a backend was away (t->e): requeue the record, retry */
    STEP_RETRY,      /* retry; err is set, the record is left as it is */
    STEP_INVALID,    /* the message is unusable; err is set */
    STEP_GONE,       /* the job was deleted meanwhile: ack, tell no one */
} step;

/* The record of a video no gateway made one for (the original system's
 * gateway keeps none): made from the stored video, then begun; the result in
 * t->rc. STEP_GONE when the video is not in the store either. */
static step begin_unrecorded(task *t)
{
    v2m_store_meta vmeta;

    t->rc = v2m_store_stat(t->c->store, V2M_NS_VIDEOS, t->m.video_fid, &vmeta, &t->e);
    if (t->rc == V2M_ENOTFOUND) {
        /* Neither record nor video: the job was deleted before its turn
         * came (or never existed). Nothing to do and no one to tell. */
        V2M_LOG(V2M_INFO, "no job and no video, message dropped video_fid=%s", t->m.video_fid);
        return STEP_GONE;
    }
    if (t->rc == V2M_OK)
        t->rc = v2m_jobs_create(t->c->jobs, t->m.video_fid, t->m.username, vmeta.filename,
                                vmeta.length, t->m.options, t->m.callback_url, &t->e);
    /* EEXIST then ENOTFOUND: the record is being deleted (see jobs.h). */
    if (t->rc == V2M_OK || t->rc == V2M_EEXIST)
        t->rc = v2m_jobs_begin(t->c->jobs, t->m.video_fid, &t->job, &t->e);
    return STEP_NEXT;
}

/* Phase 1: mark the record converting, or find it has an outcome already or
 * was attempted too often; remove what an earlier attempt left. */
static step task_begin(task *t, v2m_error *err)
{
    cv_ctx *c = t->c;
    v2m_err rc = v2m_jobs_begin(c->jobs, t->m.video_fid, &t->job, &t->e);

    if (rc == V2M_ENOTFOUND) {
        if (begin_unrecorded(t) == STEP_GONE)
            return STEP_GONE;
        rc = t->rc;
        if (rc == V2M_ENOTFOUND) {
            V2M_LOG(V2M_INFO, "job being deleted, message dropped video_fid=%s", t->m.video_fid);
            return STEP_GONE;
        }
    }
    if (rc == V2M_ESTATE && t->job.status == V2M_JOB_EXPIRED) {
        /* Its files are gone with their time; it was announced long ago. */
        V2M_LOG(V2M_INFO, "job expired, message dropped video_fid=%s", t->m.video_fid);
        return STEP_GONE;
    }
    if (rc == V2M_ESTATE) {
        V2M_LOG(V2M_INFO, "job already %s video_fid=%s, result published again",
                v2m_job_status_name(t->job.status), t->m.video_fid);
        return STEP_PUBLISH;
    }
    if (rc) {
        v2m_fail(err, t->e.code, "job record: %s", v2m_error_msg(&t->e));
        return STEP_RETRY;
    }
    if (c->max_attempts > 0 && t->job.attempts > c->max_attempts) {
        /* Started this often without an outcome: the input crashes or stalls
         * the worker, or a backend kept failing. Give up and say so. */
        char why[300];
        snprintf(why, sizeof why, "conversion did not finish after repeated attempts%s%.200s",
                 t->job.error[0] ? ": " : "", t->job.error);
        v2m_jobs_fail(c->jobs, t->m.video_fid, why, "attempts", &t->job, NULL);
        if (t->job.mp3_fid[0])
            v2m_store_delete(c->store, V2M_NS_MP3S, t->job.mp3_fid, NULL);
        return STEP_PUBLISH;
    }
    if (t->job.mp3_fid[0]) {
        /* An earlier attempt died while writing this MP3: remove its remains. */
        V2M_LOG(V2M_INFO,
                "removing the unfinished MP3 of an earlier attempt video_fid=%s mp3_fid=%s",
                t->m.video_fid, t->job.mp3_fid);
        v2m_store_delete(c->store, V2M_NS_MP3S, t->job.mp3_fid, NULL);
    }
    return STEP_NEXT;
}

/* Open the video to read and the MP3 to write, noting the MP3's id in the
 * record before its first byte, so a crash leaves no nameless orphan. */
static step open_streams(task *t)
{
    cv_ctx *c = t->c;
    v2m_job_change chg = V2M_JOB_CHANGE_INIT;
    char name[256];

    t->rc = v2m_store_reader_open(c->store, V2M_NS_VIDEOS, t->m.video_fid, &t->rd, &t->e);
    if (t->rc == V2M_ENOTFOUND) {
        if (v2m_jobs_fail(c->jobs, t->m.video_fid, "the uploaded video is gone from the store",
                          "gone", &t->job, NULL) == V2M_ENOTFOUND)
            return STEP_GONE;
        return STEP_PUBLISH;
    }
    if (t->rc)
        return STEP_TRANSIENT;
    mp3_name(t->job.filename, name, sizeof name);
    t->rc = v2m_store_upload_open(c->store, V2M_NS_MP3S, name, "audio/mpeg", t->job.owner, &t->up,
                                  &t->e);
    if (t->rc)
        return STEP_TRANSIENT;
    chg.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
    chg.mp3_fid = v2m_store_upload_fid(t->up);
    if ((t->rc = v2m_jobs_update(c->jobs, t->m.video_fid, &chg, NULL, &t->e)))
        return t->rc == V2M_ENOTFOUND ? STEP_GONE : STEP_TRANSIENT;
    V2M_LOG(V2M_INFO, "converting video_fid=%s mp3_fid=%s attempt=%d", t->m.video_fid,
            chg.mp3_fid, t->job.attempts);
    return STEP_NEXT;
}

/* The job's options: the message's, else (a message from a gateway that
 * sends none, or the original's) the record's. Options no parser accepts
 * cannot become right on a retry: the job fails at once, saying why. */
static step job_options(task *t, v2m_jobopts *opts, v2m_error *err)
{
    const char *json = t->m.options[0] ? t->m.options : t->job.options;
    v2m_error e = {0};
    char why[300];

    if (v2m_jobopts_decode(json, opts, &e) == V2M_OK)
        return STEP_NEXT;
    snprintf(why, sizeof why, "invalid conversion options: %s", v2m_error_msg(&e));
    V2M_LOG(V2M_WARN, "job failed video_fid=%s reason=\"%s\"", t->m.video_fid, why);
    v2m_err frc = v2m_jobs_fail(t->c->jobs, t->m.video_fid, why, "options", &t->job, &t->e);
    if (frc == V2M_ENOTFOUND)
        return STEP_GONE;
    if (frc && frc != V2M_ESTATE) {
        v2m_fail(err, t->e.code, "job record: %s", v2m_error_msg(&t->e));
        return STEP_RETRY;
    }
    return STEP_PUBLISH;
}

/* Phase 2: convert the video into the MP3 being uploaded. */
static step task_convert(task *t, v2m_error *err)
{
    cv_ctx *c = t->c;
    v2m_media_io in;
    v2m_media_sink out;
    v2m_media_opts o;
    v2m_jobopts jo;
    watch w = {.c = c, .fid = t->m.video_fid};
    step s = job_options(t, &jo, err);

    if (s == STEP_NEXT)
        s = open_streams(t);
    if (s != STEP_NEXT)
        return s;
    w.rd = t->rd;
    clock_gettime(CLOCK_MONOTONIC, &w.last);
    in = (v2m_media_io){.opaque = &w, .read = in_read, .seek = in_seek};
    out = (v2m_media_sink){.opaque = t->up, .write = out_write, .seek = out_seek};
    v2m_media_opts_init(&o);
    v2m_jobopts_apply(c->defaults, &jo, &o);
    o.filename = t->job.filename;
    o.max_duration = c->max_duration;
    o.cancel = &w.stop;
    o.progress = on_progress;
    o.progress_opaque = &w;
    if (c->busy && c->split_min > 0) {
        /* Idle cores only: a busy converter gives each job one. */
        int running = atomic_fetch_add(c->busy, 1) + 1;
        o.threads = c->cores - running + 1;
        o.split_min = c->split_min;
    }
    o.reopen = seg_open;
    o.reclose = seg_close;
    o.reopen_opaque = &w;
    cv_remote remote;
    char optjson[1024] = "";
    if (c->distribute_min > 0 && c->publish_segment) {
        v2m_jobopts_encode(&jo, optjson, sizeof optjson, NULL);
        cv_remote_init(&remote, c, t->m.video_fid, optjson);
        o.remote = &remote.remote;
        o.distribute_min = c->distribute_min;
        o.segment_length = c->segment_length;
    }
    t->rc = v2m_media_convert(&in, &out, &o, &t->st, &t->e);
    if (c->busy && c->split_min > 0)
        atomic_fetch_sub(c->busy, 1);
    if (t->st.remote > 0)
        V2M_LOG(V2M_INFO, "conversion on several converters video_fid=%s segments=%d",
                t->m.video_fid, t->st.segments);
    else if (t->st.segments > 1)
        V2M_LOG(V2M_INFO, "conversion on several cores video_fid=%s segments=%d threads=%d",
                t->m.video_fid, t->st.segments, o.threads);
    if (t->st.remote > 0)
        t->segments = t->st.segments;
    v2m_store_reader_close(t->rd);
    t->rd = NULL;
    if (t->rc && w.gone) {
        V2M_LOG(V2M_INFO, "job deleted during its conversion, stopped video_fid=%s",
                t->m.video_fid);
        return STEP_GONE;
    }
    if (t->rc && permanent(t->rc)) {
        v2m_store_upload_abort(t->up);
        t->up = NULL;
        V2M_LOG(V2M_INFO, "conversion failed video_fid=%s reason=\"%s\"", t->m.video_fid,
                v2m_error_msg(&t->e));
        v2m_err frc = v2m_jobs_fail(c->jobs, t->m.video_fid, v2m_error_msg(&t->e),
                                    v2m_err_slug(t->rc), &t->job, &t->e);
        if (frc == V2M_ENOTFOUND)
            return STEP_GONE;
        if (frc && frc != V2M_ESTATE) {
            v2m_fail(err, t->e.code, "job record: %s", v2m_error_msg(&t->e));
            return STEP_RETRY;
        }
        return STEP_PUBLISH;
    }
    return t->rc ? STEP_TRANSIENT : STEP_NEXT;
}

/* The audio track used and its language, for the user to see which one it
 * was. Only informative: a failure to note it does not fail the job. */
static void note_track(task *t)
{
    v2m_job_change chg = V2M_JOB_CHANGE_INIT;
    v2m_error e = {0};

    if (t->st.track <= 0)
        return;
    chg.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
    chg.track = t->st.track;
    chg.language = t->st.language;
    if (v2m_jobs_update(t->c->jobs, t->m.video_fid, &chg, NULL, &e) != V2M_OK)
        V2M_LOG(V2M_WARN, "job record: track not noted video_fid=%s: %s", t->m.video_fid,
                v2m_error_msg(&e));
}

/* Phase 3: publish the MP3 in the store and mark the record done; when
 * another worker finished first, keep its MP3 and drop ours. */
static step task_store(task *t)
{
    cv_ctx *c = t->c;
    v2m_store_meta mmeta;

    t->rc = v2m_store_upload_finish(t->up, &mmeta, &t->e);
    t->up = NULL;
    if (t->rc)
        return STEP_TRANSIENT;
    note_track(t);
    t->rc = v2m_jobs_done(c->jobs, t->m.video_fid, mmeta.fid, &t->job, &t->e);
    if (t->rc == V2M_ESTATE && strcmp(t->job.mp3_fid, mmeta.fid) != 0) {
        v2m_store_delete(c->store, V2M_NS_MP3S, mmeta.fid, NULL);
    } else if (t->rc == V2M_ENOTFOUND) {
        /* Deleted while we finished: the deleter may have looked for this
         * MP3 before it existed, so it is ours to remove. */
        V2M_LOG(V2M_INFO, "job deleted as its MP3 was stored, MP3 removed video_fid=%s mp3_fid=%s",
                t->m.video_fid, mmeta.fid);
        v2m_store_delete(c->store, V2M_NS_MP3S, mmeta.fid, NULL);
        return STEP_GONE;
    } else if (t->rc) {
        v2m_store_delete(c->store, V2M_NS_MP3S, mmeta.fid, NULL);
        return STEP_TRANSIENT;
    }
    V2M_LOG(V2M_INFO, "converted video_fid=%s mp3_fid=%s seconds=%.1f bytes=%lld passthrough=%d",
            t->m.video_fid, t->job.mp3_fid, t->st.duration, (long long)t->st.bytes_out,
            t->st.passthrough);
    return STEP_PUBLISH;
}

/* A backend was away: close what is open, put the record back, retry. */
static cv_outcome task_requeue(task *t, v2m_error *err)
{
    v2m_store_reader_close(t->rd);
    v2m_store_upload_abort(t->up);
    v2m_fail(err, t->e.code ? t->e.code : t->rc, "%s", v2m_error_msg(&t->e));
    if (v2m_jobs_requeue(t->c->jobs, t->m.video_fid, v2m_error_msg(&t->e), NULL, NULL) ==
        V2M_ENOTFOUND) {
        V2M_LOG(V2M_INFO, "job deleted meanwhile, message dropped video_fid=%s", t->m.video_fid);
        return CV_GONE;
    }
    return CV_RETRY;
}

cv_outcome cv_process(cv_ctx *c, const char *body, size_t len, v2m_error *err)
{
    task t = {.c = c};
    step s;

    if (v2m_msg_parse(body, len, &t.m, err) != V2M_OK)
        return CV_INVALID;
    s = task_begin(&t, err);
    if (s == STEP_NEXT)
        s = task_convert(&t, err);
    if (s == STEP_NEXT)
        s = task_store(&t);
    /* The job's outcome is recorded (or it goes back to the queue): the
     * segments other converters stored for it are of no more use. */
    if (t.segments > 1)
        cv_segments_delete(c, t.m.video_fid, t.segments);
    switch (s) {
    case STEP_INVALID:
        return CV_INVALID;
    case STEP_RETRY:
        return CV_RETRY;
    case STEP_TRANSIENT:
        return task_requeue(&t, err);
    case STEP_GONE:
        /* The upload (if any) is aborted: its data goes with it. */
        v2m_store_reader_close(t.rd);
        v2m_store_upload_abort(t.up);
        V2M_LOG(V2M_INFO, "message acked, nothing left to do video_fid=%s", t.m.video_fid);
        return CV_GONE;
    case STEP_NEXT:
    case STEP_PUBLISH:
        break;
    }
    /* Phase 4: tell the notification service the record's outcome. */
    return tell(c, &t.m, &t.job, err);
}
