/* main.c - v2m-gateway: the only public entry point (see docs/API.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/args.h"
#include "common/config.h"
#include "common/portfile.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/signals.h"
#include "ports/queue.h"
#include "gateway.h"

static const char usage[] =
    "usage: v2m-gateway [--help] [--version] [--config-table]\n"
    "The public HTTP API: /login, /upload, /download, /d/ (signed links), /jobs, and the web\n"
    "page at /.\n";

static const v2m_cfg_var gateway_vars[] = {
    {.name = "V2M_LISTEN", .def = "0.0.0.0:8080", .parse = v2m_cfg_parse_hostport,
     .max = 65535, .help = "host:port to listen on"},
    {.name = "AUTH_SVC_ADDRESS", .def = "127.0.0.1:5000", .parse = v2m_cfg_parse_hostport,
     .max = 65535, .help = "host:port of v2m-auth"},
    {.name = "V2M_STORE", .def = "file://./var/store", .parse = v2m_cfg_parse_text, .max = 1023,
     .help = "file:///dir or mongodb://host:port/"},
    {.name = "V2M_JOBS", .parse = v2m_cfg_parse_text, .max = 1023, .shown = "V2M_STORE",
     .help = "job records: file:///dir, sqlite:///path.db or mongodb://host:port/"},
    {.name = "V2M_QUEUE", .def = "sqlite://./var/queue.db", .parse = v2m_cfg_parse_text,
     .max = 1023, .help = "sqlite:///path.db or amqp://user:pass@host:port/vhost"},
    {.name = "V2M_QUEUE_TYPE", .def = "classic", .parse = v2m_queue_cfg_parse_type,
     .help = "RabbitMQ queues: classic or quorum (replicated, for a cluster)"},
    {.name = "VIDEO_QUEUE", .def = "video", .parse = v2m_cfg_parse_text, .max = 127,
     .help = "queue of new uploads"},
    {.name = "V2M_MAX_UPLOAD", .def = "2G", .parse = v2m_cfg_parse_size, .min = 1,
     .max = 1LL << 40, .help = "largest accepted file"},
    {.name = "V2M_MAX_ACTIVE_JOBS", .def = "20", .parse = v2m_cfg_parse_int, .max = 1000000,
     .help = "jobs one user may have queued or converting (0 = no cap)"},
    {.name = "V2M_QUOTA", .parse = v2m_cfg_parse_size, .max = 1LL << 50, .shown = "none",
     .help = "bytes of videos one user may keep (0 = none)"},
    {.name = "V2M_ADMIN_LISTEN", .def = "127.0.0.1:9080", .parse = v2m_cfg_parse_hostport_off,
     .max = 65535, .help = "host:port for /metrics and detailed /readyz (off: on V2M_LISTEN)"},
    {.name = "V2M_SHUTDOWN_GRACE", .def = "20s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 3600, .help = "on SIGTERM, time for uploads in progress to finish"},
    {.name = "V2M_KEEP_VIDEO", .def = "24h", .parse = v2m_cfg_parse_duration_off,
     .max = 3650 * 86400, .help = "how long a video is kept after its job ends (0 or off: forever)"},
    {.name = "V2M_KEEP_MP3", .def = "30d", .parse = v2m_cfg_parse_duration_off,
     .max = 3650 * 86400,
     .help = "how long an MP3 is kept after its job ends, then the job expires (0 or off: forever)"},
    {.name = "V2M_JANITOR_INTERVAL", .def = "60s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 86400, .help = "how often the janitor looks for files past their time"},
    {.name = "V2M_SWEEP_GRACE", .def = "1h", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 30 * 86400,
     .help = "age at which the janitor removes what killed uploads left in the store"},
    {.name = "V2M_UPLOAD_EXPIRY", .def = "24h", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 3650 * 86400, .help = "how long an unfinished resumable upload (/files/) is kept"},
    {.name = "V2M_TRUSTED_PROXIES", .def = "", .parse = v2m_cfg_parse_text,
     .help = "CIDRs of proxies in front, not held to the per-address connection cap"},
    {.name = "V2M_WEBHOOK_ALLOW", .parse = v2m_cfg_parse_text, .max = 4095, .shown = "none",
     .help = "CIDRs a callback_url may name although private, loopback, link-local..."},
};
static const v2m_cfg_table gateway_table = V2M_CFG_TABLE("gateway", gateway_vars);
static const v2m_cfg_table *const tables[] = {&gateway_table, &v2m_link_table,
                                              &v2m_httpd_table, &v2m_service_table, NULL};

static v2m_err load_config(gw_config *c, v2m_error *err)
{
    const v2m_cfg_val *listen, *admin;
    const char *jobs, *allow;
    v2m_error perr = {0};
    v2m_cfg cfg;
    v2m_err rc;

    memset(c, 0, sizeof *c);
    if ((rc = v2m_cfg_load(&cfg, &gateway_table, err)))
        return rc;
    listen = v2m_cfg_get(&cfg, "V2M_LISTEN");
    snprintf(c->host, sizeof c->host, "%s", listen->host);
    c->port = listen->port;
    c->max_upload = (uint64_t)v2m_cfg_num(&cfg, "V2M_MAX_UPLOAD");
    c->max_active_jobs = (long)v2m_cfg_num(&cfg, "V2M_MAX_ACTIVE_JOBS");
    c->quota = (uint64_t)v2m_cfg_num(&cfg, "V2M_QUOTA");
    c->grace = (long)v2m_cfg_num(&cfg, "V2M_SHUTDOWN_GRACE");
    c->keep_video = (long)v2m_cfg_num(&cfg, "V2M_KEEP_VIDEO");
    c->keep_mp3 = (long)v2m_cfg_num(&cfg, "V2M_KEEP_MP3");
    c->janitor_interval = (long)v2m_cfg_num(&cfg, "V2M_JANITOR_INTERVAL");
    c->upload_expiry = (long)v2m_cfg_num(&cfg, "V2M_UPLOAD_EXPIRY");
    c->sweep_grace = (long)v2m_cfg_num(&cfg, "V2M_SWEEP_GRACE");
    c->retry_after = 30;
    if (v2m_cidr_list_parse(v2m_cfg_text(&cfg, "V2M_TRUSTED_PROXIES"), &c->trusted, &perr))
        return v2m_fail(err, V2M_ECONFIG, "V2M_TRUSTED_PROXIES: %s", v2m_error_msg(&perr));
    /* For v2m_callback_url_check at upload (common/webhook_url.h). */
    allow = v2m_cfg_text(&cfg, "V2M_WEBHOOK_ALLOW");
    if (v2m_cidr_list_parse(allow ? allow : "", &c->webhook_allow, &perr))
        return v2m_fail(err, V2M_ECONFIG, "V2M_WEBHOOK_ALLOW: %s", v2m_error_msg(&perr));
    admin = v2m_cfg_get(&cfg, "V2M_ADMIN_LISTEN");
    snprintf(c->admin_host, sizeof c->admin_host, "%s", admin->host);
    c->admin_port = admin->port;
    snprintf(c->auth_addr, sizeof c->auth_addr, "%s", v2m_cfg_text(&cfg, "AUTH_SVC_ADDRESS"));
    snprintf(c->store_url, sizeof c->store_url, "%s", v2m_cfg_text(&cfg, "V2M_STORE"));
    jobs = v2m_cfg_text(&cfg, "V2M_JOBS");
    snprintf(c->jobs_url, sizeof c->jobs_url, "%s", jobs ? jobs : c->store_url);
    snprintf(c->queue_url, sizeof c->queue_url, "%s", v2m_cfg_text(&cfg, "V2M_QUEUE"));
    snprintf(c->video_queue, sizeof c->video_queue, "%s", v2m_cfg_text(&cfg, "VIDEO_QUEUE"));
    c->queue_type = (int)v2m_cfg_num(&cfg, "V2M_QUEUE_TYPE");
    return V2M_OK;
}

static int on_ready(void *app, char *msg, size_t msgsz)
{
    gw_app *a = app;
    v2m_error err = {0};
    char url[450];
    v2m_httpc_resp r;

    if (v2m_store_ping(a->store, &err) || v2m_jobs_ping(a->jobs, &err) ||
        gw_queue_ping(a, &err)) {
        snprintf(msg, msgsz, "%s", v2m_error_msg(&err));
        return -1;
    }
    snprintf(url, sizeof url, "%s/healthz", a->auth_url);
    v2m_httpc *c = v2m_httpc_get();
    v2m_err rc = v2m_httpc_request(c, "GET", url, NULL, NULL, 0, 3000, 4096, &r, &err);
    v2m_httpc_put(c);
    if (rc) {
        snprintf(msg, msgsz, "auth: %s", v2m_error_msg(&err));
        return -1;
    }
    v2m_httpc_resp_free(&r);
    return 0;
}

static void on_metrics(void *app, v2m_buf *buf)
{
    gw_app *a = app;
    v2m_buf_printf(buf,
                   "# TYPE v2m_gateway_uploads_total counter\n"
                   "v2m_gateway_uploads_total{result=\"ok\"} %lu\n"
                   "v2m_gateway_uploads_total{result=\"failed\"} %lu\n"
                   "# TYPE v2m_gateway_upload_bytes_total counter\n"
                   "v2m_gateway_upload_bytes_total %lu\n"
                   "# TYPE v2m_gateway_downloads_total counter\n"
                   "v2m_gateway_downloads_total %lu\n"
                   "# TYPE v2m_gateway_auth_calls_total counter\n"
                   "v2m_gateway_auth_calls_total %lu\n"
                   "# TYPE v2m_gateway_auth_seconds_total counter\n"
                   "v2m_gateway_auth_seconds_total %.6f\n"
                   "# TYPE v2m_gateway_uploads_limited_total counter\n"
                   "v2m_gateway_uploads_limited_total %lu\n",
                   atomic_load(&a->uploads_ok), atomic_load(&a->uploads_failed),
                   atomic_load(&a->upload_bytes), atomic_load(&a->downloads),
                   atomic_load(&a->auth_calls), (double)atomic_load(&a->auth_ns) / 1e9,
                   atomic_load(&a->limited));
    gw_janitor_metrics(a, buf);
}

/* A proxy in front carries many clients on its address. */
static int trusted_peer(void *app, const struct sockaddr *sa)
{
    gw_app *a = app;
    v2m_ip ip;
    return v2m_ip_from_sockaddr(sa, &ip) == 0 && v2m_cidr_list_contains(&a->cfg.trusted, &ip);
}

static const v2m_http_route routes[] = {
    {.method = "GET", .path = "/", .handler = gw_page_serve},
    {.method = "GET", .path = "/favicon.svg", .handler = gw_favicon_serve},
    {.method = "GET", .path = "/favicon.ico", .handler = gw_favicon_serve},
    {.method = "GET", .path = "/static/tus.min.js", .handler = gw_tus_js_serve},
    {.method = "GET", .path = "/static/tus-js-client-LICENSE.txt", .handler = gw_tus_license_serve},
    {.method = "POST", .path = "/login", .handler = gw_login},
    {.method = "POST", .path = "/upload", .handler = gw_upload, .body_begin = gw_upload_begin,
     .body_data = gw_upload_data, .body_end = gw_upload_end},
    {.method = "GET", .path = "/download", .handler = gw_download},
    {.method = "GET", .path = "/d/", .prefix = 1, .handler = gw_link_download},
    {.method = "GET", .path = "/jobs", .handler = gw_jobs},
    {.method = "GET", .path = "/jobs/", .prefix = 1, .handler = gw_job},
    {.method = "DELETE", .path = "/jobs/", .prefix = 1, .handler = gw_job_delete},
    {.method = "POST", .path = "/jobs/", .prefix = 1, .handler = gw_job_retry},
    {.method = "POST", .path = "/webhook-secret", .handler = gw_webhook_secret},
    /* tus 1.0 resumable uploads (tus.c) */
    {.method = "OPTIONS", .path = "/files", .prefix = 1, .handler = gw_tus_options},
    {.method = "POST", .path = "/files", .prefix = 1, .handler = gw_tus_post,
     .body_begin = gw_tus_post_begin, .body_data = gw_tus_data, .body_end = gw_tus_end},
    {.method = "GET", .path = "/files/", .prefix = 1, .handler = gw_tus_head},
    {.method = "PATCH", .path = "/files/", .prefix = 1, .handler = gw_tus_patch,
     .body_begin = gw_tus_patch_begin, .body_data = gw_tus_data, .body_end = gw_tus_end},
    {.method = "DELETE", .path = "/files/", .prefix = 1, .handler = gw_tus_delete},
};

int main(int argc, char **argv)
{
    static gw_app a; /* large; lives for the whole process */
    v2m_error err = {0};
    v2m_httpd *srv = NULL;
    v2m_httpd_opts hopts, henv = {0};
    int rc = v2m_service_args(argc, argv, "v2m-gateway", usage, tables);

    if (rc >= 0)
        return rc;
    if (load_config(&a.cfg, &err) != V2M_OK || v2m_links_load(&a.links, &err) != V2M_OK ||
        v2m_httpd_env(&henv, &err) != V2M_OK) {
        fprintf(stderr, "v2m-gateway: %s\n", v2m_error_msg(&err));
        v2m_cidr_list_free(&a.cfg.trusted);
        v2m_cidr_list_free(&a.cfg.webhook_allow);
        return 1;
    }
    snprintf(a.auth_url, sizeof a.auth_url, "http://%s", a.cfg.auth_addr);
    V2M_LOG(V2M_INFO, "v2m-gateway signed_links=%s",
            a.links.on ? "on" : "off (no V2M_LINK_SECRET)");
    v2m_signals_block();
    rc = 1;
    if (!(a.store = v2m_store_open(a.cfg.store_url, &err)) ||
        !(a.jobs = v2m_jobs_open(a.cfg.jobs_url, &err)) || gw_queue_open(&a, &err)) {
        fprintf(stderr, "v2m-gateway: %s\n", v2m_error_msg(&err));
        goto done;
    }
    hopts = (v2m_httpd_opts){.service = "gateway",
                             .host = a.cfg.host,
                             .port = a.cfg.port,
                             .routes = routes,
                             .nroutes = sizeof routes / sizeof routes[0],
                             .app = &a,
                             .thread_per_connection = 1,
                             .ready = on_ready,
                             .metrics = on_metrics,
                             .trusted_peer = trusted_peer,
                             .admin_host = a.cfg.admin_host[0] ? a.cfg.admin_host : NULL,
                             .admin_port = a.cfg.admin_port};
    hopts.max_conns = henv.max_conns;
    hopts.max_conns_per_addr = henv.max_conns_per_addr;
    hopts.header_timeout = henv.header_timeout;
    hopts.idle_timeout = henv.idle_timeout;
    /* Before the server, which reads its counters, and stopped after it. */
    if (gw_janitor_start(&a, &err)) {
        fprintf(stderr, "v2m-gateway: %s\n", v2m_error_msg(&err));
        goto done;
    }
    srv = v2m_httpd_start(&hopts, &err);
    if (!srv) {
        fprintf(stderr, "v2m-gateway: %s\n", v2m_error_msg(&err));
        goto done;
    }
    V2M_LOG(V2M_INFO, "v2m-gateway listening addr=%s:%d admin=%s:%d auth=%s store=%s "
            "max_upload=%llu max_active_jobs=%ld quota=%llu keep_video=%lds keep_mp3=%lds",
            a.cfg.host, v2m_httpd_port(srv), a.cfg.admin_host[0] ? a.cfg.admin_host : "-",
            v2m_httpd_admin_port(srv), a.cfg.auth_addr, v2m_store_scheme(a.store),
            (unsigned long long)a.cfg.max_upload, a.cfg.max_active_jobs,
            (unsigned long long)a.cfg.quota, a.cfg.keep_video, a.cfg.keep_mp3);
    v2m_write_port_file2(v2m_httpd_port(srv), v2m_httpd_admin_port(srv));
    rc = v2m_signals_wait();
    V2M_LOG(V2M_INFO, "v2m-gateway stopping signal=%d", rc);
    /* New connections are refused; uploads in progress get the grace. */
    v2m_httpd_drain(srv, (double)a.cfg.grace);
    rc = 0;
done:
    v2m_httpd_stop(srv);
    gw_janitor_stop(&a);
    gw_queue_close(&a);
    v2m_jobs_close(a.jobs);
    v2m_store_close(a.store);
    v2m_cidr_list_free(&a.cfg.trusted);
    v2m_cidr_list_free(&a.cfg.webhook_allow);
    return rc;
}
