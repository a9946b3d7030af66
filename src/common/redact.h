/* redact.h - URLs without their passwords, for logs and messages. */
#ifndef V2M_REDACT_H
#define V2M_REDACT_H

#include <stddef.h>

/* url with any password (scheme://user:PASSWORD@host) replaced by "***". */
void v2m_url_redact(const char *url, char *out, size_t outsz);

#endif
