/* janitor.c - retention: removes what users no longer need, from every
 * gateway replica at once without them getting in each other's way.
 *
 * A thread wakes every V2M_JANITOR_INTERVAL (jittered by a fifth either
 * way, so replicas started together drift apart) and, in batches, for jobs
 * that ended (done or failed):
 *   - V2M_KEEP_VIDEO after the end: deletes the video and notes it in the
 *     record (video_gone), so it is not looked at again;
 *   - V2M_KEEP_MP3 after the end: deletes the MP3 and what is left of the
 *     video, then moves the record to expired;
 * finishes deletions a client began but did not see through (the store was
 * down and it never asked again); and sweeps the store of what uploads whose
 * gateway (or converter) was killed left behind, once V2M_SWEEP_GRACE old
 * (v2m_store_sweep: temporary files, GridFS chunks without a files
 * document), so nothing of a live upload is touched and replicas sweeping
 * at once only find less to do.
 *
 * Why replicas cannot fight: the files are deleted before the record is
 * changed, and deleting a file that is already gone counts as done, so two
 * janitors on the same job both succeed and leave the same state; every
 * record change is conditional on the status (a job retried meanwhile is
 * left alone). A janitor stopped midway leaves a job its successor finds
 * again. 0 for a KEEP setting keeps forever.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "gateway.h"

#define BATCH 100
#define MAX_BATCHES 20                 /* per sweep: the rest waits for the next */
#define ABANDONED_MS (10 * 60 * 1000)  /* a deletion unfinished this long was given up */

struct gw_janitor {
    gw_app *a;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int failed;                        /* this batch met a store or record error */
    atomic_ulong videos, mp3s, expired, deletions, leftovers, errors;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stopping(gw_janitor *g)
{
    int s;
    pthread_mutex_lock(&g->mu);
    s = g->stop;
    pthread_mutex_unlock(&g->mu);
    return s;
}

static int gone_ok(v2m_err rc) { return rc == V2M_OK || rc == V2M_ENOTFOUND; }

/* Stop the batch on an error: the backend is likely away, the next sweep
 * tries again. */
static int trouble(gw_janitor *g, const char *what, const v2m_job *j, const v2m_error *e)
{
    V2M_LOG(V2M_WARN, "janitor: %s video_fid=%s: %s", what, j->video_fid, v2m_error_msg(e));
    atomic_fetch_add(&g->errors, 1);
    g->failed = 1;
    return 1;
}

static int drop_video(void *ud, const v2m_job *j)
{
    gw_janitor *g = ud;
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    v2m_error e = {0};
    v2m_err rc = v2m_store_delete(g->a->store, V2M_NS_VIDEOS, j->video_fid, &e);

    if (!gone_ok(rc))
        return trouble(g, "cannot delete the video", j, &e);
    c.from = V2M_JOB_BIT(V2M_JOB_DONE) | V2M_JOB_BIT(V2M_JOB_FAILED);
    c.video_gone = 1;
    /* Only the janitor whose delete removed the file says so. */
    if (rc == V2M_OK) {
        atomic_fetch_add(&g->videos, 1);
        V2M_LOG(V2M_INFO, "janitor: video removed video_fid=%s", j->video_fid);
    }
    rc = v2m_jobs_update(g->a->jobs, j->video_fid, &c, NULL, &e);
    if (rc && rc != V2M_ESTATE && rc != V2M_ENOTFOUND)
        return trouble(g, "cannot note the video gone", j, &e);
    return stopping(g);
}

static int expire(void *ud, const v2m_job *j)
{
    gw_janitor *g = ud;
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    v2m_error e = {0};
    v2m_err rc = V2M_OK;

    if (j->mp3_fid[0])
        rc = v2m_store_delete(g->a->store, V2M_NS_MP3S, j->mp3_fid, &e);
    if (!gone_ok(rc))
        return trouble(g, "cannot delete the MP3", j, &e);
    if (rc == V2M_OK && j->mp3_fid[0])
        atomic_fetch_add(&g->mp3s, 1);
    rc = V2M_OK;
    if (!j->video_gone)
        rc = v2m_store_delete(g->a->store, V2M_NS_VIDEOS, j->video_fid, &e);
    if (!gone_ok(rc))
        return trouble(g, "cannot delete the video", j, &e);
    c.from = V2M_JOB_BIT(V2M_JOB_DONE) | V2M_JOB_BIT(V2M_JOB_FAILED);
    c.status = V2M_JOB_EXPIRED;
    c.video_gone = 1;
    rc = v2m_jobs_update(g->a->jobs, j->video_fid, &c, NULL, &e);
    if (rc && rc != V2M_ESTATE && rc != V2M_ENOTFOUND)
        return trouble(g, "cannot mark the job expired", j, &e);
    /* The conditional change succeeds for one janitor only. */
    if (rc == V2M_OK) {
        atomic_fetch_add(&g->expired, 1);
        V2M_LOG(V2M_INFO, "janitor: job expired video_fid=%s mp3_fid=%s", j->video_fid,
                j->mp3_fid[0] ? j->mp3_fid : "-");
    }
    return stopping(g);
}

static int finish_delete(void *ud, const v2m_job *j)
{
    gw_janitor *g = ud;
    v2m_error e = {0};

    if (gw_job_purge(g->a, j, &e))
        return trouble(g, "cannot finish a deletion", j, &e);
    atomic_fetch_add(&g->deletions, 1);
    V2M_LOG(V2M_INFO, "janitor: unfinished deletion completed video_fid=%s", j->video_fid);
    return stopping(g);
}

/* One kind of work, batch after batch while batches come back full. */
typedef v2m_err (*lister)(gw_janitor *g, int64_t now, int *n, v2m_error *e);

typedef struct counting {
    gw_janitor *g;
    v2m_jobs_each fn;
    int n;
} counting;

static int count_each(void *ud, const v2m_job *j)
{
    counting *c = ud;
    c->n++;
    return c->fn(c->g, j);
}

static void run(gw_janitor *g, const char *what, unsigned mask, long keep_s, int flags,
                v2m_jobs_each fn)
{
    for (int b = 0; b < MAX_BATCHES && !stopping(g); b++) {
        counting c = {g, fn, 0};
        v2m_error e = {0};
        v2m_err rc;
        int64_t now = wall_ms();

        g->failed = 0;
        if (mask)
            rc = v2m_jobs_ended_before(g->a->jobs, mask, now - (int64_t)keep_s * 1000, flags,
                                       BATCH, count_each, &c, &e);
        else
            rc = v2m_jobs_deleting_before(g->a->jobs, now - ABANDONED_MS, BATCH, count_each, &c,
                                          &e);
        if (rc) {
            V2M_LOG(V2M_WARN, "janitor: cannot list %s: %s", what, v2m_error_msg(&e));
            atomic_fetch_add(&g->errors, 1);
            return;
        }
        if (g->failed || c.n < BATCH)
            return;
    }
}

/* Leftovers of killed uploads past V2M_SWEEP_GRACE. */
static void sweep_store(gw_janitor *g)
{
    v2m_error e = {0};
    long n = 0;

    if (v2m_store_sweep(g->a->store, (int64_t)g->a->cfg.sweep_grace * 1000, &n, &e) != V2M_OK) {
        V2M_LOG(V2M_WARN, "janitor: cannot sweep the store: %s", v2m_error_msg(&e));
        atomic_fetch_add(&g->errors, 1);
    }
    if (n > 0) {
        atomic_fetch_add(&g->leftovers, (unsigned long)n);
        V2M_LOG(V2M_INFO, "janitor: store leftovers removed count=%ld", n);
    }
}

static void sweep(gw_janitor *g)
{
    const gw_config *cfg = &g->a->cfg;
    const unsigned ended = V2M_JOB_BIT(V2M_JOB_DONE) | V2M_JOB_BIT(V2M_JOB_FAILED);

    /* MP3s first: a job past both limits expires in one step. */
    if (cfg->keep_mp3 > 0)
        run(g, "jobs to expire", ended, cfg->keep_mp3, 0, expire);
    if (cfg->keep_video > 0)
        run(g, "videos to remove", ended, cfg->keep_video, V2M_JOBS_VIDEO_STORED, drop_video);
    run(g, "unfinished deletions", 0, 0, 0, finish_delete);
    /* Resumable uploads past V2M_UPLOAD_EXPIRY, bytes and record (tus.c). */
    gw_tus_sweep(g->a);
    if (!stopping(g))
        sweep_store(g);
}

static void *janitor_main(void *arg)
{
    gw_janitor *g = arg;
    unsigned seed = (unsigned)wall_ms() ^ (unsigned)(uintptr_t)g;
    struct timespec until;
    double wait;

    /* The first sweep within one interval, at a random point of it. */
    wait = (double)g->a->cfg.janitor_interval * ((double)rand_r(&seed) / RAND_MAX);
    for (;;) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&g->mu);
        while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
            ;
        if (g->stop) {
            pthread_mutex_unlock(&g->mu);
            break;
        }
        pthread_mutex_unlock(&g->mu);
        sweep(g);
        wait = (double)g->a->cfg.janitor_interval * (0.8 + 0.4 * rand_r(&seed) / RAND_MAX);
    }
    return NULL;
}

v2m_err gw_janitor_start(gw_app *a, v2m_error *err)
{
    gw_janitor *g = calloc(1, sizeof *g);

    if (!g)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    g->a = a;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (pthread_create(&g->th, NULL, janitor_main, g) != 0) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return v2m_fail(err, V2M_ENOMEM, "cannot start the janitor thread");
    }
    a->janitor = g;
    return V2M_OK;
}

void gw_janitor_stop(gw_app *a)
{
    gw_janitor *g = a->janitor;

    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    a->janitor = NULL;
}

void gw_janitor_metrics(gw_app *a, v2m_buf *buf)
{
    gw_janitor *g = a->janitor;

    v2m_buf_printf(buf,
                   "# TYPE v2m_gateway_jobs_deleted_total counter\n"
                   "v2m_gateway_jobs_deleted_total %lu\n",
                   atomic_load(&a->jobs_deleted));
    if (!g)
        return;
    v2m_buf_printf(buf,
                   "# TYPE v2m_gateway_janitor_removed_total counter\n"
                   "v2m_gateway_janitor_removed_total{what=\"video\"} %lu\n"
                   "v2m_gateway_janitor_removed_total{what=\"mp3\"} %lu\n"
                   "v2m_gateway_janitor_removed_total{what=\"expired\"} %lu\n"
                   "v2m_gateway_janitor_removed_total{what=\"deletion\"} %lu\n"
                   "v2m_gateway_janitor_removed_total{what=\"leftover\"} %lu\n"
                   "# TYPE v2m_gateway_janitor_errors_total counter\n"
                   "v2m_gateway_janitor_errors_total %lu\n",
                   atomic_load(&g->videos), atomic_load(&g->mp3s), atomic_load(&g->expired),
                   atomic_load(&g->deletions), atomic_load(&g->leftovers),
                   atomic_load(&g->errors));
}
