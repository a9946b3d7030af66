/* httpc.h - HTTP client over libcurl, keeping connections alive.
 *
 * A v2m_httpc's curl handle keeps the connection to a peer open between
 * requests (the gateway calls auth on every request). A handle is used by
 * one thread at a time: take one from the process-wide pool with
 * v2m_httpc_get() and give it back with v2m_httpc_put(), so connections
 * outlive the short-lived threads of a thread-per-connection server.
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
    char retry_after[32]; /* the Retry-After header's value; "" when absent */
} v2m_httpc_resp;

v2m_httpc *v2m_httpc_new(void);
void v2m_httpc_free(v2m_httpc *c);
/* An idle client from the pool (or a new one); NULL when out of memory. */
v2m_httpc *v2m_httpc_get(void);
/* Return c to the pool (freed when the pool is full). Safe on NULL. */
void v2m_httpc_put(v2m_httpc *c);

/* Send method to url with an optional Authorization header value and body.
 * Bodies larger than max_resp are refused (V2M_EPROTO). A peer that cannot be
 * reached yields V2M_EUNAVAIL with curl's reason. */
v2m_err v2m_httpc_request(v2m_httpc *c, const char *method, const char *url,
                          const char *authorization, const char *body, size_t len,
                          long timeout_ms, size_t max_resp, v2m_httpc_resp *out,
                          v2m_error *err);
/* The same with more request headers: a NULL-terminated list of complete
 * "Name: value" lines (no CR or LF; lines that have one are left out). */
v2m_err v2m_httpc_request_h(v2m_httpc *c, const char *method, const char *url,
                            const char *authorization, const char *const *headers,
                            const char *body, size_t len, long timeout_ms, size_t max_resp,
                            v2m_httpc_resp *out, v2m_error *err);
void v2m_httpc_resp_free(v2m_httpc_resp *r);

#endif
