/* filename.c - the file name an upload is stored under. */
#include "filename.h"

#include <stdio.h>
#include <string.h>

/* Bytes of the UTF-8 character at p, 0 when it is not valid UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF; the rules
 * jansson applies, so the name always fits in the store's JSON metadata). */
int gw_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0)
            lo = 0xa0; /* overlong below */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates above */
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0)
            lo = 0x90; /* overlong below */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4
                                                                                          : 0;
    }
    return 0;
}

void gw_clean_filename(const char *in, char *out, size_t outsz)
{
    const char *base = in;
    size_t o = 0;
    for (const char *p = in; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    for (const unsigned char *p = (const unsigned char *)base; *p && o + 5 < outsz && o < 200;) {
        unsigned char ch = *p;
        int n = gw_utf8_len(p);
        if (!n || ch < 0x20 || ch == 0x7f || ch == '"') {
            out[o++] = '_';
            p++;
            continue;
        }
        if (o + (size_t)n > 200)
            break; /* a character that does not fit whole is left out */
        memcpy(out + o, p, (size_t)n);
        o += (size_t)n;
        p += n;
    }
    out[o] = '\0';
    if (!o || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, outsz, "upload");
}
