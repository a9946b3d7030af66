/* range.h - the Range request header of GET /download (internal to the gateway). */
#ifndef V2M_GATEWAY_RANGE_H
#define V2M_GATEWAY_RANGE_H

#include <stdint.h>

/* One "bytes=a-b" range of header value h (may be NULL) against a file of
 * len bytes. 0: send the whole file (no header, another unit, several
 * ranges); 1: send [*s, *e], with 0 <= *s <= *e < len; -1: unsatisfiable. */
int gw_parse_range(const char *h, int64_t len, int64_t *s, int64_t *e);

#endif
