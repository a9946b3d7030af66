/* The HTTP server under connection churn, in-process, over loopback.
 *
 * - The header deadline: while the watchdog shuts down sockets that never
 *   finish their headers (and others close themselves right at the
 *   deadline), no other connection is ever cut, in both threading modes.
 *   A shutdown() aimed at a descriptor that libmicrohttpd had already closed
 *   and reused for a new connection would show up here as a cut request.
 * - The offload pool: clients that send a request to an offloaded route and
 *   hang up at once (reset or FIN) while their connection is suspended: the
 *   answer goes to a dead socket, never to a freed request (run under ASan);
 *   a full queue answers 503; the quick routes keep answering.
 * - Stopping while kept-alive clients keep sending offloaded requests, and
 *   with the queue full: the stop neither hangs nor aborts (libmicrohttpd
 *   aborts when stopped with a connection still suspended), and nothing is
 *   used after it was freed.
 *
 * With an argument, only the tests whose name contains it run (see main).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/httpd.h"
#include "common/log.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

/* ---- the server ---- */

static atomic_int offloaded_runs;

static void on_ping(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    (void)app;
    (void)req;
    v2m_http_reply_text(resp, 200, "pong");
}

/* Slow work, as password hashing is. */
static void on_slow(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    const char *n = v2m_http_header(req, "X-N");
    (void)app;
    atomic_fetch_add(&offloaded_runs, 1);
    sleep_s(0.004);
    v2m_http_reply_text(resp, 200, "slow %s", n ? n : "-");
}

static const v2m_http_route routes[] = {
    {.method = "GET", .path = "/ping", .handler = on_ping},
    {.method = "POST", .path = "/slow", .handler = on_slow, .offload = 1},
};

static v2m_httpd *start(int thread_per_connection, int header_timeout, int queue)
{
    v2m_error err = {0};
    v2m_httpd_opts o = {.service = "test",
                        .host = "127.0.0.1",
                        .routes = routes,
                        .nroutes = sizeof routes / sizeof routes[0],
                        .threads = 2,
                        .thread_per_connection = thread_per_connection,
                        .max_conns_per_addr = 10000,
                        .header_timeout = header_timeout,
                        .offload_threads = 2,
                        .offload_queue = queue};
    v2m_httpd *d = v2m_httpd_start(&o, &err);
    if (!d)
        fprintf(stderr, "cannot start the server: %s\n", v2m_error_msg(&err));
    return d;
}

/* ---- a small client ---- */

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void close_reset(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static int send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one answer; its status (and body into body), or -1 when the
 * connection ended or failed before a whole answer came. */
static int read_answer(int fd, char *body, size_t bodysz)
{
    char buf[4096];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && len >= sizeof buf - 1)
            return -1;
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return -1;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    if (want >= sizeof buf)
        return -1;
    memmove(buf, end + 4, have);
    while (have < want) {
        ssize_t r = recv(fd, buf + have, want - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    buf[want] = '\0';
    if (body)
        snprintf(body, bodysz, "%s", buf);
    return status;
}

/* The value of the /metrics line that contains name, or -1. */
static int get_metric(int port, const char *name)
{
    static char buf[65536];
    size_t len = 0;
    ssize_t r;
    int fd = dial(port), n = -1;
    if (fd < 0)
        return -1;
    if (send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0)
        while (len < sizeof buf - 1 && (r = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
            len += (size_t)r;
    buf[len] = '\0';
    const char *p = strstr(buf, name);
    if (p && (p = strchr(p, '}')))
        n = atoi(p + 1);
    close(fd);
    return n;
}

/* ---- the header deadline under churn ---- */

typedef struct churn {
    int port;
    double until;
    atomic_int ok, cut;
    int keep_alive;
} churn;

typedef struct slowpokes {
    int port;
    double until;
    unsigned seed;
    int closed;
} slowpokes;

/* Sockets that start a request and never finish it: each closes itself
 * (half by reset) at a random moment around the 1 s deadline, so that the
 * watchdog's shutdowns race with libmicrohttpd's closes. */
static void *slowpoke(void *cls)
{
    slowpokes *c = cls;
    unsigned seed = c->seed;
    while (now_s() < c->until) {
        struct { int fd; double at; } s[24];
        int n = 0;
        double t0 = now_s();
        for (int i = 0; i < 24; i++) {
            int fd = dial(c->port);
            if (fd < 0)
                continue;
            send_all(fd, "GET /ping HTTP/1.1\r\nHost: x\r\n");
            s[n].fd = fd;
            s[n].at = t0 + 0.7 + (double)(rand_r(&seed) % 900) / 1000.0;
            n++;
        }
        /* close in order of their moments */
        for (int done = 0; done < n; done++) {
            int k = -1;
            for (int i = 0; i < n; i++)
                if (s[i].fd >= 0 && (k < 0 || s[i].at < s[k].at))
                    k = i;
            sleep_s(s[k].at - now_s());
            if (rand_r(&seed) % 2)
                close_reset(s[k].fd);
            else
                close(s[k].fd);
            s[k].fd = -1;
            c->closed++;
        }
    }
    return NULL;
}

/* Quick, complete requests: fresh connections, or one kept alive. */
static void *quick(void *cls)
{
    churn *c = cls;
    int fd = -1;
    char body[256];
    while (now_s() < c->until) {
        if (fd < 0 && (fd = dial(c->port)) < 0) {
            atomic_fetch_add(&c->cut, 1);
            continue;
        }
        int st = -1;
        if (send_all(fd, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n") == 0)
            st = read_answer(fd, body, sizeof body);
        if (st == 200 && strcmp(body, "pong\n") == 0) {
            atomic_fetch_add(&c->ok, 1);
        } else {
            fprintf(stderr, "quick request cut (status %d, errno %d)\n", st, errno);
            atomic_fetch_add(&c->cut, 1);
            close(fd);
            fd = -1;
            continue;
        }
        if (!c->keep_alive) {
            close(fd);
            fd = -1;
        }
        sleep_s(0.001);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_header_deadline_cuts_no_other_connection(int thread_per_connection)
{
    v2m_httpd *d = start(thread_per_connection, 1, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    int port = v2m_httpd_port(d);
    double until = now_s() + 4.0;
    slowpokes slow[2] = {{.port = port, .until = until, .seed = 7},
                         {.port = port, .until = until, .seed = 11}};
    churn fresh = {.port = port, .until = until};
    churn kept = {.port = port, .until = until, .keep_alive = 1};
    pthread_t th[6];
    pthread_create(&th[0], NULL, slowpoke, &slow[0]);
    pthread_create(&th[1], NULL, slowpoke, &slow[1]);
    pthread_create(&th[2], NULL, quick, &fresh);
    pthread_create(&th[3], NULL, quick, &fresh);
    pthread_create(&th[4], NULL, quick, &kept);
    pthread_create(&th[5], NULL, quick, &kept);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    int timed_out = get_metric(port, "reason=\"header-timeout\"");
    fprintf(stderr, "%s: quick ok=%d+%d cut=%d+%d; slow closed=%d, %d of them by the deadline\n",
            thread_per_connection ? "thread per connection" : "thread pool",
            atomic_load(&fresh.ok), atomic_load(&kept.ok), atomic_load(&fresh.cut),
            atomic_load(&kept.cut), slow[0].closed + slow[1].closed, timed_out);
    CHECK(atomic_load(&fresh.cut) == 0);
    CHECK(atomic_load(&kept.cut) == 0);
    CHECK(atomic_load(&fresh.ok) > 50 && atomic_load(&kept.ok) > 50);
    CHECK(timed_out > 10); /* the watchdog did fire, many times */
    /* and none is counted as open any more (but the one asking) */
    int open_conns = -1;
    for (int i = 0; i < 40 && open_conns != 1; i++, sleep_s(0.05))
        open_conns = get_metric(port, "v2m_http_connections{");
    CHECK(open_conns == 1);
    v2m_httpd_stop(d);
}

/* ---- the offload pool ---- */

typedef struct flood {
    int port;
    double until;
    atomic_int sent, answered, busy, other;
    int hang_up;     /* close right after the request */
    int n;           /* stop after n requests (0: until) */
} flood;

static const char slow_req[] = "POST /slow HTTP/1.1\r\nHost: x\r\nX-N: %d\r\nContent-Length: 0\r\n\r\n";

/* Requests to the offloaded route, hanging up at once (half by reset,
 * sometimes two pipelined), or waiting for the answer on a kept-alive
 * connection. */
static void *slow_client(void *cls)
{
    flood *f = cls;
    int fd = -1, i = 0;
    char req[256], body[256];
    while ((f->n ? i < f->n : 1) && now_s() < f->until) {
        i++;
        if (fd < 0 && (fd = dial(f->port)) < 0) {
            if (!f->n) /* refused after a stop: over */
                break;
            continue;
        }
        snprintf(req, sizeof req, slow_req, i);
        if (f->hang_up) {
            send_all(fd, req);
            if (i % 3 == 0)
                send_all(fd, req);
            atomic_fetch_add(&f->sent, 1);
            if (i % 2)
                close_reset(fd);
            else
                close(fd);
            fd = -1;
            continue;
        }
        if (send_all(fd, req) != 0) {
            close(fd);
            fd = -1;
            break;
        }
        atomic_fetch_add(&f->sent, 1);
        int st = read_answer(fd, body, sizeof body);
        char want[32];
        snprintf(want, sizeof want, "slow %d\n", i);
        if (st == 200 && strcmp(body, want) == 0) {
            atomic_fetch_add(&f->answered, 1);
        } else if (st == 503) {
            atomic_fetch_add(&f->busy, 1);
            sleep_s(0.001);
        } else {
            atomic_fetch_add(&f->other, 1);
            close(fd);
            fd = -1;
            if (!f->n)
                break; /* the server is stopping */
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_offload_clients_hanging_up(void)
{
    v2m_httpd *d = start(0, 15, 16);
    CHECK(d != NULL);
    if (!d)
        return;
    int port = v2m_httpd_port(d);
    flood gone = {.port = port, .until = now_s() + 3.0, .hang_up = 1};
    flood kept = {.port = port, .until = gone.until};
    churn ping = {.port = port, .until = gone.until, .keep_alive = 1};
    pthread_t th[6];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, slow_client, &gone);
    pthread_create(&th[4], NULL, slow_client, &kept);
    pthread_create(&th[5], NULL, quick, &ping);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    fprintf(stderr, "offload: %d requests hung up on; kept-alive client: %d answered, %d busy, "
            "%d other; quick route ok=%d cut=%d; handler runs=%d\n",
            atomic_load(&gone.sent), atomic_load(&kept.answered), atomic_load(&kept.busy),
            atomic_load(&kept.other), atomic_load(&ping.ok), atomic_load(&ping.cut),
            atomic_load(&offloaded_runs));
    CHECK(atomic_load(&gone.sent) > 100);
    CHECK(atomic_load(&kept.answered) > 0);
    CHECK(atomic_load(&kept.other) == 0); /* each request: its own answer, or 503 */
    CHECK(atomic_load(&ping.cut) == 0 && atomic_load(&ping.ok) > 50);
    v2m_httpd_stop(d);
}

/* Stop (drain, then stop) while kept-alive clients keep queueing work and
 * others fill the queue and hang up. */
static void test_offload_stop_under_load(void)
{
    for (int round = 0; round < 3; round++) {
        v2m_httpd *d = start(0, 15, 8);
        CHECK(d != NULL);
        if (!d)
            return;
        int port = v2m_httpd_port(d);
        flood gone = {.port = port, .until = now_s() + 30, .hang_up = 1, .n = 40};
        flood kept = {.port = port, .until = now_s() + 30};
        pthread_t th[6];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, slow_client, &gone);
        for (int i = 2; i < 6; i++)
            pthread_create(&th[i], NULL, slow_client, &kept);
        sleep_s(0.3 + 0.1 * round);
        v2m_httpd_drain(d, 0.05 * round);
        v2m_httpd_stop(d);
        for (int i = 0; i < 6; i++)
            pthread_join(th[i], NULL);
        fprintf(stderr, "stop round %d: kept-alive clients: %d answered, %d busy, %d cut by the "
                "stop\n", round, atomic_load(&kept.answered), atomic_load(&kept.busy),
                atomic_load(&kept.other));
        CHECK(atomic_load(&kept.answered) > 0);
    }
}

/* With an argument, only the tests whose name contains it. */
static int want(int argc, char **argv, const char *name)
{
    return argc < 2 || strstr(name, argv[1]) != NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (!getenv("V2M_LOG_LEVEL"))
        v2m_log_threshold = V2M_WARN; /* a line per request is too many here */
    if (want(argc, argv, "deadline-pool"))
        test_header_deadline_cuts_no_other_connection(0);
    if (want(argc, argv, "deadline-thread-per-connection"))
        test_header_deadline_cuts_no_other_connection(1);
    if (want(argc, argv, "offload-hang-up"))
        test_offload_clients_hanging_up();
    if (want(argc, argv, "offload-stop"))
        test_offload_stop_under_load();
    return check_exit("test_httpd");
}
