/* httpd.c - libmicrohttpd wrapper: routing, bounded bodies, health, metrics,
 * the offload pool and the graceful drain. Connection bounds: httpd_conns.c. */
#define _GNU_SOURCE /* strcasestr */
#include "httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ncpu.h"
#include "httpd_int.h"
#include "log.h"

#define NCLASS 5 /* 1xx..5xx */

_Static_assert(V2M_HTTP_STREAM_END == MHD_CONTENT_READER_END_OF_STREAM, "stream end");
_Static_assert(V2M_HTTP_STREAM_ERROR == MHD_CONTENT_READER_END_WITH_ERROR, "stream error");
#define BUILTIN_ROUTES 3

/* One listening socket: the public one, or the private admin one. */
typedef struct listener {
    v2m_httpd *d;
    int admin;                 /* serves the built-ins only */
    struct MHD_Daemon *mhd;
    int port;
} listener;

/* Requests whose handler runs on the offload threads. */
typedef struct offload_client {
    char key[64];              /* opts.client_key's; "" = free slot */
    int n;                     /* its requests queued or running */
} offload_client;

typedef struct offload_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    v2m_http_req **q;          /* ring of cap */
    int cap, head, n;
    offload_client *clients;   /* cap slots: never more clients than requests */
    pthread_t *th;
    int nth;
    int stopping;
} offload_pool;

struct v2m_httpd {
    v2m_httpd_opts o;
    listener pub, adm;
    v2m__conns *conns;
    offload_pool off;
    int quiesced;
    MHD_socket quiesced_fd; /* the listening socket after the drain, closed at stop */
    int in_flight;             /* requests begun, not yet completed (atomic) */
    /* counts[route][class]; route index nroutes + i for the built-ins and
     * one more for "no route". Updated with atomics, read by /metrics. */
    unsigned long (*counts)[NCLASS];
    unsigned long long *nanos; /* summed handling time per route (atomic) */
};

enum { OFF_NONE, OFF_QUEUED, OFF_DONE };

struct v2m_http_req {
    v2m_httpd *d;
    listener *l;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const v2m_http_route *route;
    int route_idx;
    int builtin;            /* 1 healthz, 2 readyz, 3 metrics */
    v2m_buf body;           /* the body of a route without a body_data handler */
    int refused;            /* an answer is set; ignore further body bytes */
    int answered;           /* response queued */
    void *stream;
    int stream_open;
    int offload;            /* OFF_*: the handler's progress on the offload pool */
    int off_client;         /* its slot in off.clients, -1 for none */
    v2m_http_resp resp;
    struct timespec t0;
};

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- answers ---- */

static void resp_reset(v2m_http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    if (r->stream_free && r->stream_cls)
        r->stream_free(r->stream_cls);
    r->stream_read = NULL;
    r->stream_free = NULL;
    r->stream_cls = NULL;
}

void v2m_http_reply_raw(v2m_http_resp *resp, int status, const char *ctype, const char *data,
                        size_t len)
{
    resp_reset(resp);
    resp->status = status;
    resp->content_type = ctype;
    resp->body = malloc(len ? len : 1);
    if (!resp->body) {
        resp->status = 500;
        resp->len = 0;
        return;
    }
    memcpy(resp->body, data, len);
    resp->len = len;
}

void v2m_http_reply_text(v2m_http_resp *resp, int status, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    v2m_http_reply_raw(resp, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

void v2m_http_reply_json(v2m_http_resp *resp, int status, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    resp_reset(resp);
    if (!s) {
        v2m_http_reply_text(resp, 500, "internal error: cannot encode JSON");
        return;
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->len = strlen(s);
    resp->body = s;
}

/* Every code has its status written here (this file builds with
 * -Wswitch-enum, so a new code cannot fall to the default unnoticed):
 * - ESTATE 409: the request conflicts with the record's current state.
 * - EPROTO 502: a peer (backend, upstream service) answered nonsense.
 * - ECANCELLED 503: the server is stopping; the client may retry.
 * - ECONFIG, EIO, ENOMEM, EINTERNAL 500: the server's own fault.
 * - the media codes about the input (empty, not media, corrupt, no audio,
 *   undecodable codec, needs seeking, refused format, too long) 422: the
 *   upload was well-formed but its content cannot be converted;
 *   EMEDIA_WRITE and EMEDIA_ENCODE 500: the server failed.
 * The default catches numbers that are no code at all. */
int v2m_http_status_for(v2m_err code)
{
    switch (code) {
    case V2M_OK: return 200;
    case V2M_EINVAL: return 400;
    case V2M_EAUTH: return 401;
    case V2M_EDENIED: return 403;
    case V2M_ENOTFOUND: return 404;
    case V2M_EEXIST: return 409;
    case V2M_ESTATE: return 409;
    case V2M_ETOOBIG: return 413;
    case V2M_ELIMIT: return 429;
    case V2M_EPROTO: return 502;
    case V2M_EUNAVAIL: return 503;
    case V2M_ECANCELLED: return 503;
    case V2M_ETIMEOUT: return 504;
    case V2M_EMEDIA_EMPTY:
    case V2M_EMEDIA_NOTMEDIA:
    case V2M_EMEDIA_CORRUPT:
    case V2M_EMEDIA_NOAUDIO:
    case V2M_EMEDIA_CODEC:
    case V2M_EMEDIA_NOSEEK:
    case V2M_EMEDIA_UNSUPPORTED:
    case V2M_EMEDIA_TOOLONG: return 422;
    case V2M_ENOMEM:
    case V2M_EIO:
    case V2M_ECONFIG:
    case V2M_EINTERNAL:
    case V2M_EMEDIA_WRITE:
    case V2M_EMEDIA_ENCODE: return 500;
    default: return 500;
    }
}

void v2m_http_reply_error(v2m_http_resp *resp, const v2m_error *e)
{
    v2m_http_reply_text(resp, v2m_http_status_for(e ? e->code : V2M_EINTERNAL), "%s",
                        v2m_error_msg(e));
}

void v2m_http_add_header(v2m_http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders >= V2M_HTTP_MAX_HEADERS)
        return;
    snprintf(resp->headers[resp->nheaders].name, sizeof resp->headers[0].name, "%s", name);
    snprintf(resp->headers[resp->nheaders].value, sizeof resp->headers[0].value, "%s", value);
    resp->nheaders++;
}

/* ---- request accessors ---- */

const char *v2m_http_path(const v2m_http_req *req) { return req->url; }
struct MHD_Connection *v2m_http_conn(const v2m_http_req *req) { return req->conn; }

const struct sockaddr *v2m_http_peer(const v2m_http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}
void *v2m_http_stream(const v2m_http_req *req) { return req->stream; }

const char *v2m_http_header(const v2m_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *v2m_http_query(const v2m_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- built-in routes ---- */

static const char *route_name(const v2m_httpd *d, int idx)
{
    static const char *const builtin[] = {"/healthz", "/readyz", "/metrics", "unmatched"};
    if (idx < (int)d->o.nroutes)
        return d->o.routes[idx].path;
    return builtin[idx - (int)d->o.nroutes];
}

static int has_admin(const v2m_httpd_opts *o) { return o->admin_host && o->admin_host[0]; }

static void serve_builtin(v2m_httpd *d, v2m_http_req *req)
{
    v2m_http_resp *resp = &req->resp;
    /* With a private listener, the public one tells no internals. Decided
     * from the options, fixed before any thread runs: the public listener
     * serves before the private one is set up. */
    int private_ok = req->l->admin || !has_admin(&d->o);

    if (req->builtin == 1) {
        v2m_http_reply_text(resp, 200, "ok");
    } else if (req->builtin == 2) {
        char msg[256] = "";
        if (d->o.ready && d->o.ready(d->o.app, msg, sizeof msg) != 0) {
            if (private_ok)
                v2m_http_reply_text(resp, 503, "not ready: %s",
                                    msg[0] ? msg : "backend unavailable");
            else
                v2m_http_reply_text(resp, 503, "not ready");
        } else {
            v2m_http_reply_text(resp, 200, "ready");
        }
    } else if (!private_ok) {
        v2m_http_reply_text(resp, 404, "not found");
    } else {
        v2m_buf buf = {0};
        int nr = (int)d->o.nroutes + BUILTIN_ROUTES + 1;
        v2m_buf_printf(&buf, "# HELP v2m_http_requests_total HTTP requests by route and status class.\n"
                               "# TYPE v2m_http_requests_total counter\n");
        for (int i = 0; i < nr; i++)
            for (int c = 0; c < NCLASS; c++) {
                unsigned long n = __atomic_load_n(&d->counts[i][c], __ATOMIC_RELAXED);
                if (n)
                    v2m_buf_printf(&buf,
                               "v2m_http_requests_total{service=\"%s\",route=\"%s\",code=\"%dxx\"} %lu\n",
                               d->o.service, route_name(d, i), c + 1, n);
            }
        v2m_buf_printf(&buf, "# HELP v2m_http_request_seconds_total Time spent handling requests.\n"
                               "# TYPE v2m_http_request_seconds_total counter\n");
        for (int i = 0; i < (int)d->o.nroutes; i++)
            v2m_buf_printf(&buf, "v2m_http_request_seconds_total{service=\"%s\",route=\"%s\"} %.6f\n",
                       d->o.service, route_name(d, i),
                       (double)__atomic_load_n(&d->nanos[i], __ATOMIC_RELAXED) / 1e9);
        v2m_buf_printf(&buf,
                       "# TYPE v2m_http_connections gauge\n"
                       "v2m_http_connections{service=\"%s\"} %d\n"
                       "# TYPE v2m_http_connections_refused_total counter\n"
                       "v2m_http_connections_refused_total{service=\"%s\",reason=\"per-address\"} %lu\n"
                       "v2m_http_connections_refused_total{service=\"%s\",reason=\"header-timeout\"} %lu\n",
                       d->o.service, v2m__conns_open(d->conns), d->o.service,
                       v2m__conns_refused(d->conns), d->o.service, v2m__conns_timed_out(d->conns));
        if (d->o.metrics)
            d->o.metrics(d->o.app, &buf);
        resp_reset(resp);
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        resp->body = buf.p;
        resp->len = buf.len;
    }
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* GET routes also answer HEAD (libmicrohttpd leaves the body out). */
static int method_matches(const char *want, const char *got)
{
    return strcmp(want, got) == 0 || (strcmp(got, "HEAD") == 0 && strcmp(want, "GET") == 0);
}

static void refuse_method(v2m_http_req *req, const char *allow)
{
    v2m_http_reply_text(&req->resp, 405, "method not allowed (allowed: %s)", allow);
    v2m_http_add_header(&req->resp, "Allow", allow);
    req->refused = 1;
}

static void find_route(v2m_httpd *d, v2m_http_req *req)
{
    static const char *const builtins[] = {"/healthz", "/readyz", "/metrics"};
    char allow[128] = "";

    for (int i = 0; i < BUILTIN_ROUTES; i++)
        if (strcmp(req->url, builtins[i]) == 0) {
            req->builtin = i + 1;
            req->route_idx = (int)d->o.nroutes + i;
            if (!method_matches("GET", req->method))
                refuse_method(req, "GET, HEAD");
            return;
        }
    req->route_idx = (int)d->o.nroutes + BUILTIN_ROUTES;
    for (size_t i = 0; i < d->o.nroutes && !req->l->admin; i++) {
        const v2m_http_route *r = &d->o.routes[i];
        int match = r->prefix ? strncmp(req->url, r->path, strlen(r->path)) == 0
                              : strcmp(req->url, r->path) == 0;
        if (!match)
            continue;
        if (method_matches(r->method, req->method)) {
            req->route = r;
            req->route_idx = (int)i;
            return;
        }
        if (!strstr(allow, r->method)) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s%s", n ? ", " : "", r->method,
                     strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        }
    }
    if (allow[0]) {
        refuse_method(req, allow);
        return;
    }
    v2m_http_reply_text(&req->resp, 404, "not found");
    req->refused = 1;
}

static int has_header(const v2m_http_resp *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return 1;
    return 0;
}

static enum MHD_Result queue_answer(v2m_http_req *req)
{
    v2m_http_resp *r = &req->resp;
    struct MHD_Response *mr;
    enum MHD_Result ret;

    if (r->status == 0)
        v2m_http_reply_text(r, 500, "internal error: no answer");
    if (r->stream_read) {
        mr = MHD_create_response_from_callback(
            r->stream_size == UINT64_MAX ? MHD_SIZE_UNKNOWN : r->stream_size, 256 * 1024,
            (MHD_ContentReaderCallback)r->stream_read, r->stream_cls,
            (MHD_ContentReaderFreeCallback)r->stream_free);
        r->stream_read = NULL; /* MHD owns the stream now */
        r->stream_free = NULL;
        r->stream_cls = NULL;
    } else {
        mr = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
        if (mr)
            r->body = NULL; /* MHD frees it */
    }
    if (!mr)
        return MHD_NO;
    if (r->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    if (!has_header(r, "X-Content-Type-Options"))
        MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    if (!has_header(r, "Cache-Control"))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(req->conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    req->answered = 1;
    return ret;
}

/* ---- the offload pool ---- */

static void *offload_main(void *cls)
{
    v2m_httpd *d = cls;
    offload_pool *p = &d->off;

    /* Below the server's threads: a queue of slow requests (password
     * hashing) must not take the CPU from the quick ones. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->n == 0 && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->n == 0)
            break;
        v2m_http_req *req = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        pthread_mutex_unlock(&p->mu);
        req->route->handler(d->o.app, req, &req->resp);
        pthread_mutex_lock(&p->mu);
        if (req->off_client >= 0 && --p->clients[req->off_client].n == 0)
            p->clients[req->off_client].key[0] = '\0';
        pthread_mutex_unlock(&p->mu);
        __atomic_store_n(&req->offload, OFF_DONE, __ATOMIC_RELEASE);
        MHD_resume_connection(req->conn);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The slot of key among the clients with requests in the pool, taking a free
 * one when it has none; -1 when every slot is taken (the queue is full). */
static int offload_client_slot(offload_pool *p, const char *key)
{
    int free_slot = -1;
    for (int i = 0; i < p->cap; i++) {
        if (!p->clients[i].key[0]) {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(p->clients[i].key, key) == 0) {
            return i;
        }
    }
    if (free_slot >= 0)
        snprintf(p->clients[free_slot].key, sizeof p->clients[0].key, "%s", key);
    return free_slot;
}

/* Hand req to the pool: 0; -1 when its queue is full, -2 when its client
 * has offload_per_client requests in it already. The connection must be
 * suspended first, so that the resume cannot come before the suspend. */
static int offload_push(v2m_httpd *d, v2m_http_req *req)
{
    offload_pool *p = &d->off;
    char key[64] = "";
    int ok = -1;

    req->off_client = -1;
    if (d->o.client_key) {
        d->o.client_key(d->o.app, req, key, sizeof key);
        key[sizeof key - 1] = '\0';
    }
    pthread_mutex_lock(&p->mu);
    if (p->n < p->cap && !p->stopping && key[0]) {
        int slot = offload_client_slot(p, key);
        if (slot >= 0 && p->clients[slot].n >= d->o.offload_per_client) {
            ok = -2;
            goto out;
        }
        req->off_client = slot;
        if (slot >= 0)
            p->clients[slot].n++;
    }
    if (p->n < p->cap && !p->stopping) {
        req->offload = OFF_QUEUED;
        MHD_suspend_connection(req->conn);
        p->q[(p->head + p->n) % p->cap] = req;
        p->n++;
        pthread_cond_signal(&p->cv);
        ok = 0;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static int offload_start(v2m_httpd *d)
{
    offload_pool *p = &d->off;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->cap = d->o.offload_queue;
    p->q = calloc((size_t)p->cap, sizeof *p->q);
    p->clients = calloc((size_t)p->cap, sizeof *p->clients);
    p->th = calloc((size_t)d->o.offload_threads, sizeof *p->th);
    if (!p->q || !p->th || !p->clients)
        return -1;
    for (int i = 0; i < d->o.offload_threads; i++) {
        if (pthread_create(&p->th[i], NULL, offload_main, d) != 0)
            return -1;
        p->nth++;
    }
    return 0;
}

/* Finishes what is queued (each request is resumed), then joins. Until the
 * daemon has stopped, its threads still serve kept-alive connections and may
 * call offload_push (refused now): the lock stays until offload_free. */
static void offload_stop(v2m_httpd *d)
{
    offload_pool *p = &d->off;
    if (!p->q && !p->th)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nth; i++)
        pthread_join(p->th[i], NULL);
}

/* After the daemon has stopped. */
static void offload_free(v2m_httpd *d)
{
    offload_pool *p = &d->off;
    if (!p->q && !p->th)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->q);
    free(p->clients);
    free(p->th);
    p->q = NULL;
    p->clients = NULL;
    p->th = NULL;
}

static int uses_offload(const v2m_httpd *d)
{
    if (d->o.thread_per_connection)
        return 0; /* every handler has a thread of its own already */
    for (size_t i = 0; i < d->o.nroutes; i++)
        if (d->o.routes[i].offload)
            return 1;
    return 0;
}

/* ---- libmicrohttpd callbacks ---- */

/* A body small enough to read and drop before an answer decided from the
 * headers alone. Answering first and closing with the body unread would
 * make the kernel reset the connection, and a client still sending may then
 * lose the answer. A client that asked "Expect: 100-continue" has not sent
 * the body: it gets the answer at once. */
#define DRAIN_MAX (1024 * 1024)

static int drain_first(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_EXPECT);
    unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;

    return n > 0 && n <= DRAIN_MAX && !(expect && strcasecmp(expect, "100-continue") == 0);
}

/* The first call of a request: its headers are in. Returns MHD_YES to go on
 * reading the body; an answer already queued otherwise. */
static enum MHD_Result begin_request(listener *l, struct MHD_Connection *conn, const char *url,
                                     const char *method, void **con_cls)
{
    v2m_httpd *d = l->d;
    v2m_http_req *req = calloc(1, sizeof *req);
    size_t hdr = 0;
    const char *te;

    if (!req)
        return MHD_NO;
    *con_cls = req;
    req->d = d;
    req->l = l;
    req->conn = conn;
    req->method = method;
    req->url = url;
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    __atomic_add_fetch(&d->in_flight, 1, __ATOMIC_RELAXED);
    v2m__conns_request_begin(conn);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hdr);
    if (hdr > d->o.max_header) {
        req->route_idx = (int)d->o.nroutes + BUILTIN_ROUTES;
        v2m_http_reply_text(&req->resp, 431, "request headers too large (limit %zu bytes)",
                            d->o.max_header);
        return queue_answer(req);
    }
    /* A body framed in a way we cannot read (gzip, ...) cannot even be
     * skipped: answer at once and close. */
    te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te && strcasecmp(te, "chunked") != 0) {
        req->route_idx = (int)d->o.nroutes + BUILTIN_ROUTES;
        v2m_http_reply_text(&req->resp, 501, "Transfer-Encoding '%.40s' is not supported "
                            "(only chunked)", te);
        v2m_http_add_header(&req->resp, "Connection", "close");
        return queue_answer(req);
    }
    find_route(d, req);
    if (req->refused)
        return queue_answer(req);
    if (req->route && req->route->body_begin) {
        req->route->body_begin(d->o.app, req, &req->resp, &req->stream);
        req->stream_open = 1;
        if (req->resp.status) {
            if (drain_first(conn)) {
                req->refused = 1; /* answered once the body is read */
                return MHD_YES;
            }
            return queue_answer(req);
        }
    } else if (!req->builtin) {
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > d->o.max_body) {
            v2m_http_reply_text(&req->resp, 413, "request body too large (limit %zu bytes)",
                                d->o.max_body);
            return queue_answer(req);
        }
    }
    return MHD_YES;
}

/* A piece of the body: to the route's stream, or into the buffer. */
static enum MHD_Result body_piece(v2m_http_req *req, const char *data, size_t n)
{
    v2m_httpd *d = req->d;

    if (req->answered || req->refused)
        return MHD_YES; /* drain */
    if (req->route && req->route->body_data) {
        if (req->route->body_data(d->o.app, req, &req->resp, req->stream, data, n))
            req->refused = 1;
        return MHD_YES;
    }
    if (req->body.len + n > d->o.max_body) {
        v2m_http_reply_text(&req->resp, 413, "request body too large (limit %zu bytes)",
                            d->o.max_body);
        req->refused = 1;
        return MHD_YES;
    }
    if (v2m_buf_add(&req->body, data, n) != 0)
        return MHD_NO;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    listener *l = cls;
    v2m_httpd *d = l->d;
    v2m_http_req *req = *con_cls;

    (void)version;
    if (!req)
        return begin_request(l, conn, url, method, con_cls);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return body_piece(req, upload_data, n);
    }
    if (req->answered)
        return MHD_YES;
    switch (__atomic_load_n(&req->offload, __ATOMIC_ACQUIRE)) {
    case OFF_DONE:
        return queue_answer(req);
    case OFF_QUEUED:
        return MHD_YES; /* not ours until resumed */
    default:
        break;
    }
    if (req->builtin && !req->refused) {
        serve_builtin(d, req);
    } else if (!req->refused || req->resp.status == 0) {
        if (req->route->offload && d->off.nth > 0) {
            int r = offload_push(d, req);
            if (r == 0)
                return MHD_YES;
            if (r == -2)
                v2m_http_reply_text(&req->resp, 429, "too many of your requests waiting (%d), "
                                    "try again later", d->o.offload_per_client);
            else
                v2m_http_reply_text(&req->resp, 503, "too many requests waiting, try again later");
            v2m_http_add_header(&req->resp, "Retry-After", "1");
        } else {
            req->route->handler(d->o.app, req, &req->resp);
        }
    }
    return queue_answer(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    listener *l = cls;
    v2m_httpd *d = l->d;
    v2m_http_req *req = *con_cls;
    int status, cls_idx;
    double secs;

    if (!req)
        return;
    if (req->stream_open && req->route->body_end)
        req->route->body_end(d->o.app, req->stream);
    status = req->resp.status;
    cls_idx = status >= 100 && status < 600 ? status / 100 - 1 : 4;
    __atomic_add_fetch(&d->counts[req->route_idx][cls_idx], 1, __ATOMIC_RELAXED);
    secs = elapsed(&req->t0);
    if (req->route_idx < (int)d->o.nroutes)
        __atomic_add_fetch(&d->nanos[req->route_idx], (unsigned long long)(secs * 1e9),
                           __ATOMIC_RELAXED);
    if (!req->builtin)
        V2M_LOG(V2M_INFO, "http method=%s path=%s status=%d ms=%.1f%s", req->method, req->url,
                status, secs * 1000.0,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    resp_reset(&req->resp);
    v2m_buf_free(&req->body);
    free(req);
    *con_cls = NULL;
    v2m__conns_request_end(conn);
    __atomic_sub_fetch(&d->in_flight, 1, __ATOMIC_RELEASE);
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    /* What one client's connection did (closed early, timed out, sent
     * garbage) is the client's business: at WARN, an attacker could fill
     * the log. Failures of the server itself stay warnings. */
    V2M_LOG(strcasestr(buf, "connection") || strcasestr(buf, "socket") ? V2M_DEBUG : V2M_WARN,
            "libmicrohttpd: %s", buf);
}

/* host:port as a socket address; -1 with err set when host is no literal. */
static int sock_addr(const char *host, int port, struct sockaddr_storage *ss, unsigned *flags,
                     v2m_error *err)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
            v2m_fail(err, V2M_ECONFIG, "listen address '%s' is not an IPv6 literal", host);
            return -1;
        }
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
        v2m_fail(err, V2M_ECONFIG, "listen address '%s' is not an IPv4 literal", host);
        return -1;
    }
    return 0;
}

static int listener_port(struct MHD_Daemon *mhd, int def)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : def;
}

/* The public listener: every route, the connection bounds. */
static int start_public(v2m_httpd *d, v2m_error *err)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    listener *l = &d->pub;

    if (sock_addr(d->o.host, d->o.port, &ss, &flags, err))
        return -1;
    l->d = d;
    if (d->o.thread_per_connection) {
        /* poll(), not select(): no FD_SETSIZE ceiling on descriptors. */
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        l->mhd = MHD_start_daemon(flags, 0, v2m__conns_accept, d->conns, on_request, l,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
                                  MHD_OPTION_NOTIFY_CONNECTION, v2m__conns_notify, d->conns,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->o.idle_timeout,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->o.max_conns,
                                  /* Room for large reads of upload bodies. */
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
                                  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                                  MHD_OPTION_END);
    } else {
        /* TURBO skips the shutdown() before close and other per-connection
         * syscalls that only matter for HTTP pipelining corner cases. */
        struct MHD_OptionItem pool[] = {
            /* Asking for a pool of one makes libmicrohttpd complain. */
            {d->o.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
             (intptr_t)d->o.threads, NULL},
            {MHD_OPTION_END, 0, NULL},
        };
        flags |= MHD_USE_EPOLL | MHD_USE_TURBO;
        if (uses_offload(d))
            flags |= MHD_ALLOW_SUSPEND_RESUME;
        l->mhd = MHD_start_daemon(flags, 0, v2m__conns_accept, d->conns, on_request, l,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
                                  MHD_OPTION_NOTIFY_CONNECTION, v2m__conns_notify, d->conns,
                                  /* Headers are capped at max_header; a smaller
                                   * pool is less to clear per request. */
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(d->o.max_header + 8192),
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->o.idle_timeout,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->o.max_conns,
                                  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                                  MHD_OPTION_ARRAY, pool,
                                  MHD_OPTION_END);
    }
    if (!l->mhd) {
        v2m_fail(err, V2M_EUNAVAIL, "cannot listen on %s:%d (address in use or not local?)",
                 d->o.host, d->o.port);
        return -1;
    }
    l->port = listener_port(l->mhd, d->o.port);
    return 0;
}

/* The private listener: built-ins only, one thread. */
static int start_admin(v2m_httpd *d, v2m_error *err)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_EPOLL |
                     MHD_USE_ITC;
    listener *l = &d->adm;

    if (!has_admin(&d->o))
        return 0;
    if (sock_addr(d->o.admin_host, d->o.admin_port, &ss, &flags, err))
        return -1;
    l->d = d;
    l->admin = 1;
    l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)d->o.idle_timeout,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                              MHD_OPTION_END);
    if (!l->mhd) {
        v2m_fail(err, V2M_EUNAVAIL, "cannot listen on %s:%d for metrics (address in use?)",
                 d->o.admin_host, d->o.admin_port);
        return -1;
    }
    l->port = listener_port(l->mhd, d->o.admin_port);
    return 0;
}

static void set_defaults(v2m_httpd_opts *o)
{
    if (!o->max_body)
        o->max_body = 64 * 1024;
    if (!o->max_header)
        o->max_header = 8 * 1024;
    if (o->threads <= 0)
        o->threads = v2m_ncpu();
    if (o->max_conns <= 0)
        o->max_conns = 1000;
    if (o->max_conns_per_addr <= 0)
        o->max_conns_per_addr = 64;
    if (o->header_timeout <= 0)
        o->header_timeout = 15;
    if (o->idle_timeout <= 0)
        o->idle_timeout = 60;
    if (o->offload_threads <= 0)
        o->offload_threads = v2m_ncpu();
    if (o->offload_queue <= 0)
        o->offload_queue = 256;
    if (o->offload_per_client <= 0)
        o->offload_per_client = 8;
}

v2m_httpd *v2m_httpd_start(const v2m_httpd_opts *opts, v2m_error *err)
{
    v2m_httpd *d = calloc(1, sizeof *d);
    size_t nr;

    if (!d) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    d->o = *opts;
    set_defaults(&d->o);
    nr = d->o.nroutes + BUILTIN_ROUTES + 1;
    d->counts = calloc(nr, sizeof *d->counts);
    d->nanos = calloc(nr, sizeof *d->nanos);
    d->conns = v2m__conns_new(&(v2m__conns_opts){.max_conns = d->o.max_conns,
                                                 .per_addr = d->o.max_conns_per_addr,
                                                 .header_timeout = d->o.header_timeout,
                                                 .trusted_peer = d->o.trusted_peer,
                                                 .app = d->o.app});
    if (!d->counts || !d->nanos || !d->conns ||
        (uses_offload(d) && offload_start(d) != 0)) {
        v2m_fail(err, V2M_ENOMEM, "out of memory (or no threads) for the HTTP server");
        goto fail;
    }
    if (start_public(d, err) || start_admin(d, err))
        goto fail;
    return d;
fail:
    v2m_httpd_stop(d);
    return NULL;
}

static const v2m_cfg_var httpd_vars[] = {
    {.name = "V2M_MAX_CONNECTIONS", .def = "1000", .parse = v2m_cfg_parse_int, .min = 1,
     .max = 100000, .help = "connections at once"},
    {.name = "V2M_MAX_CONNECTIONS_PER_ADDR", .def = "64", .parse = v2m_cfg_parse_int, .min = 1,
     .max = 100000, .help = "connections at once from one client address"},
    {.name = "V2M_HEADER_TIMEOUT", .def = "15s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 3600, .help = "time to send the request line and headers"},
    {.name = "V2M_IDLE_TIMEOUT", .def = "60s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 86400, .help = "silence allowed within a request"},
};
const v2m_cfg_table v2m_httpd_table = V2M_CFG_TABLE("HTTP server", httpd_vars);

v2m_err v2m_httpd_env(v2m_httpd_opts *o, v2m_error *err)
{
    v2m_cfg c;
    v2m_err rc = v2m_cfg_load(&c, &v2m_httpd_table, err);

    if (rc)
        return rc;
    o->max_conns = (int)v2m_cfg_num(&c, "V2M_MAX_CONNECTIONS");
    o->max_conns_per_addr = (int)v2m_cfg_num(&c, "V2M_MAX_CONNECTIONS_PER_ADDR");
    o->header_timeout = (int)v2m_cfg_num(&c, "V2M_HEADER_TIMEOUT");
    o->idle_timeout = (int)v2m_cfg_num(&c, "V2M_IDLE_TIMEOUT");
    return V2M_OK;
}

void v2m_httpd_drain(v2m_httpd *d, double grace_s)
{
    struct timespec t0;

    if (!d || !d->pub.mhd || d->quiesced)
        return;
    /* libmicrohttpd's threads may still use the listening socket (epoll)
     * until the daemon stops: close it only then (v2m_httpd_stop), lest its
     * number be reused meanwhile. shutdown() already refuses new clients. */
    d->quiesced_fd = MHD_quiesce_daemon(d->pub.mhd);
    if (d->quiesced_fd != MHD_INVALID_SOCKET)
        shutdown(d->quiesced_fd, SHUT_RDWR);
    d->quiesced = 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int left = __atomic_load_n(&d->in_flight, __ATOMIC_ACQUIRE);
    if (left)
        V2M_LOG(V2M_INFO, "http draining requests=%d grace_s=%.0f", left, grace_s);
    while ((left = __atomic_load_n(&d->in_flight, __ATOMIC_ACQUIRE)) > 0 &&
           elapsed(&t0) < grace_s)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    if (left)
        V2M_LOG(V2M_WARN, "http stopping with requests still running requests=%d", left);
}

void v2m_httpd_stop(v2m_httpd *d)
{
    if (!d)
        return;
    offload_stop(d); /* resumes what it had, before the daemon goes */
    if (d->adm.mhd)
        MHD_stop_daemon(d->adm.mhd);
    if (d->pub.mhd)
        MHD_stop_daemon(d->pub.mhd);
    if (d->quiesced && d->quiesced_fd != MHD_INVALID_SOCKET)
        close(d->quiesced_fd);
    offload_free(d);
    v2m__conns_free(d->conns);
    free(d->counts);
    free(d->nanos);
    free(d);
}

int v2m_httpd_port(const v2m_httpd *d) { return d->pub.port; }
int v2m_httpd_admin_port(const v2m_httpd *d) { return d->adm.mhd ? d->adm.port : 0; }
