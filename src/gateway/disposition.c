/* disposition.c - the Content-Disposition of an MP3 download.
 *
 * Browsers take the name to save a download under from this header: the
 * quoted filename= for old clients, filename*= (RFC 8187, UTF-8 percent-
 * encoded) for everything else. The name comes from an upload, so nothing
 * in it may end the quoted string, add a parameter or a header line, or make
 * the saved name look like something else (direction overrides). */
#include "disposition.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "filename.h"

#define NAME_MAX_BYTES 150

/* The code point of the valid UTF-8 character of n bytes at p. */
static uint32_t code_point(const unsigned char *p, int n)
{
    if (n == 1)
        return p[0];
    if (n == 2)
        return (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
    if (n == 3)
        return (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
           (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
}

/* Controls (C0, DEL, C1), line and paragraph separators, and the marks and
 * overrides that reorder text: "evil\u202Egpj.mp3" would show as a .jpg. */
static int unwanted(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x200e || c == 0x200f ||
           (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

/* RFC 8187 attr-char: what filename*= carries as itself. */
static int attr_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$&+-.^_`|~", c) != NULL);
}

void gw_content_disposition(const char *name, char *out, size_t outsz)
{
    char clean[NAME_MAX_BYTES + 8], ascii[NAME_MAX_BYTES + 8], enc[3 * (NAME_MAX_BYTES + 8)];
    const char *base = name ? name : "";
    size_t o = 0, a = 0, e = 0, start = 0;
    int alnum = 0;

    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    /* The name, cleaned and cut at a character boundary. */
    for (const unsigned char *p = (const unsigned char *)base; *p;) {
        int n = gw_utf8_len(p);
        if (!n || unwanted(code_point(p, n))) {
            n = n ? n : 1;
            if (o + 1 > NAME_MAX_BYTES)
                break;
            clean[o++] = '_';
        } else {
            if (o + (size_t)n > NAME_MAX_BYTES)
                break;
            memcpy(clean + o, p, (size_t)n);
            o += (size_t)n;
        }
        p += n;
    }
    clean[o] = '\0';
    /* The stem: without ".mp3" (put back below), blanks and dots around it
     * (no hidden files, no "name .mp3"). */
    if (o >= 4 && strcasecmp(clean + o - 4, ".mp3") == 0)
        clean[o -= 4] = '\0';
    while (o && (clean[o - 1] == ' ' || clean[o - 1] == '.'))
        clean[--o] = '\0';
    while (clean[start] == ' ' || clean[start] == '.')
        start++;
    if (!clean[start])
        snprintf(clean, sizeof clean, "audio"), start = 0;
    /* The ASCII fallback, one '_' per character it cannot carry. */
    for (const unsigned char *p = (const unsigned char *)clean + start; *p;) {
        int n = gw_utf8_len(p);
        n = n ? n : 1;
        if (n == 1 && *p >= 0x20 && *p < 0x7f && !strchr("\"\\%;", *p)) {
            ascii[a++] = (char)*p;
            alnum |= (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z');
        } else {
            ascii[a++] = '_';
        }
        p += n;
    }
    ascii[a] = '\0';
    if (!alnum)
        snprintf(ascii, sizeof ascii, "audio");
    /* filename*: every byte but attr-chars as %XX. */
    for (const unsigned char *p = (const unsigned char *)clean + start; *p; p++) {
        if (attr_char(*p)) {
            enc[e++] = (char)*p;
        } else {
            snprintf(enc + e, 4, "%%%02X", *p);
            e += 3;
        }
    }
    enc[e] = '\0';
    snprintf(out, outsz, "attachment; filename=\"%s.mp3\"; filename*=UTF-8''%s.mp3", ascii, enc);
}
