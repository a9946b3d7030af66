/* main.c - v2m-converter: video queue in, MP3s in the store, mp3 queue out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/args.h"
#include "common/config.h"
#include "common/ncpu.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/signals.h"
#include "segments.h"
#include "task.h"
#include "worker/worker.h"

static const char usage[] =
    "usage: v2m-converter [--help] [--version] [--config-table]\n"
    "Converts each uploaded video on the video queue to an MP3 and announces it on the mp3 queue.\n";

/* The service's conversion options, each read by the parser of the option
 * users give with an upload (common/jobopts.h), so both accept the same. */
static const struct {
    const char *var, *option;
} default_opts[] = {
    {"V2M_MP3_QUALITY", "quality"}, {"V2M_MP3_BITRATE", "bitrate"}, {"V2M_MP3_RATE", "rate"},
    {"V2M_MP3_CHANNELS", "channels"}, {"V2M_NORMALIZE", "normalize"}, {"V2M_COVER", "cover"},
};

static const char *option_of(const char *var)
{
    for (size_t i = 0; i < sizeof default_opts / sizeof default_opts[0]; i++)
        if (strcmp(default_opts[i].var, var) == 0)
            return default_opts[i].option;
    return NULL;
}

static v2m_err parse_option(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                            v2m_error *err)
{
    v2m_jobopts o;
    v2m_error e = {0};

    v2m_jobopts_init(&o);
    if (v2m_jobopts_set(&o, option_of(v->name), text, &e) != V2M_OK)
        return v2m_fail(err, V2M_ECONFIG, "%s='%.60s': %s", v->name, text, v2m_error_msg(&e));
    out->text = text;
    return V2M_OK;
}

static const v2m_cfg_var converter_vars[] = {
    V2M_WORKER_VARS("0.0.0.0:8081", "V2M_CONVERTER_THREADS", NULL, "number of cores",
                    "conversions at once", "5",
                    "tries of a message whose backend fails, then <queue>.dead", "10s"),
    {.name = "V2M_STORE", .def = "file://./var/store", .parse = v2m_cfg_parse_text, .max = 1023,
     .help = "file:///dir or mongodb://host:port/"},
    {.name = "V2M_JOBS", .parse = v2m_cfg_parse_text, .max = 1023, .shown = "V2M_STORE",
     .help = "job records: file:///dir, sqlite:///path.db or mongodb://host:port/"},
    {.name = "VIDEO_QUEUE", .def = "video", .parse = v2m_cfg_parse_text, .max = 127,
     .help = "queue of uploaded videos"},
    {.name = "MP3_QUEUE", .def = "mp3", .parse = v2m_cfg_parse_text, .max = 127,
     .help = "queue of finished conversions"},
    {.name = "V2M_MAX_DURATION", .def = "12h", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 30 * 86400, .help = "longest audio a video may have; a longer one fails"},
    {.name = "V2M_DISTRIBUTE_MIN", .def = "20m", .parse = v2m_cfg_parse_duration, .min = 0,
     .max = 30 * 86400,
     .help = "audio at least this long is cut into segments that any converter may encode; 0: never"},
    {.name = "V2M_SEGMENT_LENGTH", .def = "5m", .parse = v2m_cfg_parse_duration, .min = 30, .max = 3600,
     .help = "how long the segments of V2M_DISTRIBUTE_MIN are (longer when an input would make over 64)"},
    {.name = "SEGMENT_QUEUE", .parse = v2m_cfg_parse_text, .max = 118, .shown = "<VIDEO_QUEUE>.segments",
     .help = "queue of segment tasks (v2m's own)"},
    {.name = "V2M_SEGMENT_THREADS", .def = "0", .parse = v2m_cfg_parse_int, .min = 0, .max = 256,
     .help = "threads of their own for segment tasks, beside the conversion threads"},
    {.name = "V2M_IDLE_SEGMENTS", .def = "on", .parse = v2m_cfg_parse_onoff,
     .help = "on: conversion threads take segment tasks when they have no video, and while "
             "they wait for their own segments; off: only V2M_SEGMENT_THREADS take them"},
    {.name = "V2M_SEGMENT_WAIT", .def = "5m", .parse = v2m_cfg_parse_duration, .min = 1, .max = 86400,
     .help = "how long a conversion waits for a segment handed out before encoding it itself"},
    {.name = "V2M_SPLIT_MIN", .def = "2m", .parse = v2m_cfg_parse_duration, .min = 0,
     .max = 30 * 86400,
     .help = "audio at least this long is encoded in segments on the cores no other job uses; 0: never"},
    {.name = "V2M_MP3_QUALITY", .def = "2", .parse = parse_option,
     .help = "default VBR quality, 0 (best) .. 9 (smallest), unless V2M_MP3_BITRATE is set"},
    {.name = "V2M_MP3_BITRATE", .parse = parse_option, .shown = "none (VBR)",
     .help = "default constant bitrate, 8..320 kbit/s (192 or 192k)"},
    {.name = "V2M_MP3_RATE", .parse = parse_option, .shown = "the source's",
     .help = "default sample rate: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000"},
    {.name = "V2M_MP3_CHANNELS", .parse = parse_option, .shown = "the source's",
     .help = "default channels: 1 or 2 (more than two are always mixed down to 2)"},
    {.name = "V2M_NORMALIZE", .def = "off", .parse = parse_option,
     .help = "default loudness normalization: off, on (-16 LUFS) or a target from -70 to -5"},
    {.name = "V2M_COVER", .def = "auto", .parse = parse_option,
     .help = "default cover art: auto (the source's picture, else a video frame) or none"},
};
static const v2m_cfg_table converter_table = V2M_CFG_TABLE("converter", converter_vars);
static const v2m_cfg_table *const tables[] = {&converter_table, &v2m_service_table, NULL};

typedef struct app {
    v2m_store *store;
    v2m_jobs *jobs;
    char mp3_queue[128];
    int max_attempts;
    long max_duration;
    v2m_jobopts defaults;    /* the V2M_MP3_* ... settings */
    atomic_int cancel;
    atomic_ulong done, failed;
    atomic_int busy;         /* conversions running */
    int cores;
    long split_min;
    long distribute_min, segment_length, segment_wait;
    int idle_segments;       /* V2M_IDLE_SEGMENTS */
    char segment_queue[128];
} app;

typedef struct pub_ctx {
    app *a;
    v2m_queue *q;
} pub_ctx;

static v2m_err publish(void *opaque, const v2m_msg *m, v2m_error *err)
{
    pub_ctx *p = opaque;
    char *body = v2m_msg_encode(m);
    v2m_err rc;
    if (!body)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    rc = v2m_queue_publish(p->q, p->a->mp3_queue, body, strlen(body), err);
    free(body);
    return rc;
}

static v2m_err publish_segment(void *opaque, const char *body, v2m_error *err)
{
    pub_ctx *p = opaque;
    return v2m_queue_publish(p->q, p->a->segment_queue, body, strlen(body), err);
}

/* A segment task (the segments lane): settled like a conversion's message. */
static v2m_settle seg_work(void *ud, v2m_queue *q, const v2m_queue_msg *m, char *reason, size_t reasonsz)
{
    app *a = ud;
    pub_ctx p = {a, q};
    cv_ctx c = {.store = a->store, .jobs = a->jobs, .cancel = &a->cancel,
                .max_duration = (double)a->max_duration, .defaults = &a->defaults,
                .publish_opaque = &p};
    v2m_error err = {0};

    switch (cv_segment_process(&c, m->body, m->len, &err)) {
    case CV_INVALID:
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        return V2M_SETTLE_DEAD;
    case CV_RETRY:
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        return atomic_load(&a->cancel) ? V2M_SETTLE_RELEASE : V2M_SETTLE_RETRY;
    default:
        return V2M_SETTLE_ACK;
    }
}

static v2m_settle work(void *ud, v2m_queue *q, const v2m_queue_msg *m, char *reason,
                       size_t reasonsz)
{
    app *a = ud;
    pub_ctx p = {a, q};
    cv_ctx c = {.store = a->store, .jobs = a->jobs, .cancel = &a->cancel,
                .max_attempts = a->max_attempts, .max_duration = (double)a->max_duration,
                .defaults = &a->defaults, .cores = a->cores, .split_min = (double)a->split_min,
                .busy = &a->busy, .distribute_min = (double)a->distribute_min,
                .segment_length = (double)a->segment_length,
                .segment_wait = (double)a->segment_wait, .publish_segment = publish_segment,
                .take_segment = a->idle_segments ? v2m_worker_take_side : NULL,
                .publish = publish, .publish_opaque = &p};
    v2m_error err = {0};

    switch (cv_process(&c, m->body, m->len, &err)) {
    case CV_DONE:
        atomic_fetch_add(&a->done, 1);
        return V2M_SETTLE_ACK;
    case CV_FAILED:
        atomic_fetch_add(&a->failed, 1);
        return V2M_SETTLE_ACK;
    case CV_GONE:
        return V2M_SETTLE_ACK;
    case CV_INVALID:
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        return V2M_SETTLE_DEAD;
    default:
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        V2M_LOG(V2M_WARN, "conversion will be retried attempt=%d reason=\"%s\"", m->attempt, reason);
        return V2M_SETTLE_RETRY;
    }
}

/* The defaults of the conversion options. V2M_MP3_QUALITY's default is the
 * engine's own, applied only when set: an explicit quality means "re-encode",
 * and an MP3 upload with nothing asked of it is copied frame for frame. */
static int load_defaults(app *a, const v2m_cfg *c)
{
    v2m_error err = {0};
    int bitrate = v2m_cfg_text(c, "V2M_MP3_BITRATE") != NULL;

    v2m_jobopts_init(&a->defaults);
    if (bitrate && v2m_cfg_get(c, "V2M_MP3_QUALITY")->set) {
        fprintf(stderr, "v2m-converter: V2M_MP3_QUALITY and V2M_MP3_BITRATE exclude each other: "
                "set one (quality for VBR, bitrate for a constant bitrate)\n");
        return -1;
    }
    for (size_t i = 0; i < sizeof default_opts / sizeof default_opts[0]; i++) {
        const char *v = v2m_cfg_text(c, default_opts[i].var);
        if (!v || (strcmp(default_opts[i].option, "quality") == 0 &&
                   !v2m_cfg_get(c, "V2M_MP3_QUALITY")->set))
            continue;
        if (v2m_jobopts_set(&a->defaults, default_opts[i].option, v, &err) != V2M_OK) {
            fprintf(stderr, "v2m-converter: %s: %s\n", default_opts[i].var, v2m_error_msg(&err));
            return -1;
        }
    }
    return 0;
}

static int ready(void *ud, char *msg, size_t msgsz)
{
    app *a = ud;
    v2m_error err = {0};
    if (v2m_store_ping(a->store, &err) || v2m_jobs_ping(a->jobs, &err)) {
        snprintf(msg, msgsz, "%s", v2m_error_msg(&err));
        return -1;
    }
    return 0;
}

static void metrics(void *ud, v2m_buf *buf)
{
    app *a = ud;
    v2m_buf_printf(buf,
                   "# TYPE v2m_converter_jobs_total counter\n"
                   "v2m_converter_jobs_total{result=\"done\"} %lu\n"
                   "v2m_converter_jobs_total{result=\"failed\"} %lu\n",
                   atomic_load(&a->done), atomic_load(&a->failed));
}

int main(int argc, char **argv)
{
    static app a;
    v2m_worker_opts o;
    v2m_error err = {0};
    const char *store_url, *jobs_url;
    v2m_cfg c;
    int rc = v2m_service_args(argc, argv, "v2m-converter", usage, tables);

    if (rc >= 0)
        return rc;
    memset(&o, 0, sizeof o);
    if (v2m_cfg_load(&c, &converter_table, &err)) {
        fprintf(stderr, "v2m-converter: %s\n", v2m_error_msg(&err));
        return 1;
    }
    v2m_worker_from_cfg(&o, &c, "V2M_CONVERTER_THREADS", v2m_ncpu());
    a.max_duration = (long)v2m_cfg_num(&c, "V2M_MAX_DURATION");
    a.split_min = (long)v2m_cfg_num(&c, "V2M_SPLIT_MIN");
    a.distribute_min = (long)v2m_cfg_num(&c, "V2M_DISTRIBUTE_MIN");
    a.segment_length = (long)v2m_cfg_num(&c, "V2M_SEGMENT_LENGTH");
    a.segment_wait = (long)v2m_cfg_num(&c, "V2M_SEGMENT_WAIT");
    a.idle_segments = v2m_cfg_num(&c, "V2M_IDLE_SEGMENTS") != 0;
    if (v2m_cfg_text(&c, "SEGMENT_QUEUE"))
        snprintf(a.segment_queue, sizeof a.segment_queue, "%s", v2m_cfg_text(&c, "SEGMENT_QUEUE"));
    else
        snprintf(a.segment_queue, sizeof a.segment_queue, "%.118s.segments", v2m_cfg_text(&c, "VIDEO_QUEUE"));
    a.cores = v2m_ncpu();
    if (load_defaults(&a, &c))
        return 1;
    snprintf(a.mp3_queue, sizeof a.mp3_queue, "%s", v2m_cfg_text(&c, "MP3_QUEUE"));
    /* The job record bounds the attempts of a conversion (its start count);
     * the queue allows one delivery more, so the converter sees the message
     * that went over the bound and can fail the job and tell the user
     * instead of the message vanishing into video.dead unannounced. */
    a.max_attempts = o.qopts.max_attempts;
    o.qopts.max_attempts += 1;
    store_url = v2m_cfg_text(&c, "V2M_STORE");
    jobs_url = v2m_cfg_text(&c, "V2M_JOBS") ? v2m_cfg_text(&c, "V2M_JOBS") : store_url;
    v2m_signals_block();
    rc = 1;
    if (!(a.store = v2m_store_open(store_url, &err)) || !(a.jobs = v2m_jobs_open(jobs_url, &err))) {
        fprintf(stderr, "v2m-converter: %s\n", v2m_error_msg(&err));
        goto done;
    }
    o.service = "converter";
    o.queue = v2m_cfg_text(&c, "VIDEO_QUEUE");
    o.declare = (const char *const[]){a.mp3_queue, a.segment_queue, NULL};
    if (v2m_cfg_num(&c, "V2M_SEGMENT_THREADS") > 0 || a.idle_segments) {
        o.side.queue = a.segment_queue;
        o.side.threads = (int)v2m_cfg_num(&c, "V2M_SEGMENT_THREADS");
        o.side.shared = a.idle_segments;
        o.side.work = seg_work;
        o.side.qopts = o.qopts;
    }
    o.work = work;
    o.app = &a;
    o.ready = ready;
    o.metrics = metrics;
    o.cancel = &a.cancel;
    rc = v2m_worker_run(&o, &err);
    if (rc)
        fprintf(stderr, "v2m-converter: %s\n", v2m_error_msg(&err));
done:
    v2m_jobs_close(a.jobs);
    v2m_store_close(a.store);
    return rc;
}
