/* utf8_int.h - copying text into fixed-size fields without cutting a
 * UTF-8 character in half.
 *
 * Internal to src/ports. Thread-safe.
 */
#ifndef V2M_PORTS_UTF8_INT_H
#define V2M_PORTS_UTF8_INT_H

#include <stddef.h>

/* Copy src (srclen bytes) into dst as a NUL-terminated string, cutting it
 * at a UTF-8 character boundary when it does not fit. */
void v2m__strlcpy_utf8(char *dst, size_t dstsz, const char *src, size_t srclen);

#endif
