/* fuzz_callback_url.c - callback URLs and webhook addresses
 * (v2m_callback_url_check, v2m_webhook_addr_refused; src/common/webhook_url.c).
 *
 * Input: a callback URL as an upload gives it. Checks: an accepted URL is
 * http(s)://, at most V2M_CALLBACK_URL_MAX bytes of printable ASCII, has no
 * '@' before its path; a refusal always says why. And, from the input's
 * first bytes as an IPv4 address: every IPv6 form that carries it (mapped,
 * compatible, NAT64, 6to4) is refused exactly when it is, but for the
 * compatible forms ::0.0.0.0 and ::0.0.0.1, which are :: and ::1. */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/webhook_url.h"
#include "fuzz.h"

static void check_forms(const uint8_t v4[4])
{
    v2m_ip a = {.family = AF_INET}, b = {.family = AF_INET6};
    int refused;

    memcpy(a.a, v4, 4);
    refused = v2m_webhook_addr_refused(&a, NULL) != NULL;
    /* ::ffff:a.b.c.d */
    memset(b.a, 0, 16);
    b.a[10] = b.a[11] = 0xff;
    memcpy(b.a + 12, v4, 4);
    FUZZ_CHECK((v2m_webhook_addr_refused(&b, NULL) != NULL) == refused);
    /* 64:ff9b::a.b.c.d */
    memset(b.a, 0, 16);
    b.a[1] = 0x64;
    b.a[2] = 0xff;
    b.a[3] = 0x9b;
    memcpy(b.a + 12, v4, 4);
    FUZZ_CHECK((v2m_webhook_addr_refused(&b, NULL) != NULL) == refused);
    /* 2002:a.b.c.d::1 */
    memset(b.a, 0, 16);
    b.a[0] = 0x20;
    b.a[1] = 0x02;
    memcpy(b.a + 2, v4, 4);
    b.a[15] = 1;
    FUZZ_CHECK((v2m_webhook_addr_refused(&b, NULL) != NULL) == refused);
    /* ::a.b.c.d */
    memset(b.a, 0, 16);
    memcpy(b.a + 12, v4, 4);
    if (!(v4[0] == 0 && v4[1] == 0 && v4[2] == 0 && v4[3] <= 1))
        FUZZ_CHECK((v2m_webhook_addr_refused(&b, NULL) != NULL) == refused);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char url[V2M_CALLBACK_URL_MAX + 64], why[256];
    size_t n = size < sizeof url - 1 ? size : sizeof url - 1;
    const char *auth;

    if (size >= 4)
        check_forms(data);
    memcpy(url, data, n);
    url[n] = '\0';
    why[0] = '\0';
    if (v2m_callback_url_check(url, NULL, why, sizeof why) != 0) {
        FUZZ_CHECK(why[0] != '\0' && strlen(why) < sizeof why);
        return 0;
    }
    n = strlen(url);
    FUZZ_CHECK(n > 0 && n <= V2M_CALLBACK_URL_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(url[i] > 0x20 && url[i] < 0x7f && url[i] != '\\');
    FUZZ_CHECK(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
    auth = strstr(url, "://") + 3;
    FUZZ_CHECK(strcspn(auth, "/?#") > 0);
    FUZZ_CHECK(memchr(auth, '@', strcspn(auth, "/?#")) == NULL);
    return 0;
}
