/* httpc.c - libcurl easy handle per thread, bounded response bodies. */
#include "httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

struct v2m_httpc {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

struct sink {
    v2m_buf body;
    size_t max;
    int overflow;
};

#define POOL_MAX 64

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static v2m_httpc *pool[POOL_MAX];
static int pool_n;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

v2m_httpc *v2m_httpc_new(void)
{
    v2m_httpc *c;
    pthread_once(&global_once, global_init);
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return NULL;
    }
    return c;
}

void v2m_httpc_free(v2m_httpc *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

v2m_httpc *v2m_httpc_get(void)
{
    v2m_httpc *c = NULL;
    pthread_mutex_lock(&pool_mu);
    if (pool_n > 0)
        c = pool[--pool_n];
    pthread_mutex_unlock(&pool_mu);
    return c ? c : v2m_httpc_new();
}

void v2m_httpc_put(v2m_httpc *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_MAX) {
        pool[pool_n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    v2m_httpc_free(c);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;

    if (s->body.len + n > s->max) {
        s->overflow = 1;
        return 0;
    }
    return v2m_buf_add(&s->body, ptr, n) == 0 ? n : 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    v2m_httpc_resp *r = ud;
    size_t n = size * nitems, name = sizeof "Retry-After:" - 1;

    if (n > name && strncasecmp(line, "Retry-After:", name) == 0) {
        const char *v = line + name, *end = line + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        if ((size_t)(end - v) < sizeof r->retry_after) {
            memcpy(r->retry_after, v, (size_t)(end - v));
            r->retry_after[end - v] = '\0';
        }
    }
    return n;
}

v2m_err v2m_httpc_request(v2m_httpc *c, const char *method, const char *url,
                          const char *authorization, const char *body, size_t len,
                          long timeout_ms, size_t max_resp, v2m_httpc_resp *out,
                          v2m_error *err)
{
    return v2m_httpc_request_h(c, method, url, authorization, NULL, body, len, timeout_ms,
                               max_resp, out, err);
}

v2m_err v2m_httpc_request_h(v2m_httpc *c, const char *method, const char *url,
                            const char *authorization, const char *const *headers,
                            const char *body, size_t len, long timeout_ms, size_t max_resp,
                            v2m_httpc_resp *out, v2m_error *err)
{
    struct curl_slist *hdrs = NULL;
    struct sink s = {.max = max_resp};
    char auth[8192 + 32];
    CURLcode rc;

    memset(out, 0, sizeof *out);
    if (!c)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    curl_easy_reset(c->curl); /* keeps the connection cache */
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000 ? timeout_ms : 3000);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, out);
    if (authorization) {
        if (strlen(authorization) > 8192)
            return v2m_fail(err, V2M_EINVAL, "authorization header too long");
        snprintf(auth, sizeof auth, "Authorization: %s", authorization);
        hdrs = curl_slist_append(hdrs, auth);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        if (!strpbrk(headers[i], "\r\n"))
            hdrs = curl_slist_append(hdrs, headers[i]);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    if (body || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    }
    rc = curl_easy_perform(c->curl);
    curl_slist_free_all(hdrs);
    out->body = s.body.p;
    out->len = s.body.len;
    if (rc != CURLE_OK) {
        v2m_httpc_resp_free(out);
        if (s.overflow)
            return v2m_fail(err, V2M_EPROTO, "%s: response larger than %zu bytes", url, max_resp);
        return v2m_fail(err, rc == CURLE_OPERATION_TIMEDOUT ? V2M_ETIMEOUT : V2M_EUNAVAIL,
                        "%s: %s", url, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body) {
        out->body = calloc(1, 1);
        if (!out->body)
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    return V2M_OK;
}

void v2m_httpc_resp_free(v2m_httpc_resp *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
