/* fuzz_range.c - the Range header of GET /download (gw_parse_range).
 *
 * Input: the header value, optionally preceded by "LEN\n" (a decimal file
 * length). The value is parsed against that length and against a few fixed
 * ones (0, 1, 100, the largest int64). Checks: the result is -1, 0 or 1, and
 * a range it accepts lies inside the file. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gateway/range.h"

static void check(const char *h, int64_t len)
{
    int64_t s = -7, e = -7;
    int rc = gw_parse_range(h, len, &s, &e);

    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 1) {
        FUZZ_CHECK(s >= 0);
        FUZZ_CHECK(s <= e);
        FUZZ_CHECK(e < len);
    }
    if (rc == 0)
        FUZZ_CHECK(!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','));
    if (len == 0)
        FUZZ_CHECK(rc != 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t lens[] = {0, 1, 100, INT64_MAX};
    char *in = malloc(size + 1);
    const char *h;
    char *nl;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0'; /* a header value ends at its first NUL */
    h = in;
    nl = strchr(in, '\n');
    if (nl) {
        *nl = '\0';
        long long len = strtoll(in, NULL, 10);
        h = nl + 1;
        if (len >= 0)
            check(h, len);
    }
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        check(h, lens[i]);
    check(NULL, 100);
    free(in);
    return 0;
}
