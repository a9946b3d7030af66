/* webhook_url.c - the form of a callback URL and the addresses a webhook
 * may connect to (see webhook_url.h). */
#include "webhook_url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One refused network: prefix bits of net, and what it is. */
typedef struct range {
    unsigned char net[16];
    int bits;
    const char *what;
} range;

static const range v4_refused[] = {
    {{0, 0, 0, 0}, 8, "unspecified"},          /* "this network" */
    {{10, 0, 0, 0}, 8, "private"},
    {{100, 64, 0, 0}, 10, "shared (CGNAT)"},
    {{127, 0, 0, 0}, 8, "loopback"},
    {{169, 254, 0, 0}, 16, "link-local"},
    {{172, 16, 0, 0}, 12, "private"},
    {{192, 0, 0, 0}, 24, "reserved"},          /* IETF protocol assignments */
    {{192, 0, 2, 0}, 24, "documentation"},
    {{192, 88, 99, 0}, 24, "reserved"},        /* 6to4 relay anycast */
    {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "benchmarking"},
    {{198, 51, 100, 0}, 24, "documentation"},
    {{203, 0, 113, 0}, 24, "documentation"},
    {{224, 0, 0, 0}, 4, "multicast"},
    {{255, 255, 255, 255}, 32, "broadcast"},   /* before 240/4, to name it */
    {{240, 0, 0, 0}, 4, "reserved"},
};

static const range v6_refused[] = {
    {{0}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{0x01, 0x00}, 64, "discard"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0xfc}, 7, "private"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"},
    {{0xff}, 8, "multicast"},
};

static int in_range(const unsigned char *a, const range *r)
{
    int full = r->bits / 8, rest = r->bits % 8;

    if (memcmp(a, r->net, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char m = (unsigned char)(0xff << (8 - rest));
        if ((a[full] & m) != (r->net[full] & m))
            return 0;
    }
    return 1;
}

static const char *v4_class(const unsigned char a[4])
{
    for (size_t i = 0; i < sizeof v4_refused / sizeof v4_refused[0]; i++)
        if (in_range(a, &v4_refused[i]))
            return v4_refused[i].what;
    return NULL;
}

/* The IPv4 address an IPv6 one carries (::a.b.c.d, NAT64, 6to4): 1 and
 * out set, else 0. (::ffff:a.b.c.d is already IPv4 in a v2m_ip.) */
static int v6_embedded_v4(const unsigned char a[16], unsigned char out[4])
{
    static const unsigned char zero12[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};

    /* (v2m_ip_parse and v2m_ip_from_sockaddr make ::ffff:a.b.c.d IPv4
     * already; a v2m_ip built by hand may still have it.) */
    if (memcmp(a, zero12, 12) == 0 || memcmp(a, mapped, 12) == 0 ||
        memcmp(a, nat64, 12) == 0) {
        memcpy(out, a + 12, 4);
        return 1;
    }
    if (a[0] == 0x20 && a[1] == 0x02) { /* 2002:AABB:CCDD::/48 */
        memcpy(out, a + 2, 4);
        return 1;
    }
    return 0;
}

const char *v2m_webhook_addr_refused(const v2m_ip *ip, const v2m_cidr_list *allow)
{
    unsigned char v4[4];
    const char *what;

    if (allow && v2m_cidr_list_contains(allow, ip))
        return NULL;
    if (ip->family == AF_INET)
        return v4_class(ip->a);
    if (ip->family != AF_INET6)
        return "not an IP address";
    for (size_t i = 0; i < sizeof v6_refused / sizeof v6_refused[0]; i++)
        if (in_range(ip->a, &v6_refused[i]))
            return v6_refused[i].what;
    if (v6_embedded_v4(ip->a, v4)) {
        v2m_ip inner = {.family = AF_INET};
        memcpy(inner.a, v4, 4);
        if (allow && v2m_cidr_list_contains(allow, &inner))
            return NULL;
        what = v4_class(v4);
        return what ? what : NULL;
    }
    return NULL;
}

static int refuse(char *why, size_t whysz, const char *msg)
{
    if (why && whysz)
        snprintf(why, whysz, "%s", msg);
    return -1;
}

/* A part of u, or NULL when absent; free with curl_free. */
static char *part(CURLU *u, CURLUPart what)
{
    char *s = NULL;
    if (curl_url_get(u, what, &s, 0) != CURLUE_OK)
        return NULL;
    return s;
}

int v2m_callback_url_check(const char *url, const v2m_cidr_list *allow, char *why,
                           size_t whysz)
{
    size_t n = url ? strlen(url) : 0;
    const char *colon, *auth;
    char *host = NULL, *user = NULL, *pass = NULL, *zone = NULL;
    CURLU *u = NULL;
    v2m_ip ip;
    int rc = -1;

    if (n == 0)
        return refuse(why, whysz, "callback_url is empty");
    if (n > V2M_CALLBACK_URL_MAX) {
        if (why && whysz)
            snprintf(why, whysz, "callback_url is longer than %d bytes", V2M_CALLBACK_URL_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\')
            return refuse(why, whysz,
                          "callback_url must be printable ASCII without spaces or backslashes "
                          "(percent-encode the rest, punycode for host names)");
    }
    colon = strchr(url, ':');
    if (!colon || strncmp(colon, "://", 3) != 0 ||
        !((colon - url == 4 && strncasecmp(url, "http", 4) == 0) ||
          (colon - url == 5 && strncasecmp(url, "https", 5) == 0)))
        return refuse(why, whysz, "callback_url must be an http:// or https:// URL");
    if (strcspn(colon + 3, "/?#") == 0) /* curl would take "http:///x" as host x */
        return refuse(why, whysz, "callback_url has no host");
    u = curl_url();
    if (!u)
        return refuse(why, whysz, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        refuse(why, whysz, "callback_url is not a valid URL");
        goto out;
    }
    user = part(u, CURLUPART_USER);
    pass = part(u, CURLUPART_PASSWORD);
    auth = colon + 3;
    if (user || pass || memchr(auth, '@', strcspn(auth, "/?#"))) {
        refuse(why, whysz, "callback_url must not hold a user name or password");
        goto out;
    }
    zone = part(u, CURLUPART_ZONEID);
    host = part(u, CURLUPART_HOST);
    if (!host || !host[0]) {
        refuse(why, whysz, "callback_url has no host");
        goto out;
    }
    if (zone) {
        refuse(why, whysz, "callback_url must not name an IPv6 zone");
        goto out;
    }
    /* A host written as an address is checked now; names are resolved and
     * checked when the hook is sent. */
    if (v2m_ip_parse(host, strlen(host), &ip) == 0 && (host[0] == '[' || !strchr(host, ':'))) {
        const char *what = v2m_webhook_addr_refused(&ip, allow);
        if (what) {
            if (why && whysz)
                snprintf(why, whysz, "callback_url points to a %s address", what);
            goto out;
        }
    }
    rc = 0;
out:
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_free(zone);
    curl_url_cleanup(u);
    return rc;
}
