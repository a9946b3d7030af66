/* webhook_secret.c - POST /webhook-secret: a new secret for the caller's
 * webhook signatures, made by auth (which owns the users) and passed on. */
#include <stdio.h>
#include <string.h>

#include "common/httpc.h"
#include "common/log.h"
#include "gateway.h"

void gw_webhook_secret(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    const char *h = v2m_http_header(req, "Authorization");
    char url[450];
    v2m_httpc_resp r;
    v2m_error err = {0};
    v2m_httpc *c;
    v2m_err rc;

    if (!h || !*h) {
        v2m_http_reply_text(resp, 401, "missing credentials");
        return;
    }
    snprintf(url, sizeof url, "%s/webhook-secret", a->auth_url);
    c = v2m_httpc_get();
    rc = v2m_httpc_request(c, "POST", url, h, NULL, 0, 10000, 4096, &r, &err);
    v2m_httpc_put(c);
    if (rc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "auth unavailable: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "auth service unavailable, try again later");
        return;
    }
    if (r.status == 200)
        v2m_http_reply_raw(resp, 200, "application/json", r.body, r.len);
    else if (r.status == 401 || r.status == 403 || r.status == 503)
        v2m_http_reply_raw(resp, (int)r.status, "text/plain; charset=utf-8", r.body, r.len);
    else {
        V2M_LOG(V2M_ERROR, "auth /webhook-secret answered status=%ld", r.status);
        v2m_http_reply_text(resp, 503, "auth service unavailable, try again later");
    }
    if (r.body)
        explicit_bzero(r.body, r.len);
    v2m_httpc_resp_free(&r);
}
