/* test_buf.c - the growable buffer: appends, formatting, growth, freeing. */
#include "check.h"
#include "common/buf.h"

int main(void)
{
    v2m_buf b = {0};
    char big[1000];

    CHECK(v2m_buf_add(&b, "", 0) == 0 && b.p && b.len == 0 && b.p[0] == '\0');
    CHECK(v2m_buf_add(&b, "ab", 2) == 0);
    CHECK(v2m_buf_printf(&b, "-%d-%s", 42, "x") == 0);
    CHECK_STR(b.p, "ab-42-x");
    CHECK(b.len == 7);

    memset(big, 'z', sizeof big);
    for (int i = 0; i < 100; i++)
        CHECK(v2m_buf_add(&b, big, sizeof big) == 0);
    CHECK(b.len == 7 + 100 * sizeof big && b.cap > b.len && b.p[b.len] == '\0');
    CHECK(b.p[6] == 'x' && b.p[7] == 'z' && b.p[b.len - 1] == 'z');

    CHECK(v2m_buf_reserve(&b, (size_t)-1) == -1);    /* cannot fit: b unchanged */
    CHECK(b.len == 7 + 100 * sizeof big);

    v2m_buf_free(&b);
    CHECK(!b.p && b.len == 0 && b.cap == 0);
    v2m_buf_free(&b);
    return check_exit("test_buf");
}
