/* Client addresses: IP literals, CIDR lists and the X-Forwarded-For walk. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/netaddr.h"

static const char *str(const v2m_ip *ip)
{
    static char buf[V2M_IP_STR_MAX];
    v2m_ip_str(ip, buf, sizeof buf);
    return buf;
}

static v2m_ip ip(const char *s)
{
    v2m_ip r;
    memset(&r, 0, sizeof r);
    if (v2m_ip_parse(s, strlen(s), &r) != 0)
        fprintf(stderr, "test setup: '%s' does not parse\n", s);
    return r;
}

static int parses(const char *s)
{
    v2m_ip r;
    return v2m_ip_parse(s, strlen(s), &r) == 0;
}

/* The client chosen for peer and xff with the trusted list l. */
static const char *client(const v2m_cidr_list *l, const char *peer, const char *xff)
{
    v2m_ip p = ip(peer), out;
    if (v2m_client_addr(l, &p, xff, &out) != 0)
        return "(error)";
    return str(&out);
}

static int in_list(const char *list, const char *addr)
{
    v2m_cidr_list l;
    v2m_ip a = ip(addr);
    int r;
    if (v2m_cidr_list_parse(list, &l, NULL) != V2M_OK)
        return -1;
    r = v2m_cidr_list_contains(&l, &a);
    v2m_cidr_list_free(&l);
    return r;
}

static int list_ok(const char *list)
{
    v2m_cidr_list l;
    v2m_error e = {0};
    v2m_err rc = v2m_cidr_list_parse(list, &l, &e);
    v2m_cidr_list_free(&l);
    return rc == V2M_OK;
}

int main(void)
{
    v2m_cidr_list l;
    v2m_error e = {0};
    v2m_ip a;
    char key[V2M_IP_STR_MAX];

    /* Literals, with the forms proxies write. */
    a = ip("192.0.2.7");
    CHECK(a.family == AF_INET);
    CHECK_STR(str(&a), "192.0.2.7");
    CHECK_STR(str(&(v2m_ip){.family = AF_INET6, .a = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}}),
              "2001:db8::1");
    a = ip(" 2001:DB8::1 ");
    CHECK(a.family == AF_INET6);
    CHECK_STR(str(&a), "2001:db8::1");
    a = ip("192.0.2.7:4711");
    CHECK_STR(str(&a), "192.0.2.7");
    a = ip("[2001:db8::2]:4711");
    CHECK_STR(str(&a), "2001:db8::2");
    a = ip("[2001:db8::3]");
    CHECK_STR(str(&a), "2001:db8::3");
    /* An IPv4-mapped IPv6 address is the IPv4 address. */
    a = ip("::ffff:10.1.2.3");
    CHECK(a.family == AF_INET);
    CHECK_STR(str(&a), "10.1.2.3");
    CHECK(!parses(""));
    CHECK(!parses("   "));
    CHECK(!parses("unknown"));
    CHECK(!parses("1.2.3"));
    CHECK(!parses("1.2.3.256"));
    CHECK(!parses("1.2.3.4:"));
    CHECK(!parses("1.2.3.4:80x"));
    CHECK(!parses("[::1"));
    CHECK(!parses("[::1]x"));
    CHECK(!parses("2001:db8::1::2"));
    CHECK(!parses("1.2.3.4/8"));
    CHECK(!parses("_hidden"));

    /* Socket addresses. */
    {
        struct sockaddr_in s4 = {.sin_family = AF_INET};
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
        struct sockaddr un = {.sa_family = AF_UNIX};
        inet_pton(AF_INET, "198.51.100.9", &s4.sin_addr);
        CHECK(v2m_ip_from_sockaddr((struct sockaddr *)&s4, &a) == 0);
        CHECK_STR(str(&a), "198.51.100.9");
        inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
        CHECK(v2m_ip_from_sockaddr((struct sockaddr *)&s6, &a) == 0);
        CHECK(a.family == AF_INET);
        CHECK_STR(str(&a), "127.0.0.1");
        inet_pton(AF_INET6, "::1", &s6.sin6_addr);
        CHECK(v2m_ip_from_sockaddr((struct sockaddr *)&s6, &a) == 0);
        CHECK_STR(str(&a), "::1");
        CHECK(v2m_ip_from_sockaddr(&un, &a) == -1);
        CHECK(v2m_ip_from_sockaddr(NULL, &a) == -1);
    }

    /* Per-client keys: IPv4 as is, IPv6 by /64. */
    a = ip("203.0.113.5");
    v2m_ip_client_key(&a, key, sizeof key);
    CHECK_STR(key, "203.0.113.5");
    a = ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    v2m_ip_client_key(&a, key, sizeof key);
    CHECK_STR(key, "2001:db8:1:2::/64");
    a = ip("2001:db8:1:2::9");
    v2m_ip_client_key(&a, key, sizeof key);
    CHECK_STR(key, "2001:db8:1:2::/64");

    /* CIDR lists. */
    CHECK(list_ok(""));
    CHECK(list_ok("127.0.0.0/8,::1"));
    CHECK(list_ok(" 10.0.0.0/8 , 172.16.0.0/12,, 192.168.0.0/16 "));
    CHECK(list_ok("0.0.0.0/0,::/0"));
    CHECK(list_ok("10.1.2.3/8")); /* host bits ignored */
    CHECK(!list_ok("10.0.0.0/33"));
    CHECK(!list_ok("::/129"));
    CHECK(!list_ok("10.0.0.0/"));
    CHECK(!list_ok("10.0.0.0/-1"));
    CHECK(!list_ok("10.0.0.0/8x"));
    CHECK(!list_ok("localhost"));
    CHECK(!list_ok("10.0.0.1:80"));
    CHECK(!list_ok("[::1]"));
    CHECK(!list_ok("127.0.0.0/8;::1"));
    CHECK(v2m_cidr_list_parse("127.0.0.0/8,bogus", &l, &e) == V2M_EINVAL);
    CHECK(strstr(e.msg, "bogus") != NULL);
    CHECK(l.n == 0 && l.v == NULL);

    CHECK(in_list("127.0.0.0/8,::1", "127.0.0.1") == 1);
    CHECK(in_list("127.0.0.0/8,::1", "127.255.255.254") == 1);
    CHECK(in_list("127.0.0.0/8,::1", "128.0.0.1") == 0);
    CHECK(in_list("127.0.0.0/8,::1", "::1") == 1);
    CHECK(in_list("127.0.0.0/8,::1", "::2") == 0);
    CHECK(in_list("127.0.0.0/8,::1", "::ffff:127.0.0.1") == 1);
    CHECK(in_list("10.1.2.3/8", "10.200.0.1") == 1);
    CHECK(in_list("10.1.2.3", "10.1.2.3") == 1);
    CHECK(in_list("10.1.2.3", "10.1.2.4") == 0);
    CHECK(in_list("172.16.0.0/12", "172.31.255.255") == 1);
    CHECK(in_list("172.16.0.0/12", "172.32.0.0") == 0);
    CHECK(in_list("192.168.1.128/25", "192.168.1.127") == 0);
    CHECK(in_list("192.168.1.128/25", "192.168.1.200") == 1);
    CHECK(in_list("2001:db8::/32", "2001:db8:ffff::1") == 1);
    CHECK(in_list("2001:db8::/32", "2001:db9::1") == 0);
    CHECK(in_list("2001:db8::/33", "2001:db8:8000::1") == 0);
    CHECK(in_list("0.0.0.0/0", "8.8.8.8") == 1);
    CHECK(in_list("0.0.0.0/0", "2001:db8::1") == 0); /* families do not mix */
    CHECK(in_list("::/0", "2001:db8::1") == 1);
    CHECK(in_list("::ffff:10.0.0.0/104", "10.9.9.9") == 1);
    CHECK(in_list("", "127.0.0.1") == 0);

    /* Choosing the client. Trusted: loopback and 10.0.0.0/8 (the proxies). */
    CHECK(v2m_cidr_list_parse("127.0.0.0/8,::1,10.0.0.0/8", &l, &e) == V2M_OK);
    /* An untrusted peer is the client whatever the header says. */
    CHECK_STR(client(&l, "203.0.113.9", "198.51.100.1"), "203.0.113.9");
    CHECK_STR(client(&l, "203.0.113.9", NULL), "203.0.113.9");
    /* A trusted peer without the header is the client. */
    CHECK_STR(client(&l, "127.0.0.1", NULL), "127.0.0.1");
    CHECK_STR(client(&l, "127.0.0.1", ""), "127.0.0.1");
    /* The right-most untrusted entry wins; what a client wrote to its left is
     * ignored. */
    CHECK_STR(client(&l, "127.0.0.1", "198.51.100.1"), "198.51.100.1");
    CHECK_STR(client(&l, "127.0.0.1", "6.6.6.6, 198.51.100.1"), "198.51.100.1");
    CHECK_STR(client(&l, "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.5"), "198.51.100.1");
    CHECK_STR(client(&l, "10.0.0.7", "6.6.6.6,198.51.100.1,10.0.0.5,127.0.0.1"),
              "198.51.100.1");
    /* Every hop trusted: the left-most. */
    CHECK_STR(client(&l, "127.0.0.1", "10.0.0.1, 10.0.0.2"), "10.0.0.1");
    /* Garbage stops the walk at the trusted hop that passed it on. */
    CHECK_STR(client(&l, "127.0.0.1", "198.51.100.1, unknown"), "127.0.0.1");
    CHECK_STR(client(&l, "127.0.0.1", "6.6.6.6, garbage, 10.0.0.3"), "10.0.0.3");
    /* Empty entries are skipped; ports and brackets are understood. */
    CHECK_STR(client(&l, "127.0.0.1", "198.51.100.1, , "), "198.51.100.1");
    CHECK_STR(client(&l, "127.0.0.1", "[2001:db8::5]:443"), "2001:db8::5");
    CHECK_STR(client(&l, "::1", "198.51.100.1:5555"), "198.51.100.1");
    CHECK_STR(client(&l, "::ffff:127.0.0.1", "198.51.100.2"), "198.51.100.2");
    /* A peer that is not an address. */
    {
        v2m_ip bad = {0}, out;
        CHECK(v2m_client_addr(&l, &bad, "1.2.3.4", &out) == -1);
    }
    v2m_cidr_list_free(&l);
    v2m_cidr_list_free(&l); /* twice is fine */

    /* Nothing trusted: the peer, always. */
    CHECK(v2m_cidr_list_parse("", &l, &e) == V2M_OK);
    CHECK_STR(client(&l, "127.0.0.1", "198.51.100.1"), "127.0.0.1");
    v2m_cidr_list_free(&l);
    return check_exit("test_netaddr");
}
