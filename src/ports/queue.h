/* queue.h - the queue port: durable work queues with manual acks.
 *
 *   v2m_queue_opts o;  v2m_queue_opts_init(&o);  o.stop = &stopping;
 *   v2m_queue *q = v2m_queue_open(url, &o, &err);
 *   v2m_queue_declare(q, "video", &err);                 // at start
 *   v2m_queue_publish(q, "video", body, len, &err);      // returns once durable
 *   for (;;) {
 *       v2m_queue_msg *m;
 *       if (v2m_queue_consume(q, "video", 1000, &m, &err)) continue;  // timeout etc.
 *       switch (work(m->body, m->len)) {
 *       case OK:        v2m_queue_ack(q, m, &err); break;
 *       case TRANSIENT: v2m_queue_retry(q, m, -1, "store down", NULL, &err); break;
 *       case POISON:    v2m_queue_dead(q, m, "not a video", &err); break;
 *       }
 *   }
 *
 * Backends, one file each, picked by the URL's scheme:
 *   queue_amqp.c    `amqp://user:pass@host:port/vhost` (RabbitMQ; an empty vhost
 *                   means "/"), rabbitmq-c
 *   queue_sqlite.c  `sqlite:///abs/queue.db` or `sqlite://./rel/queue.db` (the
 *                   embedded default)
 *
 * For each work queue <q> there are more: retry queues, where messages wait
 * before they return to <q>, and `<q>.dead`, where messages that failed too
 * often (or were given up on) stay for inspection. In RabbitMQ <q> itself is
 * a plain durable queue with no arguments, as the original system declares
 * it; a consumer's retries wait in `<q>.retry.<delay>` (its retry_delay_ms,
 * e.g. `mp3.retry.30s`), declared without x-message-ttl by every service
 * alike, each message with its own expiration, then dead-lettered back to <q>
 * through the default exchange. So every consumer's delay holds whatever
 * order the services start in. With opts.type V2M_QUEUE_QUORUM
 * (V2M_QUEUE_TYPE=quorum) all of them are quorum queues instead, replicated
 * on a cluster's nodes, with the same guarantees (queue_amqp.c). SQLite
 * keeps a retried message in <q>, invisible until its time. Bodies are
 * opaque bytes to the port.
 *
 * Guarantees (both backends):
 * - Durability: publish returns V2M_OK only when the message is durable
 *   (RabbitMQ: persistent message, publisher confirm received; SQLite:
 *   committed with synchronous=FULL). Otherwise it returns an error and the
 *   message may or may not have been stored (at-least-once).
 * - Redelivery: a message is delivered to one consumer at a time and stays
 *   with it until it is acked, retried, dead-lettered or released. When its
 *   consumer dies (process killed, connection lost) it goes back to the queue:
 *   RabbitMQ at once when the connection closes; SQLite when the lease runs
 *   out (lease_ms). A live consumer keeps its messages however long the work
 *   takes (a background thread sends heartbeats / renews leases).
 * - Retries: v2m_queue_retry() puts the message back after a delay with its
 *   attempt count raised; on the max_attempts-th attempt it goes to <q>.dead
 *   instead. In SQLite a delivery that was never settled (the consumer died)
 *   also counts as an attempt, so a message that kills its consumer ends in
 *   <q>.dead too; RabbitMQ marks such a delivery `redelivered` only (a
 *   quorum queue dead-letters it after V2M_QUEUE_DELIVERY_LIMIT of them).
 * - Recovery: when the broker goes away, publish and consume reconnect by
 *   themselves with backoff (100 ms doubling to 5 s); publish keeps trying
 *   for publish_timeout_ms, consume for its timeout, and later calls go on
 *   trying. Messages held across a lost connection are redelivered by the
 *   broker; settling them afterwards fails with V2M_EUNAVAIL.
 *
 * Threads: a v2m_queue handle may be called from several threads (calls are
 * serialised by a mutex), but one handle is one connection (RabbitMQ: one for
 * publishing, one for consuming), so workers that consume in parallel open
 * one handle each. A message belongs to the handle that consumed it.
 */
#ifndef V2M_PORTS_QUEUE_H
#define V2M_PORTS_QUEUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define V2M_QUEUE_NAME_MAX 200   /* bytes of a queue name, suffixes included */

typedef struct v2m_queue_opts {
    int prefetch;           /* RabbitMQ basic.qos: deliveries held unacked (default 1) */
    int max_attempts;       /* deliveries before a message is dead-lettered (default 5) */
    int retry_delay_ms;     /* default delay of v2m_queue_retry (default 10000); RabbitMQ:
                               names the retry queue <q>.retry.<delay>, and is also the
                               longest delay */
    int lease_ms;           /* SQLite: how long a dead consumer keeps a message (default 30000) */
    int publish_timeout_ms; /* how long publish keeps trying, confirm included (default 30000) */
    int heartbeat_s;        /* RabbitMQ heartbeat (default 30; 0 = off) */
    int type;               /* RabbitMQ: V2M_QUEUE_CLASSIC (default) or V2M_QUEUE_QUORUM, the
                               type of the queues it declares (V2M_QUEUE_TYPE) */
    const atomic_int *stop; /* when it becomes non-zero, waits end with V2M_ECANCELLED */
    int pull;               /* 1: consume asks for one message per call (RabbitMQ
                               basic.get) and never subscribes, so nothing is handed to
                               the handle between calls: for a thread that looks at a
                               queue only now and then. SQLite always works so. */
} v2m_queue_opts;

/* RabbitMQ queue types (ignored by SQLite). */
enum { V2M_QUEUE_CLASSIC = 0, V2M_QUEUE_QUORUM = 1 };

/* The x-delivery-limit of quorum queues: the broker dead-letters a message
 * handed back unsettled (its consumer died, lost its connection or released
 * it) more often. Retries republish and do not count. A backstop far above
 * what the services allow themselves (the converter gives up on a job after
 * V2M_MAX_ATTEMPTS starts), since the broker may count one crash several
 * times (see queue_amqp.c). */
#define V2M_QUEUE_DELIVERY_LIMIT 100

void v2m_queue_opts_init(v2m_queue_opts *o);

/* "classic" or "quorum" to V2M_QUEUE_CLASSIC / V2M_QUEUE_QUORUM; -1 for
 * anything else. */
int v2m_queue_parse_type(const char *text);
const char *v2m_queue_type_name(int type);

/* A settings-table parser (common/config.h) for V2M_QUEUE_TYPE: the type in
 * out->num; a refusal names the variable and the two types. */
struct v2m_cfg_var;
struct v2m_cfg_val;
v2m_err v2m_queue_cfg_parse_type(const struct v2m_cfg_var *v, const char *text,
                                 struct v2m_cfg_val *out, v2m_error *err);

/* A delivered message; the handle that consumed it owns it until it is
 * settled: exactly one of ack, retry, dead or release frees it. Only the
 * port makes messages (the backend keeps what it needs to settle one beside
 * it, out of the caller's sight): never allocate or copy one. */
typedef struct v2m_queue_msg {
    char queue[V2M_QUEUE_NAME_MAX + 1];  /* the queue it came from */
    void *body;                          /* len bytes (plus a NUL, not counted) */
    size_t len;
    int attempt;                         /* 1 on the first delivery */
    int redelivered;                     /* delivered before without being settled */
    char error[256];                     /* reason given by the last retry or dead, or "" */
} v2m_queue_msg;

typedef struct v2m_queue v2m_queue;

/* Open by URL (see the top); o may be NULL for the defaults. Connecting is
 * lazy: open fails only on a bad URL or options (or an SQLite file that
 * cannot be opened); v2m_queue_ping()/declare() tell whether the broker is
 * reachable. */
v2m_queue *v2m_queue_open(const char *url, const v2m_queue_opts *o, v2m_error *err);
void v2m_queue_close(v2m_queue *q);   /* safe on NULL; unsettled messages go back */
v2m_err v2m_queue_ping(v2m_queue *q, v2m_error *err);
int v2m_queue_max_attempts(const v2m_queue *q);

v2m_err v2m_queue_declare(v2m_queue *q, const char *queue, v2m_error *err);
/* Store a persistent message on queue (declared first if needed). */
v2m_err v2m_queue_publish(v2m_queue *q, const char *queue, const void *body, size_t len,
                          v2m_error *err);
/* The same, but the message is delivered no sooner than delay_ms from now
 * (<= 0: at once). SQLite: at that time exactly. RabbitMQ: through the
 * handle's retry queue like a retried message, so after min(delay_ms, the
 * handle's retry_delay_ms); a message may also wait behind one with a later
 * expiration at the head of that queue. A consumer that
 * needs a longer or an exact wait carries its not-before time in the body
 * and publishes again when it comes early. */
v2m_err v2m_queue_publish_later(v2m_queue *q, const char *queue, const void *body, size_t len,
                                int delay_ms, v2m_error *err);
/* The handle's retry_delay_ms (RabbitMQ: the longest wait in its retry queue). */
int v2m_queue_retry_delay_ms(const v2m_queue *q);

/* Wait up to timeout_ms (0: just look) for a message of queue. V2M_ETIMEOUT
 * when none came, V2M_ECANCELLED when opts.stop was raised, V2M_EUNAVAIL when
 * the backend stayed unreachable the whole time. One handle consumes from one
 * queue (the first it is asked for); V2M_EINVAL for another. */
v2m_err v2m_queue_consume(v2m_queue *q, const char *queue, int timeout_ms, v2m_queue_msg **out,
                          v2m_error *err);

/* Done: the message is removed. */
v2m_err v2m_queue_ack(v2m_queue *q, v2m_queue_msg *m, v2m_error *err);
/* Try again later: back on its queue after delay_ms (< 0: opts.retry_delay_ms)
 * with attempt + 1, or, when m->attempt >= max_attempts, to <q>.dead with
 * reason. *dead (may be NULL) tells which happened. */
v2m_err v2m_queue_retry(v2m_queue *q, v2m_queue_msg *m, int delay_ms, const char *reason,
                        int *dead, v2m_error *err);
/* Give up: to <q>.dead with reason, at once. */
v2m_err v2m_queue_dead(v2m_queue *q, v2m_queue_msg *m, const char *reason, v2m_error *err);
/* Hand back untouched (e.g. on shutdown): deliverable again at once; the
 * attempt is not counted. */
v2m_err v2m_queue_release(v2m_queue *q, v2m_queue_msg *m, v2m_error *err);

/* Messages ready for delivery on queue (e.g. "video.dead"). */
v2m_err v2m_queue_count(v2m_queue *q, const char *queue, long *n, v2m_error *err);

#endif
