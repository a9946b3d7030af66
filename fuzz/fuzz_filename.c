/* fuzz_filename.c - the cleaning of an uploaded file's name (gw_clean_filename).
 *
 * Input: the name as a multipart part gives it (up to its first NUL). It is
 * cleaned into the gateway's 256-byte buffer and into a smaller one whose
 * size the first byte picks. Checks, as the name goes on to the store's
 * JSON metadata, the job records and mail: no path separator, quote or
 * control character, UTF-8 that jansson accepts, at most 200 bytes, never
 * empty, "." or "..".
 * The same input as a stored MP3's name goes through the download's
 * Content-Disposition (gw_content_disposition): printable ASCII only, the
 * fallback's two quotes and the two ';' between the parts, no '\', within
 * GW_DISPOSITION_MAX, and filename* decodes to valid UTF-8 ending in .mp3. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gateway/disposition.h"
#include "gateway/filename.h"

static void check(const char *in, size_t outsz)
{
    char out[256 + 16];
    size_t n;
    json_t *j;

    memset(out, 0x55, sizeof out);
    gw_clean_filename(in, out, outsz);
    n = strnlen(out, outsz);
    FUZZ_CHECK(n < outsz);                          /* terminated inside the buffer */
    FUZZ_CHECK((unsigned char)out[outsz] == 0x55);  /* nothing written past it */
    FUZZ_CHECK(n > 0 && n <= 200);
    FUZZ_CHECK(strcmp(out, ".") != 0 && strcmp(out, "..") != 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        FUZZ_CHECK(ch >= 0x20 && ch != 0x7f && ch != '"' && ch != '/' && ch != '\\');
    }
    j = json_stringn(out, n); /* NULL for anything but valid UTF-8 */
    FUZZ_CHECK(j != NULL);
    json_decref(j);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_disposition(const char *in)
{
    char v[GW_DISPOSITION_MAX + 16], name[GW_DISPOSITION_MAX];
    const char *star;
    size_t n, o = 0;
    int quotes = 0, semis = 0;
    json_t *j;

    memset(v, 0x55, sizeof v);
    gw_content_disposition(in, v, GW_DISPOSITION_MAX);
    n = strnlen(v, GW_DISPOSITION_MAX);
    FUZZ_CHECK(n < GW_DISPOSITION_MAX && (unsigned char)v[GW_DISPOSITION_MAX] == 0x55);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        FUZZ_CHECK(ch >= 0x20 && ch < 0x7f && ch != '\\');
        quotes += ch == '"';
        semis += ch == ';';
    }
    FUZZ_CHECK(quotes == 2 && semis == 2);
    FUZZ_CHECK(strncmp(v, "attachment; filename=\"", 22) == 0);
    star = strstr(v, ".mp3\"; filename*=UTF-8''");
    FUZZ_CHECK(star != NULL);
    for (const char *p = star + 24; *p; p++) {
        if (*p == '%') {
            FUZZ_CHECK(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
            name[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            name[o++] = *p;
        }
    }
    FUZZ_CHECK(o > 4 && memcmp(name + o - 4, ".mp3", 4) == 0);
    j = json_stringn(name, o);
    FUZZ_CHECK(j != NULL);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    check(in, 256);
    check_disposition(in);
    if (size > 0)
        check(in + 1, 8 + data[0] % 249); /* 8..256 */
    free(in);
    return 0;
}
