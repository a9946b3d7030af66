/* The queue port against a real backend:
 *   queue_test sqlite|amqp|quorum SCENARIO
 * sqlite uses a database in a temporary directory; amqp uses
 * $V2M_TEST_AMQP_URL (RabbitMQ, run under tests/harness/services.sh) with
 * classic queues, quorum the same broker with quorum queues
 * (V2M_QUEUE_TYPE=quorum). "amqp:" below means both.
 *
 * Scenarios:
 *   basic      bodies of 0, 1, 256 and 100000 bytes round trip in order; timeouts,
 *              release, stop flag, close with a held message, durability over a
 *              reopen; amqp: queues declared by the original or with other
 *              arguments are used as they are
 *   kill       a consumer killed with SIGKILL while holding a message: the
 *              message is delivered again (sqlite: once its lease runs out)
 *   dead       retry with delay until max_attempts, then <q>.dead with the
 *              reason; direct dead-lettering; sqlite: a message whose consumers
 *              keep dying ends in <q>.dead; quorum: one handed back again and
 *              again (consumers dying, or a consumer that releases it) is
 *              dead-lettered by the broker after x-delivery-limit returns,
 *              which only a quorum queue has
 *   compete    two consumer processes on one queue: every message delivered
 *              once, never held by both at the same time
 *   keepalive  a consumer holding a message far longer than the heartbeat /
 *              lease keeps it
 *   later      publish_later: not delivered before its delay (sqlite) or the
 *              retry queue's TTL (amqp, for a longer delay), then whole, as a
 *              first delivery; a delay of 0 is a plain publish
 *   delays     two services with different retry delays on one queue, declared
 *              in either order (amqp: also over an older <q>.retry declared
 *              with a TTL): each one's retries come back after its own
 *              delay, and no declaration is refused (nothing logged about
 *              PRECONDITION_FAILED or other arguments)
 *   pull       a pull handle (opts.pull) holds nothing between its calls: a
 *              message published after it looked at an empty queue goes to
 *              another consumer; then it takes, acks and hands back on close
 *              like any handle
 *   restart    amqp: the broker is stopped and started (harness amqp-stop /
 *              amqp-start) under a running publisher and consumer; no confirmed
 *              message is lost and both recover without a restart
 */
#include "ptest.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common/log.h"
#include "ports/queue.h"

static const char *mode;
static char url[4400];
static char qname[96];
static char *dir;

static void test_opts(v2m_queue_opts *o)
{
    v2m_queue_opts_init(o);
    o->max_attempts = 3;
    o->retry_delay_ms = 300;
    o->lease_ms = 1000;
    o->publish_timeout_ms = 15000;
    o->heartbeat_s = 5;
    o->type = strcmp(mode, "quorum") == 0 ? V2M_QUEUE_QUORUM : V2M_QUEUE_CLASSIC;
}

static v2m_queue *open_q(const v2m_queue_opts *o)
{
    v2m_error e = {0};
    v2m_queue *q = v2m_queue_open(url, o, &e);
    if (!q)
        FATAL("queue open: %s", v2m_error_msg(&e));
    return q;
}

static int is_amqp(void) { return strcmp(mode, "amqp") == 0 || strcmp(mode, "quorum") == 0; }
static int is_quorum(void) { return strcmp(mode, "quorum") == 0; }

static v2m_queue_msg *take(v2m_queue *q, const char *name, int timeout_ms)
{
    v2m_queue_msg *m = NULL;
    v2m_error e = {0};
    v2m_err rc = v2m_queue_consume(q, name, timeout_ms, &m, &e);
    if (rc != V2M_OK) {
        fprintf(stderr, "consume %s: %s\n", name, v2m_error_msg(&e));
        return NULL;
    }
    return m;
}

static int body_is(const v2m_queue_msg *m, const void *b, size_t n)
{
    return m && m->len == n && (n == 0 || memcmp(m->body, b, n) == 0);
}

/* amqp: a connection of rabbitmq-c's own (not the port's) to the test
 * broker, channel 1 open. */
static amqp_connection_state_t raw_open(void)
{
    char *u = strdup(url);
    struct amqp_connection_info ci;
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);

    amqp_parse_url(u, &ci);
    if (amqp_socket_open(s, ci.host, ci.port) != AMQP_STATUS_OK ||
        amqp_login(c, ci.vhost && *ci.vhost ? ci.vhost : "/", 0, 131072, 0,
                   AMQP_SASL_METHOD_PLAIN, ci.user, ci.password)
                .reply_type != AMQP_RESPONSE_NORMAL)
        FATAL("raw connection to the broker failed");
    amqp_channel_open(c, 1);
    free(u);
    return c;
}

/* amqp: declare a queue the way another client would (with_args 1: a
 * length limit, 2: a TTL, as v2m used to declare <q>.retry). */
static void raw_declare(const char *name, int with_args)
{
    amqp_connection_state_t c = raw_open();
    amqp_table_entry_t e;
    amqp_table_t args = amqp_empty_table;

    if (with_args == 2) {
        e.key = amqp_cstring_bytes("x-message-ttl");
        e.value.kind = AMQP_FIELD_KIND_I32;
        e.value.value.i32 = 10000;
        args.num_entries = 1;
        args.entries = &e;
    } else if (with_args) {
        e.key = amqp_cstring_bytes("x-max-length");
        e.value.kind = AMQP_FIELD_KIND_I32;
        e.value.value.i32 = 100000;
        args.num_entries = 1;
        args.entries = &e;
    }
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    CHECK(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* amqp: consume name as a client that hands every delivery back (nack with
 * requeue) until none comes for 3 s; the number of deliveries. */
static int raw_hand_back(const char *name)
{
    amqp_connection_state_t c = raw_open();
    int n = 0;

    amqp_basic_qos(c, 1, 0, 1, 0);
    amqp_basic_consume(c, 1, amqp_cstring_bytes(name), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    CHECK(amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL);
    for (;;) {
        amqp_envelope_t env;
        struct timeval tv = {3, 0};
        amqp_maybe_release_buffers(c);
        if (amqp_consume_message(c, &env, &tv, 0).reply_type != AMQP_RESPONSE_NORMAL)
            break;
        n++;
        amqp_basic_nack(c, 1, env.delivery_tag, 0, 1);
        amqp_destroy_envelope(&env);
    }
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    return n;
}

static void test_basic(void)
{
    v2m_queue_opts o;
    v2m_queue *q;
    v2m_queue_msg *m;
    v2m_error e = {0};
    uint8_t bin[256];
    uint8_t *big = malloc(100000);
    const void *bodies[4];
    size_t lens[4] = {0, 1, 256, 100000};
    long n = -1;
    double t0;
    atomic_int stop = 1;
    char other[128];

    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    gen_bytes(3, 0, big, 100000);
    bodies[0] = "";
    bodies[1] = "x";
    bodies[2] = bin;
    bodies[3] = big;
    test_opts(&o);
    q = open_q(&o);
    CHECK(v2m_queue_ping(q, &e) == V2M_OK);
    CHECK(v2m_queue_declare(q, qname, &e) == V2M_OK);
    CHECK(v2m_queue_count(q, qname, &n, &e) == V2M_OK && n == 0);
    for (int i = 0; i < 4; i++)
        CHECK(v2m_queue_publish(q, qname, bodies[i], lens[i], &e) == V2M_OK);
    /* amqp counts only after the broker has routed: confirms make that so */
    CHECK(v2m_queue_count(q, qname, &n, &e) == V2M_OK && n == 4);
    for (int i = 0; i < 4; i++) {
        m = take(q, qname, 5000);
        CHECK(body_is(m, bodies[i], lens[i]));
        if (!m)
            continue;
        CHECK(m->attempt == 1 && m->redelivered == 0);
        CHECK_STR(m->queue, qname);
        CHECK(((char *)m->body)[m->len] == '\0');
        CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    }
    t0 = now_s();
    m = NULL;
    CHECK(v2m_queue_consume(q, qname, 300, &m, &e) == V2M_ETIMEOUT && m == NULL);
    CHECK(now_s() - t0 >= 0.25 && now_s() - t0 < 3.0);
    CHECK(v2m_queue_consume(q, qname, 0, &m, &e) == V2M_ETIMEOUT);

    /* release: back at once, not counted as an attempt */
    CHECK(v2m_queue_publish(q, qname, "r", 1, &e) == V2M_OK);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "r", 1));
    if (m)
        CHECK(v2m_queue_release(q, m, &e) == V2M_OK);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "r", 1));
    if (m) {
        CHECK(m->attempt == 1);
        CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    }

    /* one consumed queue per handle */
    snprintf(other, sizeof other, "%s-other", qname);
    CHECK(v2m_queue_consume(q, other, 0, &m, &e) == V2M_EINVAL);
    CHECK(v2m_queue_publish(q, "", "x", 1, &e) == V2M_EINVAL);
    CHECK(v2m_queue_publish(q, "bad name", "x", 1, &e) == V2M_EINVAL);

    /* closing with a held message hands it back */
    CHECK(v2m_queue_publish(q, qname, "held", 4, &e) == V2M_OK);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "held", 4));
    v2m_queue_close(q);
    q = open_q(&o);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "held", 4));
    if (m)
        CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    /* a published message outlives its handle */
    CHECK(v2m_queue_publish(q, qname, "persist", 7, &e) == V2M_OK);
    v2m_queue_close(q);
    q = open_q(&o);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "persist", 7));
    if (m)
        CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    v2m_queue_close(q);

    /* the stop flag ends a wait */
    o.stop = &stop;
    q = open_q(&o);
    t0 = now_s();
    CHECK(v2m_queue_consume(q, qname, 5000, &m, &e) == V2M_ECANCELLED);
    CHECK(now_s() - t0 < 1.0);
    v2m_queue_close(q);
    o.stop = NULL;

    if (is_amqp()) {
        /* the original declares its queues durable without arguments; a
         * deployment may also have added arguments of its own */
        char plain[128], custom[128];
        snprintf(plain, sizeof plain, "%s-orig", qname);
        snprintf(custom, sizeof custom, "%s-custom", qname);
        raw_declare(plain, 0);
        raw_declare(custom, 1);
        q = open_q(&o);
        CHECK(v2m_queue_declare(q, plain, &e) == V2M_OK);
        CHECK(v2m_queue_declare(q, custom, &e) == V2M_OK);
        CHECK(v2m_queue_publish(q, custom, "c", 1, &e) == V2M_OK);
        v2m_queue_close(q);
        q = open_q(&o);
        m = take(q, custom, 5000);
        CHECK(body_is(m, "c", 1));
        if (m)
            CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
        snprintf(plain, sizeof plain, "%s-orig.dead", qname);
        CHECK(v2m_queue_count(q, plain, &n, &e) == V2M_OK && n == 0);
        snprintf(plain, sizeof plain, "%s-nosuch", qname);
        CHECK(v2m_queue_count(q, plain, &n, &e) == V2M_ENOTFOUND);
        CHECK(v2m_queue_ping(q, &e) == V2M_OK);   /* the channel recovered */
        v2m_queue_close(q);
    }
    free(big);
}

/* Wait for one byte on fd for up to ms. */
static int wait_byte(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1;
}

static void test_kill(void)
{
    v2m_queue_opts o;
    v2m_queue *q;
    v2m_queue_msg *m;
    v2m_error e = {0};
    int pfd[2];
    pid_t pid;
    double t0, dt;
    long n = -1;

    test_opts(&o);
    q = open_q(&o);
    CHECK(v2m_queue_publish(q, qname, "victim", 6, &e) == V2M_OK);
    v2m_queue_close(q);   /* no threads across fork */

    CHECK(pipe(pfd) == 0);
    pid = fork();
    if (pid == 0) {
        v2m_queue *mine = open_q(&o);
        v2m_queue_msg *mm = take(mine, qname, 10000);
        if (mm && body_is(mm, "victim", 6))
            (void)!write(pfd[1], "1", 1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    CHECK(wait_byte(pfd[0], 20000));
    close(pfd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    q = open_q(&o);
    t0 = now_s();
    m = take(q, qname, 20000);
    dt = now_s() - t0;
    CHECK(body_is(m, "victim", 6));
    if (m) {
        CHECK(m->redelivered == 1);
        if (!is_amqp())
            CHECK(m->attempt == 2);
        CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    }
    fprintf(stderr, "%s: redelivered %.2f s after the kill\n", mode, dt);
    CHECK(dt < (is_amqp() ? 5.0 : o.lease_ms / 1000.0 + 3.0));
    CHECK(v2m_queue_count(q, qname, &n, &e) == V2M_OK && n == 0);
    v2m_queue_close(q);
}

static void test_dead(void)
{
    v2m_queue_opts o;
    v2m_queue *q, *qd;
    v2m_queue_msg *m;
    v2m_error e = {0};
    char dq[128];
    double t_retry = 0;
    int dead = -1;
    long n = -1;

    test_opts(&o);
    snprintf(dq, sizeof dq, "%s.dead", qname);
    q = open_q(&o);
    qd = open_q(&o);
    CHECK(v2m_queue_declare(q, qname, &e) == V2M_OK);
    CHECK(v2m_queue_max_attempts(q) == 3);
    CHECK(v2m_queue_publish(q, qname, "poison", 6, &e) == V2M_OK);
    for (int i = 1; i <= 3; i++) {
        m = take(q, qname, 10000);
        CHECK(body_is(m, "poison", 6));
        if (!m)
            break;
        CHECK(m->attempt == i);
        if (i > 1) {
            double waited = now_s() - t_retry;
            CHECK(waited >= 0.25);   /* retry_delay_ms = 300 */
            CHECK(strstr(m->error, "boom") != NULL);
        }
        t_retry = now_s();
        CHECK(v2m_queue_retry(q, m, -1, "boom", &dead, &e) == V2M_OK);
        CHECK(dead == (i == 3));
    }
    /* Nothing is left to deliver: counted, not waited for. */
    CHECK(v2m_queue_count(q, qname, &n, &e) == V2M_OK && n == 0);
    n = -1;
    m = take(qd, dq, 5000);
    CHECK(body_is(m, "poison", 6));
    if (m) {
        CHECK(strstr(m->error, "gave up after 3 attempts") != NULL);
        CHECK(strstr(m->error, "boom") != NULL);
        CHECK(m->attempt == 4);
        CHECK(v2m_queue_ack(qd, m, &e) == V2M_OK);
    }

    /* straight to the dead queue; an explicit zero delay comes back at once */
    CHECK(v2m_queue_publish(q, qname, "bad", 3, &e) == V2M_OK);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "bad", 3));
    if (m)
        CHECK(v2m_queue_dead(q, m, "not a video", &e) == V2M_OK);
    m = take(qd, dq, 5000);
    CHECK(body_is(m, "bad", 3));
    if (m) {
        CHECK_STR(m->error, "not a video");
        CHECK(v2m_queue_ack(qd, m, &e) == V2M_OK);
    }
    CHECK(v2m_queue_publish(q, qname, "soon", 4, &e) == V2M_OK);
    m = take(q, qname, 5000);
    if (m)
        CHECK(v2m_queue_retry(q, m, 0, "again", &dead, &e) == V2M_OK && dead == 0);
    {
        double t0 = now_s();
        m = take(q, qname, 5000);
        CHECK(body_is(m, "soon", 4));
        CHECK(now_s() - t0 < 1.0);
        if (m) {
            CHECK(m->attempt == 2);
            CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
        }
    }
    CHECK(v2m_queue_count(q, dq, &n, &e) == V2M_OK && n == 0);
    v2m_queue_close(q);
    v2m_queue_close(qd);

    if (!is_amqp()) {
        /* consumers that die holding it: after max_attempts deliveries the
         * message goes to <q>.dead instead of killing the next one */
        o.lease_ms = 300;
        q = open_q(&o);
        CHECK(v2m_queue_publish(q, qname, "crasher", 7, &e) == V2M_OK);
        v2m_queue_close(q);
        for (int i = 0; i < 3; i++) {
            int pfd[2];
            pid_t pid;
            CHECK(pipe(pfd) == 0);
            pid = fork();
            if (pid == 0) {
                v2m_queue *mine = open_q(&o);
                v2m_queue_msg *mm = take(mine, qname, 5000);
                if (mm && body_is(mm, "crasher", 7))
                    (void)!write(pfd[1], "1", 1);
                raise(SIGKILL);   /* dies holding it */
            }
            close(pfd[1]);
            CHECK(wait_byte(pfd[0], 10000));
            close(pfd[0]);
            waitpid(pid, NULL, 0);
        }
        q = open_q(&o);
        CHECK(v2m_queue_consume(q, qname, 1500, &m, &e) == V2M_ETIMEOUT);
        qd = open_q(&o);
        m = take(qd, dq, 3000);
        CHECK(body_is(m, "crasher", 7));
        if (m) {
            CHECK(strstr(m->error, "died") != NULL);
            CHECK(v2m_queue_ack(qd, m, &e) == V2M_OK);
        }
        v2m_queue_close(qd);
        v2m_queue_close(q);
    }
    if (is_quorum()) {
        /* Consumers that die holding it: each death hands it back, and the
         * broker counts that as a v2m release does. */
        int got, pfd[2];
        pid_t pid;
        q = open_q(&o);
        CHECK(v2m_queue_publish(q, qname, "bouncer", 7, &e) == V2M_OK);
        v2m_queue_close(q);
        CHECK(pipe(pfd) == 0);
        pid = fork();
        if (pid == 0) {
            v2m_queue *mine = open_q(&o);
            v2m_queue_msg *mm = take(mine, qname, 5000);
            if (mm && body_is(mm, "bouncer", 7))
                (void)!write(pfd[1], "1", 1);
            raise(SIGKILL);
        }
        close(pfd[1]);
        CHECK(wait_byte(pfd[0], 10000));
        close(pfd[0]);
        waitpid(pid, NULL, 0);
        q = open_q(&o);
        m = take(q, qname, 5000);
        CHECK(body_is(m, "bouncer", 7));
        if (m) {
            CHECK(m->redelivered == 1 && m->attempt == 1);
            CHECK(v2m_queue_release(q, m, &e) == V2M_OK);
        }
        v2m_queue_close(q);
        /* then a consumer that is not v2m and hands it back every time: after
         * x-delivery-limit returns in all the broker dead-letters it */
        got = raw_hand_back(qname);
        fprintf(stderr, "quorum: handed back %d times before the broker gave up\n", got);
        /* Two returns before (the death, the release), and maybe a third:
         * the released message may go to the releasing handle's consumer
         * again, and comes back when it closes. */
        CHECKF(got >= V2M_QUEUE_DELIVERY_LIMIT + 1 - 3 && got <= V2M_QUEUE_DELIVERY_LIMIT + 1 - 2,
               "handed back %d times", got);
        qd = open_q(&o);
        m = take(qd, dq, 5000);
        CHECK(body_is(m, "bouncer", 7));
        if (m)
            CHECK(v2m_queue_ack(qd, m, &e) == V2M_OK);
        v2m_queue_close(qd);
    }
}

#define NCOMPETE 200

typedef struct {
    atomic_int holding[NCOMPETE];
    atomic_int got[NCOMPETE];
    atomic_int overlap;
    atomic_int per_child[2];
} compete_state;

static void test_compete(void)
{
    v2m_queue_opts o;
    v2m_queue *q;
    v2m_error e = {0};
    compete_state *cs;
    pid_t pids[2];
    int once = 0;

    test_opts(&o);
    o.prefetch = 4;
    cs = mmap(NULL, sizeof *cs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (cs == MAP_FAILED)
        FATAL("mmap failed");
    memset(cs, 0, sizeof *cs);
    q = open_q(&o);
    for (int i = 0; i < NCOMPETE; i++) {
        char b[16];
        int n = snprintf(b, sizeof b, "%d", i);
        CHECK(v2m_queue_publish(q, qname, b, (size_t)n, &e) == V2M_OK);
    }
    v2m_queue_close(q);
    for (int c = 0; c < 2; c++) {
        pids[c] = fork();
        if (pids[c] == 0) {
            v2m_queue *mine = open_q(&o);
            for (;;) {
                v2m_queue_msg *m = NULL;
                int idx;
                if (v2m_queue_consume(mine, qname, 1500, &m, NULL) != V2M_OK)
                    break;
                idx = atoi(m->body);
                if (idx >= 0 && idx < NCOMPETE) {
                    if (atomic_fetch_add(&cs->holding[idx], 1) != 0)
                        atomic_fetch_add(&cs->overlap, 1);
                    atomic_fetch_add(&cs->got[idx], 1);
                    /* Hold the first message until the other consumer has
                     * one too: both take part whatever the scheduler does
                     * (unless the queue gives it nothing while this one
                     * holds, which is the failure to see). */
                    if (atomic_fetch_add(&cs->per_child[c], 1) == 0)
                        for (int w = 0; w < 1000 && !atomic_load(&cs->per_child[1 - c]); w++)
                            sleep_ms(10);
                    sleep_ms(1);
                    atomic_fetch_sub(&cs->holding[idx], 1);
                }
                v2m_queue_ack(mine, m, NULL);
            }
            v2m_queue_close(mine);
            _exit(0);
        }
    }
    for (int c = 0; c < 2; c++)
        waitpid(pids[c], NULL, 0);
    for (int i = 0; i < NCOMPETE; i++)
        once += atomic_load(&cs->got[i]) == 1;
    fprintf(stderr, "%s: consumers took %d and %d of %d\n", mode, atomic_load(&cs->per_child[0]),
            atomic_load(&cs->per_child[1]), NCOMPETE);
    CHECK(once == NCOMPETE);
    CHECK(atomic_load(&cs->overlap) == 0);
    CHECK(atomic_load(&cs->per_child[0]) > 0 && atomic_load(&cs->per_child[1]) > 0);
    munmap(cs, sizeof *cs);
}

static void test_pull(void)
{
    v2m_queue_opts o, po;
    v2m_queue *p, *r;
    v2m_queue_msg *m;
    v2m_error e = {0};

    test_opts(&o);
    po = o;
    po.pull = 1;
    p = open_q(&po);
    r = open_q(&o);
    m = NULL;
    CHECK(v2m_queue_consume(p, qname, 0, &m, &e) == V2M_ETIMEOUT && !m);
    CHECK(v2m_queue_publish(r, qname, "a", 1, &e) == V2M_OK);
    sleep_ms(300); /* a subscribed handle would have it by now */
    m = take(r, qname, 3000);
    CHECKF(body_is(m, "a", 1), "%s", "the other consumer did not get the message: the pull handle held it");
    if (m)
        CHECK(v2m_queue_ack(r, m, &e) == V2M_OK);
    v2m_queue_close(r); /* subscribed: it would take what follows */
    r = open_q(&o);     /* publishes only, until the end */

    CHECK(v2m_queue_publish(r, qname, "b", 1, &e) == V2M_OK);
    m = take(p, qname, 3000);
    CHECK(body_is(m, "b", 1) && m->attempt == 1);
    if (m)
        CHECK(v2m_queue_ack(p, m, &e) == V2M_OK);
    m = NULL;
    CHECK(v2m_queue_consume(p, qname, 0, &m, &e) == V2M_ETIMEOUT && !m);

    CHECK(v2m_queue_publish(r, qname, "c", 1, &e) == V2M_OK);
    m = take(p, qname, 3000);
    CHECK(body_is(m, "c", 1));
    v2m_queue_close(p); /* unsettled: back on the queue */
    m = take(r, qname, 5000);
    CHECK(body_is(m, "c", 1));
    if (m)
        CHECK(v2m_queue_ack(r, m, &e) == V2M_OK);
    v2m_queue_close(r);
}

static void test_keepalive(void)
{
    v2m_queue_opts o;
    v2m_queue *q1, *q2;
    v2m_queue_msg *m, *m2 = NULL;
    v2m_error e = {0};
    int hold_ms;
    long n = -1;

    test_opts(&o);
    o.heartbeat_s = 1;   /* amqp: the broker drops a silent connection in ~2 s */
    o.lease_ms = 600;    /* sqlite */
    hold_ms = is_amqp() ? 5000 : 2500;
    q1 = open_q(&o);
    q2 = open_q(&o);
    CHECK(v2m_queue_publish(q1, qname, "long", 4, &e) == V2M_OK);
    m = take(q1, qname, 5000);
    CHECK(body_is(m, "long", 4));
    sleep_ms(hold_ms);   /* busy: no call into the handle meanwhile */
    /* Still held: not back in the queue for anyone else (a lease that ran
     * out, or a connection the broker dropped, would make it ready). */
    CHECK(v2m_queue_count(q2, qname, &n, &e) == V2M_OK && n == 0);
    if (m)
        CHECK(v2m_queue_ack(q1, m, &e) == V2M_OK);
    CHECK(v2m_queue_count(q2, qname, &n, &e) == V2M_OK && n == 0);
    /* and the ack took it away for good */
    CHECK(v2m_queue_consume(q2, qname, 0, &m2, &e) == V2M_ETIMEOUT);
    if (m2)
        v2m_queue_ack(q2, m2, NULL);
    v2m_queue_close(q1);
    v2m_queue_close(q2);
}

/* ---- restart: the broker goes away under a publisher and a consumer ---- */

#define NMAX 20000

static struct {
    atomic_int confirmed[NMAX];
    atomic_int received[NMAX];
    atomic_int nconfirmed;
    atomic_int next;
    atomic_int errors;
    atomic_int stop_pub;
    atomic_int stop_sub;
    atomic_int max_received;
} rs;

static void test_later(void)
{
    v2m_queue_opts o;
    v2m_queue *q;
    v2m_queue_msg *m = NULL;
    v2m_error e = {0};
    double t0, waited, least;

    test_opts(&o);
    q = open_q(&o);
    CHECK(v2m_queue_declare(q, qname, &e) == V2M_OK);
    /* Shorter than the retry queue's TTL (300 ms), and longer. */
    for (int delay = 200; delay <= 800; delay += 600) {
        t0 = now_s();
        CHECK(v2m_queue_publish_later(q, qname, "later", 5, delay, &e) == V2M_OK);
        CHECK(v2m_queue_consume(q, qname, 0, &m, &e) == V2M_ETIMEOUT && m == NULL);
        m = take(q, qname, 10000);
        waited = now_s() - t0;
        /* amqp waits at most the TTL of <q>.retry (the handle's retry delay). */
        least = (is_amqp() && delay > o.retry_delay_ms ? o.retry_delay_ms : delay) / 1000.0;
        CHECKF(waited >= least - 0.05, "delay %d ms: delivered after %.3f s", delay, waited);
        CHECK(body_is(m, "later", 5));
        if (m) {
            CHECK(m->attempt == 1);
            CHECK_STR(m->queue, qname);
            CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
        }
    }
    CHECK(v2m_queue_publish_later(q, qname, "now", 3, 0, &e) == V2M_OK);
    m = take(q, qname, 5000);
    CHECK(body_is(m, "now", 3));
    if (m)
        CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    v2m_queue_close(q);
}

/* Consume name with q, retry the message with the handle's delay and time
 * its return; -1 when something failed. */
static double retry_round_trip(v2m_queue *q, const char *name, const char *body)
{
    v2m_queue_msg *m;
    v2m_error e = {0};
    double t0;
    int dead = 1;

    CHECK(v2m_queue_publish(q, name, body, strlen(body), &e) == V2M_OK);
    m = take(q, name, 5000);
    if (!body_is(m, body, strlen(body)))
        return -1;
    t0 = now_s();
    CHECK(v2m_queue_retry(q, m, -1, "later", &dead, &e) == V2M_OK && dead == 0);
    m = take(q, name, 10000);
    if (!body_is(m, body, strlen(body)))
        return -1;
    t0 = now_s() - t0;
    CHECK(m->attempt == 2);
    CHECK_STR(m->error, "later");
    CHECK(v2m_queue_ack(q, m, &e) == V2M_OK);
    return t0;
}

static void test_delays(void)
{
    char logpath[512], buf[65536];
    int saved = dup(2), fd;
    ssize_t n;

    snprintf(logpath, sizeof logpath, "%s/delays.log", dir ? dir : "/tmp");
    if (!dir)
        snprintf(logpath, sizeof logpath, "/tmp/v2m-queue-delays.%d.log", (int)getpid());
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || saved < 0)
        FATAL("cannot capture the log in %s", logpath);
    dup2(fd, 2);
    for (int order = 0; order < 2; order++) {
        v2m_queue_opts os, ol;
        v2m_queue *qs, *ql;
        v2m_error e = {0};
        char name[160], old[180];
        double back;
        long cnt;

        /* "notification" retries after 2 s, "converter" after 400 ms */
        snprintf(name, sizeof name, "%s.%d", qname, order);
        test_opts(&os);
        test_opts(&ol);
        os.retry_delay_ms = 400;
        ol.retry_delay_ms = 2000;
        if (is_amqp() && order == 1) {
            /* an existing deployment: <q>.retry declared with a TTL */
            snprintf(old, sizeof old, "%s.retry", name);
            raw_declare(old, 2);
        }
        qs = open_q(&os);
        ql = open_q(&ol);
        CHECK(v2m_queue_declare(order ? ql : qs, name, &e) == V2M_OK);
        CHECK(v2m_queue_declare(order ? qs : ql, name, &e) == V2M_OK);
        /* each starts consuming and retrying in the same order */
        for (int i = 0; i < 2; i++) {
            int is_short = (i == 0) == (order == 0);
            back = retry_round_trip(is_short ? qs : ql, name, is_short ? "short" : "long");
            v2m_queue_close(is_short ? qs : ql);
            if (is_short)
                CHECKF(back >= 0.35 && back < 1.5, "order %d: 400 ms retry came back after %.3f s",
                       order, back);
            else
                CHECKF(back >= 1.95 && back < 4.0, "order %d: 2 s retry came back after %.3f s",
                       order, back);
        }
        fprintf(stderr, "order %d: delays held\n", order);
        if (is_amqp()) {
            /* one retry queue per delay, both empty again */
            v2m_queue *q = open_q(&os);
            snprintf(old, sizeof old, "%s.retry.400ms", name);
            CHECK(v2m_queue_count(q, old, &cnt, &e) == V2M_OK && cnt == 0);
            snprintf(old, sizeof old, "%s.retry.2s", name);
            CHECK(v2m_queue_count(q, old, &cnt, &e) == V2M_OK && cnt == 0);
            v2m_queue_close(q);
        }
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    close(fd);
    fd = open(logpath, O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    fputs(buf, stderr);
    CHECKF(!strstr(buf, "PRECONDITION_FAILED"), "a declaration was refused");
    CHECKF(!strstr(buf, "other arguments"), "a queue was used with other arguments");
    CHECKF(strstr(buf, "order 1: delays held") != NULL, "the log was not captured");
    unlink(logpath);
}

static void *publisher(void *arg)
{
    v2m_queue_opts *o = arg;
    v2m_queue *q = open_q(o);
    while (!atomic_load(&rs.stop_pub)) {
        int i = atomic_load(&rs.next);
        char b[16];
        int n = snprintf(b, sizeof b, "%d", i);
        v2m_error e = {0};
        if (i >= NMAX)
            break;
        if (v2m_queue_publish(q, qname, b, (size_t)n, &e) == V2M_OK) {
            atomic_store(&rs.confirmed[i], 1);
            atomic_fetch_add(&rs.nconfirmed, 1);
        } else {
            fprintf(stderr, "publish %d failed: %s\n", i, v2m_error_msg(&e));
            atomic_fetch_add(&rs.errors, 1);
        }
        atomic_store(&rs.next, i + 1);
        sleep_ms(20);
    }
    v2m_queue_close(q);
    return NULL;
}

static void *consumer(void *arg)
{
    v2m_queue_opts *o = arg;
    v2m_queue *q = open_q(o);
    double idle_since = now_s();
    for (;;) {
        v2m_queue_msg *m = NULL;
        v2m_err rc = v2m_queue_consume(q, qname, 500, &m, NULL);
        if (rc == V2M_OK) {
            int i = atoi(m->body);
            if (i >= 0 && i < NMAX) {
                atomic_fetch_add(&rs.received[i], 1);
                if (i > atomic_load(&rs.max_received))
                    atomic_store(&rs.max_received, i);
            }
            v2m_queue_ack(q, m, NULL);
            idle_since = now_s();
        } else if (atomic_load(&rs.stop_sub) && now_s() - idle_since > 3.0) {
            break;
        }
    }
    v2m_queue_close(q);
    return NULL;
}

static int harness(const char *cmd)
{
    char line[5000];
    const char *src = getenv("V2M_SRC");
    snprintf(line, sizeof line, "'%s/tests/harness/services.sh' %s", src && *src ? src : ".",
             cmd);
    return system(line);
}

static void test_restart(void)
{
    v2m_queue_opts o;
    pthread_t pt, ct;
    double t0;
    int before, after_restart_first, lost = 0;

    need_env("V2M_TEST_STATE", "the state directory of tests/harness/services.sh "
                               "(amqp-stop/amqp-start need it)");
    test_opts(&o);
    o.publish_timeout_ms = 90000;
    o.heartbeat_s = 2;
    {
        v2m_queue *q = open_q(&o);
        v2m_error e = {0};
        CHECK(v2m_queue_declare(q, qname, &e) == V2M_OK);
        v2m_queue_close(q);
    }
    pthread_create(&pt, NULL, publisher, &o);
    pthread_create(&ct, NULL, consumer, &o);
    t0 = now_s();
    while (atomic_load(&rs.nconfirmed) < 30 && now_s() - t0 < 30)
        sleep_ms(20);
    before = atomic_load(&rs.nconfirmed);
    CHECK(before >= 30);
    fprintf(stderr, "stopping the broker after %d confirmed messages\n", before);
    CHECK(harness("amqp-stop") == 0);
    sleep_ms(1000);
    CHECK(harness("amqp-start") == 0);
    after_restart_first = atomic_load(&rs.next);
    t0 = now_s();
    while (atomic_load(&rs.nconfirmed) < before + 30 + 10 && now_s() - t0 < 60)
        sleep_ms(50);
    fprintf(stderr, "publisher: %d confirmed, %d errors, recovered in %.1f s after the start\n",
            atomic_load(&rs.nconfirmed), atomic_load(&rs.errors), now_s() - t0);
    atomic_store(&rs.stop_pub, 1);
    pthread_join(pt, NULL);
    atomic_store(&rs.stop_sub, 1);
    pthread_join(ct, NULL);
    for (int i = 0; i < atomic_load(&rs.next); i++)
        if (atomic_load(&rs.confirmed[i]) && atomic_load(&rs.received[i]) == 0) {
            fprintf(stderr, "confirmed message %d was lost\n", i);
            lost++;
        }
    CHECK(lost == 0);
    CHECK(atomic_load(&rs.errors) == 0);
    CHECK(atomic_load(&rs.nconfirmed) >= before + 30);
    /* the consumer got messages published after the broker came back */
    CHECK(atomic_load(&rs.max_received) > after_restart_first);
}

int main(int argc, char **argv)
{
    const char *scenario = argc > 2 ? argv[2] : "basic";

    v2m_log_init();
    signal(SIGPIPE, SIG_IGN);
    mode = argc > 1 ? argv[1] : "sqlite";
    if (strcmp(mode, "sqlite") == 0) {
        dir = make_tmpdir("queue");
        snprintf(url, sizeof url, "sqlite://%s/var/queue.db", dir);
    } else if (is_amqp()) {
        snprintf(url, sizeof url, "%s", need_env("V2M_TEST_AMQP_URL", "a RabbitMQ (amqp://user:pass@host:port/)"));
    } else {
        FATAL("usage: queue_test sqlite|amqp|quorum basic|kill|dead|compete|keepalive|later|delays|pull|restart");
    }
    snprintf(qname, sizeof qname, "v2mtest.%s.%s.%d.%ld", mode, scenario, (int)getpid(),
             (long)time(NULL));

    if (strcmp(scenario, "basic") == 0)
        test_basic();
    else if (strcmp(scenario, "kill") == 0)
        test_kill();
    else if (strcmp(scenario, "dead") == 0)
        test_dead();
    else if (strcmp(scenario, "compete") == 0)
        test_compete();
    else if (strcmp(scenario, "keepalive") == 0)
        test_keepalive();
    else if (strcmp(scenario, "later") == 0)
        test_later();
    else if (strcmp(scenario, "delays") == 0)
        test_delays();
    else if (strcmp(scenario, "pull") == 0)
        test_pull();
    else if (strcmp(scenario, "restart") == 0 && is_amqp())
        test_restart();
    else
        FATAL("unknown scenario %s for %s", scenario, mode);

    {
        v2m_error e = {0};
        CHECK(v2m_queue_open("kafka://x", NULL, &e) == NULL && e.code == V2M_ECONFIG);
    }
    if (dir) {
        rm_rf(dir);
        free(dir);
    }
    return check_exit(scenario);
}
