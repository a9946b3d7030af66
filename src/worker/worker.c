/* worker.c - consumer threads, health endpoint, graceful stop. */
#include "worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/portfile.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/signals.h"

typedef struct loop {
    v2m_worker_opts *o;
    atomic_int stopping;
    atomic_int running;            /* threads still in their loop */
    atomic_ulong settled[4];       /* by v2m_settle */
    atomic_ulong busy;             /* messages in hand now */
    v2m_queue *probe;              /* for /readyz */
    pthread_mutex_t probe_mu;
    v2m_queue_opts side_pull;      /* the side lane's options for the main lane's looks */
} loop;

typedef struct thread_arg {
    loop *l;
    int id;
    const char *queue;             /* the lane's */
    v2m_work_fn work;
    const v2m_queue_opts *qopts;
    int takes_side;                /* a main-lane thread that also takes side messages */
    v2m_queue *sq;                 /* its pull handle on the side queue, opened on first use */
    int sq_warned;
} thread_arg;

/* The thread's own, for v2m_worker_take_side(); NULL in threads that take
 * no side messages. */
static _Thread_local thread_arg *self;

/* Hand m to work and settle it as it says, on q. */
static void handle(thread_arg *ta, v2m_queue *q, v2m_queue_msg *m, v2m_work_fn work)
{
    loop *l = ta->l;
    v2m_worker_opts *o = l->o;
    v2m_error err = {0};
    char reason[256] = "";
    v2m_err rc;
    v2m_settle s;

    atomic_fetch_add(&l->busy, 1);
    s = work(o->app, q, m, reason, sizeof reason);
    if (s == V2M_SETTLE_RETRY && o->cancel && atomic_load(o->cancel))
        s = V2M_SETTLE_RELEASE; /* stopped mid-work: not the message's fault */
    switch (s) {
    case V2M_SETTLE_ACK:
        rc = v2m_queue_ack(q, m, &err);
        break;
    case V2M_SETTLE_RETRY: {
        int dead = 0;
        rc = v2m_queue_retry(q, m, -1, reason, &dead, &err);
        if (dead) {
            V2M_LOG(V2M_ERROR, "worker=%d message dead-lettered after retries reason=\"%s\"", ta->id,
                    reason);
            s = V2M_SETTLE_DEAD;
        }
        break;
    }
    case V2M_SETTLE_DEAD:
        V2M_LOG(V2M_ERROR, "worker=%d message dead-lettered reason=\"%s\"", ta->id, reason);
        rc = v2m_queue_dead(q, m, reason, &err);
        break;
    default:
        rc = v2m_queue_release(q, m, &err);
        break;
    }
    if (rc)
        V2M_LOG(V2M_WARN, "worker=%d settling failed (the broker will redeliver): %s", ta->id,
                v2m_error_msg(&err));
    atomic_fetch_add(&l->settled[s], 1);
    atomic_fetch_sub(&l->busy, 1);
}

int v2m_worker_take_side(void)
{
    thread_arg *ta = self;
    v2m_worker_opts *o;
    v2m_queue_msg *m = NULL;
    v2m_error err = {0};
    v2m_err rc;

    if (!ta)
        return -1;
    o = ta->l->o;
    if (atomic_load(&ta->l->stopping))
        return 0;
    if (!ta->sq && !(ta->sq = v2m_queue_open(o->queue_url, &ta->l->side_pull, &err)))
        rc = err.code ? err.code : V2M_EUNAVAIL;
    else
        rc = v2m_queue_consume(ta->sq, o->side.queue, 0, &m, &err);
    if (rc == V2M_ETIMEOUT || rc == V2M_ECANCELLED)
        return 0;
    if (rc) {
        if (!ta->sq_warned++)
            V2M_LOG(V2M_WARN, "worker=%d queue %s unavailable: %s", ta->id, o->side.queue, v2m_error_msg(&err));
        return -1;
    }
    ta->sq_warned = 0;
    handle(ta, ta->sq, m, o->side.work);
    return 1;
}

static void *run_thread(void *p)
{
    thread_arg *ta = p;
    loop *l = ta->l;
    v2m_queue *q = NULL;
    v2m_error err = {0};
    int warned = 0;

    if (ta->takes_side)
        self = ta;
    q = v2m_queue_open(l->o->queue_url, ta->qopts, &err);
    if (!q) {
        V2M_LOG(V2M_ERROR, "worker=%d cannot open queue: %s", ta->id, v2m_error_msg(&err));
        goto out;
    }
    while (!atomic_load(&l->stopping)) {
        v2m_queue_msg *m = NULL;
        /* Idle: the side lane's messages first (parts of work already
         * started), then a short wait on the lane's own queue. */
        if (ta->takes_side && v2m_worker_take_side() > 0)
            continue;
        v2m_err rc = v2m_queue_consume(q, ta->queue, ta->takes_side ? 250 : 1000, &m, &err);

        if (rc == V2M_ETIMEOUT || rc == V2M_ECANCELLED)
            continue;
        if (rc) {
            if (!warned++)
                V2M_LOG(V2M_WARN, "worker=%d queue unavailable, retrying: %s", ta->id,
                        v2m_error_msg(&err));
            usleep(200 * 1000);
            continue;
        }
        if (warned) {
            V2M_LOG(V2M_INFO, "worker=%d queue reachable again", ta->id);
            warned = 0;
        }
        handle(ta, q, m, ta->work);
    }
out:
    self = NULL;
    v2m_queue_close(ta->sq);
    v2m_queue_close(q);
    atomic_fetch_sub(&l->running, 1);
    free(ta);
    return NULL;
}

static int on_ready(void *app, char *msg, size_t msgsz)
{
    loop *l = app;
    v2m_error err = {0};
    int rc = 0;

    pthread_mutex_lock(&l->probe_mu);
    if (v2m_queue_ping(l->probe, &err) != V2M_OK) {
        snprintf(msg, msgsz, "queue: %s", v2m_error_msg(&err));
        rc = -1;
    }
    pthread_mutex_unlock(&l->probe_mu);
    if (rc == 0 && l->o->ready)
        rc = l->o->ready(l->o->app, msg, msgsz);
    return rc;
}

static void on_metrics(void *app, v2m_buf *buf)
{
    loop *l = app;
    static const char *const names[] = {"ack", "retry", "dead", "release"};
    v2m_buf_printf(buf, "# TYPE v2m_worker_messages_total counter\n");
    for (int i = 0; i < 4; i++)
        v2m_buf_printf(buf, "v2m_worker_messages_total{service=\"%s\",settled=\"%s\"} %lu\n",
                       l->o->service, names[i], atomic_load(&l->settled[i]));
    v2m_buf_printf(buf,
                   "# TYPE v2m_worker_busy gauge\nv2m_worker_busy{service=\"%s\"} %lu\n"
                   "# TYPE v2m_worker_threads gauge\nv2m_worker_threads{service=\"%s\"} %d\n",
                   l->o->service, atomic_load(&l->busy), l->o->service, l->o->threads);
    if (l->o->metrics)
        l->o->metrics(l->o->app, buf);
}

int v2m_worker_run(v2m_worker_opts *o, v2m_error *err)
{
    static loop l; /* one loop per process */
    v2m_httpd *srv = NULL;
    pthread_t *tids = NULL;
    int started = 0, sig, total;

    memset(&l, 0, sizeof l);
    l.o = o;
    pthread_mutex_init(&l.probe_mu, NULL);
    o->qopts.stop = &l.stopping;
    o->side.qopts.stop = &l.stopping;
    l.side_pull = o->side.qopts;
    l.side_pull.pull = 1;
    l.probe = v2m_queue_open(o->queue_url, &o->qopts, err);
    if (!l.probe)
        return 1;
    /* Declare what this service consumes and publishes; a broker that is not
     * up yet is not fatal: the consumers retry, /readyz says why. */
    if (v2m_queue_declare(l.probe, o->queue, err) != V2M_OK)
        V2M_LOG(V2M_WARN, "cannot declare queue %s yet: %s", o->queue, v2m_error_msg(err));
    for (const char *const *d = o->declare; d && *d; d++)
        if (v2m_queue_declare(l.probe, *d, err) != V2M_OK)
            V2M_LOG(V2M_WARN, "cannot declare queue %s yet: %s", *d, v2m_error_msg(err));
    v2m_error_clear(err);

    srv = v2m_httpd_start(&(v2m_httpd_opts){.service = o->service, .host = o->host,
                                            .port = o->port, .app = &l, .threads = 1,
                                            .ready = on_ready, .metrics = on_metrics},
                          err);
    if (!srv) {
        v2m_queue_close(l.probe);
        return 1;
    }
    v2m_write_port_file(v2m_httpd_port(srv));
    total = o->threads + (o->side.queue ? o->side.threads : 0);
    tids = calloc((size_t)total, sizeof *tids);
    for (int i = 0; tids && i < total; i++) {
        thread_arg *ta = malloc(sizeof *ta);
        int main_lane = i < o->threads;
        if (!ta)
            break;
        ta->l = &l;
        ta->id = i;
        ta->queue = main_lane ? o->queue : o->side.queue;
        ta->work = main_lane ? o->work : o->side.work;
        ta->qopts = main_lane ? &o->qopts : &o->side.qopts;
        ta->takes_side = main_lane && o->side.queue && o->side.shared;
        ta->sq = NULL;
        ta->sq_warned = 0;
        atomic_fetch_add(&l.running, 1);
        if (pthread_create(&tids[i], NULL, run_thread, ta) != 0) {
            atomic_fetch_sub(&l.running, 1);
            free(ta);
            break;
        }
        started++;
    }
    V2M_LOG(V2M_INFO, "v2m-%s consuming queue=%s threads=%d health=%s:%d", o->service, o->queue,
            started < o->threads ? started : o->threads, o->host, v2m_httpd_port(srv));
    if (o->side.queue)
        V2M_LOG(V2M_INFO, "v2m-%s consuming queue=%s threads=%d%s", o->service, o->side.queue,
                started > o->threads ? started - o->threads : 0,
                o->side.shared ? " (and the other threads when idle)" : "");

    sig = v2m_signals_wait();
    V2M_LOG(V2M_INFO, "v2m-%s stopping signal=%d busy=%lu grace=%lds", o->service, sig,
            atomic_load(&l.busy), o->grace_s);
    atomic_store(&l.stopping, 1);
    for (long waited = 0; atomic_load(&l.running) > 0 && waited < o->grace_s * 10; waited++)
        usleep(100 * 1000);
    if (atomic_load(&l.running) > 0 && o->cancel) {
        V2M_LOG(V2M_WARN, "grace period over; handing back work in flight");
        atomic_store(o->cancel, 1);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    v2m_httpd_stop(srv);
    v2m_queue_close(l.probe);
    pthread_mutex_destroy(&l.probe_mu);
    return 0;
}

void v2m_worker_from_cfg(v2m_worker_opts *o, const v2m_cfg *c, const char *threads_var,
                         long threads)
{
    const v2m_cfg_val *listen = v2m_cfg_get(c, "V2M_LISTEN");
    const v2m_cfg_val *n = v2m_cfg_get(c, threads_var);

    v2m_queue_opts_init(&o->qopts);
    snprintf(o->host_buf, sizeof o->host_buf, "%s", listen->host);
    o->host = o->host_buf;
    o->port = listen->port;
    o->queue_url = v2m_cfg_text(c, "V2M_QUEUE");
    o->threads = (int)(n->text ? n->num : threads);
    o->grace_s = (long)v2m_cfg_num(c, "V2M_SHUTDOWN_GRACE");
    o->qopts.prefetch = 1;
    o->qopts.max_attempts = (int)v2m_cfg_num(c, "V2M_MAX_ATTEMPTS");
    /* At most a day each (the table's bounds): the milliseconds fit an int. */
    o->qopts.retry_delay_ms = (int)(v2m_cfg_num(c, "V2M_RETRY_DELAY") * 1000);
    o->qopts.lease_ms = (int)(v2m_cfg_num(c, "V2M_LEASE") * 1000);
    o->qopts.type = (int)v2m_cfg_num(c, "V2M_QUEUE_TYPE");
}
