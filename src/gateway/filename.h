/* filename.h - the file name an upload is stored under (internal to the gateway). */
#ifndef V2M_GATEWAY_FILENAME_H
#define V2M_GATEWAY_FILENAME_H

#include <stddef.h>

/* Keep the last path component of in, as valid printable UTF-8 of at most
 * 200 bytes, into out (outsz bytes, at least 8); "upload" when nothing is left. */
void gw_clean_filename(const char *in, char *out, size_t outsz);

/* Bytes of the UTF-8 character at p (NUL-terminated), 0 when it is not
 * valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF). */
int gw_utf8_len(const unsigned char *p);

#endif
