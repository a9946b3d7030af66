/* httpc.h - HTTP client over libcurl, keeping connections alive.
 *
 * One v2m_httpc per thread: its curl handle keeps the connection to a peer
 * open between requests (the gateway calls auth on every request). Not
 * thread-safe; v2m_httpc_tls() gives each thread its own, freed at thread exit.
 */
#ifndef V2M_HTTPC_H
#define V2M_HTTPC_H

#include <stddef.h>

#include "err.h"

typedef struct v2m_httpc v2m_httpc;

typedef struct v2m_httpc_resp {
    long status;
    char *body;       /* NUL-terminated, malloc'd; free with v2m_httpc_resp_free */
    size_t len;
} v2m_httpc_resp;

v2m_httpc *v2m_httpc_new(void);
void v2m_httpc_free(v2m_httpc *c);
/* This thread's client (created on first use). */
v2m_httpc *v2m_httpc_tls(void);

/* Send method to url with an optional Authorization header value and body.
 * Bodies larger than max_resp are refused (V2M_EPROTO). A peer that cannot be
 * reached yields V2M_EUNAVAIL with curl's reason. */
v2m_err v2m_httpc_request(v2m_httpc *c, const char *method, const char *url,
                          const char *authorization, const char *body, size_t len,
                          long timeout_ms, size_t max_resp, v2m_httpc_resp *out,
                          v2m_error *err);
void v2m_httpc_resp_free(v2m_httpc_resp *r);

#endif
