/* authn.c - every call but /login is checked with auth's /validate. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/httpc.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "gateway.h"

/* "Bearer" and any run of spaces before the token, as auth accepts it, sent
 * on with one space (the original auth splits on a single one). Other
 * headers go as they came; auth refuses them. */
static const char *bearer_norm(const char *h, char *buf, size_t bufsz)
{
    const char *t = h + 6;
    if (strncasecmp(h, "Bearer", 6) != 0 || (*t != ' ' && *t != '\t'))
        return h;
    while (*t == ' ' || *t == '\t')
        t++;
    if (!*t || (size_t)snprintf(buf, bufsz, "Bearer %s", t) >= bufsz)
        return h;
    return buf;
}

static unsigned long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

int gw_authenticate(gw_app *a, v2m_http_req *req, v2m_http_resp *resp, gw_user *u)
{
    const char *h = v2m_http_header(req, "Authorization");
    char url[450], norm[8192];
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
    h = bearer_norm(h, norm, sizeof norm);
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

/* "X-Forwarded-For: <what came in>, <our peer>", as every proxy writes it:
 * auth throttles logins per client address and believes the entries that
 * its trusted proxies (V2M_TRUSTED_PROXIES) added. */
static void forwarded_for(v2m_http_req *req, char *out, size_t outsz)
{
    char in[V2M_XFF_MAX], peer[V2M_IP_STR_MAX];
    v2m_ip ip;

    out[0] = '\0';
    if (v2m_ip_from_sockaddr(v2m_http_peer(req), &ip) != 0)
        return;
    v2m_ip_str(&ip, peer, sizeof peer);
    /* Room for the peer: keep only the right-most entries that came in. */
    v2m_xff_join(v2m_http_conn(req), in, sizeof in - V2M_IP_STR_MAX);
    /* Always fits (in was cut to leave room); a cut header is never sent. */
    int n = snprintf(out, outsz, "X-Forwarded-For: %s%s%s", in, in[0] ? ", " : "", peer);
    if (n < 0 || (size_t)n >= outsz)
        out[0] = '\0';
}

void gw_login(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    const char *h = v2m_http_header(req, "Authorization");
    char url[450], xff[V2M_XFF_MAX + 32];
    const char *hdrs[2] = {xff, NULL};
    v2m_httpc_resp r;
    v2m_error err = {0};
    v2m_httpc *c;
    v2m_err rc;

    if (!h || !*h) {
        v2m_http_reply_text(resp, 401, "missing credentials");
        return;
    }
    snprintf(url, sizeof url, "%s/login", a->auth_url);
    forwarded_for(req, xff, sizeof xff);
    if (!xff[0])
        hdrs[0] = NULL;
    c = v2m_httpc_get();
    rc = v2m_httpc_request_h(c, "POST", url, h, hdrs, NULL, 0, 15000, 64 * 1024, &r, &err);
    v2m_httpc_put(c);
    if (rc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "auth unavailable: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "auth service unavailable, try again later");
        return;
    }
    /* Status and body as auth gave them, without a WWW-Authenticate header:
     * browsers would answer it with their own login dialog over the page. */
    v2m_http_reply_raw(resp, (int)r.status, "text/plain; charset=utf-8", r.body, r.len);
    /* 429: when to try again. */
    if (r.retry_after[0])
        v2m_http_add_header(resp, "Retry-After", r.retry_after);
    v2m_httpc_resp_free(&r);
}
