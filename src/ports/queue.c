/* queue.c - pick the queue backend by URL; options, names and the
 * retry-or-dead rule shared by every backend. */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store_util.h"

struct v2m_queue {
    const v2m_queue_ops *ops;
    void *impl;
    v2m_queue_opts opts;
};

static const v2m_queue_ops *const backends[] = {&v2m_queue_amqp, &v2m_queue_sqlite};

void v2m_queue_opts_init(v2m_queue_opts *o)
{
    memset(o, 0, sizeof *o);
    o->prefetch = 1;
    o->max_attempts = 5;
    o->retry_delay_ms = 10000;
    o->lease_ms = 30000;
    o->publish_timeout_ms = 30000;
    o->heartbeat_s = 30;
}

static v2m_err check_opts(const v2m_queue_opts *o, v2m_error *err)
{
    if (o->prefetch < 1 || o->prefetch > 65535)
        return v2m_fail(err, V2M_ECONFIG, "queue prefetch %d: expected 1..65535", o->prefetch);
    if (o->max_attempts < 1)
        return v2m_fail(err, V2M_ECONFIG, "queue max attempts %d: expected >= 1", o->max_attempts);
    if (o->retry_delay_ms < 1)
        return v2m_fail(err, V2M_ECONFIG, "queue retry delay %d ms: expected >= 1",
                        o->retry_delay_ms);
    if (o->lease_ms < 100)
        return v2m_fail(err, V2M_ECONFIG, "queue lease %d ms: expected >= 100", o->lease_ms);
    if (o->publish_timeout_ms < 100)
        return v2m_fail(err, V2M_ECONFIG, "queue publish timeout %d ms: expected >= 100",
                        o->publish_timeout_ms);
    if (o->heartbeat_s < 0 || o->heartbeat_s > 3600)
        return v2m_fail(err, V2M_ECONFIG, "queue heartbeat %d s: expected 0..3600",
                        o->heartbeat_s);
    return V2M_OK;
}

/* Room for the longest suffix; printable ASCII without spaces. */
static v2m_err check_name(const char *name, v2m_error *err)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > V2M_QUEUE_NAME_MAX - 6)
        return v2m_fail(err, V2M_EINVAL, "queue name must have 1..%d bytes",
                        V2M_QUEUE_NAME_MAX - 6);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
            return v2m_fail(err, V2M_EINVAL, "queue name '%s': printable ASCII only", name);
    return V2M_OK;
}

v2m_queue *v2m_queue_open(const char *url, const v2m_queue_opts *o, v2m_error *err)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    char safe[512];
    v2m_queue_opts def;

    if (!o) {
        v2m_queue_opts_init(&def);
        o = &def;
    }
    if (check_opts(o, err))
        return NULL;
    for (size_t i = 0; sep && i < sizeof backends / sizeof backends[0]; i++) {
        const v2m_queue_ops *ops = backends[i];
        v2m_queue *q;

        if (strlen(ops->scheme) != (size_t)(sep - url) ||
            strncmp(url, ops->scheme, (size_t)(sep - url)) != 0)
            continue;
        q = calloc(1, sizeof *q);
        if (!q) {
            v2m_fail(err, V2M_ENOMEM, "out of memory");
            return NULL;
        }
        q->ops = ops;
        q->opts = *o;
        if (ops->open(url, &q->opts, &q->impl, err) != V2M_OK) {
            free(q);
            return NULL;
        }
        return q;
    }
    v2m_url_redact(url ? url : "", safe, sizeof safe);
    v2m_fail(err, V2M_ECONFIG,
             "queue URL '%s': expected sqlite:///path/queue.db or amqp://user:pass@host:port/vhost",
             safe);
    return NULL;
}

void v2m_queue_close(v2m_queue *q)
{
    if (!q)
        return;
    q->ops->close(q->impl);
    free(q);
}

v2m_err v2m_queue_ping(v2m_queue *q, v2m_error *err) { return q->ops->ping(q->impl, err); }


int v2m_queue_max_attempts(const v2m_queue *q) { return q->opts.max_attempts; }

v2m_err v2m_queue_declare(v2m_queue *q, const char *queue, v2m_error *err)
{
    v2m_err rc = check_name(queue, err);
    return rc ? rc : q->ops->declare(q->impl, queue, err);
}

v2m_err v2m_queue_publish(v2m_queue *q, const char *queue, const void *body, size_t len,
                          v2m_error *err)
{
    v2m_err rc = check_name(queue, err);
    if (rc)
        return rc;
    if (!body && len)
        return v2m_fail(err, V2M_EINVAL, "queue publish: no body");
    return q->ops->publish(q->impl, queue, body ? body : "", len, err);
}

v2m_err v2m_queue_consume(v2m_queue *q, const char *queue, int timeout_ms, v2m_queue_msg **out,
                          v2m_error *err)
{
    v2m_err rc = check_name(queue, err);
    *out = NULL;
    return rc ? rc : q->ops->consume(q->impl, queue, timeout_ms < 0 ? 0 : timeout_ms, out, err);
}

v2m_err v2m_queue_ack(v2m_queue *q, v2m_queue_msg *m, v2m_error *err)
{
    return q->ops->ack(q->impl, m, err);
}

v2m_err v2m_queue_retry(v2m_queue *q, v2m_queue_msg *m, int delay_ms, const char *reason,
                        int *dead, v2m_error *err)
{
    char why[256];

    if (dead)
        *dead = 0;
    if (m->attempt >= q->opts.max_attempts) {
        snprintf(why, sizeof why, "gave up after %d attempts: %s", m->attempt,
                 reason && *reason ? reason : "failed");
        V2M_LOG(V2M_WARN, "queue dead-lettering queue=%s attempt=%d reason=%s", m->queue,
                m->attempt, reason ? reason : "");
        if (dead)
            *dead = 1;
        return q->ops->dead(q->impl, m, why, err);
    }
    return q->ops->retry(q->impl, m, delay_ms < 0 ? q->opts.retry_delay_ms : delay_ms,
                         reason ? reason : "", err);
}

v2m_err v2m_queue_dead(v2m_queue *q, v2m_queue_msg *m, const char *reason, v2m_error *err)
{
    return q->ops->dead(q->impl, m, reason ? reason : "", err);
}

v2m_err v2m_queue_release(v2m_queue *q, v2m_queue_msg *m, v2m_error *err)
{
    return q->ops->release(q->impl, m, err);
}

v2m_err v2m_queue_count(v2m_queue *q, const char *queue, long *n, v2m_error *err)
{
    v2m_err rc = check_name(queue, err);
    *n = 0;
    return rc ? rc : q->ops->count(q->impl, queue, n, err);
}

v2m_queue_msg *v2m__queue_msg_new(const char *queue, const void *body, size_t len)
{
    v2m_queue_msg *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->body = malloc(len + 1);
    if (!m->body) {
        free(m);
        return NULL;
    }
    if (len)
        memcpy(m->body, body, len);
    ((char *)m->body)[len] = '\0';
    m->len = len;
    snprintf(m->queue, sizeof m->queue, "%s", queue);
    return m;
}

void v2m__queue_msg_free(v2m_queue_msg *m)
{
    if (!m)
        return;
    free(m->body);
    free(m);
}
