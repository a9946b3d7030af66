/* webhook_url.h - which callback URLs and addresses a webhook may go to.
 *
 * An upload may name a callback_url that v2m POSTs to when the job ends.
 * Left alone, that would let any user make v2m's network reach whatever it
 * can reach (metadata services, databases, the admin port): a server-side
 * request forgery. Two checks keep it to the public internet:
 *
 * - at upload, v2m_callback_url_check(): the URL's form. http or https
 *   only, at most V2M_CALLBACK_URL_MAX bytes of printable ASCII, a host, no
 *   user name or password; a host written as an IP literal is classified
 *   as below at once.
 * - at send time, v2m_webhook_addr_refused() on every address the host
 *   resolves to, and the connection is made to the checked address only
 *   (notification/webhook.c), so a name that resolves elsewhere later (DNS
 *   rebinding) gains nothing.
 *
 * Refused unless listed in V2M_WEBHOOK_ALLOW: "this network" 0.0.0.0/8,
 * 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16, 172.16/12, 192.0.0/24,
 * the documentation and benchmarking ranges, 192.168/16, multicast 224/4,
 * 240/4 and the broadcast address; ::, ::1, fc00::/7, fe80::/10, fec0::/10,
 * ff00::/8, 2001:db8::/32, 100::/64; and IPv6 forms that carry an IPv4
 * address (::ffff:a.b.c.d, ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16)
 * when the IPv4 address is refused.
 *
 * Pure and thread-safe.
 */
#ifndef V2M_WEBHOOK_URL_H
#define V2M_WEBHOOK_URL_H

#include <stddef.h>

#include "netaddr.h"

#define V2M_CALLBACK_URL_MAX 1023   /* bytes; the job record holds 1023 */

/* 0 when url may be used as a callback; -1 with the reason ("callback_url
 * must be http or https", ...) in why (whysz bytes), fit to show the user
 * in a 400 answer. allow (may be NULL: empty) is V2M_WEBHOOK_ALLOW, which
 * admits IP literals that would otherwise be refused. */
int v2m_callback_url_check(const char *url, const v2m_cidr_list *allow, char *why,
                           size_t whysz);

/* NULL when a webhook may connect to ip; else what ip is ("loopback",
 * "private", "link-local", ...). Addresses in allow (may be NULL) are
 * admitted whatever they are. */
const char *v2m_webhook_addr_refused(const v2m_ip *ip, const v2m_cidr_list *allow);

#endif
