/* Users URLs that are opened without a server: a MySQL URL whose host,
 * user, password or database is longer than its slot is refused with
 * V2M_ECONFIG, and nothing is read from the parts that were refused. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ports/users.h"

/* Fill the stack below the caller with non-zero bytes, so that a buffer
 * left unset by the code under test holds no terminating NUL: AddressSanitizer
 * then reports the read that runs past it. */
__attribute__((noinline)) static void paint_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 'x', sizeof junk);
}

static v2m_err open_code(const char *url)
{
    v2m_error e = {0};
    v2m_users *u;

    paint_stack();
    u = v2m_users_open(url, &e);
    if (u) {
        v2m_users_close(u);
        return V2M_OK;
    }
    return e.code;
}

int main(void)
{
    char url[900], longpart[400];

    memset(longpart, 'a', sizeof longpart - 1);
    longpart[sizeof longpart - 1] = '\0';

    /* A well-formed URL opens (connections are made on first use). */
    CHECK(open_code("mysql://u:p@127.0.0.1:3306/auth") == V2M_OK);
    CHECK(open_code("mysql://u:p@127.0.0.1") == V2M_OK);

    /* Database name (path) longer than its slot. */
    snprintf(url, sizeof url, "mysql://u:p@127.0.0.1:3306/%s", longpart);
    CHECK(open_code(url) == V2M_ECONFIG);
    /* Host longer than its slot. */
    snprintf(url, sizeof url, "mysql://u:p@%.300s:3306/auth", longpart);
    CHECK(open_code(url) == V2M_ECONFIG);
    /* User longer than its slot. */
    snprintf(url, sizeof url, "mysql://%.200s:p@127.0.0.1/auth", longpart);
    CHECK(open_code(url) == V2M_ECONFIG);
    /* Password longer than its slot. */
    snprintf(url, sizeof url, "mysql://u:%.300s@127.0.0.1/auth", longpart);
    CHECK(open_code(url) == V2M_ECONFIG);
    /* Not a URL at all. */
    CHECK(open_code("mysql://[bad") == V2M_ECONFIG);
    return check_exit("test_users_url");
}
