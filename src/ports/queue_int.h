/* queue_int.h - the queue port's backend interface.
 *
 * Internal to src/ports: only queue.c and the queue backends include it;
 * services use queue.h. A backend is one file defining a v2m__queue_ops
 * table, listed by URL scheme in queue.c's backends[].
 *
 * What queue.c does for every backend: check options and names, keep the
 * one-queue-per-consumer rule, decide between retry and dead-letter from
 * max_attempts, remember the messages a handle holds (consumed, not yet
 * settled) and run the keeper thread that calls the backend's keep() with
 * them, and on close hand them back with release() before close().
 */
#ifndef V2M_PORTS_QUEUE_INT_H
#define V2M_PORTS_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* What a backend needs to settle or renew one delivery, kept beside the
 * message out of the caller's sight. The two numbers mean what the backend
 * that filled them says (SQLite: row id and lease token; RabbitMQ: delivery
 * tag and the generation of the connection that delivered it). */
typedef struct v2m__delivery {
    uint64_t id;
    uint64_t key;
} v2m__delivery;

/* A backend. Every function may be called from several threads; the
 * backend serialises what its connection needs. */
typedef struct v2m__queue_ops {
    v2m_err (*open)(const char *url, const v2m_queue_opts *o, void **impl, v2m_error *err);
    /* Free the handle; queue.c has released every held message before. */
    void (*close)(void *impl);
    v2m_err (*ping)(void *impl, v2m_error *err);
    /* Declare <q> and <q>.dead (or just <q> when it is itself a retry or
     * .dead queue); RabbitMQ declares the handle's retry queue of <q> when
     * it starts consuming <q> and before it first publishes there. */
    v2m_err (*declare)(void *impl, const char *queue, v2m_error *err);
    v2m_err (*publish)(void *impl, const char *queue, const void *body, size_t len,
                       v2m_error *err);
    /* publish, deliverable no sooner than delay_ms from now (> 0). */
    v2m_err (*publish_later)(void *impl, const char *queue, const void *body, size_t len,
                             int delay_ms, v2m_error *err);
    /* A message made with v2m__queue_msg_new() and its delivery filled in;
     * V2M_ETIMEOUT when nothing came within timeout_ms. queue.c has checked
     * that this handle consumes from queue only. */
    v2m_err (*consume)(void *impl, const char *queue, int timeout_ms, v2m_queue_msg **out,
                       v2m_error *err);
    /* The settlements; each frees m, also when it fails. queue.c has
     * forgotten m before, so keep() no longer sees it. */
    v2m_err (*ack)(void *impl, v2m_queue_msg *m, v2m_error *err);
    v2m_err (*retry)(void *impl, v2m_queue_msg *m, int delay_ms, const char *reason,
                     v2m_error *err);
    v2m_err (*dead)(void *impl, v2m_queue_msg *m, const char *reason, v2m_error *err);
    v2m_err (*release)(void *impl, v2m_queue_msg *m, v2m_error *err);
    /* Messages of queue ready for delivery now (delayed and held ones excluded). */
    v2m_err (*count)(void *impl, const char *queue, long *n, v2m_error *err);
    /* The keeper's period in ms for these options (> 0). */
    int (*keep_every_ms)(const v2m_queue_opts *o);
    /* Called by queue.c's keeper thread every keep_every_ms from open to
     * close with the n messages the handle holds (n may be 0): renew their
     * leases, keep idle connections alive. None of them is settled or freed
     * while it runs. */
    void (*keep)(void *impl, v2m_queue_msg *const *held, size_t n);
} v2m__queue_ops;

/* The backends, one file each; queue.c lists them by URL scheme. */
extern const v2m__queue_ops v2m__queue_amqp;     /* queue_amqp.c */
extern const v2m__queue_ops v2m__queue_sqlite;   /* queue_sqlite.c */

/* A message with a copy of body (NUL-terminated) and an empty delivery;
 * NULL when out of memory. */
v2m_queue_msg *v2m__queue_msg_new(const char *queue, const void *body, size_t len);
/* Free a message made by v2m__queue_msg_new (body included). Safe on NULL. */
void v2m__queue_msg_free(v2m_queue_msg *m);
/* The delivery kept beside m. */
v2m__delivery *v2m__queue_delivery(v2m_queue_msg *m);
const v2m__delivery *v2m__queue_delivery_c(const v2m_queue_msg *m);

/* 1 when name ends with suffix (and is longer than it). */
int v2m__queue_ends_with(const char *name, const char *suffix);
/* The retry queue of queue for a delay: `<q>.retry.<n>s` when delay_ms is
 * whole seconds, else `<q>.retry.<n>ms` (V2M_QUEUE_RETRY_ROOM more bytes
 * than queue). */
#define V2M_QUEUE_RETRY_ROOM 24
void v2m__queue_retry_name(const char *queue, int delay_ms, char *out, size_t outsz);
/* For a retry queue, `<q>.retry.<delay>` or the older `<q>.retry`: the
 * length of <q>; 0 for any other name. */
size_t v2m__queue_retry_base(const char *name);
/* The dead-letter queue of queue: <q>.dead for <q> and its retry queues,
 * itself for <q>.dead. */
void v2m__queue_dead_name(const char *queue, char *out, size_t outsz);

#endif
