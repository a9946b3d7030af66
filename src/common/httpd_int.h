/* httpd_int.h - pieces of the HTTP server shared by its files (httpd.c and
 * httpd_conns.c). Nothing outside src/common includes this. */
#ifndef V2M_HTTPD_INT_H
#define V2M_HTTPD_INT_H

#include <microhttpd.h>
#include <sys/socket.h>

typedef struct v2m__conns v2m__conns;

typedef struct v2m__conns_opts {
    int max_conns;
    int per_addr;              /* connections from one client address */
    int header_timeout;        /* seconds */
    int (*trusted_peer)(void *app, const struct sockaddr *sa);
    void *app;
} v2m__conns_opts;

/* NULL when out of memory or the watchdog thread cannot start. */
v2m__conns *v2m__conns_new(const v2m__conns_opts *o);
void v2m__conns_free(v2m__conns *c);   /* after the daemon has stopped; NULL ok */

/* libmicrohttpd callbacks: MHD_OPTION_NOTIFY_CONNECTION and the accept
 * policy (both with c as their closure). */
void v2m__conns_notify(void *c, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);
enum MHD_Result v2m__conns_accept(void *c, const struct sockaddr *addr, socklen_t addrlen);

/* A request's headers are in (its deadline no longer applies) / its answer
 * is done (the next request's headers are due within header_timeout). */
void v2m__conns_request_begin(struct MHD_Connection *conn);
void v2m__conns_request_end(struct MHD_Connection *conn);

/* Counters for /metrics. */
unsigned long v2m__conns_refused(v2m__conns *c);
unsigned long v2m__conns_timed_out(v2m__conns *c);
int v2m__conns_open(v2m__conns *c);

#endif
