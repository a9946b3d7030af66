/* httpd.h - the HTTP server every v2m service uses, over libmicrohttpd.
 *
 * A service passes a table of routes and an application pointer. The wrapper
 * adds /healthz, /readyz and /metrics, refuses oversized headers (431) and
 * bodies (413), counts requests per route for /metrics, and logs one line per
 * request. Handlers run on the server's threads (a pool, or one thread per
 * connection), so anything they share must be thread-safe.
 *
 * Every answer carries `X-Content-Type-Options: nosniff` and, unless the
 * handler set its own, `Cache-Control: no-store`. HEAD is served wherever GET
 * is; a 405 names the allowed methods in `Allow`; a Transfer-Encoding other
 * than chunked gets 501 at once.
 *
 * Connections (httpd_conns.c): at most max_conns at once and
 * max_conns_per_addr from one client address (peers that trusted_peer()
 * accepts, such as a proxy in front, are exempt); the request line and headers
 * must arrive within header_timeout seconds of the connection opening (or of
 * the previous answer on a kept-alive connection), however slowly they
 * trickle; a request then may stay silent for at most idle_timeout seconds.
 *
 * With admin_host set, /metrics and /readyz's reason are served only on that
 * second (private) address; the public one keeps /healthz and a bare /readyz.
 *
 * Bodies: by default a request body is buffered up to max_body bytes and
 * handed to the handler. A route that sets body_begin/body_data instead gets
 * the body in chunks as it arrives (uploads), with no buffering here.
 */
#ifndef V2M_HTTPD_H
#define V2M_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "err.h"

struct MHD_Connection;
typedef struct v2m_httpd v2m_httpd;
typedef struct v2m_http_req v2m_http_req;

#define V2M_HTTP_MAX_HEADERS 8
#define V2M_HTTP_STREAM_END (-1)     /* = MHD_CONTENT_READER_END_OF_STREAM */
#define V2M_HTTP_STREAM_ERROR (-2)   /* = MHD_CONTENT_READER_END_WITH_ERROR */

/* What a handler answers. Fill it with the v2m_http_reply_* helpers. */
typedef struct v2m_http_resp {
    int status;                     /* 0 = not answered yet */
    const char *content_type;       /* static string */
    char *body;                     /* malloc'd; owned by the wrapper once set */
    size_t len;
    /* Streaming instead of body: read(cls, pos, buf, max) returns bytes
     * copied (> 0), V2M_HTTP_STREAM_END at the end or V2M_HTTP_STREAM_ERROR
     * (the connection is closed); free(cls) is called once, always. */
    uint64_t stream_size;           /* UINT64_MAX when unknown */
    ssize_t (*stream_read)(void *cls, uint64_t pos, char *buf, size_t max);
    void (*stream_free)(void *cls);
    void *stream_cls;
    int nheaders;
    struct { char name[64]; char value[512]; } headers[V2M_HTTP_MAX_HEADERS];
} v2m_http_resp;

typedef void (*v2m_http_handler)(void *app, v2m_http_req *req, v2m_http_resp *resp);

typedef struct v2m_http_route {
    const char *method;             /* "GET", "POST", ... */
    const char *path;               /* "/login"; with prefix=1, "/jobs/" matches "/jobs/..." */
    int prefix;
    v2m_http_handler handler;       /* called once the whole request is in */
    /* Optional streaming body. body_begin runs before any body byte is read;
     * it may answer (resp->status != 0) to refuse the request outright.
     * body_data gets each chunk; returning non-zero stops reading and the
     * handler sees the refusal it wrote into resp. body_end always runs last
     * (after the handler), to release what body_begin set up. */
    void (*body_begin)(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream);
    int (*body_data)(void *app, v2m_http_req *req, v2m_http_resp *resp, void *stream,
                     const char *data, size_t len);
    void (*body_end)(void *app, void *stream);
    /* 1: run the handler on the server's offload pool (low-priority threads)
     * so slow work, such as password hashing, never holds the threads that
     * serve the other routes. The connection is suspended meanwhile. */
    int offload;
} v2m_http_route;

typedef struct v2m_httpd_opts {
    const char *service;            /* name for logs and metrics ("auth") */
    const char *host;               /* listen address, IPv4 or IPv6 literal */
    int port;                       /* 0 = any free port (see v2m_httpd_port) */
    const v2m_http_route *routes;
    size_t nroutes;
    void *app;
    size_t max_body;                /* buffered bodies; default 64 KiB */
    size_t max_header;              /* total header bytes; default 8 KiB */
    int threads;                    /* pool size; default the number of cores */
    int thread_per_connection;      /* for handlers that block for long */
    /* /readyz: return 0 when ready; else write a reason into msg. */
    int (*ready)(void *app, char *msg, size_t msgsz);
    /* Extra /metrics lines (Prometheus text), appended to buf (v2m_buf_printf). */
    void (*metrics)(void *app, v2m_buf *buf);
    /* Connection bounds (see the top); 0 takes the default in brackets. */
    int max_conns;                  /* [1000] */
    int max_conns_per_addr;         /* [64] */
    int header_timeout;             /* seconds [15] */
    int idle_timeout;               /* seconds [60] */
    /* 1 when sa is a trusted proxy (exempt from the per-address cap, and
     * allowed to name the client in X-Forwarded-For); NULL trusts none. */
    int (*trusted_peer)(void *app, const struct sockaddr *sa);
    int offload_threads;            /* [number of cores]; for .offload routes */
    int offload_queue;              /* requests waiting for it before 503 [256] */
    /* The client a request counts against in the offload queue (e.g. its
     * address behind trusted proxies), written into out; NULL: no per-client
     * bound. A client with offload_per_client requests queued or running
     * gets 429 for the next. */
    void (*client_key)(void *app, v2m_http_req *req, char *out, size_t outsz);
    int offload_per_client;         /* [8] */
    /* Private listener for /metrics and the detailed /readyz; NULL: none
     * (all built-ins on the public address). */
    const char *admin_host;
    int admin_port;                 /* 0 = any free port */
} v2m_httpd_opts;

/* The connection bounds' settings: V2M_MAX_CONNECTIONS,
 * V2M_MAX_CONNECTIONS_PER_ADDR, V2M_HEADER_TIMEOUT, V2M_IDLE_TIMEOUT. */
extern const v2m_cfg_table v2m_httpd_table;

/* Load v2m_httpd_table into o's max_conns, max_conns_per_addr,
 * header_timeout and idle_timeout. */
v2m_err v2m_httpd_env(v2m_httpd_opts *o, v2m_error *err);

/* Start listening; NULL with err set when the address is taken or bad. */
v2m_httpd *v2m_httpd_start(const v2m_httpd_opts *opts, v2m_error *err);
/* Stop accepting new connections and wait, at most grace_s seconds, for the
 * requests in progress (uploads among them) to finish and be answered. */
void v2m_httpd_drain(v2m_httpd *d, double grace_s);
/* Stop accepting, finish running handlers, free. Safe on NULL. */
void v2m_httpd_stop(v2m_httpd *d);
/* The bound port (useful with port 0); the admin port, 0 without one. */
int v2m_httpd_port(const v2m_httpd *d);
int v2m_httpd_admin_port(const v2m_httpd *d);

/* Request accessors; strings live as long as the request. */
const char *v2m_http_path(const v2m_http_req *req);
const char *v2m_http_header(const v2m_http_req *req, const char *name);
const char *v2m_http_query(const v2m_http_req *req, const char *name);
struct MHD_Connection *v2m_http_conn(const v2m_http_req *req);
/* The TCP peer's address (NULL when unknown). */
const struct sockaddr *v2m_http_peer(const v2m_http_req *req);
/* The stream body_begin set up (streaming routes), for the handler. */
void *v2m_http_stream(const v2m_http_req *req);

/* Answers. Each replaces what resp held. Text bodies end with a newline. */
void v2m_http_reply_text(v2m_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void v2m_http_reply_raw(v2m_http_resp *resp, int status, const char *ctype, const char *data,
                        size_t len);
/* Takes the reference to obj. */
void v2m_http_reply_json(v2m_http_resp *resp, int status, json_t *obj);
/* An error as status + readable text: the message of e, or its code's text. */
void v2m_http_reply_error(v2m_http_resp *resp, const v2m_error *e);
void v2m_http_add_header(v2m_http_resp *resp, const char *name, const char *value);

/* HTTP status for an error code (V2M_EUNAVAIL -> 503, V2M_ENOTFOUND -> 404...). */
int v2m_http_status_for(v2m_err code);

#endif
