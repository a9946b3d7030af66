/* netaddr.c - IP literals, CIDR lists and the X-Forwarded-For walk. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_v6(v2m_ip *out, const unsigned char a[16])
{
    memset(out, 0, sizeof *out);
    if (memcmp(a, v4mapped, sizeof v4mapped) == 0) {
        out->family = AF_INET;
        memcpy(out->a, a + 12, 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->a, a, 16);
    }
}

int v2m_ip_parse(const char *s, size_t n, v2m_ip *out)
{
    char buf[64];
    const char *end;
    unsigned char raw[16];

    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    end = s + n;
    if (*s == '[') { /* "[v6]" or "[v6]:port" */
        const char *rb = memchr(s, ']', n);
        if (!rb || (rb + 1 != end && rb[1] != ':'))
            return -1;
        s++;
        n = (size_t)(rb - s);
        if (n == 0 || n >= sizeof buf)
            return -1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET6, buf, raw) != 1)
            return -1;
        set_v6(out, raw);
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strchr(buf, '.') && !strchr(buf, ':')) {
        if (inet_pton(AF_INET, buf, raw) != 1)
            return -1;
    } else if (strchr(buf, '.') && strchr(buf, ':') == strrchr(buf, ':') &&
               !strchr(buf, '[')) { /* "a.b.c.d:port" */
        char *colon = strchr(buf, ':');
        const char *p = colon + 1;
        if (!*p)
            return -1;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return -1;
        *colon = '\0';
        if (inet_pton(AF_INET, buf, raw) != 1)
            return -1;
    } else {
        if (inet_pton(AF_INET6, buf, raw) != 1)
            return -1;
        set_v6(out, raw);
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->family = AF_INET;
    memcpy(out->a, raw, 4);
    return 0;
}

int v2m_ip_from_sockaddr(const struct sockaddr *sa, v2m_ip *out)
{
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        memset(out, 0, sizeof *out);
        out->family = AF_INET;
        memcpy(out->a, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        set_v6(out, s6->sin6_addr.s6_addr);
        return 0;
    }
    return -1;
}

void v2m_ip_str(const v2m_ip *ip, char *out, size_t outsz)
{
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(ip->family == AF_INET ? AF_INET : AF_INET6, ip->a, buf, sizeof buf))
        snprintf(buf, sizeof buf, "?");
    snprintf(out, outsz, "%s", buf);
}

void v2m_ip_client_key(const v2m_ip *ip, char *out, size_t outsz)
{
    v2m_ip net = *ip;
    char buf[INET6_ADDRSTRLEN];

    if (ip->family == AF_INET) {
        v2m_ip_str(ip, out, outsz);
        return;
    }
    memset(net.a + 8, 0, 8);
    v2m_ip_str(&net, buf, sizeof buf);
    snprintf(out, outsz, "%s/64", buf);
}

static void mask(v2m_ip *ip, int bits)
{
    int len = ip->family == AF_INET ? 4 : 16;
    for (int i = 0; i < len; i++) {
        int keep = bits - 8 * i;
        if (keep >= 8)
            continue;
        ip->a[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
}

static int parse_cidr(const char *s, size_t n, v2m_cidr *out)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    int max, bits;

    /* No ports or brackets in a network. */
    if (memchr(s, '[', alen))
        return -1;
    if (v2m_ip_parse(s, alen, &out->net) != 0)
        return -1;
    /* "a.b.c.d:port" parses as an address; refuse it here. */
    if (out->net.family == AF_INET && memchr(s, ':', alen)) {
        /* ::ffff:a.b.c.d is fine: it has more than one colon. */
        const char *c1 = memchr(s, ':', alen);
        if (!memchr(c1 + 1, ':', alen - (size_t)(c1 + 1 - s)))
            return -1;
    }
    max = out->net.family == AF_INET ? 32 : 128;
    bits = max;
    if (slash) {
        const char *p = slash + 1, *end = s + n;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (p == end || end - p > 3)
            return -1;
        bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            bits = bits * 10 + (*p - '0');
        }
        /* A mapped ::ffff:0:0/96 network is the IPv4 network /0 and so on. */
        if (out->net.family == AF_INET && memchr(s, ':', alen))
            bits -= 96;
        if (bits < 0 || bits > max)
            return -1;
    }
    out->bits = bits;
    mask(&out->net, bits);
    return 0;
}

v2m_err v2m_cidr_list_parse(const char *s, v2m_cidr_list *out, v2m_error *err)
{
    size_t cap = 1;
    const char *p;

    out->v = NULL;
    out->n = 0;
    for (p = s; *p; p++)
        cap += *p == ',';
    out->v = calloc(cap, sizeof *out->v);
    if (!out->v)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    p = s;
    for (;;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        const char *a = p;
        while (a < end && (*a == ' ' || *a == '\t'))
            a++;
        if (a < end) {
            if (parse_cidr(a, (size_t)(end - a), &out->v[out->n]) != 0) {
                int len = (int)(end - a);
                v2m_cidr_list_free(out);
                return v2m_fail(err, V2M_EINVAL,
                                "'%.*s' is not an IP address or network like 10.0.0.0/8", len,
                                a);
            }
            out->n++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return V2M_OK;
}

void v2m_cidr_list_free(v2m_cidr_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int v2m_cidr_list_contains(const v2m_cidr_list *l, const v2m_ip *ip)
{
    for (size_t i = 0; i < l->n; i++) {
        v2m_ip m = *ip;
        if (l->v[i].net.family != ip->family)
            continue;
        mask(&m, l->v[i].bits);
        if (memcmp(m.a, l->v[i].net.a, ip->family == AF_INET ? 4 : 16) == 0)
            return 1;
    }
    return 0;
}

int v2m_client_addr(const v2m_cidr_list *trusted, const v2m_ip *peer, const char *xff,
                    v2m_ip *out)
{
    const char *end;

    if (!peer || (peer->family != AF_INET && peer->family != AF_INET6))
        return -1;
    *out = *peer;
    if (!xff || !v2m_cidr_list_contains(trusted, peer))
        return 0;
    end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        v2m_ip hop;
        while (start > xff && start[-1] != ',')
            start--;
        if (strspn(start, " \t") < (size_t)(end - start)) { /* skip empty entries */
            if (v2m_ip_parse(start, (size_t)(end - start), &hop) != 0)
                return 0; /* not an address: keep the trusted hop that passed it on */
            *out = hop;
            if (!v2m_cidr_list_contains(trusted, &hop))
                return 0;
        }
        end = start > xff ? start - 1 : xff;
    }
    return 0;
}

static enum MHD_Result xff_one(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    v2m_buf *acc = cls;
    size_t n;
    (void)kind;

    if (!key || !value || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    n = strlen(value);
    if (v2m_buf_reserve(acc, n + 2) != 0)
        return MHD_NO;
    if (acc->len) {
        acc->p[acc->len++] = ',';
        acc->p[acc->len++] = ' ';
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] >= 0x20 && value[i] != 0x7f)
            acc->p[acc->len++] = value[i];
    acc->p[acc->len] = '\0';
    return MHD_YES;
}

size_t v2m_xff_join(struct MHD_Connection *conn, char *out, size_t outsz)
{
    v2m_buf acc = {0};
    const char *start;
    size_t n;

    if (outsz == 0)
        return 0;
    out[0] = '\0';
    MHD_get_connection_values(conn, MHD_HEADER_KIND, xff_one, &acc);
    if (!acc.len) {
        v2m_buf_free(&acc);
        return 0;
    }
    start = acc.p;
    if (acc.len >= outsz) { /* keep the right-most whole entries */
        start = acc.p + acc.len - (outsz - 1);
        if (start[-1] != ',') {
            start = strchr(start, ',');
            start = start ? start + 1 : acc.p + acc.len;
        }
    }
    start += strspn(start, " \t");
    n = strlen(start);
    memcpy(out, start, n + 1);
    v2m_buf_free(&acc);
    return n;
}
