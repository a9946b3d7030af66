/* webhook.c - deliveries to callback URLs: queued, signed, checked, pinned
 * (see webhook.h, and common/webhook_url.h for the addresses refused). */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/oid.h"
#include "common/webhook_url.h"
#include "ports/jobs.h"
#include "ports/jobs_json.h"
#include "ports/users.h"

#define ADDRS_MAX 16           /* addresses of one host tried */
#define HOST_MAX (V2M_CALLBACK_URL_MAX + 1)
#define RESOLVE_MAX (HOST_MAX + 32 + ADDRS_MAX * (V2M_IP_STR_MAX + 3))  /* a CURLOPT_RESOLVE line */
#define HOP_MAX_MS 60000       /* RabbitMQ: the longest wait in <queue>.retry.<delay> */

static const v2m_cfg_var webhook_vars[] = {
    {.name = "WEBHOOK_QUEUE", .def = "webhooks", .parse = v2m_cfg_parse_text, .max = 127,
     .help = "queue of pending webhook deliveries"},
    {.name = "V2M_WEBHOOK_THREADS", .def = "2", .parse = v2m_cfg_parse_int, .min = 1, .max = 256,
     .help = "webhook deliveries at once"},
    {.name = "V2M_WEBHOOK_ALLOW", .parse = v2m_cfg_parse_text, .max = 4095, .shown = "none",
     .help = "CIDRs webhooks may reach although private, loopback, link-local..."},
    {.name = "V2M_WEBHOOK_RETRY_DELAYS", .def = "10s,30s,1m,5m,15m,1h",
     .parse = v2m_cfg_parse_text, .max = 1023,
     .help = "waits before the 2nd, 3rd... attempt of a failed webhook; the last repeats"},
    {.name = "V2M_WEBHOOK_MAX_AGE", .def = "24h", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 30 * 86400, .help = "a webhook not delivered this long after its job ended is dropped"},
    {.name = "V2M_WEBHOOK_TIMEOUT", .def = "10s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 300, .help = "longest time one webhook attempt may take"},
    {.name = "V2M_STORE", .def = "file://./var/store", .parse = v2m_cfg_parse_text, .max = 1023,
     .help = "the store's URL (job records live beside it unless V2M_JOBS says otherwise)"},
    {.name = "V2M_JOBS", .parse = v2m_cfg_parse_text, .max = 1023, .shown = "V2M_STORE",
     .help = "job records, whose JSON form webhooks post"},
};
const v2m_cfg_table v2m_webhook_table = V2M_CFG_TABLE("webhooks", webhook_vars);

struct v2m_webhooks {
    char queue[128];
    int threads;
    v2m_cidr_list allow;
    long long delays[V2M_WEBHOOK_DELAYS_MAX];   /* seconds */
    int ndelays;
    long long max_age_ms;
    long timeout_ms;
    char jobs_url[1024];
    char users_url[V2M_USERS_URL_MAX];
    v2m_links links;           /* signed download links (off without a secret) */
    char public_url[512];      /* their base */
    v2m_queue_opts qopts;
    v2m_queue *pub;            /* publishes first deliveries (the mp3 lane's threads) */
    pthread_mutex_t mu;        /* opening what follows */
    v2m_jobs *jobs;
    v2m_users *users;
    atomic_ulong delivered, failed, refused, expired;
};

/* A delivery, as the queue carries it. */
typedef struct hook {
    char video_fid[25];
    char username[256];
    char url[V2M_CALLBACK_URL_MAX + 1];
    char status[16];
    char mp3_fid[25];
    char error[512];
    char error_code[32];
    char filename[256];
    long long ended_at, not_before;   /* ms since the epoch */
    int attempt;
} hook;

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int v2m_webhook_parse_delays(const char *s, long long *delays, v2m_error *err)
{
    static const v2m_cfg_var row = {.name = "V2M_WEBHOOK_RETRY_DELAYS", .min = 1,
                                    .max = 86400};
    int n = 0;

    while (s && *s) {
        size_t len = strcspn(s, ",");
        char one[32];
        v2m_cfg_val v = {0};

        while (len && *s == ' ') {
            s++;
            len--;
        }
        if (len == 0 || len >= sizeof one || n == V2M_WEBHOOK_DELAYS_MAX) {
            v2m_fail(err, V2M_ECONFIG,
                     "V2M_WEBHOOK_RETRY_DELAYS: expected 1 to %d durations separated by commas, "
                     "like 10s,30s,1m", V2M_WEBHOOK_DELAYS_MAX);
            return -1;
        }
        memcpy(one, s, len);
        one[len] = '\0';
        while (len && one[len - 1] == ' ')
            one[--len] = '\0';
        if (v2m_cfg_parse_duration(&row, one, &v, err) != V2M_OK)
            return -1;
        delays[n++] = v.num;
        s += strcspn(s, ",");
        if (*s == ',')
            s++;
    }
    if (n == 0) {
        v2m_fail(err, V2M_ECONFIG, "V2M_WEBHOOK_RETRY_DELAYS: expected at least one duration");
        return -1;
    }
    return n;
}

v2m_webhooks *v2m_webhooks_open(const char *queue_url, int queue_type, const v2m_links *links,
                                const char *public_url, v2m_error *err)
{
    v2m_webhooks *w = calloc(1, sizeof *w);
    const char *store, *jobs, *allow;
    long long longest = 0;
    v2m_error perr = {0};
    v2m_cfg c;

    if (!w) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    if (links)
        w->links = *links;
    snprintf(w->public_url, sizeof w->public_url, "%s", public_url ? public_url : "");
    if (v2m_cfg_load(&c, &v2m_webhook_table, err) != V2M_OK)
        goto fail;
    snprintf(w->queue, sizeof w->queue, "%s", v2m_cfg_text(&c, "WEBHOOK_QUEUE"));
    w->threads = (int)v2m_cfg_num(&c, "V2M_WEBHOOK_THREADS");
    allow = v2m_cfg_text(&c, "V2M_WEBHOOK_ALLOW");
    if (v2m_cidr_list_parse(allow ? allow : "", &w->allow, &perr) != V2M_OK) {
        v2m_fail(err, V2M_ECONFIG, "V2M_WEBHOOK_ALLOW: %s", v2m_error_msg(&perr));
        goto fail;
    }
    w->ndelays = v2m_webhook_parse_delays(v2m_cfg_text(&c, "V2M_WEBHOOK_RETRY_DELAYS"),
                                          w->delays, err);
    if (w->ndelays < 0)
        goto fail;
    w->max_age_ms = v2m_cfg_num(&c, "V2M_WEBHOOK_MAX_AGE") * 1000;
    w->timeout_ms = (long)v2m_cfg_num(&c, "V2M_WEBHOOK_TIMEOUT") * 1000;
    store = v2m_cfg_text(&c, "V2M_STORE");
    jobs = v2m_cfg_text(&c, "V2M_JOBS");
    snprintf(w->jobs_url, sizeof w->jobs_url, "%s", jobs ? jobs : store);
    if (v2m_users_url_from_env("sqlite://./var/users.db", w->users_url, sizeof w->users_url,
                               err) != V2M_OK)
        goto fail;
    /* RabbitMQ waits a delivery out in <queue>.retry.<delay>, where the
     * handle's retry delay caps each wait (a longer one is waited in several
     * hops) and bounds how long a short wait can sit behind a longer one at
     * its head. */
    for (int i = 0; i < w->ndelays; i++)
        if (w->delays[i] > longest)
            longest = w->delays[i];
    v2m_queue_opts_init(&w->qopts);
    w->qopts.prefetch = 1;
    w->qopts.max_attempts = 1000; /* attempts are counted in the message */
    w->qopts.type = queue_type;
    w->qopts.retry_delay_ms = (int)(longest * 1000 < HOP_MAX_MS ? longest * 1000 : HOP_MAX_MS);
    w->pub = v2m_queue_open(queue_url, &w->qopts, err);
    if (!w->pub)
        goto fail;
    return w;
fail:
    v2m_webhooks_close(w);
    return NULL;
}

void v2m_webhooks_close(v2m_webhooks *w)
{
    if (!w)
        return;
    v2m_queue_close(w->pub);
    v2m_jobs_close(w->jobs);
    v2m_users_close(w->users);
    v2m_cidr_list_free(&w->allow);
    explicit_bzero(&w->links, sizeof w->links);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void v2m_webhooks_lane(const v2m_webhooks *w, v2m_worker_lane *lane)
{
    lane->queue = w->queue;
    lane->threads = w->threads;
    lane->qopts = w->qopts;
}

/* ---- the message ---- */

static char *hook_encode(const hook *h)
{
    json_t *o = json_object();
    char *s;

    json_object_set_new(o, "video_fid", json_string(h->video_fid));
    json_object_set_new(o, "username", json_string(h->username));
    json_object_set_new(o, "callback_url", json_string(h->url));
    json_object_set_new(o, "status", json_string(h->status));
    json_object_set_new(o, "mp3_fid", h->mp3_fid[0] ? json_string(h->mp3_fid) : json_null());
    json_object_set_new(o, "error", h->error[0] ? json_string(h->error) : json_null());
    json_object_set_new(o, "error_code", h->error_code[0] ? json_string(h->error_code)
                                                          : json_null());
    json_object_set_new(o, "filename", json_string(h->filename));
    json_object_set_new(o, "ended_at", json_integer(h->ended_at));
    json_object_set_new(o, "attempt", json_integer(h->attempt));
    json_object_set_new(o, "not_before", json_integer(h->not_before));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* A string member into out; absent or null gives "". -1 when it is too long
 * or not a string. */
static int get_text(json_t *o, const char *key, char *out, size_t outsz)
{
    json_t *v = json_object_get(o, key);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= outsz)
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static v2m_err hook_parse(const char *body, size_t len, hook *h, v2m_error *err)
{
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *ended, *attempt, *nb;
    v2m_err rc = V2M_EINVAL;

    memset(h, 0, sizeof *h);
    if (!json_is_object(o)) {
        v2m_fail(err, V2M_EINVAL, "webhook delivery is not a JSON object");
        goto out;
    }
    ended = json_object_get(o, "ended_at");
    attempt = json_object_get(o, "attempt");
    nb = json_object_get(o, "not_before");
    if (get_text(o, "video_fid", h->video_fid, sizeof h->video_fid) ||
        !v2m_oid_valid(h->video_fid) || get_text(o, "username", h->username, sizeof h->username) ||
        !h->username[0] || get_text(o, "callback_url", h->url, sizeof h->url) || !h->url[0] ||
        get_text(o, "status", h->status, sizeof h->status) ||
        get_text(o, "mp3_fid", h->mp3_fid, sizeof h->mp3_fid) ||
        get_text(o, "error", h->error, sizeof h->error) ||
        get_text(o, "error_code", h->error_code, sizeof h->error_code) ||
        get_text(o, "filename", h->filename, sizeof h->filename) || !json_is_integer(ended) ||
        (strcmp(h->status, "done") != 0 && strcmp(h->status, "failed") != 0) ||
        !json_is_integer(attempt) || json_integer_value(attempt) < 1 ||
        json_integer_value(attempt) > 1000000 || !json_is_integer(nb)) {
        v2m_fail(err, V2M_EINVAL, "webhook delivery lacks a field or has a bad one");
        goto out;
    }
    h->ended_at = json_integer_value(ended);
    h->attempt = (int)json_integer_value(attempt);
    h->not_before = json_integer_value(nb);
    rc = V2M_OK;
out:
    json_decref(o);
    return rc;
}

int v2m_webhooks_due(const v2m_msg *m, const v2m_queue_msg *qm)
{
    if (!m->callback_url[0])
        return 0;
    /* A failed mail leaves its reason: the delivery went out before it. A
     * consumer that died leaves none: publish again (at least once). */
    return qm->attempt <= 1 || !qm->error[0] ||
           strncmp(qm->error, V2M_WEBHOOK_NOT_QUEUED, strlen(V2M_WEBHOOK_NOT_QUEUED)) == 0;
}

v2m_err v2m_webhooks_enqueue(v2m_webhooks *w, const v2m_msg *m, v2m_error *err)
{
    hook h;
    char *body;
    v2m_err rc;

    memset(&h, 0, sizeof h);
    snprintf(h.video_fid, sizeof h.video_fid, "%s", m->video_fid);
    snprintf(h.username, sizeof h.username, "%s", m->username);
    snprintf(h.url, sizeof h.url, "%s", m->callback_url);
    /* Only these two: the status also names the event in a header. */
    snprintf(h.status, sizeof h.status, "%s",
             strcmp(m->status, "failed") == 0 ? "failed"
             : strcmp(m->status, "done") == 0 || m->mp3_fid[0] ? "done"
                                                                : "failed");
    snprintf(h.mp3_fid, sizeof h.mp3_fid, "%s", m->mp3_fid);
    snprintf(h.error, sizeof h.error, "%s", m->error);
    snprintf(h.error_code, sizeof h.error_code, "%s", m->error_code);
    snprintf(h.filename, sizeof h.filename, "%s", m->filename);
    h.ended_at = now_ms();
    h.not_before = h.ended_at;
    h.attempt = 1;
    body = hook_encode(&h);
    if (!body)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    rc = v2m_queue_publish(w->pub, w->queue, body, strlen(body), err);
    free(body);
    return rc;
}

/* ---- signing ---- */

int v2m_webhook_sign(const char *secret, long long t, const char *body, size_t len, char *out,
                     size_t outsz)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char head[32], *msg;
    size_t hn;
    int n;

    hn = (size_t)snprintf(head, sizeof head, "%lld.", t);
    msg = malloc(hn + len + 1);
    if (!msg)
        return -1;
    memcpy(msg, head, hn);
    if (len)
        memcpy(msg + hn, body, len);
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, hn + len,
              mac, &maclen)) {
        free(msg);
        return -1;
    }
    free(msg);
    n = snprintf(out, outsz, "t=%lld,v1=", t);
    if (n < 0 || (size_t)n + 2 * maclen + 1 > outsz)
        return -1;
    for (unsigned int i = 0; i < maclen; i++)
        snprintf(out + n + 2 * i, 3, "%02x", mac[i]);
    explicit_bzero(mac, sizeof mac);
    return 0;
}

/* ---- the request ---- */

/* Where a delivery may connect: the checked addresses. */
typedef struct pin {
    v2m_ip addrs[ADDRS_MAX];
    int n;
    const v2m_cidr_list *allow;
    int blocked;                    /* curl asked for another address */
    char blocked_ip[V2M_IP_STR_MAX];
} pin;

/* Every socket curl opens goes through here: only to an address that was
 * checked, and only if it passes the check again. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    pin *p = ud;
    v2m_ip ip;

    if (purpose != CURLSOCKTYPE_IPCXN ||
        v2m_ip_from_sockaddr(&a->addr, &ip) != 0 || v2m_webhook_addr_refused(&ip, p->allow))
        goto refuse;
    for (int i = 0; i < p->n; i++)
        if (p->addrs[i].family == ip.family &&
            memcmp(p->addrs[i].a, ip.a, ip.family == AF_INET ? 4 : 16) == 0)
            return socket(a->family, a->socktype, a->protocol);
refuse:
    p->blocked = 1;
    if (v2m_ip_from_sockaddr(&a->addr, &ip) == 0)
        v2m_ip_str(&ip, p->blocked_ip, sizeof p->blocked_ip);
    return CURL_SOCKET_BAD;
}

typedef struct sink {
    size_t got;
} sink;

static size_t drop_body(char *data, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    (void)data;
    s->got += size * n;
    return s->got > V2M_WEBHOOK_RESP_MAX ? 0 : size * n; /* enough: stop reading */
}

typedef enum outcome {
    OUT_DELIVERED,
    OUT_FAILED,      /* try again later */
    OUT_REFUSED,     /* never: the URL or its addresses are not allowed */
} outcome;

/* The URL's host (brackets stripped) and port into host, port. */
static int url_host(const char *url, char *host, size_t hostsz, char *port, size_t portsz)
{
    CURLU *u = curl_url();
    char *h = NULL, *p = NULL;
    int rc = -1;

    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(h);
        if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
            snprintf(host, hostsz, "%.*s", (int)(n - 2), h + 1);
        else
            snprintf(host, hostsz, "%s", h);
        snprintf(port, portsz, "%s", p);
        rc = 0;
    }
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* Resolve host and check every address; p gets them. OUT_DELIVERED means
 * "go on". why says what went wrong otherwise. */
static outcome resolve_checked(v2m_webhooks *w, const char *host, pin *p, int *literal,
                               char *why, size_t whysz)
{
    struct addrinfo hints, *res = NULL;
    int gai;

    p->n = 0;
    p->allow = &w->allow;
    *literal = v2m_ip_parse(host, strlen(host), &p->addrs[0]) == 0;
    if (*literal) {
        p->n = 1;
    } else {
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        gai = getaddrinfo(host, NULL, &hints, &res);
        if (gai != 0) {
            snprintf(why, whysz, "cannot resolve the host: %s", gai_strerror(gai));
            return OUT_FAILED; /* maybe for now: try again later */
        }
        for (struct addrinfo *ai = res; ai && p->n < ADDRS_MAX; ai = ai->ai_next) {
            v2m_ip ip;
            int dup = 0;
            if (v2m_ip_from_sockaddr(ai->ai_addr, &ip) != 0)
                continue;
            for (int i = 0; i < p->n; i++)
                dup |= p->addrs[i].family == ip.family &&
                       memcmp(p->addrs[i].a, ip.a, sizeof ip.a) == 0;
            if (!dup)
                p->addrs[p->n++] = ip;
        }
        freeaddrinfo(res);
        if (p->n == 0) {
            snprintf(why, whysz, "the host has no IP address");
            return OUT_FAILED;
        }
    }
    /* One refused address refuses the host: a name that mixes public and
     * private addresses is not to be trusted with either. */
    for (int i = 0; i < p->n; i++) {
        const char *what = v2m_webhook_addr_refused(&p->addrs[i], &w->allow);
        if (what) {
            char ip[V2M_IP_STR_MAX];
            v2m_ip_str(&p->addrs[i], ip, sizeof ip);
            snprintf(why, whysz, "the host resolves to a %s address (%s)", what, ip);
            return OUT_REFUSED;
        }
    }
    return OUT_DELIVERED;
}

static outcome post(v2m_webhooks *w, const hook *h, const char *body, size_t len,
                    const char *signature, long *status, char *why, size_t whysz)
{
    char host[HOST_MAX], port[16], resolve[RESOLVE_MAX], hdr[160], ua[64], attempt_hdr[48],
        event[48];
    struct curl_slist *headers = NULL, *res_list = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    sink s = {0};
    pin p;
    int literal;
    outcome o;
    CURL *c;
    CURLcode cc;

    *status = 0;
    if (v2m_callback_url_check(h->url, &w->allow, why, whysz) != 0)
        return OUT_REFUSED;
    if (url_host(h->url, host, sizeof host, port, sizeof port) != 0) {
        snprintf(why, whysz, "callback_url is not a valid URL");
        return OUT_REFUSED;
    }
    memset(&p, 0, sizeof p);
    if ((o = resolve_checked(w, host, &p, &literal, why, whysz)) != OUT_DELIVERED)
        return o;
    c = curl_easy_init();
    if (!c) {
        snprintf(why, whysz, "out of memory");
        return OUT_FAILED;
    }
    /* Pin the name to the addresses just checked, so curl does not resolve
     * it again (DNS rebinding); open_socket checks what it connects to. */
    if (!literal) {
        int n = snprintf(resolve, sizeof resolve, "%s:%s:", host, port);
        for (int i = 0; i < p.n && n > 0 && (size_t)n < sizeof resolve; i++) {
            char ip[V2M_IP_STR_MAX];
            v2m_ip_str(&p.addrs[i], ip, sizeof ip);
            n += snprintf(resolve + n, sizeof resolve - (size_t)n,
                          p.addrs[i].family == AF_INET6 ? "%s[%s]" : "%s%s", i ? "," : "", ip);
        }
        if (n < 0 || (size_t)n >= sizeof resolve) {
            curl_easy_cleanup(c);
            snprintf(why, whysz, "the host has too many addresses");
            return OUT_FAILED;
        }
        res_list = curl_slist_append(NULL, resolve);
    }
    snprintf(hdr, sizeof hdr, "V2M-Signature: %s", signature);
    snprintf(ua, sizeof ua, "User-Agent: v2m-webhook/%s", V2M_VERSION);
    snprintf(attempt_hdr, sizeof attempt_hdr, "V2M-Attempt: %d", h->attempt);
    snprintf(event, sizeof event, "V2M-Event: job.%s", h->status);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ua);
    headers = curl_slist_append(headers, hdr);
    headers = curl_slist_append(headers, event);
    headers = curl_slist_append(headers, attempt_hdr);
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");          /* never through a proxy */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_RESOLVE, res_list);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &p);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    curl_slist_free_all(res_list);
    if (p.blocked && *status == 0) {
        snprintf(why, whysz, "refused to connect to %s", p.blocked_ip);
        return OUT_REFUSED;
    }
    /* An answer cut short because it was too long still has its status. */
    if (*status >= 200 && *status < 300 && (cc == CURLE_OK || cc == CURLE_WRITE_ERROR))
        return OUT_DELIVERED;
    if (*status)
        snprintf(why, whysz, "answered %ld", *status);
    else
        snprintf(why, whysz, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    return OUT_FAILED;
}

/* ---- the worker ---- */

/* Open what deliveries read, on first use: deployments without webhooks
 * need neither. */
static v2m_err open_backends(v2m_webhooks *w, v2m_error *err)
{
    v2m_err rc = V2M_OK;
    pthread_mutex_lock(&w->mu);
    if (!w->jobs && !(w->jobs = v2m_jobs_open(w->jobs_url, err)))
        rc = err ? err->code : V2M_EUNAVAIL;
    if (rc == V2M_OK && !w->users && !(w->users = v2m_users_open(w->users_url, err)))
        rc = err ? err->code : V2M_EUNAVAIL;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* src into out, cut at a character boundary when it does not fit. */
static void copy_utf8(char *out, size_t outsz, const char *src)
{
    size_t n = strlen(src);
    if (n >= outsz) {
        n = outsz - 1;
        while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, src, n);
    out[n] = '\0';
}

/* The body: the job record as GET /jobs/<fid> shows it, with its
 * download_url absolute (the receiver does not know the gateway's address);
 * the message's fields when the record is gone. */
static char *payload(v2m_webhooks *w, const hook *h, long long now, v2m_err *rc,
                     v2m_error *err)
{
    char link[V2M_LINK_MAX], url[sizeof link + sizeof w->public_url];
    v2m_job j;
    json_t *o;
    char *s;

    *rc = v2m_jobs_get(w->jobs, h->video_fid, &j, err);
    if (*rc == V2M_OK && strcmp(j.owner, h->username) != 0)
        *rc = V2M_ENOTFOUND; /* not this user's: say only what the message said */
    if (*rc == V2M_ENOTFOUND) {
        memset(&j, 0, sizeof j);
        snprintf(j.video_fid, sizeof j.video_fid, "%s", h->video_fid);
        j.status = strcmp(h->status, "done") == 0 ? V2M_JOB_DONE : V2M_JOB_FAILED;
        j.progress = j.status == V2M_JOB_DONE ? 1.0 : 0.0;
        snprintf(j.mp3_fid, sizeof j.mp3_fid, "%s", h->mp3_fid);
        copy_utf8(j.error, sizeof j.error, h->error);
        snprintf(j.filename, sizeof j.filename, "%s", h->filename);
        j.created_at = j.updated_at = j.ended_at = h->ended_at;
        *rc = V2M_OK;
    }
    if (*rc != V2M_OK)
        return NULL;
    o = v2m_job_json(&j);
    if (o && j.status == V2M_JOB_DONE &&
        v2m_link_make(&w->links, j.mp3_fid, now / 1000, link, sizeof link) == 0) {
        snprintf(url, sizeof url, "%s%s", w->public_url, link);
        json_object_set_new(o, "download_url", json_string(url));
    } else if (o) {
        json_object_set_new(o, "download_url", json_null());
    }
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        *rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
    return s;
}

/* The next attempt of h, or ACK after the last; RETRY when it could not be
 * queued (the queue brings this one back). */
static v2m_settle again(v2m_webhooks *w, v2m_queue *q, hook *h, long long now, const char *why,
                        char *reason, size_t reasonsz)
{
    int i = h->attempt - 1 < w->ndelays ? h->attempt - 1 : w->ndelays - 1;
    long long delay_ms = w->delays[i] * 1000;
    v2m_error err = {0};
    char *body;
    v2m_err rc;

    if (now + delay_ms > h->ended_at + w->max_age_ms) {
        atomic_fetch_add(&w->expired, 1);
        V2M_LOG(V2M_WARN,
                "webhook dropped video_fid=%s attempts=%d reason=\"not delivered within %llds "
                "of the job's end; last: %s\"",
                h->video_fid, h->attempt, w->max_age_ms / 1000, why);
        return V2M_SETTLE_ACK;
    }
    h->attempt++;
    h->not_before = now + delay_ms;
    body = hook_encode(h);
    rc = body ? v2m_queue_publish_later(q, w->queue, body, strlen(body),
                                        (int)(delay_ms < w->qopts.retry_delay_ms
                                                  ? delay_ms
                                                  : w->qopts.retry_delay_ms),
                                        &err)
              : v2m_fail(&err, V2M_ENOMEM, "out of memory");
    free(body);
    if (rc != V2M_OK) {
        snprintf(reason, reasonsz, "webhook retry not queued: %s", v2m_error_msg(&err));
        return V2M_SETTLE_RETRY;
    }
    V2M_LOG(V2M_INFO, "webhook will be retried video_fid=%s attempt=%d in=%llds reason=\"%s\"",
            h->video_fid, h->attempt, delay_ms / 1000, why);
    return V2M_SETTLE_ACK;
}

v2m_settle v2m_webhooks_work(v2m_webhooks *w, v2m_queue *q, const v2m_queue_msg *qm,
                             char *reason, size_t reasonsz)
{
    char secret[V2M_WEBHOOK_SECRET_MAX], sig[128], why[300] = "", host[HOST_MAX] = "", port[16];
    long long now = now_ms();
    v2m_error err = {0};
    char *body = NULL;
    long status = 0;
    outcome o;
    v2m_err rc;
    hook h;

    if (hook_parse(qm->body, qm->len, &h, &err) != V2M_OK) {
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        return V2M_SETTLE_DEAD;
    }
    if (h.not_before > now) {
        /* Early (RabbitMQ waits at most the retry queue's TTL): wait on. */
        long long left = h.not_before - now;
        char *again_body = hook_encode(&h);
        rc = again_body ? v2m_queue_publish_later(q, w->queue, again_body, strlen(again_body),
                                                  (int)(left < w->qopts.retry_delay_ms
                                                            ? left
                                                            : w->qopts.retry_delay_ms),
                                                  &err)
                        : V2M_ENOMEM;
        free(again_body);
        if (rc != V2M_OK) {
            snprintf(reason, reasonsz, "webhook wait not queued: %s", v2m_error_msg(&err));
            return V2M_SETTLE_RETRY;
        }
        return V2M_SETTLE_ACK;
    }
    url_host(h.url, host, sizeof host, port, sizeof port);
    if (open_backends(w, &err) != V2M_OK) {
        snprintf(why, sizeof why, "records or users unavailable: %s", v2m_error_msg(&err));
        atomic_fetch_add(&w->failed, 1);
        return again(w, q, &h, now, why, reason, reasonsz);
    }
    rc = v2m_users_webhook_secret(w->users, h.username, 1, secret, sizeof secret, &err);
    if (rc == V2M_ENOTFOUND) {
        atomic_fetch_add(&w->refused, 1);
        V2M_LOG(V2M_WARN,
                "webhook refused video_fid=%s host=%s reason=\"no such user in the users "
                "database (deleted? or V2M_USERS / MYSQL_* not set as for auth)\"",
                h.video_fid, host);
        return V2M_SETTLE_ACK;
    }
    if (rc == V2M_OK)
        body = payload(w, &h, now, &rc, &err);
    if (rc != V2M_OK || !body) {
        explicit_bzero(secret, sizeof secret);
        snprintf(why, sizeof why, "%s", v2m_error_msg(&err));
        atomic_fetch_add(&w->failed, 1);
        return again(w, q, &h, now, why, reason, reasonsz);
    }
    if (v2m_webhook_sign(secret, now / 1000, body, strlen(body), sig, sizeof sig) != 0) {
        explicit_bzero(secret, sizeof secret);
        free(body);
        snprintf(reason, reasonsz, "cannot sign the webhook");
        return V2M_SETTLE_RETRY;
    }
    explicit_bzero(secret, sizeof secret);
    o = post(w, &h, body, strlen(body), sig, &status, why, sizeof why);
    free(body);
    switch (o) {
    case OUT_DELIVERED:
        atomic_fetch_add(&w->delivered, 1);
        V2M_LOG(V2M_INFO, "webhook delivered video_fid=%s host=%s attempt=%d status=%ld",
                h.video_fid, host, h.attempt, status);
        return V2M_SETTLE_ACK;
    case OUT_REFUSED:
        atomic_fetch_add(&w->refused, 1);
        V2M_LOG(V2M_WARN, "webhook refused video_fid=%s host=%s reason=\"%s\"", h.video_fid,
                host, why);
        return V2M_SETTLE_ACK;
    case OUT_FAILED:
    default:
        atomic_fetch_add(&w->failed, 1);
        V2M_LOG(V2M_WARN, "webhook failed video_fid=%s host=%s attempt=%d reason=\"%s\"",
                h.video_fid, host, h.attempt, why);
        return again(w, q, &h, now, why, reason, reasonsz);
    }
}

void v2m_webhooks_metrics(v2m_webhooks *w, v2m_buf *buf)
{
    v2m_buf_printf(buf,
                   "# TYPE v2m_notification_webhooks_total counter\n"
                   "v2m_notification_webhooks_total{result=\"delivered\"} %lu\n"
                   "v2m_notification_webhooks_total{result=\"failed\"} %lu\n"
                   "v2m_notification_webhooks_total{result=\"refused\"} %lu\n"
                   "v2m_notification_webhooks_total{result=\"expired\"} %lu\n",
                   atomic_load(&w->delivered), atomic_load(&w->failed),
                   atomic_load(&w->refused), atomic_load(&w->expired));
}
