/* utf8.c - copying text at UTF-8 character boundaries. */
#include "utf8_int.h"

#include <string.h>

void v2m__strlcpy_utf8(char *dst, size_t dstsz, const char *src, size_t srclen)
{
    size_t n = srclen;

    if (dstsz == 0)
        return;
    if (n >= dstsz) {
        n = dstsz - 1;
        /* Back off continuation bytes so no character is cut in half. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}
