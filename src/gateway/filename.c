/* filename.c - the file name an upload is stored under. */
#include "filename.h"

#include <stdio.h>
#include <string.h>

void gw_clean_filename(const char *in, char *out, size_t outsz)
{
    const char *base = in;
    size_t o = 0;
    for (const char *p = in; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    for (const unsigned char *p = (const unsigned char *)base; *p && o + 5 < outsz && o < 200;) {
        unsigned char ch = *p;
        int n = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 0;
        int ok = n > 0;
        for (int i = 1; ok && i < n; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (!ok || ch < 0x20 || ch == 0x7f || ch == '"') {
            out[o++] = '_';
            p++;
            continue;
        }
        memcpy(out + o, p, (size_t)n);
        o += (size_t)n;
        p += n;
    }
    out[o] = '\0';
    if (!o || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, outsz, "upload");
}
