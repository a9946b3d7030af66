/* queue.c - pick the queue backend by URL; what every backend shares:
 * options, names, the one-queue-per-consumer rule, the retry-or-dead rule,
 * the list of held messages and the keeper thread. */
#include "queue_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"
#include "ports_int.h"

struct v2m_queue {
    const v2m__queue_ops *ops;
    void *impl;
    v2m_queue_opts opts;
    pthread_mutex_t mu;       /* what follows */
    pthread_cond_t cv;        /* wakes the keeper for close */
    pthread_t keeper;
    int keeper_on;
    int closing;
    char consuming[V2M_QUEUE_NAME_MAX + 1];   /* the queue this handle consumes from */
    v2m_queue_msg **held;     /* consumed, not settled: kept alive by the keeper */
    size_t nheld, capheld;
    size_t reserved;          /* consumes under way, each with room in held */
};

/* A message and, out of the caller's sight, its backend's delivery. */
typedef struct {
    v2m_queue_msg msg;        /* first: a v2m_queue_msg * points here */
    v2m__delivery dlv;
} qmsg;

/* The backends by URL scheme: a new one is its file and a row here. */
static const v2m__backend backends[] = {
    {"amqp", &v2m__queue_amqp},
    {"sqlite", &v2m__queue_sqlite},
};

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

int v2m_queue_parse_type(const char *text)
{
    if (text && strcmp(text, "classic") == 0)
        return V2M_QUEUE_CLASSIC;
    if (text && strcmp(text, "quorum") == 0)
        return V2M_QUEUE_QUORUM;
    return -1;
}

const char *v2m_queue_type_name(int type)
{
    return type == V2M_QUEUE_QUORUM ? "quorum" : "classic";
}

v2m_err v2m_queue_cfg_parse_type(const struct v2m_cfg_var *v, const char *text,
                                 struct v2m_cfg_val *out, v2m_error *err)
{
    int t = v2m_queue_parse_type(text);

    if (t < 0)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected classic or quorum", v->name, text);
    out->text = text;
    out->num = t;
    return V2M_OK;
}

static v2m_err check_opts(const v2m_queue_opts *o, v2m_error *err)
{
    if (o->type != V2M_QUEUE_CLASSIC && o->type != V2M_QUEUE_QUORUM)
        return v2m_fail(err, V2M_ECONFIG, "queue type %d: expected classic or quorum", o->type);
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

/* Call the backend's keep every keep_every_ms with the held messages, until
 * close. Holding q->mu meanwhile keeps them from being settled under it. */
static void *keeper_main(void *arg)
{
    v2m_queue *q = arg;
    int64_t every = q->ops->keep_every_ms(&q->opts);
    struct timespec ts;

    pthread_mutex_lock(&q->mu);
    while (!q->closing) {
        int64_t ns;
        clock_gettime(CLOCK_REALTIME, &ts);
        ns = (int64_t)ts.tv_nsec + every * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        if (q->closing)
            break;
        q->ops->keep(q->impl, q->held, q->nheld);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

v2m_queue *v2m_queue_open(const char *url, const v2m_queue_opts *o, v2m_error *err)
{
    const v2m__backend *b;
    v2m_queue_opts def;
    v2m_queue *q;

    if (!o) {
        v2m_queue_opts_init(&def);
        o = &def;
    }
    if (check_opts(o, err))
        return NULL;
    b = v2m__pick(backends, V2M__COUNT(backends), url, "queue",
                  "sqlite:///path/queue.db or amqp://user:pass@host:port/vhost", err);
    if (!b)
        return NULL;
    q = calloc(1, sizeof *q);
    if (!q) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    q->ops = b->ops;
    q->opts = *o;
    if (q->ops->open(url, &q->opts, &q->impl, err) != V2M_OK) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->keeper, NULL, keeper_main, q) == 0)
        q->keeper_on = 1;
    return q;
}

void v2m_queue_close(v2m_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->closing = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->keeper_on)
        pthread_join(q->keeper, NULL);
    /* Hand back what was never settled. */
    for (size_t i = 0; i < q->nheld; i++)
        q->ops->release(q->impl, q->held[i], NULL);
    free(q->held);
    q->ops->close(q->impl);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Forget m: it is being settled. */
static void held_remove(v2m_queue *q, v2m_queue_msg *m)
{
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->nheld; i++)
        if (q->held[i] == m) {
            q->held[i] = q->held[--q->nheld];
            break;
        }
    pthread_mutex_unlock(&q->mu);
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

v2m_err v2m_queue_publish_later(v2m_queue *q, const char *queue, const void *body, size_t len,
                                int delay_ms, v2m_error *err)
{
    v2m_err rc = check_name(queue, err);
    if (rc)
        return rc;
    if (!body && len)
        return v2m_fail(err, V2M_EINVAL, "queue publish: no body");
    if (delay_ms <= 0)
        return q->ops->publish(q->impl, queue, body ? body : "", len, err);
    return q->ops->publish_later(q->impl, queue, body ? body : "", len, delay_ms, err);
}

int v2m_queue_retry_delay_ms(const v2m_queue *q) { return q->opts.retry_delay_ms; }

v2m_err v2m_queue_consume(v2m_queue *q, const char *queue, int timeout_ms, v2m_queue_msg **out,
                          v2m_error *err)
{
    v2m_err rc = check_name(queue, err);

    *out = NULL;
    if (rc)
        return rc;
    pthread_mutex_lock(&q->mu);
    if (!q->consuming[0])
        snprintf(q->consuming, sizeof q->consuming, "%s", queue);
    if (strcmp(q->consuming, queue) != 0) {
        pthread_mutex_unlock(&q->mu);
        return v2m_fail(err, V2M_EINVAL, "queue handle consumes from %s, not %s", q->consuming,
                        queue);
    }
    /* Room to remember it first, so a delivered message is always kept alive. */
    if (q->nheld + q->reserved == q->capheld) {
        size_t cap = q->capheld ? q->capheld * 2 : 8;
        v2m_queue_msg **h = realloc(q->held, cap * sizeof *h);
        if (!h) {
            pthread_mutex_unlock(&q->mu);
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
        }
        q->held = h;
        q->capheld = cap;
    }
    q->reserved++;
    pthread_mutex_unlock(&q->mu);

    rc = q->ops->consume(q->impl, queue, timeout_ms < 0 ? 0 : timeout_ms, out, err);

    pthread_mutex_lock(&q->mu);
    q->reserved--;
    if (rc == V2M_OK && *out)
        q->held[q->nheld++] = *out;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

v2m_err v2m_queue_ack(v2m_queue *q, v2m_queue_msg *m, v2m_error *err)
{
    held_remove(q, m);
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
        held_remove(q, m);
        return q->ops->dead(q->impl, m, why, err);
    }
    held_remove(q, m);
    return q->ops->retry(q->impl, m, delay_ms < 0 ? q->opts.retry_delay_ms : delay_ms,
                         reason ? reason : "", err);
}

v2m_err v2m_queue_dead(v2m_queue *q, v2m_queue_msg *m, const char *reason, v2m_error *err)
{
    held_remove(q, m);
    return q->ops->dead(q->impl, m, reason ? reason : "", err);
}

v2m_err v2m_queue_release(v2m_queue *q, v2m_queue_msg *m, v2m_error *err)
{
    held_remove(q, m);
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
    qmsg *qm = calloc(1, sizeof *qm);
    v2m_queue_msg *m;

    if (!qm)
        return NULL;
    m = &qm->msg;
    m->body = malloc(len + 1);
    if (!m->body) {
        free(qm);
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
    free((qmsg *)m);
}

v2m__delivery *v2m__queue_delivery(v2m_queue_msg *m) { return &((qmsg *)m)->dlv; }

const v2m__delivery *v2m__queue_delivery_c(const v2m_queue_msg *m)
{
    return &((const qmsg *)m)->dlv;
}

int v2m__queue_ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

/* The length of the ".<n>s" or ".<n>ms" after ".retry" at name + i, or 0. */
static size_t delay_suffix(const char *name, size_t i)
{
    size_t j = i;

    if (name[j++] != '.' || name[j] < '0' || name[j] > '9')
        return 0;
    while (name[j] >= '0' && name[j] <= '9')
        j++;
    if (strcmp(name + j, "s") == 0)
        return j + 1 - i;
    if (strcmp(name + j, "ms") == 0)
        return j + 2 - i;
    return 0;
}

size_t v2m__queue_retry_base(const char *name)
{
    size_t n = strlen(name);

    if (v2m__queue_ends_with(name, ".retry"))
        return n - 6;
    for (size_t i = n; i-- > 6;) {
        if (strncmp(name + i - 6, ".retry", 6) == 0 && i + delay_suffix(name, i) == n &&
            delay_suffix(name, i) > 0)
            return i - 6;
    }
    return 0;
}

void v2m__queue_retry_name(const char *queue, int delay_ms, char *out, size_t outsz)
{
    if (delay_ms % 1000 == 0)
        snprintf(out, outsz, "%s.retry.%ds", queue, delay_ms / 1000);
    else
        snprintf(out, outsz, "%s.retry.%dms", queue, delay_ms);
}

void v2m__queue_dead_name(const char *queue, char *out, size_t outsz)
{
    size_t base = v2m__queue_retry_base(queue);

    if (v2m__queue_ends_with(queue, ".dead"))
        snprintf(out, outsz, "%s", queue);
    else if (base > 0)
        snprintf(out, outsz, "%.*s.dead", (int)base, queue);
    else
        snprintf(out, outsz, "%s.dead", queue);
}
