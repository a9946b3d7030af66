/* filename.h - the file name an upload is stored under (internal to the gateway). */
#ifndef V2M_GATEWAY_FILENAME_H
#define V2M_GATEWAY_FILENAME_H

#include <stddef.h>

/* Keep the last path component of in, as valid printable UTF-8 of at most
 * 200 bytes, into out (outsz bytes, at least 8); "upload" when nothing is left. */
void gw_clean_filename(const char *in, char *out, size_t outsz);

#endif
