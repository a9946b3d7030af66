/* queue_amqp.c - RabbitMQ through rabbitmq-c.
 *
 * A handle has up to two connections, opened on first use: one publishes
 * (channel 1 in confirm mode), one consumes (channel 1 with basic.qos and
 * basic.consume); channel 2 of each declares queues, so a refused
 * declaration closes only that channel. Keeping them apart means a publisher
 * confirm is never interleaved with deliveries.
 *
 * Topology, per work queue <q> (all durable, on the default exchange):
 *   <q>                no arguments - exactly as the original system declares it
 *   <q>.retry.<delay>  x-dead-letter-exchange "", x-dead-letter-routing-key <q>,
 *                      no x-message-ttl: one per retry delay (`mp3.retry.30s`,
 *                      `video.retry.1500ms`), declared by the consumers of <q>
 *                      with that retry_delay_ms; messages wait out their own
 *                      expiration there, then flow back to <q>
 *   <q>.dead           no arguments: where given-up messages stay
 * Every service that declares one of these declares it with the same
 * arguments whatever its own settings, so the order in which services start
 * never matters; the delay is in the name, so services with different delays
 * never share a retry queue, and a retry never waits behind a longer one
 * (RabbitMQ expires messages at the head of a queue only; a shorter delay
 * given to retry or publish_later may still wait behind the handle's own).
 * The older `<q>.retry` (with x-message-ttl) is no longer used: what waits in
 * it still flows back to <q>. A queue that already exists with other
 * arguments is used as it is (the refusal, PRECONDITION_FAILED, is logged
 * once).
 *
 * With o.type V2M_QUEUE_QUORUM the same three are quorum queues (see
 * ensure_declared): <q> and the retry queues dead-letter at least once, and
 * the broker dead-letters a message of <q> handed back more than
 * x-delivery-limit V2M_QUEUE_DELIVERY_LIMIT times. That count is not
 * max_attempts: a quorum queue counts every return (x-delivery-count), also
 * a message that went on to another consumer of a dying process and came
 * back again, so one crash may count several times; the services bound
 * attempts themselves (the converter's job record, retry's x-v2m-attempts),
 * before the broker's limit.
 *
 * retry republishes the body to the retry queue with the expiration
 * min(delay, retry_delay_ms) and headers x-v2m-attempts (the attempts made)
 * and x-v2m-error, waits for the confirm, then acks the original; dead does
 * the same towards <q>.dead. A crash in between gives a duplicate, never a
 * loss.
 *
 * Connection loss (broker restart, heartbeat timeout, socket error) tears the
 * connection down; the next call reconnects with backoff. queue.c's keeper
 * thread has heartbeats sent on idle connections every second (qa_keep), so a
 * consumer busy for minutes with one message keeps its connection and thus
 * the message. A message's delivery is its delivery tag and the generation of
 * the connection that delivered it.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/redact.h"
#include "common/log.h"
#include "queue_int.h"
#include "clock_int.h"
#include "utf8_int.h"

#define CH_WORK 1        /* confirms (publisher) / deliveries (consumer) */
#define CH_DECL 2        /* queue declarations */
#define CONNECT_TIMEOUT_MS 5000
#define RPC_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONSUME_SLICE_MS 200

typedef struct {
    const char *role;             /* "publish" or "consume" */
    amqp_connection_state_t st;   /* NULL while down */
    uint64_t gen;                 /* changes with every connection */
    int64_t last_io;              /* mono ms of the last use */
    int64_t next_try;             /* mono ms: earliest reconnect */
    int backoff_ms;
    int ever_up;
    uint64_t seq;                 /* publishes on CH_WORK (confirm numbering) */
    int consuming;                /* basic.consume is active */
    char **declared;              /* queues declared on this connection */
    size_t ndeclared;
    char why[256];                /* last failure */
} aconn;

typedef struct {
    pthread_mutex_t mu;
    v2m_queue_opts o;
    char *urlbuf;                 /* amqp_parse_url's storage */
    struct amqp_connection_info ci;
    char safe_url[512];
    uint64_t gens;
    aconn pub, sub;
    char consuming[V2M_QUEUE_NAME_MAX + 1];   /* for the log */
    int warned_args;              /* logged a PRECONDITION_FAILED declaration */
} qamqp;

static const char *reply_text(amqp_rpc_reply_t r, char *buf, size_t n)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: snprintf(buf, n, "ok"); break;
    case AMQP_RESPONSE_NONE: snprintf(buf, n, "no reply"); break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(buf, n, "%s", amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, n, "server closed the connection: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, n, "server closed the channel: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            snprintf(buf, n, "server error (method 0x%08x)", (unsigned)r.reply.id);
        }
        break;
    }
    return buf;
}

static void ms_tv(int64_t ms, struct timeval *tv)
{
    if (ms < 0)
        ms = 0;
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void forget_declared(aconn *c)
{
    for (size_t i = 0; i < c->ndeclared; i++)
        free(c->declared[i]);
    free(c->declared);
    c->declared = NULL;
    c->ndeclared = 0;
}

/* Drop the connection; the next use reconnects. Caller holds h->mu. */
static void conn_down(qamqp *h, aconn *c, const char *why)
{
    if (!c->st)
        return;
    V2M_LOG(V2M_WARN, "amqp connection lost role=%s url=%s err=%s", c->role, h->safe_url, why);
    snprintf(c->why, sizeof c->why, "%s", why);
    amqp_destroy_connection(c->st);
    c->st = NULL;
    c->consuming = 0;
    c->seq = 0;
    forget_declared(c);
    c->next_try = v2m__mono_ms();   /* the first retry is immediate */
    c->backoff_ms = BACKOFF_MIN_MS;
}

/* The broker closed the channel or connection (method m): down, with its reason. */
static void closed_by_broker(qamqp *h, aconn *c, amqp_method_t m)
{
    amqp_rpc_reply_t rr = {0};
    char buf[200];
    rr.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
    rr.reply = m;
    conn_down(h, c, reply_text(rr, buf, sizeof buf));
}

static int rpc_ok(qamqp *h, aconn *c, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c->st);
    char buf[200], why[256];

    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 1;
    snprintf(why, sizeof why, "%s: %s", what, reply_text(r, buf, sizeof buf));
    conn_down(h, c, why);
    return 0;
}

/* Connect c within timeout_ms. Caller holds h->mu. */
static v2m_err conn_up(qamqp *h, aconn *c, int64_t timeout_ms, v2m_error *err)
{
    amqp_connection_state_t st;
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    struct timeval tv, rpc;
    char buf[200];
    int s;

    if (timeout_ms > CONNECT_TIMEOUT_MS)
        timeout_ms = CONNECT_TIMEOUT_MS;
    if (timeout_ms < 200)
        timeout_ms = 200;
    ms_tv(timeout_ms, &tv);
    ms_tv(RPC_TIMEOUT_MS, &rpc);
    st = amqp_new_connection();
    if (!st)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    sock = amqp_tcp_socket_new(st);
    if (!sock) {
        amqp_destroy_connection(st);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    s = amqp_socket_open_noblock(sock, h->ci.host, h->ci.port, &tv);
    if (s != AMQP_STATUS_OK) {
        snprintf(c->why, sizeof c->why, "connect %s:%d: %s", h->ci.host, h->ci.port,
                 amqp_error_string2(s));
        goto fail;
    }
    amqp_set_handshake_timeout(st, &tv);
    amqp_set_rpc_timeout(st, &rpc);
    r = amqp_login(st, h->ci.vhost, 0, 131072, h->o.heartbeat_s, AMQP_SASL_METHOD_PLAIN,
                   h->ci.user, h->ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(c->why, sizeof c->why, "login to %s:%d vhost %s: %s", h->ci.host, h->ci.port,
                 h->ci.vhost, reply_text(r, buf, sizeof buf));
        goto fail;
    }
    amqp_channel_open(st, CH_WORK);
    r = amqp_get_rpc_reply(st);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        amqp_channel_open(st, CH_DECL);
        r = amqp_get_rpc_reply(st);
    }
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        if (c == &h->pub)
            amqp_confirm_select(st, CH_WORK);
        else
            amqp_basic_qos(st, CH_WORK, 0, (uint16_t)h->o.prefetch, 0);
        r = amqp_get_rpc_reply(st);
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(c->why, sizeof c->why, "open channels: %s", reply_text(r, buf, sizeof buf));
        goto fail;
    }
    c->st = st;
    c->gen = ++h->gens;
    c->seq = 0;
    c->consuming = 0;
    c->last_io = v2m__mono_ms();
    c->backoff_ms = BACKOFF_MIN_MS;
    V2M_LOG(V2M_INFO, "amqp %s role=%s url=%s heartbeat=%d", c->ever_up ? "reconnected" : "connected",
            c->role, h->safe_url, amqp_get_heartbeat(st));
    c->ever_up = 1;
    return V2M_OK;
fail:
    amqp_destroy_connection(st);
    c->next_try = v2m__mono_ms() + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    return v2m_fail(err, V2M_EUNAVAIL, "amqp %s: %s", h->safe_url, c->why);
}

/* Make sure c is connected, trying now if its backoff allows; V2M_EUNAVAIL
 * with *wait_ms set when the caller should wait and call again. */
static v2m_err conn_ensure(qamqp *h, aconn *c, int64_t deadline, int64_t *wait_ms,
                           v2m_error *err)
{
    int64_t now = v2m__mono_ms();

    *wait_ms = 0;
    if (c->st)
        return V2M_OK;
    if (now < c->next_try) {
        *wait_ms = c->next_try - now;
        return v2m_fail(err, V2M_EUNAVAIL, "amqp %s: %s (retrying)", h->safe_url,
                        c->why[0] ? c->why : "not connected");
    }
    if (conn_up(h, c, deadline - now, err) == V2M_OK)
        return V2M_OK;
    *wait_ms = c->next_try - v2m__mono_ms();
    return err ? err->code : V2M_EUNAVAIL;
}

/* Declare one queue on CH_DECL. 1 when it exists afterwards (also when it
 * existed with other arguments), 0 when the connection went down, -1 on a
 * refusal (message in err). */
static int declare_one(qamqp *h, aconn *c, const char *name, amqp_table_t args, v2m_error *err)
{
    amqp_rpc_reply_t r;
    char buf[200];

    amqp_queue_declare(c->st, CH_DECL, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    r = amqp_get_rpc_reply(c->st);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 1;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        amqp_channel_close_ok_t ok;
        unsigned code = m->reply_code;

        reply_text(r, buf, sizeof buf);
        /* The broker closed CH_DECL: acknowledge and reopen it. */
        if (amqp_send_method(c->st, CH_DECL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) {
            conn_down(h, c, "channel.close-ok failed");
            return 0;
        }
        amqp_channel_open(c->st, CH_DECL);
        if (!rpc_ok(h, c, "reopen declaration channel"))
            return 0;
        if (code == AMQP_PRECONDITION_FAILED) {
            /* Not fatal: restarting would meet the same queue again. A
             * queue keeps the type and arguments it was created with, so
             * after a change of V2M_QUEUE_TYPE this names the queue to move. */
            if (h->warned_args++)
                return 1;
            if (h->o.type == V2M_QUEUE_QUORUM)
                V2M_LOG(V2M_ERROR, "amqp queue exists with other arguments; using it as it is, "
                        "with the guarantees of its own type (a queue keeps the type it was "
                        "declared with: to make it a quorum queue, drain and delete it, see "
                        "docs/OPERATIONS.md) queue=%s V2M_QUEUE_TYPE=quorum detail=%s", name, buf);
            else
                V2M_LOG(V2M_WARN, "amqp queue exists with other arguments; using it as it is "
                        "queue=%s V2M_QUEUE_TYPE=classic detail=%s", name, buf);
            return 1;
        }
        v2m_fail(err, V2M_EUNAVAIL, "amqp declare %s: %s", name, buf);
        return -1;
    }
    rpc_ok(h, c, "queue.declare");
    return 0;
}

static void arg_str(amqp_table_entry_t *e, int *n, const char *key, const char *val)
{
    e[*n].key = amqp_cstring_bytes(key);
    e[*n].value.kind = AMQP_FIELD_KIND_UTF8;
    e[*n].value.value.bytes = amqp_cstring_bytes(val);
    (*n)++;
}

/* The arguments of a queue that dead-letters to dlq: for a quorum queue
 * also its type and at-least-once dead-lettering (which needs
 * reject-publish overflow; without a length limit it never applies). */
static amqp_table_t dl_args(int quorum, const char *dlq, amqp_table_entry_t *e)
{
    amqp_table_t t;
    int n = 0;

    if (quorum)
        arg_str(e, &n, "x-queue-type", "quorum");
    arg_str(e, &n, "x-dead-letter-exchange", "");
    arg_str(e, &n, "x-dead-letter-routing-key", dlq);
    if (quorum) {
        arg_str(e, &n, "x-dead-letter-strategy", "at-least-once");
        arg_str(e, &n, "x-overflow", "reject-publish");
    }
    t.num_entries = n;
    t.entries = e;
    return t;
}

/* Declare queue and its companions on c once per connection. V2M_OK, or an
 * error with c possibly down. Classic (V2M_QUEUE_TYPE=classic):
 *   <q>, <q>.dead      no arguments
 *   <q>.retry.<delay>  dead-letters to <q>
 * Quorum: every one x-queue-type quorum, and
 *   <q>                dead-letters to <q>.dead (at least once) after
 *                      x-delivery-limit V2M_QUEUE_DELIVERY_LIMIT returns
 *   <q>.retry.<delay>  dead-letters to <q> (at least once)
 * The arguments never depend on a service's settings, so every service
 * declares a queue alike. */
static v2m_err ensure_declared(qamqp *h, aconn *c, const char *queue, v2m_error *err)
{
    char name[V2M_QUEUE_NAME_MAX + V2M_QUEUE_RETRY_ROOM], base[V2M_QUEUE_NAME_MAX + 1];
    amqp_table_entry_t e[8], qt;
    amqp_table_t none = amqp_empty_table, args;
    size_t baselen = v2m__queue_retry_base(queue);
    int quorum = h->o.type == V2M_QUEUE_QUORUM;
    char **d;
    int r = 1;

    for (size_t i = 0; i < c->ndeclared; i++)
        if (strcmp(c->declared[i], queue) == 0)
            return V2M_OK;
    if (quorum) {
        int n = 0;
        arg_str(&qt, &n, "x-queue-type", "quorum");
        none.num_entries = 1;
        none.entries = &qt;
    }
    if (baselen > 0) {
        /* A retry queue: no x-message-ttl, so every service declares it
         * alike; each message carries its expiration. */
        snprintf(base, sizeof base, "%.*s", (int)baselen, queue);
        r = declare_one(h, c, queue, dl_args(quorum, base, e), err);
    } else if (v2m__queue_ends_with(queue, ".dead")) {
        r = declare_one(h, c, queue, none, err);
    } else {
        snprintf(name, sizeof name, "%s.dead", queue);
        if (quorum) {
            args = dl_args(1, name, e);
            e[args.num_entries].key = amqp_cstring_bytes("x-delivery-limit");
            e[args.num_entries].value.kind = AMQP_FIELD_KIND_I32;
            e[args.num_entries].value.value.i32 = V2M_QUEUE_DELIVERY_LIMIT;
            args.num_entries++;
        } else {
            args = none;
        }
        r = declare_one(h, c, queue, args, err);
        if (r == 1)
            r = declare_one(h, c, name, none, err);
    }
    if (r == 0)
        return v2m_fail(err, V2M_EUNAVAIL, "amqp declare %s: %s", queue, c->why);
    if (r < 0)
        return err ? err->code : V2M_EUNAVAIL;
    d = realloc(c->declared, (c->ndeclared + 1) * sizeof *d);
    if (!d || !(d[c->ndeclared] = strdup(queue))) {
        if (d)
            c->declared = d;
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    c->declared = d;
    c->ndeclared++;
    return V2M_OK;
}

static void forget_queue(aconn *c, const char *queue)
{
    for (size_t i = 0; i < c->ndeclared; i++)
        if (strcmp(c->declared[i], queue) == 0) {
            free(c->declared[i]);
            c->declared[i] = c->declared[--c->ndeclared];
            return;
        }
}

enum { CONF_ACK, CONF_NACK, CONF_RETURNED, CONF_TIMEOUT, CONF_DOWN };

/* Wait for the broker's verdict on publish number c->seq. */
static int wait_confirm(qamqp *h, aconn *c, int64_t deadline)
{
    int returned = 0;
    char why[256];

    for (;;) {
        amqp_frame_t f;
        struct timeval tv;
        int64_t left = deadline - v2m__mono_ms();
        int r;

        if (left <= 0)
            return CONF_TIMEOUT;
        ms_tv(left, &tv);
        r = amqp_simple_wait_frame_noblock(c->st, &f, &tv);
        if (r == AMQP_STATUS_TIMEOUT)
            return CONF_TIMEOUT;
        if (r != AMQP_STATUS_OK) {
            snprintf(why, sizeof why, "waiting for a confirm: %s", amqp_error_string2(r));
            conn_down(h, c, why);
            return CONF_DOWN;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        switch (f.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            if (a->delivery_tag == c->seq || (a->multiple && a->delivery_tag >= c->seq))
                return returned ? CONF_RETURNED : CONF_ACK;
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            amqp_basic_nack_t *a = f.payload.method.decoded;
            if (a->delivery_tag == c->seq || (a->multiple && a->delivery_tag >= c->seq))
                return CONF_NACK;
            break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
            amqp_message_t msg;
            amqp_rpc_reply_t rr = amqp_read_message(c->st, f.channel, &msg, 0);
            if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
                conn_down(h, c, "reading a returned message");
                return CONF_DOWN;
            }
            amqp_destroy_message(&msg);
            returned = 1;
            break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
            closed_by_broker(h, c, f.payload.method);
            return CONF_DOWN;
        default:
            break;
        }
    }
}

/* Publish and wait for the confirm, reconnecting as needed, until deadline.
 * Caller holds h->mu; it is released while waiting for a reconnect. */
static v2m_err publish_locked(qamqp *h, const char *queue, const void *body, size_t len,
                              amqp_table_t *headers, const char *expiration, int64_t deadline,
                              v2m_error *err)
{
    aconn *c = &h->pub;
    int returned = 0;
    v2m_err rc;

    for (;;) {
        amqp_basic_properties_t p;
        amqp_bytes_t b;
        int64_t wait_ms;
        int r;

        rc = conn_ensure(h, c, deadline, &wait_ms, err);
        if (rc == V2M_OK)
            rc = ensure_declared(h, c, queue, err);
        if (rc != V2M_OK) {
            int64_t left = deadline - v2m__mono_ms();
            if (rc != V2M_EUNAVAIL || left <= 0)
                return v2m_fail(err, rc, "amqp publish to %s: %s", queue,
                                err ? err->msg : "failed");
            pthread_mutex_unlock(&h->mu);
            v2m__sleep_ms(wait_ms < left ? (wait_ms > 0 ? wait_ms : 10) : left, NULL);
            pthread_mutex_lock(&h->mu);
            continue;
        }
        amqp_maybe_release_buffers(c->st);
        memset(&p, 0, sizeof p);
        p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
        p.delivery_mode = 2;   /* persistent */
        if (headers) {
            p._flags |= AMQP_BASIC_HEADERS_FLAG;
            p.headers = *headers;
        }
        if (expiration) {
            p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
            p.expiration = amqp_cstring_bytes(expiration);
        }
        b.bytes = (void *)body;
        b.len = len;
        r = amqp_basic_publish(c->st, CH_WORK, amqp_empty_bytes, amqp_cstring_bytes(queue), 1, 0,
                               &p, b);
        c->last_io = v2m__mono_ms();
        if (r != AMQP_STATUS_OK) {
            char why[200];
            snprintf(why, sizeof why, "publish: %s", amqp_error_string2(r));
            conn_down(h, c, why);
            continue;
        }
        c->seq++;
        switch (wait_confirm(h, c, deadline)) {
        case CONF_ACK:
            return V2M_OK;
        case CONF_NACK:
            /* The broker could not store it; try again shortly. */
            V2M_LOG(V2M_WARN, "amqp broker refused a message queue=%s", queue);
            pthread_mutex_unlock(&h->mu);
            v2m__sleep_ms(100, NULL);
            pthread_mutex_lock(&h->mu);
            break;
        case CONF_RETURNED:
            /* No such queue (deleted behind our back): declare it again. */
            forget_queue(c, queue);
            if (++returned >= 2)
                return v2m_fail(err, V2M_ENOTFOUND, "amqp publish: no queue %s", queue);
            break;
        case CONF_TIMEOUT:
            /* The channel's confirm numbering is now unknown: start afresh. */
            conn_down(h, c, "publisher confirm timed out");
            return v2m_fail(err, V2M_ETIMEOUT, "amqp publish to %s: no confirm in time", queue);
        case CONF_DOWN:
            break;
        }
        if (v2m__mono_ms() >= deadline)
            return v2m_fail(err, V2M_EUNAVAIL, "amqp publish to %s: %s", queue, c->why);
    }
}

static int qa_keep_every_ms(const v2m_queue_opts *o)
{
    (void)o;
    return 1000;
}

/* Send heartbeats on connections idle for half the heartbeat interval. */
static void qa_keep(void *impl, v2m_queue_msg *const *held, size_t n)
{
    qamqp *h = impl;
    aconn *conns[2] = {&h->pub, &h->sub};

    (void)held;
    (void)n;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < 2; i++) {
        aconn *c = conns[i];
        int hb = c->st ? amqp_get_heartbeat(c->st) : 0;
        int64_t now = v2m__mono_ms();
        if (hb <= 0 || now - c->last_io < (int64_t)hb * 1000 / 2)
            continue;
        amqp_frame_t f;
        memset(&f, 0, sizeof f);
        f.frame_type = AMQP_FRAME_HEARTBEAT;
        f.channel = 0;
        if (amqp_send_frame(c->st, &f) != AMQP_STATUS_OK)
            conn_down(h, c, "sending a heartbeat failed");
        else
            c->last_io = now;
    }
    pthread_mutex_unlock(&h->mu);
}

static v2m_err qa_open(const char *url, const v2m_queue_opts *o, void **impl, v2m_error *err)
{
    qamqp *h = calloc(1, sizeof *h);
    v2m_err rc = V2M_OK;

    if (!h)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    h->o = *o;
    v2m_url_redact(url, h->safe_url, sizeof h->safe_url);
    h->urlbuf = strdup(url);
    if (!h->urlbuf) {
        free(h);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    amqp_default_connection_info(&h->ci);
    if (amqp_parse_url(h->urlbuf, &h->ci) != AMQP_STATUS_OK) {
        rc = v2m_fail(err, V2M_ECONFIG, "queue URL '%s': expected amqp://user:pass@host:port/vhost",
                      h->safe_url);
        goto fail;
    }
    if (h->ci.ssl) {
        rc = v2m_fail(err, V2M_ECONFIG, "queue URL '%s': amqps is not supported", h->safe_url);
        goto fail;
    }
    /* "amqp://host/" has an empty vhost, which brokers refuse: mean "/". */
    if (!h->ci.vhost || !h->ci.vhost[0])
        h->ci.vhost = "/";
    h->pub.role = "publish";
    h->sub.role = "consume";
    pthread_mutex_init(&h->mu, NULL);
    *impl = h;
    return V2M_OK;
fail:
    free(h->urlbuf);
    free(h);
    return rc;
}

static void close_conn(aconn *c)
{
    if (c->st) {
        struct timeval tv = {2, 0};
        amqp_set_rpc_timeout(c->st, &tv);   /* a half-open connection must not hold us */
        amqp_connection_close(c->st, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(c->st);
        c->st = NULL;
    }
    forget_declared(c);
}

static void qa_close(void *impl)
{
    qamqp *h = impl;

    if (!h)
        return;
    /* Closing the consuming connection hands unacked messages back. */
    close_conn(&h->sub);
    close_conn(&h->pub);
    pthread_mutex_destroy(&h->mu);
    free(h->urlbuf);
    free(h);
}

static v2m_err qa_ping(void *impl, v2m_error *err)
{
    qamqp *h = impl;
    int64_t wait_ms;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    if (!h->pub.st)
        h->pub.next_try = 0;   /* a ping asks now, whatever the backoff */
    rc = conn_ensure(h, &h->pub, v2m__mono_ms() + CONNECT_TIMEOUT_MS, &wait_ms, err);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static v2m_err qa_declare(void *impl, const char *queue, v2m_error *err)
{
    qamqp *h = impl;
    int64_t wait_ms;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    if (!h->pub.st)
        h->pub.next_try = 0;
    rc = conn_ensure(h, &h->pub, v2m__mono_ms() + CONNECT_TIMEOUT_MS, &wait_ms, err);
    if (rc == V2M_OK)
        rc = ensure_declared(h, &h->pub, queue, err);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static v2m_err qa_publish(void *impl, const char *queue, const void *body, size_t len,
                          v2m_error *err)
{
    qamqp *h = impl;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    rc = publish_locked(h, queue, body, len, NULL, NULL,
                        v2m__mono_ms() + h->o.publish_timeout_ms, err);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* Through the handle's retry queue of <q>, as a retried message: it flows
 * back to <q> when its expiration runs out. */
static v2m_err qa_publish_later(void *impl, const char *queue, const void *body, size_t len,
                                int delay_ms, v2m_error *err)
{
    qamqp *h = impl;
    char target[V2M_QUEUE_NAME_MAX + V2M_QUEUE_RETRY_ROOM], exp[24];
    v2m_err rc;

    if (delay_ms <= 0 || v2m__queue_retry_base(queue) > 0 ||
        v2m__queue_ends_with(queue, ".dead"))
        return qa_publish(impl, queue, body, len, err);
    v2m__queue_retry_name(queue, h->o.retry_delay_ms, target, sizeof target);
    snprintf(exp, sizeof exp, "%d", delay_ms < h->o.retry_delay_ms ? delay_ms : h->o.retry_delay_ms);
    pthread_mutex_lock(&h->mu);
    rc = publish_locked(h, target, body, len, NULL, exp,
                        v2m__mono_ms() + h->o.publish_timeout_ms, err);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int64_t hdr_int(const amqp_table_t *t, const char *key, int64_t def)
{
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        const amqp_field_value_t *v = &e->value;
        if (e->key.len != strlen(key) || memcmp(e->key.bytes, key, e->key.len) != 0)
            continue;
        switch (v->kind) {
        case AMQP_FIELD_KIND_I8: return v->value.i8;
        case AMQP_FIELD_KIND_U8: return v->value.u8;
        case AMQP_FIELD_KIND_I16: return v->value.i16;
        case AMQP_FIELD_KIND_U16: return v->value.u16;
        case AMQP_FIELD_KIND_I32: return v->value.i32;
        case AMQP_FIELD_KIND_U32: return v->value.u32;
        case AMQP_FIELD_KIND_I64: return v->value.i64;
        case AMQP_FIELD_KIND_U64: return (int64_t)v->value.u64;
        default: return def;
        }
    }
    return def;
}

static void hdr_str(const amqp_table_t *t, const char *key, char *out, size_t outsz)
{
    out[0] = '\0';
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->key.len != strlen(key) || memcmp(e->key.bytes, key, e->key.len) != 0)
            continue;
        if (e->value.kind == AMQP_FIELD_KIND_UTF8 || e->value.kind == AMQP_FIELD_KIND_BYTES) {
            char tmp[1024];
            size_t n = e->value.value.bytes.len < sizeof tmp - 1 ? e->value.value.bytes.len
                                                                 : sizeof tmp - 1;
            memcpy(tmp, e->value.value.bytes.bytes, n);
            tmp[n] = '\0';
            v2m__strlcpy_utf8(out, outsz, tmp, n);
        }
        return;
    }
}

/* Handle a frame that arrived instead of a delivery. Caller holds h->mu. */
static void stray_frame(qamqp *h, aconn *c)
{
    amqp_frame_t f;
    struct timeval tv = {0, 0};
    int r = amqp_simple_wait_frame_noblock(c->st, &f, &tv);

    if (r == AMQP_STATUS_TIMEOUT)
        return;
    if (r != AMQP_STATUS_OK) {
        conn_down(h, c, amqp_error_string2(r));
        return;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return;
    switch (f.payload.method.id) {
    case AMQP_BASIC_CANCEL_METHOD:
        /* The broker cancelled our consumer (queue deleted): start over. */
        V2M_LOG(V2M_WARN, "amqp consumer cancelled by the broker queue=%s", h->consuming);
        conn_down(h, c, "consumer cancelled by the broker");
        break;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        closed_by_broker(h, c, f.payload.method);
        break;
    default:
        break;
    }
}

static v2m_queue_msg *to_msg(const char *queue, amqp_envelope_t *env, uint64_t gen)
{
    const amqp_basic_properties_t *p = &env->message.properties;
    v2m_queue_msg *m = v2m__queue_msg_new(queue, env->message.body.bytes, env->message.body.len);

    if (!m)
        return NULL;
    v2m__queue_delivery(m)->id = env->delivery_tag;
    v2m__queue_delivery(m)->key = gen;
    m->redelivered = env->redelivered ? 1 : 0;
    m->attempt = 1;
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
        int64_t done = hdr_int(&p->headers, "x-v2m-attempts", 0);
        m->attempt = done >= 0 && done < 1000000 ? (int)done + 1 : 1;
        hdr_str(&p->headers, "x-v2m-error", m->error, sizeof m->error);
    }
    return m;
}

/* Connect when need be and start consuming queue on connection c (a pull
 * handle: connect and declare only). */
static v2m_err consume_start(qamqp *h, aconn *c, const char *queue, int64_t deadline,
                             int64_t *wait_ms, v2m_error *err)
{
    v2m_err rc = conn_ensure(h, c, deadline, wait_ms, err);

    if (rc != V2M_OK || c->consuming)
        return rc;
    rc = ensure_declared(h, c, queue, err);
    if (rc == V2M_OK && v2m__queue_retry_base(queue) == 0 &&
        !v2m__queue_ends_with(queue, ".dead")) {
        char retry[V2M_QUEUE_NAME_MAX + V2M_QUEUE_RETRY_ROOM];
        v2m__queue_retry_name(queue, h->o.retry_delay_ms, retry, sizeof retry);
        rc = ensure_declared(h, c, retry, err);
    }
    if (rc != V2M_OK || h->o.pull)
        return rc;
    amqp_basic_consume(c->st, CH_WORK, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (!rpc_ok(h, c, "basic.consume"))
        return v2m_fail(err, V2M_EUNAVAIL, "amqp consume %s: %s", queue, c->why);
    c->consuming = 1;
    return V2M_OK;
}

/* Wait up to left ms (at most one slice) for a delivery on c. 1 when
 * consuming ends here, with *rc and, on success, *out; 0 to go on. */
static int consume_slice(qamqp *h, aconn *c, const char *queue, int64_t left, int64_t deadline,
                         int timeout_ms, v2m_queue_msg **out, v2m_err *rc, v2m_error *err)
{
    amqp_envelope_t env;
    amqp_rpc_reply_t r;
    struct timeval tv;

    ms_tv(left < CONSUME_SLICE_MS ? left : CONSUME_SLICE_MS, &tv);
    amqp_maybe_release_buffers(c->st);
    r = amqp_consume_message(c->st, &env, &tv, 0);
    c->last_io = v2m__mono_ms();
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        v2m_queue_msg *m = to_msg(queue, &env, c->gen);
        if (!m) {
            amqp_basic_reject(c->st, CH_WORK, env.delivery_tag, 1);
            *rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        }
        amqp_destroy_envelope(&env);
        *out = m;
        return 1;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
        if (v2m__mono_ms() >= deadline) {
            *rc = v2m_fail(err, V2M_ETIMEOUT, "queue %s: no message within %d ms", queue,
                           timeout_ms);
            return 1;
        }
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
               r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        stray_frame(h, c);
    } else {
        char buf[200], why[256];
        snprintf(why, sizeof why, "consume: %s", reply_text(r, buf, sizeof buf));
        conn_down(h, c, why);
    }
    return 0;
}

/* A pull handle: ask for one message (basic.get). 1 when consuming ends
 * here, with *rc and, on success, *out; 0 to go on (after a pause when the
 * queue was empty). */
static int pull_slice(qamqp *h, aconn *c, const char *queue, int64_t left, int timeout_ms,
                      v2m_queue_msg **out, v2m_err *rc, v2m_error *err)
{
    char buf[200], why[256];
    amqp_rpc_reply_t r = amqp_basic_get(c->st, CH_WORK, amqp_cstring_bytes(queue), 0);

    c->last_io = v2m__mono_ms();
    if (r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
        if (left <= 0) {
            *rc = v2m_fail(err, V2M_ETIMEOUT, "queue %s: no message within %d ms", queue, timeout_ms);
            return 1;
        }
        pthread_mutex_unlock(&h->mu);
        v2m__sleep_ms(left < 100 ? left : 100, h->o.stop);
        pthread_mutex_lock(&h->mu);
        return 0;
    }
    if (r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
        const amqp_basic_get_ok_t *ok = r.reply.decoded;
        amqp_envelope_t env = {.channel = CH_WORK, .delivery_tag = ok->delivery_tag,
                               .redelivered = ok->redelivered};
        r = amqp_read_message(c->st, CH_WORK, &env.message, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            v2m_queue_msg *m = to_msg(queue, &env, c->gen);
            if (!m) {
                amqp_basic_reject(c->st, CH_WORK, env.delivery_tag, 1);
                *rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
            }
            amqp_destroy_message(&env.message);
            *out = m;
            return 1;
        }
    }
    snprintf(why, sizeof why, "basic.get: %s", reply_text(r, buf, sizeof buf));
    conn_down(h, c, why);
    return 0;
}

static v2m_err qa_consume(void *impl, const char *queue, int timeout_ms, v2m_queue_msg **out,
                          v2m_error *err)
{
    qamqp *h = impl;
    aconn *c = &h->sub;
    int64_t deadline = v2m__mono_ms() + timeout_ms;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    if (!h->consuming[0])
        snprintf(h->consuming, sizeof h->consuming, "%s", queue);
    for (;;) {
        int64_t wait_ms, left;

        if (h->o.stop && atomic_load(h->o.stop)) {
            rc = v2m_fail(err, V2M_ECANCELLED, "queue consume: stopping");
            break;
        }
        left = deadline - v2m__mono_ms();
        rc = consume_start(h, c, queue, deadline, &wait_ms, err);
        if (rc != V2M_OK) {
            if (rc != V2M_EUNAVAIL || left <= 0)
                break;
            pthread_mutex_unlock(&h->mu);
            v2m__sleep_ms(wait_ms > 0 && wait_ms < left ? wait_ms : (left < 100 ? left : 100),
                          h->o.stop);
            pthread_mutex_lock(&h->mu);
            continue;
        }
        if (h->o.pull ? pull_slice(h, c, queue, left, timeout_ms, out, &rc, err)
                      : consume_slice(h, c, queue, left, deadline, timeout_ms, out, &rc, err))
            break;
        /* Let other threads of this handle in between slices. */
        pthread_mutex_unlock(&h->mu);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* V2M_OK when m was delivered on the consuming connection still up. */
static v2m_err check_live(qamqp *h, const v2m_queue_msg *m, const char *what, v2m_error *err)
{
    if (!h->sub.st || h->sub.gen != v2m__queue_delivery_c(m)->key)
        return v2m_fail(err, V2M_EUNAVAIL,
                        "amqp %s: the connection that delivered the message is gone; the broker "
                        "delivers it again",
                        what);
    return V2M_OK;
}

static v2m_err basic_settle(qamqp *h, v2m_queue_msg *m, int ack, v2m_error *err)
{
    uint64_t tag = v2m__queue_delivery_c(m)->id;
    int r = ack ? amqp_basic_ack(h->sub.st, CH_WORK, tag, 0)
                : amqp_basic_nack(h->sub.st, CH_WORK, tag, 0, 1);
    h->sub.last_io = v2m__mono_ms();
    if (r != AMQP_STATUS_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s: %s", ack ? "ack" : "nack", amqp_error_string2(r));
        conn_down(h, &h->sub, why);
        return v2m_fail(err, V2M_EUNAVAIL, "amqp %s", why);
    }
    return V2M_OK;
}

/* Ack (done) or nack with requeue (hand back untouched). */
static v2m_err settle(void *impl, v2m_queue_msg *m, int ack, v2m_error *err)
{
    qamqp *h = impl;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    rc = check_live(h, m, ack ? "ack" : "release", err);
    if (rc == V2M_OK)
        rc = basic_settle(h, m, ack, err);
    pthread_mutex_unlock(&h->mu);
    v2m__queue_msg_free(m);
    return rc;
}

static v2m_err qa_ack(void *impl, v2m_queue_msg *m, v2m_error *err)
{
    return settle(impl, m, 1, err);
}

static v2m_err qa_release(void *impl, v2m_queue_msg *m, v2m_error *err)
{
    return settle(impl, m, 0, err);
}

/* Republish m to target with the attempt count and reason in headers, then
 * ack it; on failure hand it back to the broker at once. */
static v2m_err move(qamqp *h, v2m_queue_msg *m, const char *target, const char *reason,
                    const char *expiration, const char *what, v2m_error *err)
{
    amqp_table_entry_t e[3];
    amqp_table_t headers;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    rc = check_live(h, m, what, err);
    if (rc)
        goto out;
    e[0].key = amqp_cstring_bytes("x-v2m-attempts");
    e[0].value.kind = AMQP_FIELD_KIND_I32;
    e[0].value.value.i32 = m->attempt;
    e[1].key = amqp_cstring_bytes("x-v2m-error");
    e[1].value.kind = AMQP_FIELD_KIND_UTF8;
    e[1].value.value.bytes = amqp_cstring_bytes(reason);
    e[2].key = amqp_cstring_bytes("x-v2m-queue");
    e[2].value.kind = AMQP_FIELD_KIND_UTF8;
    e[2].value.value.bytes = amqp_cstring_bytes(m->queue);
    headers.num_entries = 3;
    headers.entries = e;
    rc = publish_locked(h, target, m->body, m->len, &headers, expiration,
                        v2m__mono_ms() + h->o.publish_timeout_ms, err);
    if (check_live(h, m, what, rc ? NULL : err) != V2M_OK) {
        /* Delivered again by the broker; with rc == OK also a copy in target. */
        rc = rc ? rc : V2M_EUNAVAIL;
        goto out;
    }
    if (rc == V2M_OK)
        rc = basic_settle(h, m, 1, err);
    else
        basic_settle(h, m, 0, NULL);
out:
    pthread_mutex_unlock(&h->mu);
    v2m__queue_msg_free(m);
    return rc;
}

static v2m_err qa_retry(void *impl, v2m_queue_msg *m, int delay_ms, const char *reason,
                        v2m_error *err)
{
    qamqp *h = impl;
    char target[V2M_QUEUE_NAME_MAX + V2M_QUEUE_RETRY_ROOM], exp[24];

    v2m__queue_retry_name(m->queue, h->o.retry_delay_ms, target, sizeof target);
    if (delay_ms < 0)
        delay_ms = 0;
    snprintf(exp, sizeof exp, "%d", delay_ms < h->o.retry_delay_ms ? delay_ms : h->o.retry_delay_ms);
    return move(h, m, target, reason, exp, "retry", err);
}

static v2m_err qa_dead(void *impl, v2m_queue_msg *m, const char *reason, v2m_error *err)
{
    char target[V2M_QUEUE_NAME_MAX + 8];

    v2m__queue_dead_name(m->queue, target, sizeof target);
    return move(impl, m, target, reason, NULL, "dead-letter", err);
}

static v2m_err qa_count(void *impl, const char *queue, long *n, v2m_error *err)
{
    qamqp *h = impl;
    aconn *c = &h->pub;
    amqp_queue_declare_ok_t *ok;
    amqp_rpc_reply_t r;
    int64_t wait_ms;
    v2m_err rc;

    pthread_mutex_lock(&h->mu);
    if (!c->st)
        c->next_try = 0;
    rc = conn_ensure(h, c, v2m__mono_ms() + CONNECT_TIMEOUT_MS, &wait_ms, err);
    if (rc)
        goto out;
    ok = amqp_queue_declare(c->st, CH_DECL, amqp_cstring_bytes(queue), 1, 0, 0, 0,
                            amqp_empty_table);
    r = amqp_get_rpc_reply(c->st);
    if (ok && r.reply_type == AMQP_RESPONSE_NORMAL) {
        *n = (long)ok->message_count;
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_ok_t cok;
        char buf[200];
        reply_text(r, buf, sizeof buf);
        amqp_send_method(c->st, CH_DECL, AMQP_CHANNEL_CLOSE_OK_METHOD, &cok);
        amqp_channel_open(c->st, CH_DECL);
        rpc_ok(h, c, "reopen declaration channel");
        rc = v2m_fail(err, V2M_ENOTFOUND, "amqp queue %s: %s", queue, buf);
    } else {
        rpc_ok(h, c, "queue.declare passive");
        rc = v2m_fail(err, V2M_EUNAVAIL, "amqp count %s: %s", queue, c->why);
    }
out:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

const v2m__queue_ops v2m__queue_amqp = {
    .open = qa_open,
    .close = qa_close,
    .ping = qa_ping,
    .declare = qa_declare,
    .publish = qa_publish,
    .publish_later = qa_publish_later,
    .consume = qa_consume,
    .ack = qa_ack,
    .retry = qa_retry,
    .dead = qa_dead,
    .release = qa_release,
    .count = qa_count,
    .keep_every_ms = qa_keep_every_ms,
    .keep = qa_keep,
};
