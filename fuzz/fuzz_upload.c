/* fuzz_upload.c - POST /upload through the gateway's real handler.
 *
 * Once per process (LLVMFuzzerInitialize): a file store, its job records and
 * an SQLite queue in a fresh temporary directory; the real HTTP server
 * (common/httpd.c) on 127.0.0.1, any free port, with the gateway's /upload
 * route (gw_upload_begin / gw_upload_data / gw_upload / gw_upload_end); and
 * a test double for v2m-auth: a second server on loopback whose /validate
 * accepts any bearer token as user fuzz@x. Nothing leaves the machine.
 *
 * Each input is the body of one POST /upload, sent over a loopback socket
 * with Content-Type multipart/form-data; boundary=XyZ. Two prefixes pick
 * other framings: 'U' sends the rest as application/x-www-form-urlencoded,
 * 'C' sends it multipart with chunked transfer coding (chunks of 1..16
 * bytes, their sizes taken from the body's bytes).
 * The upload limit is 2048 bytes, so the 413 path is reachable.
 *
 * Checks: the answer is 200, 400, 413 or 415 (a 5xx means the gateway failed on
 * its own store, which must not happen for any body); after a 200 the file,
 * its job record and exactly one well-formed message on the video queue
 * exist, all for fuzz@x and the same id. They are then removed, so the
 * store stays small however long the run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/message.h"
#include "common/oid.h"
#include "fuzz.h"
#include "gateway/gateway.h"
#include "ports/queue.h"

#define MAX_UPLOAD 2048
#define USER "fuzz@x"

static char dir[256];
static gw_app app;
static v2m_httpd *gw_srv, *auth_srv;
static v2m_queue *consumer;
static int gw_port;

/* The test double of v2m-auth's /validate: every token is fuzz@x's. */
static void fake_validate(void *ud, v2m_http_req *req, v2m_http_resp *resp)
{
    v2m_http_reply_json(resp, 200, json_pack("{s:s, s:b}", "username", USER, "admin", 0));
}

static const v2m_http_route auth_routes[] = {
    {.method = "POST", .path = "/validate", .handler = fake_validate},
};

/* The gateway's /upload route, as src/gateway/main.c declares it. */
static const v2m_http_route gw_routes[] = {
    {.method = "POST", .path = "/upload", .handler = gw_upload, .body_begin = gw_upload_begin,
     .body_data = gw_upload_data, .body_end = gw_upload_end},
};

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    return remove(path);
}

static void teardown(void)
{
    v2m_httpd_stop(gw_srv);
    v2m_httpd_stop(auth_srv);
    v2m_queue_close(consumer);
    gw_queue_close(&app);
    v2m_jobs_close(app.jobs);
    v2m_store_close(app.store);
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A run that crashed left its directory (atexit does not run then):
 * remove those of processes that are gone. */
static void sweep(const char *base)
{
    char path[512];
    DIR *d = opendir(base);
    struct dirent *e;
    long pid;

    if (!d)
        return;
    while ((e = readdir(d)))
        if (sscanf(e->d_name, "v2m-fuzz-upload-%ld-", &pid) == 1 && pid > 0 &&
            kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            snprintf(path, sizeof path, "%s/%s", base, e->d_name);
            nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    closedir(d);
}

static void die(const char *what, const v2m_error *err)
{
    fprintf(stderr, "fuzz_upload: %s: %s\n", what, err ? v2m_error_msg(err) : strerror(errno));
    exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    v2m_error err = {0};
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    gw_config *c = &app.cfg;

    setenv("V2M_LOG_LEVEL", "error", 0); /* no line per request */
    v2m_log_init();
    if (!tmp)
        tmp = "/tmp";
    sweep(tmp);
    snprintf(dir, sizeof dir, "%s/v2m-fuzz-upload-%ld-XXXXXX", tmp, (long)getpid());
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        die("mkdtemp", NULL);
    }
    atexit(teardown);

    auth_srv = v2m_httpd_start(&(v2m_httpd_opts){.service = "auth-double",
                                                 .host = "127.0.0.1",
                                                 .routes = auth_routes,
                                                 .nroutes = 1,
                                                 .threads = 1},
                               &err);
    if (!auth_srv)
        die("auth double", &err);

    snprintf(c->host, sizeof c->host, "127.0.0.1");
    snprintf(c->auth_addr, sizeof c->auth_addr, "127.0.0.1:%d", v2m_httpd_port(auth_srv));
    snprintf(c->store_url, sizeof c->store_url, "file://%s/store", dir);
    snprintf(c->queue_url, sizeof c->queue_url, "sqlite://%s/queue.db", dir);
    snprintf(c->video_queue, sizeof c->video_queue, "video");
    c->max_upload = MAX_UPLOAD;
    snprintf(app.auth_url, sizeof app.auth_url, "http://%s", c->auth_addr);
    if (!(app.store = v2m_store_open(c->store_url, &err)) ||
        !(app.jobs = v2m_jobs_open(c->store_url, &err)) || gw_queue_open(&app, &err))
        die("store, jobs or queue", &err);
    if (!(consumer = v2m_queue_open(c->queue_url, NULL, &err)))
        die("queue consumer", &err);
    gw_srv = v2m_httpd_start(&(v2m_httpd_opts){.service = "gateway",
                                               .host = "127.0.0.1",
                                               .routes = gw_routes,
                                               .nroutes = 1,
                                               .app = &app,
                                               .thread_per_connection = 1},
                             &err);
    if (!gw_srv)
        die("gateway", &err);
    gw_port = v2m_httpd_port(gw_srv);
    return 0;
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        FUZZ_CHECK(b->p != NULL);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, (size_t)n);
}

/* Send req, read the whole answer (the server closes the connection). */
static void exchange(const buf *req, buf *resp)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port)};
    struct timeval tv = {.tv_sec = 30};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t off = 0;
    char tmp[4096];
    ssize_t n;

    FUZZ_CHECK(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    n = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (n != 0 && (errno == EINTR || errno == EALREADY)) {
        n = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        if (n != 0 && errno == EISCONN)
            n = 0;
    }
    FUZZ_CHECK(n == 0);
    /* The server may answer (401, 413, 400) and close before taking it all. */
    /* libFuzzer's timer signal (SIGALRM, for -timeout) interrupts calls. */
    while (off < req->len) {
        n = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    while ((n = recv(fd, tmp, sizeof tmp, 0)) != 0) {
        if (n > 0)
            put(resp, tmp, (size_t)n);
        else if (errno != EINTR)
            break;
    }
    if (n < 0 && errno != ECONNRESET) { /* a timeout: the server hangs */
        fprintf(stderr, "fuzz_upload: recv: %s after %zu bytes sent of %zu, %zu received\n",
                strerror(errno), off, req->len, resp->len);
        FUZZ_CHECK(!"the server answers and closes the connection");
    }
    close(fd);
}

/* After a 200: the file, the record and the message exist and agree. */
static void check_queued(const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *fid = json_string_value(json_object_get(j, "video_fid"));
    v2m_store_meta meta;
    v2m_job job;
    v2m_queue_msg *qm = NULL;
    v2m_msg m;
    v2m_error err = {0};

    FUZZ_CHECK(fid && v2m_oid_valid(fid));
    FUZZ_CHECK(v2m_store_stat(app.store, V2M_NS_VIDEOS, fid, &meta, &err) == V2M_OK);
    FUZZ_CHECK(meta.length >= 0 && meta.length <= MAX_UPLOAD);
    FUZZ_CHECK(strcmp(meta.owner, USER) == 0);
    FUZZ_CHECK(meta.filename[0]);
    FUZZ_CHECK(v2m_jobs_get(app.jobs, fid, &job, &err) == V2M_OK);
    FUZZ_CHECK(v2m_queue_consume(consumer, "video", 0, &qm, &err) == V2M_OK);
    FUZZ_CHECK(v2m_msg_parse(qm->body, qm->len, &m, &err) == V2M_OK);
    FUZZ_CHECK(strcmp(m.video_fid, fid) == 0);
    FUZZ_CHECK(strcmp(m.username, USER) == 0);
    FUZZ_CHECK(strcmp(m.filename, meta.filename) == 0);
    FUZZ_CHECK(v2m_queue_ack(consumer, qm, &err) == V2M_OK);
    qm = NULL;
    FUZZ_CHECK(v2m_queue_consume(consumer, "video", 0, &qm, &err) == V2M_ETIMEOUT);
    FUZZ_CHECK(v2m_jobs_delete(app.jobs, fid, &err) == V2M_OK);
    FUZZ_CHECK(v2m_store_delete(app.store, V2M_NS_VIDEOS, fid, &err) == V2M_OK);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf req = {0}, resp = {0};
    const char *ctype = "multipart/form-data; boundary=XyZ";
    int chunked = 0, status = 0;
    char *hdr_end;

    if (size > 0 && data[0] == 'U') {
        ctype = "application/x-www-form-urlencoded";
        data++, size--;
    } else if (size > 0 && data[0] == 'C') {
        chunked = 1;
        data++, size--;
    }
    putf(&req, "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer fuzz\r\n"
               "Content-Type: %s\r\nConnection: close\r\n", ctype);
    if (!chunked) {
        putf(&req, "Content-Length: %zu\r\n\r\n", size);
        put(&req, data, size);
    } else {
        putf(&req, "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0, n; off < size; off += n) {
            n = 1 + data[off] % 16;
            if (n > size - off)
                n = size - off;
            putf(&req, "%zx\r\n", n);
            put(&req, data + off, n);
            put(&req, "\r\n", 2);
        }
        put(&req, "0\r\n\r\n", 5);
    }
    exchange(&req, &resp);
    put(&resp, "", 1);
    FUZZ_CHECK(sscanf(resp.p, "HTTP/1.1 %d", &status) == 1);
    hdr_end = strstr(resp.p, "\r\n\r\n");
    FUZZ_CHECK(hdr_end != NULL);
    if (status != 200 && status != 400 && status != 413 && status != 415) {
        fprintf(stderr, "fuzz_upload: unexpected answer:\n%s\n", resp.p);
        FUZZ_CHECK(!"the answer is 200, 400, 413 or 415");
    }
    if (status == 200)
        check_queued(hdr_end + 4);
    free(req.p);
    free(resp.p);
    return 0;
}
