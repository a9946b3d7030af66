/* httpd.c - libmicrohttpd wrapper: routing, bounded bodies, health, metrics. */
#include "httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

#define NCLASS 5 /* 1xx..5xx */

_Static_assert(V2M_HTTP_STREAM_END == MHD_CONTENT_READER_END_OF_STREAM, "stream end");
_Static_assert(V2M_HTTP_STREAM_ERROR == MHD_CONTENT_READER_END_WITH_ERROR, "stream error");
#define BUILTIN_ROUTES 3

struct v2m_httpd {
    struct MHD_Daemon *mhd;
    v2m_httpd_opts o;
    int port;
    /* counts[route][class]; route index nroutes + i for the built-ins and
     * one more for "no route". Updated with atomics, read by /metrics. */
    unsigned long (*counts)[NCLASS];
    double *seconds; /* summed handling time per route */
};

struct v2m_http_req {
    v2m_httpd *d;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const v2m_http_route *route;
    int route_idx;
    int builtin;            /* 1 healthz, 2 readyz, 3 metrics */
    char *body;
    size_t len, cap;
    int refused;            /* an answer is set; ignore further body bytes */
    int answered;           /* response queued */
    void *stream;
    int stream_open;
    void *userdata;
    void (*userdata_free)(void *);
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

int v2m_http_status_for(v2m_err code)
{
    switch (code) {
    case V2M_OK: return 200;
    case V2M_EINVAL: return 400;
    case V2M_EAUTH: return 401;
    case V2M_EDENIED: return 403;
    case V2M_ENOTFOUND: return 404;
    case V2M_EEXIST: return 409;
    case V2M_ETOOBIG: return 413;
    case V2M_EUNAVAIL: return 503;
    case V2M_ETIMEOUT: return 504;
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

const char *v2m_http_method(const v2m_http_req *req) { return req->method; }
const char *v2m_http_path(const v2m_http_req *req) { return req->url; }
struct MHD_Connection *v2m_http_conn(const v2m_http_req *req) { return req->conn; }
void *v2m_http_userdata(const v2m_http_req *req) { return req->userdata; }
void *v2m_http_stream(const v2m_http_req *req) { return req->stream; }

void v2m_http_set_userdata(v2m_http_req *req, void *p, void (*free_fn)(void *))
{
    if (req->userdata && req->userdata_free)
        req->userdata_free(req->userdata);
    req->userdata = p;
    req->userdata_free = free_fn;
}

const char *v2m_http_header(const v2m_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *v2m_http_query(const v2m_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *v2m_http_body(const v2m_http_req *req, size_t *len)
{
    if (len)
        *len = req->len;
    return req->body ? req->body : "";
}

/* ---- built-in routes ---- */

void v2m_buf_printf(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    char *nb;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    nb = realloc(*buf, *len + (size_t)n + 1);
    if (!nb)
        return;
    va_start(ap, fmt);
    vsnprintf(nb + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *buf = nb;
    *len += (size_t)n;
}

static const char *route_name(const v2m_httpd *d, int idx)
{
    static const char *const builtin[] = {"/healthz", "/readyz", "/metrics", "unmatched"};
    if (idx < (int)d->o.nroutes)
        return d->o.routes[idx].path;
    return builtin[idx - (int)d->o.nroutes];
}

static void serve_builtin(v2m_httpd *d, v2m_http_req *req)
{
    v2m_http_resp *resp = &req->resp;
    if (req->builtin == 1) {
        v2m_http_reply_text(resp, 200, "ok");
    } else if (req->builtin == 2) {
        char msg[256] = "";
        if (d->o.ready && d->o.ready(d->o.app, msg, sizeof msg) != 0)
            v2m_http_reply_text(resp, 503, "not ready: %s", msg[0] ? msg : "backend unavailable");
        else
            v2m_http_reply_text(resp, 200, "ready");
    } else {
        char *buf = NULL;
        size_t len = 0;
        int nr = (int)d->o.nroutes + BUILTIN_ROUTES + 1;
        v2m_buf_printf(&buf, &len, "# HELP v2m_http_requests_total HTTP requests by route and status class.\n"
                               "# TYPE v2m_http_requests_total counter\n");
        for (int i = 0; i < nr; i++)
            for (int c = 0; c < NCLASS; c++) {
                unsigned long n = __atomic_load_n(&d->counts[i][c], __ATOMIC_RELAXED);
                if (n)
                    v2m_buf_printf(&buf, &len,
                               "v2m_http_requests_total{service=\"%s\",route=\"%s\",code=\"%dxx\"} %lu\n",
                               d->o.service, route_name(d, i), c + 1, n);
            }
        v2m_buf_printf(&buf, &len, "# HELP v2m_http_request_seconds_total Time spent handling requests.\n"
                               "# TYPE v2m_http_request_seconds_total counter\n");
        for (int i = 0; i < (int)d->o.nroutes; i++)
            v2m_buf_printf(&buf, &len, "v2m_http_request_seconds_total{service=\"%s\",route=\"%s\"} %.6f\n",
                       d->o.service, route_name(d, i), d->seconds[i]);
        if (d->o.metrics)
            d->o.metrics(d->o.app, &buf, &len);
        resp_reset(resp);
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        resp->body = buf;
        resp->len = len;
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

static void find_route(v2m_httpd *d, v2m_http_req *req)
{
    int path_seen = 0;
    static const char *const builtins[] = {"/healthz", "/readyz", "/metrics"};

    for (int i = 0; i < BUILTIN_ROUTES; i++)
        if (strcmp(req->url, builtins[i]) == 0) {
            req->builtin = i + 1;
            req->route_idx = (int)d->o.nroutes + i;
            if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
                v2m_http_reply_text(&req->resp, 405, "method not allowed");
                req->refused = 1;
            }
            return;
        }
    req->route_idx = (int)d->o.nroutes + BUILTIN_ROUTES;
    for (size_t i = 0; i < d->o.nroutes; i++) {
        const v2m_http_route *r = &d->o.routes[i];
        int match = r->prefix ? strncmp(req->url, r->path, strlen(r->path)) == 0
                              : strcmp(req->url, r->path) == 0;
        if (!match)
            continue;
        path_seen = 1;
        if (strcmp(req->method, r->method) == 0) {
            req->route = r;
            req->route_idx = (int)i;
            return;
        }
    }
    if (path_seen)
        v2m_http_reply_text(&req->resp, 405, "method not allowed");
    else
        v2m_http_reply_text(&req->resp, 404, "not found");
    req->refused = 1;
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
    ret = MHD_queue_response(req->conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    req->answered = 1;
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    v2m_httpd *d = cls;
    v2m_http_req *req = *con_cls;

    if (!req) {
        size_t hdr = 0;
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        req->d = d;
        req->conn = conn;
        req->method = method;
        req->url = url;
        clock_gettime(CLOCK_MONOTONIC, &req->t0);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hdr);
        if (hdr > d->o.max_header) {
            req->route_idx = (int)d->o.nroutes + BUILTIN_ROUTES;
            v2m_http_reply_text(&req->resp, 431, "request headers too large (limit %zu bytes)",
                                d->o.max_header);
            return queue_answer(req);
        }
        find_route(d, req);
        if (req->refused)
            return queue_answer(req);
        if (req->route && req->route->body_begin) {
            req->route->body_begin(d->o.app, req, &req->resp, &req->stream);
            req->stream_open = 1;
            if (req->resp.status)
                return queue_answer(req);
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

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->answered || req->refused)
            return MHD_YES; /* drain */
        if (req->route && req->route->body_data) {
            if (req->route->body_data(d->o.app, req, &req->resp, req->stream, upload_data, n))
                req->refused = 1;
            return MHD_YES;
        }
        if (req->len + n > d->o.max_body) {
            v2m_http_reply_text(&req->resp, 413, "request body too large (limit %zu bytes)",
                                d->o.max_body);
            req->refused = 1;
            return MHD_YES;
        }
        if (req->len + n + 1 > req->cap) {
            size_t cap = req->cap ? req->cap * 2 : 4096;
            while (cap < req->len + n + 1)
                cap *= 2;
            char *nb = realloc(req->body, cap);
            if (!nb)
                return MHD_NO;
            req->body = nb;
            req->cap = cap;
        }
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }

    if (req->answered)
        return MHD_YES;
    if (req->builtin && !req->refused)
        serve_builtin(d, req);
    else if (!req->refused || req->resp.status == 0)
        req->route->handler(d->o.app, req, &req->resp);
    return queue_answer(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    v2m_httpd *d = cls;
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
    if (req->route_idx < (int)d->o.nroutes) {
        /* A lost update under contention only blurs a timing sum. */
        d->seconds[req->route_idx] += secs;
    }
    if (!req->builtin)
        V2M_LOG(V2M_INFO, "http method=%s path=%s status=%d ms=%.1f%s", req->method, req->url,
                status, secs * 1000.0,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    if (req->userdata && req->userdata_free)
        req->userdata_free(req->userdata);
    resp_reset(&req->resp);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    V2M_LOG(V2M_WARN, "libmicrohttpd: %s", buf);
}

v2m_httpd *v2m_httpd_start(const v2m_httpd_opts *opts, v2m_error *err)
{
    v2m_httpd *d = calloc(1, sizeof *d);
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    size_t nr;

    if (!d) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    d->o = *opts;
    if (!d->o.max_body)
        d->o.max_body = 64 * 1024;
    if (!d->o.max_header)
        d->o.max_header = 8 * 1024;
    if (d->o.threads <= 0)
        d->o.threads = v2m_ncpu();
    nr = d->o.nroutes + BUILTIN_ROUTES + 1;
    d->counts = calloc(nr, sizeof *d->counts);
    d->seconds = calloc(nr, sizeof *d->seconds);
    if (!d->counts || !d->seconds) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        goto fail;
    }

    memset(&ss, 0, sizeof ss);
    if (strchr(opts->host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)opts->port);
        if (inet_pton(AF_INET6, opts->host, &s6->sin6_addr) != 1) {
            v2m_fail(err, V2M_ECONFIG, "listen address '%s' is not an IPv6 literal", opts->host);
            goto fail;
        }
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)opts->port);
        if (inet_pton(AF_INET, opts->host, &s4->sin_addr) != 1) {
            v2m_fail(err, V2M_ECONFIG, "listen address '%s' is not an IPv4 literal", opts->host);
            goto fail;
        }
    }

    if (d->o.thread_per_connection) {
        flags |= MHD_USE_THREAD_PER_CONNECTION;
        d->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, d,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
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
        d->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, d,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
                                  /* Headers are capped at max_header; a smaller
                                   * pool is less to clear per request. */
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(d->o.max_header + 8192),
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                                  MHD_OPTION_ARRAY, pool,
                                  MHD_OPTION_END);
    }
    if (!d->mhd) {
        v2m_fail(err, V2M_EUNAVAIL, "cannot listen on %s:%d (address in use or not local?)",
                 opts->host, opts->port);
        goto fail;
    }
    {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
        d->port = di ? di->port : opts->port;
    }
    return d;
fail:
    free(d->counts);
    free(d->seconds);
    free(d);
    return NULL;
}

void v2m_httpd_stop(v2m_httpd *d)
{
    if (!d)
        return;
    if (d->mhd)
        MHD_stop_daemon(d->mhd);
    free(d->counts);
    free(d->seconds);
    free(d);
}

int v2m_httpd_port(const v2m_httpd *d) { return d->port; }

void v2m_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int v2m_signals_wait(void)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigwait(&set, &sig);
    return sig;
}
