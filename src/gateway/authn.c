/* authn.c - every call but /login is checked with auth's /validate. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/httpc.h"
#include "common/log.h"
#include "gateway.h"

static unsigned long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

int gw_authenticate(gw_app *a, v2m_http_req *req, v2m_http_resp *resp, gw_user *u)
{
    const char *h = v2m_http_header(req, "Authorization");
    char url[450];
    v2m_httpc_resp r;
    v2m_error err = {0};
    unsigned long long t0;
    json_t *c = NULL;
    v2m_httpc *hc;
    v2m_err hrc;
    int rc = -1;

    if (!h || !*h) {
        v2m_http_reply_text(resp, 401, "missing credentials");
        return -1;
    }
    snprintf(url, sizeof url, "%s/validate", a->auth_url);
    t0 = now_ns();
    /* This thread's client keeps its connection to auth open. */
    hc = v2m_httpc_get();
    hrc = v2m_httpc_request(hc, "POST", url, h, NULL, 0, 10000, 64 * 1024, &r, &err);
    v2m_httpc_put(hc);
    if (hrc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "auth unavailable: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "auth service unavailable, try again later");
        return -1;
    }
    atomic_fetch_add(&a->auth_calls, 1);
    atomic_fetch_add(&a->auth_ns, now_ns() - t0);
    if (r.status == 200) {
        c = json_loadb(r.body, r.len, 0, NULL);
        json_t *name = json_object_get(c, "username");
        json_t *adm = json_object_get(c, "admin");
        if (json_is_string(name) && json_string_length(name) < sizeof u->username) {
            snprintf(u->username, sizeof u->username, "%s", json_string_value(name));
            u->admin = json_is_true(adm);
            rc = 0;
        } else {
            v2m_http_reply_text(resp, 502, "auth service answered unreadable claims");
        }
    } else if (r.status == 401 || r.status == 403) {
        /* Pass auth's verdict through unchanged, as the original does. */
        v2m_http_reply_raw(resp, (int)r.status, "text/plain; charset=utf-8", r.body, r.len);
    } else {
        V2M_LOG(V2M_ERROR, "auth /validate answered status=%ld", r.status);
        v2m_http_reply_text(resp, 503, "auth service unavailable, try again later");
    }
    json_decref(c);
    v2m_httpc_resp_free(&r);
    return rc;
}

void gw_login(void *app, v2m_http_req *req, v2m_http_resp *resp)
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
    snprintf(url, sizeof url, "%s/login", a->auth_url);
    c = v2m_httpc_get();
    rc = v2m_httpc_request(c, "POST", url, h, NULL, 0, 15000, 64 * 1024, &r, &err);
    v2m_httpc_put(c);
    if (rc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "auth unavailable: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "auth service unavailable, try again later");
        return;
    }
    /* Status and body as auth gave them, without a WWW-Authenticate header:
     * browsers would answer it with their own login dialog over the page. */
    v2m_http_reply_raw(resp, (int)r.status, "text/plain; charset=utf-8", r.body, r.len);
    v2m_httpc_resp_free(&r);
}
