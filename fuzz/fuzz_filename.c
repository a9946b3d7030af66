/* fuzz_filename.c - the cleaning of an uploaded file's name (gw_clean_filename).
 *
 * Input: the name as a multipart part gives it (up to its first NUL). It is
 * cleaned into the gateway's 256-byte buffer and into a smaller one whose
 * size the first byte picks. Checks, as the name goes on to the store's
 * JSON metadata, the job records and mail: no path separator, quote or
 * control character, UTF-8 that jansson accepts, at most 200 bytes, never
 * empty, "." or "..". */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    check(in, 256);
    if (size > 0)
        check(in + 1, 8 + data[0] % 249); /* 8..256 */
    free(in);
    return 0;
}
