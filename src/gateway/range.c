/* range.c - the Range request header of GET /download. */
#include "range.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int gw_parse_range(const char *h, int64_t len, int64_t *s, int64_t *e)
{
    char *end;
    if (!h)
        return 0;
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0; /* other units or several ranges: send it all (RFC 9110 allows) */
    h += 6;
    errno = 0;
    if (*h == '-') {
        long long n = strtoll(h + 1, &end, 10);
        if (errno || *end || end == h + 1 || n <= 0 || len == 0)
            return -1;
        *s = n >= len ? 0 : len - n;
        *e = len - 1;
        return 1;
    }
    long long a = strtoll(h, &end, 10);
    if (errno || end == h || *end != '-' || a < 0)
        return -1;
    h = end + 1;
    if (!*h) {
        *e = len - 1;
    } else {
        long long b = strtoll(h, &end, 10);
        if (errno || *end || b < a)
            return -1;
        *e = b >= len ? len - 1 : b;
    }
    if (a >= len)
        return -1;
    *s = a;
    return 1;
}
