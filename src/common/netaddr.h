/* netaddr.h - client addresses: IP literals, CIDR lists, X-Forwarded-For.
 *
 * A service behind proxies sees the proxy's address on its socket. Each proxy
 * appends the address it got the request from to X-Forwarded-For, so the
 * header reads "client, proxy1, proxy2" and the socket peer is the last
 * proxy. Only the entries added by proxies we trust are facts; anything to
 * their left may have been written by the client. v2m_client_addr therefore
 * walks from the right and stops at the first address that is not a trusted
 * proxy.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are taken as the IPv4 address
 * everywhere, so "127.0.0.0/8" also matches a dual-stack socket's peer.
 * Everything here is pure and thread-safe, except v2m_xff_join, which reads
 * a libmicrohttpd connection's headers.
 */
#ifndef V2M_NETADDR_H
#define V2M_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "err.h"

#define V2M_IP_STR_MAX 48      /* INET6_ADDRSTRLEN plus a prefix length */
#define V2M_XFF_MAX 1024       /* X-Forwarded-For kept when passing it on */

typedef struct v2m_ip {
    int family;                /* AF_INET or AF_INET6 */
    unsigned char a[16];       /* 4 bytes used for AF_INET */
} v2m_ip;

typedef struct v2m_cidr {
    v2m_ip net;                /* host bits cleared */
    int bits;                  /* prefix length */
} v2m_cidr;

typedef struct v2m_cidr_list {
    v2m_cidr *v;
    size_t n;
} v2m_cidr_list;

/* An IP literal of n bytes (NUL not needed): "192.0.2.1", "2001:db8::1",
 * also with a port as some proxies write them ("192.0.2.1:4711",
 * "[2001:db8::1]:4711") and with surrounding spaces. 0 on success, -1 when
 * it is not an address. */
int v2m_ip_parse(const char *s, size_t n, v2m_ip *out);

/* The address of a socket peer (AF_INET or AF_INET6); -1 for other families. */
int v2m_ip_from_sockaddr(const struct sockaddr *sa, v2m_ip *out);

/* Text form into out (>= V2M_IP_STR_MAX bytes). */
void v2m_ip_str(const v2m_ip *ip, char *out, size_t outsz);

/* A key naming the client for per-address limits: the IPv4 address, or the
 * /64 network of an IPv6 address ("2001:db8:1:2::/64"), since one IPv6
 * host usually holds a whole /64. out >= V2M_IP_STR_MAX bytes. */
void v2m_ip_client_key(const v2m_ip *ip, char *out, size_t outsz);

/* Parse "127.0.0.0/8, ::1, 10.1.2.3" (a bare address is a single host).
 * Host bits below the prefix are ignored. An empty string gives an empty
 * list. V2M_EINVAL with the bad entry in err. Free with v2m_cidr_list_free. */
v2m_err v2m_cidr_list_parse(const char *s, v2m_cidr_list *out, v2m_error *err);
void v2m_cidr_list_free(v2m_cidr_list *l);

/* 1 when ip falls inside one of the list's networks. */
int v2m_cidr_list_contains(const v2m_cidr_list *l, const v2m_ip *ip);

/* The client's address given the socket peer and the X-Forwarded-For value
 * (NULL when absent): the peer itself unless it is trusted; else the
 * right-most X-Forwarded-For entry that is not trusted. When every entry is
 * trusted, the left-most; when an entry is not an address, the trusted hop to
 * its right (the walk stops there). 0 on success, -1 when peer is not an IP
 * address. */
int v2m_client_addr(const v2m_cidr_list *trusted, const v2m_ip *peer, const char *xff,
                    v2m_ip *out);

/* Every X-Forwarded-For header of a libmicrohttpd connection joined with
 * ", " into out, keeping the right-most entries that fit (whole entries
 * only) in outsz bytes. Control characters are dropped. Returns the length;
 * 0 when there is none. */
struct MHD_Connection;
size_t v2m_xff_join(struct MHD_Connection *conn, char *out, size_t outsz);

#endif
