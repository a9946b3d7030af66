/* httpd_conns.c - how many connections a client may hold, and how long it
 * may take to send its headers.
 *
 * libmicrohttpd has a per-address limit (MHD_OPTION_PER_IP_CONNECTION_LIMIT)
 * but no way to exempt a proxy in front, where every client shares one
 * address; and its timeout is an idle timeout, which a client sending one
 * byte every few seconds never trips. So both are done here, from its
 * connection notifications:
 *
 * - the accept policy refuses a connection when its address already holds
 *   per_addr (counted from STARTED to CLOSED, in a table of at most
 *   max_conns addresses: there are never more connections than that);
 * - a watchdog thread shuts down (shutdown(2), so that libmicrohttpd sees the
 *   end and closes the connection itself) any connection whose request line
 *   and headers are not complete header_timeout seconds after it opened, or
 *   after its previous answer when kept alive.
 *
 * The fd is only touched under the lock, and libmicrohttpd reports CLOSED
 * (which removes the record) before it closes the socket, so the watchdog
 * never shuts down a descriptor that was reused for another connection.
 */
#include "httpd_int.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef struct addr_key {
    unsigned char b[16];       /* IPv4 as its mapped IPv6 form */
} addr_key;

typedef struct addr_slot {
    addr_key key;
    int n;                     /* 0: free */
} addr_slot;

typedef struct conn_rec {
    struct conn_rec *prev, *next;
    v2m__conns *owner;
    int fd;
    int slot;                  /* in the address table; -1 for exempt peers */
    int in_request;            /* headers in; the deadline does not apply */
    int shut;                  /* shut down by the watchdog */
    double deadline;           /* monotonic seconds */
} conn_rec;

struct v2m__conns {
    v2m__conns_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t watchdog;
    int stopping;
    conn_rec list;             /* sentinel of a circular list */
    addr_slot *addrs;          /* max_conns slots */
    int open;
    unsigned long refused, timed_out;
};

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 1 with the key of sa; 0 for an address family without one. */
static int key_of(const struct sockaddr *sa, addr_key *k)
{
    memset(k, 0, sizeof *k);
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        k->b[10] = k->b[11] = 0xff;
        memcpy(k->b + 12, &s4->sin_addr, 4);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(k->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

/* The slot of k, or -1; with create, a free slot is taken for it. */
static int find_slot(v2m__conns *c, const addr_key *k, int create)
{
    int free_slot = -1;
    for (int i = 0; i < c->o.max_conns; i++) {
        if (c->addrs[i].n == 0) {
            if (free_slot < 0)
                free_slot = i;
        } else if (memcmp(&c->addrs[i].key, k, sizeof *k) == 0) {
            return i;
        }
    }
    if (create && free_slot >= 0)
        c->addrs[free_slot].key = *k;
    return create ? free_slot : -1;
}

static int exempt(v2m__conns *c, const struct sockaddr *sa)
{
    return c->o.trusted_peer && sa && c->o.trusted_peer(c->o.app, sa);
}

enum MHD_Result v2m__conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    v2m__conns *c = cls;
    addr_key k;
    int refuse = 0;

    (void)addrlen;
    if (exempt(c, addr) || !key_of(addr, &k))
        return MHD_YES;
    pthread_mutex_lock(&c->mu);
    int s = find_slot(c, &k, 0);
    if (s >= 0 && c->addrs[s].n >= c->o.per_addr) {
        refuse = 1;
        c->refused++;
    }
    pthread_mutex_unlock(&c->mu);
    if (refuse)
        V2M_LOG(V2M_DEBUG, "http connection refused reason=per-address-limit limit=%d",
                c->o.per_addr);
    return refuse ? MHD_NO : MHD_YES;
}

static conn_rec *rec_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void v2m__conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe)
{
    v2m__conns *c = cls;
    conn_rec *r;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ai ? ai->client_addr : NULL;
        addr_key k;

        r = calloc(1, sizeof *r);
        *socket_context = r;
        if (!r)
            return; /* unbounded but still served; only under memory pressure */
        r->owner = c;
        r->fd = fi ? fi->connect_fd : -1;
        r->slot = -1;
        r->deadline = mono_now() + c->o.header_timeout;
        pthread_mutex_lock(&c->mu);
        if (!exempt(c, sa) && key_of(sa, &k)) {
            r->slot = find_slot(c, &k, 1);
            if (r->slot >= 0)
                c->addrs[r->slot].n++;
        }
        r->next = c->list.next;
        r->prev = &c->list;
        c->list.next->prev = r;
        c->list.next = r;
        c->open++;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    r = *socket_context;
    if (!r)
        return;
    pthread_mutex_lock(&c->mu);
    if (r->slot >= 0 && c->addrs[r->slot].n > 0)
        c->addrs[r->slot].n--;
    r->prev->next = r->next;
    r->next->prev = r->prev;
    c->open--;
    pthread_mutex_unlock(&c->mu);
    free(r);
    *socket_context = NULL;
}

void v2m__conns_request_begin(struct MHD_Connection *conn)
{
    conn_rec *r = rec_of(conn);
    if (!r)
        return;
    pthread_mutex_lock(&r->owner->mu);
    r->in_request = 1;
    pthread_mutex_unlock(&r->owner->mu);
}

void v2m__conns_request_end(struct MHD_Connection *conn)
{
    conn_rec *r = rec_of(conn);
    if (!r)
        return;
    pthread_mutex_lock(&r->owner->mu);
    r->in_request = 0;
    r->deadline = mono_now() + r->owner->o.header_timeout;
    pthread_mutex_unlock(&r->owner->mu);
}

static void *watchdog(void *cls)
{
    v2m__conns *c = cls;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        struct timespec ts;
        double now = mono_now();
        int shut = 0;
        for (conn_rec *r = c->list.next; r != &c->list; r = r->next)
            if (!r->in_request && !r->shut && r->fd >= 0 && now > r->deadline) {
                shutdown(r->fd, SHUT_RDWR);
                r->shut = 1;
                c->timed_out++;
                shut++;
            }
        if (shut)
            V2M_LOG(V2M_DEBUG, "http connections closed reason=header-timeout count=%d", shut);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

v2m__conns *v2m__conns_new(const v2m__conns_opts *o)
{
    v2m__conns *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->o = *o;
    c->addrs = calloc((size_t)o->max_conns, sizeof *c->addrs);
    c->list.next = c->list.prev = &c->list;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (!c->addrs || pthread_create(&c->watchdog, NULL, watchdog, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c->addrs);
        free(c);
        return NULL;
    }
    return c;
}

void v2m__conns_free(v2m__conns *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->watchdog, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->addrs);
    free(c);
}

unsigned long v2m__conns_refused(v2m__conns *c)
{
    pthread_mutex_lock(&c->mu);
    unsigned long n = c->refused;
    pthread_mutex_unlock(&c->mu);
    return n;
}

unsigned long v2m__conns_timed_out(v2m__conns *c)
{
    pthread_mutex_lock(&c->mu);
    unsigned long n = c->timed_out;
    pthread_mutex_unlock(&c->mu);
    return n;
}

int v2m__conns_open(v2m__conns *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->open;
    pthread_mutex_unlock(&c->mu);
    return n;
}
