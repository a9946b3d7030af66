/* disposition.h - the Content-Disposition of an MP3 download (internal to the gateway). */
#ifndef V2M_GATEWAY_DISPOSITION_H
#define V2M_GATEWAY_DISPOSITION_H

#include <stddef.h>

#define GW_DISPOSITION_MAX 700   /* enough for any name: it is cut to 150 bytes */

/* The header value for a download saved as name (the MP3's stored name; NULL
 * or nothing usable gives "audio.mp3"), RFC 6266 with RFC 8187's filename*:
 *   attachment; filename="<ASCII fallback>.mp3"; filename*=UTF-8''<percent-encoded>.mp3
 * The name loses any path, control and invisible direction characters and
 * invalid UTF-8 (each becomes '_') and is cut to 150 bytes at a character
 * boundary; the fallback has '_' for every character outside printable ASCII
 * and for '"', '\\', '%' and ';', which some parsers mishandle. out gets at
 * most outsz bytes (GW_DISPOSITION_MAX always suffices). */
void gw_content_disposition(const char *name, char *out, size_t outsz);

#endif
