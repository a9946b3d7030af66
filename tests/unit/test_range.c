/* The Range header of GET /download (gateway/range.c): one byte range
 * served, everything it does not understand served whole (0), and what
 * cannot be satisfied refused (-1); the range is always inside the file. */
#include <stdint.h>

#include "check.h"
#include "gateway/range.h"

/* Expect rc, and for rc == 1 the range [s, e]. */
static void expect(const char *h, int64_t len, int rc, int64_t s, int64_t e)
{
    int64_t gs = -7, ge = -7;
    int got = gw_parse_range(h, len, &gs, &ge);

    if (got != rc || (rc == 1 && (gs != s || ge != e)))
        fprintf(stderr, "range '%s' of %lld: %d [%lld, %lld], expected %d [%lld, %lld]\n",
                h ? h : "(null)", (long long)len, got, (long long)gs, (long long)ge, rc,
                (long long)s, (long long)e);
    CHECK(got == rc);
    if (rc == 1) {
        CHECK(gs == s && ge == e);
        CHECK(0 <= gs && gs <= ge && ge < len);
    }
}

int main(void)
{
    /* No header, other units, several ranges: the whole file. */
    expect(NULL, 10, 0, 0, 0);
    expect("", 10, 0, 0, 0);
    expect("items=0-1", 10, 0, 0, 0);
    expect("bytes 0-1", 10, 0, 0, 0);
    expect("bytes=0-1,3-4", 10, 0, 0, 0);
    expect("bytes=0-1,", 10, 0, 0, 0);

    /* First-last. */
    expect("bytes=0-0", 10, 1, 0, 0);
    expect("bytes=0-9", 10, 1, 0, 9);
    expect("bytes=2-5", 10, 1, 2, 5);
    expect("bytes=9-9", 10, 1, 9, 9);
    /* A last byte past the end is cut to the end. */
    expect("bytes=5-100", 10, 1, 5, 9);
    expect("bytes=0-9223372036854775807", 10, 1, 0, 9);
    /* Open end. */
    expect("bytes=0-", 10, 1, 0, 9);
    expect("bytes=9-", 10, 1, 9, 9);
    /* Suffix: the last n bytes; more than the file is the whole file. */
    expect("bytes=-1", 10, 1, 9, 9);
    expect("bytes=-3", 10, 1, 7, 9);
    expect("bytes=-10", 10, 1, 0, 9);
    expect("bytes=-20", 10, 1, 0, 9);
    /* Large files. */
    expect("bytes=4294967296-", 4294967296LL * 2, 1, 4294967296LL, 4294967296LL * 2 - 1);
    expect("bytes=-1", INT64_MAX, 1, INT64_MAX - 1, INT64_MAX - 1);

    /* Unsatisfiable: starting at or past the end, empty files, reversed. */
    expect("bytes=10-", 10, -1, 0, 0);
    expect("bytes=10-20", 10, -1, 0, 0);
    expect("bytes=0-", 0, -1, 0, 0);
    expect("bytes=0-0", 0, -1, 0, 0);
    expect("bytes=-5", 0, -1, 0, 0);
    expect("bytes=5-4", 10, -1, 0, 0);
    expect("bytes=-0", 10, -1, 0, 0);
    /* Malformed. */
    expect("bytes=", 10, -1, 0, 0);
    expect("bytes=-", 10, -1, 0, 0);
    expect("bytes=a-b", 10, -1, 0, 0);
    expect("bytes=1", 10, -1, 0, 0);
    expect("bytes=1-2x", 10, -1, 0, 0);
    expect("bytes=1x-2", 10, -1, 0, 0);
    expect("bytes=-1-2", 10, -1, 0, 0);
    expect("bytes=-x", 10, -1, 0, 0);
    expect("bytes=--1", 10, -1, 0, 0);
    expect("bytes=0--1", 10, -1, 0, 0);
    expect("bytes=-2-", 10, -1, 0, 0);
    /* Numbers too big for 64 bits. */
    expect("bytes=99999999999999999999-", 10, -1, 0, 0);
    expect("bytes=0-99999999999999999999", 10, -1, 0, 0);
    expect("bytes=-99999999999999999999", 10, -1, 0, 0);
    return check_exit("test_range");
}
