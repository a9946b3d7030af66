/* The HTTP server's routing and refusals, in-process over loopback, and the
 * status each error code gets.
 *
 * A server on port 0 with a small route table; raw requests (one per
 * connection, `Connection: close`) so that every byte of the answer is seen:
 * - an exact route, its other methods (405 naming them all in Allow, GET
 *   bringing HEAD), an unknown path (404);
 * - HEAD on a GET route: the GET's status and Content-Length, no body;
 * - prefix routes: "/files/" takes "/files/a/b" but not "/files";
 * - the built-in /healthz (GET and HEAD only);
 * - headers over max_header (431), a Content-Length or a chunked body over
 *   max_body (413), a Transfer-Encoding other than chunked (501);
 * - every answer says nosniff and, unless the handler chose, no-store.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/httpd.h"
#include "common/log.h"

/* ---- the server ---- */

/* Answers "echo <path>". */
static void on_echo(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    (void)app;
    v2m_http_reply_text(resp, 200, "echo %s", v2m_http_path(req));
}

static void on_post(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    (void)app;
    v2m_http_reply_text(resp, 201, "posted %s", v2m_http_path(req));
}

static void on_cached(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    (void)app;
    (void)req;
    v2m_http_reply_text(resp, 200, "cached");
    v2m_http_add_header(resp, "Cache-Control", "max-age=60");
}

static const v2m_http_route routes[] = {
    {.method = "GET", .path = "/ping", .handler = on_echo},
    {.method = "POST", .path = "/ping", .handler = on_post},
    {.method = "PUT", .path = "/only-put", .handler = on_post},
    {.method = "GET", .path = "/files/", .prefix = 1, .handler = on_echo},
    {.method = "DELETE", .path = "/files/", .prefix = 1, .handler = on_post},
    {.method = "POST", .path = "/body", .handler = on_post},
    {.method = "GET", .path = "/cached", .handler = on_cached},
};

enum { MAX_HEADER = 1024, MAX_BODY = 1000 };

/* ---- a raw client ---- */

typedef struct {
    int status;
    char head[8192];   /* status line and headers */
    char body[8192];
    size_t body_len;
} answer;

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send raw (the whole request), read until the server closes; the answer's
 * status, or -1 when none came. */
static int request(int port, const char *raw, size_t rawlen, answer *a)
{
    static char buf[65536];
    size_t len = 0;
    const char *end;
    int fd = dial(port);

    memset(a, 0, sizeof *a);
    a->status = -1;
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < rawlen;) {
        ssize_t w = send(fd, raw + off, rawlen - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;   /* the server may answer and close before reading it all */
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.1 %d", &a->status) != 1)
        return a->status = -1;
    snprintf(a->head, sizeof a->head, "%.*s\r\n", (int)(end - buf), buf);
    a->body_len = len - (size_t)(end + 4 - buf);
    if (a->body_len >= sizeof a->body)
        a->body_len = sizeof a->body - 1;
    memcpy(a->body, end + 4, a->body_len);
    a->body[a->body_len] = '\0';
    return a->status;
}

static int simple(int port, const char *method, const char *path, answer *a)
{
    char raw[512];
    snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method,
             path);
    return request(port, raw, strlen(raw), a);
}

/* The value of header name in a (without the CRLF), or "" when absent. */
static const char *header(const answer *a, const char *name)
{
    static char v[512];
    char key[128];
    const char *p;

    snprintf(key, sizeof key, "\r\n%s:", name);
    p = strcasestr(a->head, key);
    if (!p)
        return "";
    p += strlen(key);
    while (*p == ' ')
        p++;
    snprintf(v, sizeof v, "%.*s", (int)strcspn(p, "\r\n"), p);
    return v;
}

/* ---- the tests ---- */

static void test_exact_routes(int port)
{
    answer a;

    CHECK(simple(port, "GET", "/ping", &a) == 200);
    CHECK_STR(a.body, "echo /ping\n");
    CHECK(simple(port, "POST", "/ping", &a) == 201);
    CHECK_STR(a.body, "posted /ping\n");
    /* Another method on a known path: 405, Allow lists every method of
     * the path, HEAD beside GET. */
    CHECK(simple(port, "DELETE", "/ping", &a) == 405);
    CHECK_STR(header(&a, "Allow"), "GET, HEAD, POST");
    CHECK(simple(port, "PUT", "/ping", &a) == 405);
    CHECK_STR(header(&a, "Allow"), "GET, HEAD, POST");
    CHECK(simple(port, "GET", "/only-put", &a) == 405);
    CHECK_STR(header(&a, "Allow"), "PUT");
    CHECK(simple(port, "HEAD", "/only-put", &a) == 405);
    /* Unknown paths, and paths that only start like a route. */
    CHECK(simple(port, "GET", "/nope", &a) == 404);
    CHECK(simple(port, "GET", "/pingx", &a) == 404);
    CHECK(simple(port, "GET", "/ping/", &a) == 404);
    CHECK(simple(port, "GET", "/", &a) == 404);
    CHECK_STR(header(&a, "Allow"), "");
    /* Query strings are not part of the path. */
    CHECK(simple(port, "GET", "/ping?x=1", &a) == 200);
    CHECK_STR(a.body, "echo /ping\n");
}

static void test_head(int port)
{
    answer get, head;

    CHECK(simple(port, "GET", "/ping", &get) == 200);
    CHECK(simple(port, "HEAD", "/ping", &head) == 200);
    CHECK(get.body_len > 0);
    CHECK(head.body_len == 0);
    CHECK_STR(header(&head, "Content-Length"), header(&get, "Content-Length"));
    CHECK(atoi(header(&get, "Content-Length")) == (int)get.body_len);
    /* HEAD on a prefix GET route too. */
    CHECK(simple(port, "HEAD", "/files/x", &head) == 200);
    CHECK(head.body_len == 0);
}

static void test_prefix_routes(int port)
{
    answer a;

    CHECK(simple(port, "GET", "/files/a/b.mp3", &a) == 200);
    CHECK_STR(a.body, "echo /files/a/b.mp3\n");
    CHECK(simple(port, "GET", "/files/", &a) == 200);
    CHECK(simple(port, "DELETE", "/files/a", &a) == 201);
    /* The prefix includes its slash. */
    CHECK(simple(port, "GET", "/files", &a) == 404);
    CHECK(simple(port, "GET", "/filesx", &a) == 404);
    CHECK(simple(port, "POST", "/files/a", &a) == 405);
    CHECK_STR(header(&a, "Allow"), "GET, HEAD, DELETE");
}

static void test_builtins(int port)
{
    answer a;

    CHECK(simple(port, "GET", "/healthz", &a) == 200);
    CHECK_STR(a.body, "ok\n");
    CHECK(simple(port, "HEAD", "/healthz", &a) == 200);
    CHECK(a.body_len == 0);
    CHECK(simple(port, "POST", "/healthz", &a) == 405);
    CHECK_STR(header(&a, "Allow"), "GET, HEAD");
    CHECK(simple(port, "GET", "/readyz", &a) == 200);
}

static void test_common_headers(int port)
{
    answer a;

    CHECK(simple(port, "GET", "/ping", &a) == 200);
    CHECK_STR(header(&a, "X-Content-Type-Options"), "nosniff");
    CHECK_STR(header(&a, "Cache-Control"), "no-store");
    CHECK(simple(port, "GET", "/nope", &a) == 404);
    CHECK_STR(header(&a, "X-Content-Type-Options"), "nosniff");
    CHECK_STR(header(&a, "Cache-Control"), "no-store");
    /* A handler's own Cache-Control is kept, and not doubled. */
    CHECK(simple(port, "GET", "/cached", &a) == 200);
    CHECK_STR(header(&a, "Cache-Control"), "max-age=60");
    CHECK(strstr(a.head, "no-store") == NULL);
}

static void test_limits(int port)
{
    char raw[8192], filler[MAX_HEADER + 200];
    answer a;

    /* Headers: just under the limit pass, over it get 431. */
    memset(filler, 'h', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    snprintf(raw, sizeof raw, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "X-Filler: %.*s\r\n\r\n", MAX_HEADER - 100, filler);
    CHECK(request(port, raw, strlen(raw), &a) == 200);
    snprintf(raw, sizeof raw, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "X-Filler: %s\r\n\r\n", filler);
    CHECK(request(port, raw, strlen(raw), &a) == 431);
    /* On an unknown path too: the size is checked before the route. */
    snprintf(raw, sizeof raw, "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "X-Filler: %s\r\n\r\n", filler);
    CHECK(request(port, raw, strlen(raw), &a) == 431);

    /* Bodies: a Content-Length at the limit passes, one over it is refused
     * before any byte of the body is read. */
    {
        char body[MAX_BODY + 2];
        int n;
        memset(body, 'b', sizeof body - 1);
        body[sizeof body - 1] = '\0';
        n = snprintf(raw, sizeof raw, "POST /body HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n%.*s", MAX_BODY, MAX_BODY, body);
        CHECK(request(port, raw, (size_t)n, &a) == 201);
        n = snprintf(raw, sizeof raw, "POST /body HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n", MAX_BODY + 1);
        CHECK(request(port, raw, (size_t)n, &a) == 413);
        /* Chunked, so no length up front: refused once the body passes it. */
        n = snprintf(raw, sizeof raw, "POST /body HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                     (unsigned)(MAX_BODY + 1), body);
        CHECK(request(port, raw, (size_t)n, &a) == 413);
        n = snprintf(raw, sizeof raw, "POST /body HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");
        CHECK(request(port, raw, (size_t)n, &a) == 201);
    }
    /* A body framing that cannot be read: 501 at once. */
    snprintf(raw, sizeof raw, "POST /body HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Transfer-Encoding: gzip\r\n\r\n");
    CHECK(request(port, raw, strlen(raw), &a) == 501);
}

/* The status of every error code; each one chosen, none by default. */
static void test_status_for(void)
{
    static const struct {
        v2m_err code;
        int status;
    } want[] = {
        {V2M_OK, 200},
        {V2M_ENOMEM, 500},
        {V2M_EINVAL, 400},
        {V2M_EIO, 500},
        {V2M_ENOTFOUND, 404},
        {V2M_EEXIST, 409},
        {V2M_EUNAVAIL, 503},
        {V2M_ETOOBIG, 413},
        {V2M_EAUTH, 401},
        {V2M_EDENIED, 403},
        {V2M_ETIMEOUT, 504},
        {V2M_ECANCELLED, 503},
        {V2M_EPROTO, 502},
        {V2M_ECONFIG, 500},
        {V2M_EINTERNAL, 500},
        {V2M_ESTATE, 409},
        {V2M_ELIMIT, 429},
        {V2M_EMEDIA_EMPTY, 422},
        {V2M_EMEDIA_NOTMEDIA, 422},
        {V2M_EMEDIA_CORRUPT, 422},
        {V2M_EMEDIA_NOAUDIO, 422},
        {V2M_EMEDIA_CODEC, 422},
        {V2M_EMEDIA_WRITE, 500},
        {V2M_EMEDIA_ENCODE, 500},
        {V2M_EMEDIA_NOSEEK, 422},
        {V2M_EMEDIA_UNSUPPORTED, 422},
        {V2M_EMEDIA_TOOLONG, 422},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int got = v2m_http_status_for(want[i].code);
        if (got != want[i].status)
            fprintf(stderr, "code %d: status %d, expected %d\n", (int)want[i].code, got,
                    want[i].status);
        CHECK(got == want[i].status);
    }
    /* A number that is no code at all. */
    CHECK(v2m_http_status_for((v2m_err)9999) == 500);
}

int main(void)
{
    v2m_error err = {0};
    v2m_httpd_opts o = {.service = "routes",
                        .host = "127.0.0.1",
                        .routes = routes,
                        .nroutes = sizeof routes / sizeof routes[0],
                        .threads = 2,
                        .max_header = MAX_HEADER,
                        .max_body = MAX_BODY};
    v2m_httpd *d;
    int port;

    signal(SIGPIPE, SIG_IGN);
    if (!getenv("V2M_LOG_LEVEL"))
        v2m_log_threshold = V2M_WARN;
    test_status_for();
    d = v2m_httpd_start(&o, &err);
    CHECK(d != NULL);
    if (!d) {
        fprintf(stderr, "cannot start the server: %s\n", v2m_error_msg(&err));
        return check_exit("test_httpd_routes");
    }
    port = v2m_httpd_port(d);
    CHECK(port > 0);
    test_exact_routes(port);
    test_head(port);
    test_prefix_routes(port);
    test_builtins(port);
    test_common_headers(port);
    test_limits(port);
    v2m_httpd_stop(d);
    return check_exit("test_httpd_routes");
}
