/* worker.h - the loop both queue workers (converter, notification) run.
 *
 * N threads, each with its own queue handle (one connection each), consume
 * one queue with prefetch 1 and hand every message to the service's function,
 * which says how to settle it. A small HTTP server answers /healthz, /readyz
 * and /metrics. SIGTERM/SIGINT: stop taking messages, let the ones in flight
 * finish for up to grace seconds, then raise the cancel flag so they hand
 * their messages back, and return.
 */
#ifndef V2M_WORKER_H
#define V2M_WORKER_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"
#include "ports/queue.h"

typedef enum v2m_settle {
    V2M_SETTLE_ACK = 0,      /* done */
    V2M_SETTLE_RETRY = 1,    /* transient failure: again later, bounded, then dead */
    V2M_SETTLE_DEAD = 2,     /* can never succeed: straight to <queue>.dead */
    V2M_SETTLE_RELEASE = 3,  /* hand back untouched (shutting down) */
} v2m_settle;

/* Handle one message. q is this thread's queue handle (publish on it freely);
 * reason (reasonsz bytes) is filled for RETRY and DEAD. */
typedef v2m_settle (*v2m_work_fn)(void *app, v2m_queue *q, const v2m_queue_msg *m,
                                  char *reason, size_t reasonsz);

/* A second queue the same process consumes, with threads, a work function
 * and queue options of its own (the notification service's webhook
 * deliveries beside its mails): a slow or failing second lane never holds
 * up the first. Its messages are settled as the first lane's; its handles
 * are opened with its qopts (RabbitMQ: its <q>.retry gets their
 * retry_delay_ms as TTL). queue NULL: none. */
typedef struct v2m_worker_lane {
    const char *queue;
    int threads;                /* of its own (may be 0 when shared) */
    int shared;                 /* 1: the first lane's threads also take its messages, when
                                   they have none of their own and through
                                   v2m_worker_take_side() (through a pull handle: nothing
                                   waits on a busy thread) */
    v2m_work_fn work;
    v2m_queue_opts qopts;       /* stop is set by the loop */
} v2m_worker_lane;

typedef struct v2m_worker_opts {
    const char *service;        /* "converter" */
    const char *queue_url;
    const char *queue;          /* queue consumed */
    const char *const *declare; /* more queues to declare at start (NULL-ended), may be NULL */
    int threads;
    v2m_work_fn work;
    void *app;
    const char *host;           /* health/metrics listener */
    int port;
    long grace_s;               /* shutdown: how long work in flight may finish */
    v2m_queue_opts qopts;       /* stop is set by the loop */
    /* Extra readiness check and metrics (may be NULL). */
    int (*ready)(void *app, char *msg, size_t msgsz);
    void (*metrics)(void *app, v2m_buf *buf);
    atomic_int *cancel;         /* raised after the grace period; work watches it */
    v2m_worker_lane side;       /* a second queue (side.queue NULL: none) */
    char host_buf[256];
} v2m_worker_opts;

/* The rows every worker's settings table starts with: V2M_LISTEN (health and
 * metrics), V2M_QUEUE, V2M_QUEUE_TYPE, the thread count threads_var, V2M_MAX_ATTEMPTS,
 * V2M_RETRY_DELAY, V2M_LEASE (SQLite queue), V2M_SHUTDOWN_GRACE. Defaults
 * are the service's (text, as in a table row; threads_def may be NULL with
 * threads_shown saying what is used then). */
#define V2M_WORKER_VARS(listen, threads_var, threads_def, threads_shown, threads_help, attempts, \
                        attempts_help, delay)                                                  \
    {.name = "V2M_LISTEN", .def = (listen), .parse = v2m_cfg_parse_hostport, .max = 65535,     \
     .help = "host:port of /healthz, /readyz and /metrics"},                                   \
    {.name = "V2M_QUEUE", .def = "sqlite://./var/queue.db", .parse = v2m_cfg_parse_text,       \
     .max = 1023, .help = "sqlite:///path.db or amqp://user:pass@host:port/vhost"},            \
    {.name = (threads_var), .def = (threads_def), .parse = v2m_cfg_parse_int, .min = 1,        \
     .max = 256, .help = (threads_help), .shown = (threads_shown)},                            \
    {.name = "V2M_QUEUE_TYPE", .def = "classic", .parse = v2m_queue_cfg_parse_type,            \
     .help = "RabbitMQ queues: classic or quorum (replicated, for a cluster)"},                \
    {.name = "V2M_MAX_ATTEMPTS", .def = (attempts), .parse = v2m_cfg_parse_int, .min = 1,      \
     .max = 1000, .help = (attempts_help)},                                                    \
    {.name = "V2M_RETRY_DELAY", .def = (delay), .parse = v2m_cfg_parse_duration, .min = 1,     \
     .max = 86400, .help = "wait before a retry"},                                             \
    {.name = "V2M_LEASE", .def = "30s", .parse = v2m_cfg_parse_duration, .min = 1,             \
     .max = 86400, .help = "SQLite queue: when a killed worker's message returns"},            \
    {.name = "V2M_SHUTDOWN_GRACE", .def = "20s", .parse = v2m_cfg_parse_duration, .min = 1,    \
     .max = 3600, .help = "on SIGTERM, how long work in flight may finish"}

/* Fill o from a loaded table that has the V2M_WORKER_VARS rows; threads when
 * threads_var is unset. */
void v2m_worker_from_cfg(v2m_worker_opts *o, const v2m_cfg *c, const char *threads_var,
                         long threads);

/* In a first-lane thread's work function, with a shared side lane: take
 * one side message if one is ready now, handle and settle it as the side
 * lane would, and return 1; 0 when none was ready (or the service is
 * stopping); -1 outside such a thread or when the queue cannot be reached.
 * For work that waits on other threads' work (a conversion waiting for its
 * segments takes segment tasks meanwhile). */
int v2m_worker_take_side(void);

/* Run until SIGTERM/SIGINT. Returns 0 after a clean stop, 1 when it could not
 * start (err says why). Call v2m_signals_block() first, before any thread. */
int v2m_worker_run(v2m_worker_opts *o, v2m_error *err);

#endif
