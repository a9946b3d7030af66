/* Callback URLs: their form at upload, and the addresses a webhook may reach. */
#include <string.h>

#include "check.h"
#include "common/webhook_url.h"

static v2m_cidr_list none;

/* What addr is refused as under allow ("" when admitted). */
static const char *refused(const char *addr, const v2m_cidr_list *allow)
{
    v2m_ip a;
    const char *what;

    if (v2m_ip_parse(addr, strlen(addr), &a) != 0)
        return "(does not parse)";
    what = v2m_webhook_addr_refused(&a, allow);
    return what ? what : "";
}

#define CHECK_REFUSED(addr, what) CHECK_STR(refused(addr, &none), what)
#define CHECK_ADMITTED(addr) CHECK_STR(refused(addr, &none), "")

/* The reason url is refused for ("" when accepted). */
static const char *url_why(const char *url, const v2m_cidr_list *allow)
{
    static char why[256];
    why[0] = '\0';
    if (v2m_callback_url_check(url, allow, why, sizeof why) == 0)
        return "";
    return why[0] ? why : "(refused without a reason)";
}

#define CHECK_URL_OK(url) CHECK_STR(url_why(url, &none), "")
#define CHECK_URL_BAD(url, part)                                                          \
    CHECKF(strstr(url_why(url, &none), part) != NULL, "%s: \"%s\" lacks \"%s\"", url,     \
           url_why(url, &none), part)

static void addresses(void)
{
    check_scenario = "IPv4 ranges";
    CHECK_REFUSED("0.0.0.0", "unspecified");
    CHECK_REFUSED("0.1.2.3", "unspecified");
    CHECK_REFUSED("10.0.0.1", "private");
    CHECK_REFUSED("10.255.255.255", "private");
    CHECK_REFUSED("100.64.0.1", "shared (CGNAT)");
    CHECK_REFUSED("100.127.255.254", "shared (CGNAT)");
    CHECK_ADMITTED("100.63.255.255");
    CHECK_ADMITTED("100.128.0.0");
    CHECK_REFUSED("127.0.0.1", "loopback");
    CHECK_REFUSED("127.255.0.9", "loopback");
    CHECK_REFUSED("169.254.169.254", "link-local");
    CHECK_REFUSED("172.16.0.1", "private");
    CHECK_REFUSED("172.31.255.255", "private");
    CHECK_ADMITTED("172.32.0.1");
    CHECK_ADMITTED("172.15.255.255");
    CHECK_REFUSED("192.0.0.8", "reserved");
    CHECK_REFUSED("192.0.2.1", "documentation");
    CHECK_REFUSED("192.168.1.1", "private");
    CHECK_REFUSED("198.18.0.1", "benchmarking");
    CHECK_REFUSED("198.19.255.255", "benchmarking");
    CHECK_REFUSED("198.51.100.7", "documentation");
    CHECK_REFUSED("203.0.113.9", "documentation");
    CHECK_REFUSED("224.0.0.1", "multicast");
    CHECK_REFUSED("239.255.255.250", "multicast");
    CHECK_REFUSED("240.0.0.1", "reserved");
    CHECK_REFUSED("255.255.255.255", "broadcast");
    CHECK_ADMITTED("8.8.8.8");
    CHECK_ADMITTED("93.184.216.34");
    CHECK_ADMITTED("1.1.1.1");
    CHECK_ADMITTED("223.255.255.255");

    check_scenario = "IPv6 ranges";
    CHECK_REFUSED("::", "unspecified");
    CHECK_REFUSED("::1", "loopback");
    CHECK_REFUSED("fc00::1", "private");
    CHECK_REFUSED("fd12:3456::1", "private");
    CHECK_REFUSED("fe80::1", "link-local");
    CHECK_REFUSED("febf::1", "link-local");
    CHECK_REFUSED("fec0::1", "site-local");
    CHECK_REFUSED("ff02::1", "multicast");
    CHECK_REFUSED("2001:db8::1", "documentation");
    CHECK_REFUSED("100::1", "discard");
    CHECK_ADMITTED("2606:4700:4700::1111");
    CHECK_ADMITTED("2a00:1450:4001::200e");
    CHECK_ADMITTED("fbff::1");

    check_scenario = "IPv4 inside IPv6";
    CHECK_REFUSED("::ffff:127.0.0.1", "loopback");
    CHECK_REFUSED("::ffff:7f00:1", "loopback");
    CHECK_REFUSED("::ffff:10.1.2.3", "private");
    CHECK_REFUSED("::ffff:169.254.169.254", "link-local");
    CHECK_ADMITTED("::ffff:8.8.8.8");
    CHECK_REFUSED("::127.0.0.1", "loopback");        /* IPv4-compatible */
    CHECK_REFUSED("::192.168.0.1", "private");
    CHECK_REFUSED("64:ff9b::7f00:1", "loopback");     /* NAT64 */
    CHECK_REFUSED("64:ff9b::a9fe:a9fe", "link-local");
    CHECK_ADMITTED("64:ff9b::808:808");
    CHECK_REFUSED("2002:7f00:1::1", "loopback");      /* 6to4 */
    CHECK_REFUSED("2002:c0a8:101::", "private");
    CHECK_ADMITTED("2002:808:808::1");
}

static void allow_list(void)
{
    v2m_cidr_list allow;
    v2m_error e = {0};

    check_scenario = "V2M_WEBHOOK_ALLOW";
    if (v2m_cidr_list_parse("127.0.0.1/32, 10.20.0.0/16, fd00:1::/32", &allow, &e) != V2M_OK)
        FATAL("allow list: %s", v2m_error_msg(&e));
    CHECK_STR(refused("127.0.0.1", &allow), "");
    CHECK_STR(refused("127.0.0.2", &allow), "loopback");
    CHECK_STR(refused("::ffff:127.0.0.1", &allow), "");
    CHECK_STR(refused("64:ff9b::7f00:1", &allow), "");
    CHECK_STR(refused("::1", &allow), "loopback");
    CHECK_STR(refused("10.20.3.4", &allow), "");
    CHECK_STR(refused("10.21.0.1", &allow), "private");
    CHECK_STR(refused("fd00:1:2::3", &allow), "");
    CHECK_STR(refused("fd00:2::3", &allow), "private");
    CHECK_STR(refused("8.8.8.8", &allow), "");

    CHECK_STR(url_why("http://127.0.0.1:8000/hook", &allow), "");
    CHECK(strstr(url_why("http://127.0.0.2:8000/hook", &allow), "loopback") != NULL);
    v2m_cidr_list_free(&allow);
}

static void urls(void)
{
    char longurl[V2M_CALLBACK_URL_MAX + 2], why[8];
    size_t n;

    check_scenario = "accepted forms";
    CHECK_URL_OK("https://example.com/hook");
    CHECK_URL_OK("http://example.com");
    CHECK_URL_OK("HTTPS://Example.COM:8443/a/b?c=d&e=f@g#frag");
    CHECK_URL_OK("https://hooks.example.com/v2m?user=a%40b.c");
    CHECK_URL_OK("https://8.8.8.8/x");
    CHECK_URL_OK("https://[2606:4700:4700::1111]:443/x");
    CHECK_URL_OK("http://localhost/hook"); /* a name: resolved and checked at send time */

    check_scenario = "schemes";
    CHECK_URL_BAD("file:///etc/passwd", "http:// or https://");
    CHECK_URL_BAD("gopher://example.com/_x", "http:// or https://");
    CHECK_URL_BAD("ftp://example.com/", "http:// or https://");
    CHECK_URL_BAD("dict://example.com:11211/", "http:// or https://");
    CHECK_URL_BAD("ldap://example.com/", "http:// or https://");
    CHECK_URL_BAD("javascript:alert(1)", "http:// or https://");
    CHECK_URL_BAD("httpx://example.com/", "http:// or https://");
    CHECK_URL_BAD("//example.com/hook", "http:// or https://");
    CHECK_URL_BAD("example.com/hook", "http:// or https://");
    CHECK_URL_BAD("http:/example.com", "http:// or https://");

    check_scenario = "malformed";
    CHECK_URL_BAD("", "empty");
    CHECK(strstr(url_why(NULL, &none), "empty") != NULL);
    CHECK_URL_BAD("http://", "");
    CHECK(url_why("http://", &none)[0] != '\0');
    CHECK(url_why("http:///path", &none)[0] != '\0');
    CHECK_URL_BAD("https://exa mple.com/", "printable ASCII");
    CHECK_URL_BAD("https://example.com/\r\nX-Evil: 1", "printable ASCII");
    CHECK_URL_BAD("https://ex\xc3\xa4mple.com/", "printable ASCII");
    CHECK_URL_BAD("https:\\\\example.com\\", "printable ASCII");
    CHECK_URL_BAD("https://user:pass@example.com/", "user name or password");
    CHECK_URL_BAD("https://user@example.com/", "user name or password");
    CHECK_URL_BAD("https://:pw@example.com/", "user name or password");
    CHECK_URL_BAD("https://example.com@127.0.0.1/", "");
    CHECK(url_why("https://example.com@127.0.0.1/", &none)[0] != '\0');
    CHECK_URL_BAD("http://[fe80::1%25eth0]/", "");
    CHECK(url_why("http://[fe80::1%25eth0]/", &none)[0] != '\0');

    check_scenario = "length";
    memset(longurl, 'a', sizeof longurl);
    memcpy(longurl, "https://e.com/", 14);
    longurl[V2M_CALLBACK_URL_MAX] = '\0';
    n = strlen(longurl);
    CHECK(n == V2M_CALLBACK_URL_MAX);
    CHECK_URL_OK(longurl);
    longurl[V2M_CALLBACK_URL_MAX] = 'a';
    longurl[V2M_CALLBACK_URL_MAX + 1] = '\0';
    CHECK_URL_BAD(longurl, "longer than 1023 bytes");

    check_scenario = "addresses written in the URL";
    CHECK_URL_BAD("http://127.0.0.1/hook", "loopback");
    CHECK_URL_BAD("http://127.1/hook", "loopback");
    CHECK_URL_BAD("http://2130706433/hook", "loopback");
    CHECK_URL_BAD("http://0x7f000001/hook", "loopback");
    CHECK_URL_BAD("http://0/hook", "unspecified");
    CHECK_URL_BAD("http://[::1]/hook", "loopback");
    CHECK_URL_BAD("http://[::ffff:127.0.0.1]/hook", "loopback");
    CHECK_URL_BAD("http://[::ffff:a9fe:a9fe]/latest/meta-data", "link-local");
    CHECK_URL_BAD("http://169.254.169.254/latest/meta-data", "link-local");
    CHECK_URL_BAD("http://10.0.0.1:6379/", "private");
    CHECK_URL_BAD("http://[fd00::1]/", "private");
    CHECK_URL_BAD("http://100.100.100.200/", "CGNAT");
    CHECK_URL_BAD("http://224.0.0.1/", "multicast");
    CHECK_URL_BAD("http://255.255.255.255/", "broadcast");

    check_scenario = "a short reason buffer";
    CHECK(v2m_callback_url_check("file:///x", NULL, why, sizeof why) == -1);
    CHECK(strlen(why) < sizeof why);
    CHECK(v2m_callback_url_check("file:///x", NULL, NULL, 0) == -1);
    CHECK(v2m_callback_url_check("https://example.com/", NULL, NULL, 0) == 0);
}

int main(void)
{
    addresses();
    allow_list();
    urls();
    return check_exit("test_webhook_url");
}
