/* main.c - v2m-gateway: the only public entry point (see docs/API.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/signals.h"
#include "gateway.h"

static const char usage[] =
    "usage: v2m-gateway [--help] [--version]\n"
    "The public HTTP API: /login, /upload, /download, /jobs, and the web page at /.\n"
    "Environment:\n"
    "  V2M_LISTEN        host:port to listen on (default 0.0.0.0:8080)\n"
    "  AUTH_SVC_ADDRESS  host:port of v2m-auth (default 127.0.0.1:5000)\n"
    "  V2M_STORE         file:///dir or mongodb://host:port/ (default file://./var/store)\n"
    "  V2M_JOBS          job records: file:///dir (<dir>/jobs.db), sqlite:///path.db or\n"
    "                    mongodb://host:port/ (videos.jobs) (default: V2M_STORE)\n"
    "  V2M_QUEUE         sqlite:///path.db or amqp://user:pass@host:port/vhost\n"
    "                    (default sqlite://./var/queue.db)\n"
    "  VIDEO_QUEUE       queue of new uploads (default video)\n"
    "  V2M_MAX_UPLOAD    largest accepted file, e.g. 2G (default), 500M\n"
    "  V2M_MAX_ACTIVE_JOBS  jobs one user may have queued or converting (default 20; 0 = no cap)\n"
    "  V2M_QUOTA         bytes of videos one user may keep, e.g. 10G (default: no quota)\n"
    "  V2M_ADMIN_LISTEN  host:port for /metrics and detailed /readyz (default 127.0.0.1:9080;\n"
    "                    'off' serves them on V2M_LISTEN)\n"
    "  V2M_SHUTDOWN_GRACE  on SIGTERM, time for uploads in progress to finish (default 20s)\n"
    "  V2M_TRUSTED_PROXIES  CIDRs of proxies in front (an ingress): not held to the\n"
    "                    per-address connection cap (default: none)\n"
    V2M_HTTPD_ENV_HELP
    "  V2M_PORT_FILE     write the bound port to this file (useful with port 0)\n"
    "  V2M_LOG_LEVEL     debug|info|warn|error (default info)\n";

static v2m_err load_config(gw_config *c, v2m_error *err)
{
    v2m_err rc;
    char host[256];
    const char *admin;
    v2m_error perr = {0};
    int port;

    memset(c, 0, sizeof *c);
    if ((rc = v2m_cfg_hostport("V2M_LISTEN", "0.0.0.0:8080", c->host, sizeof c->host, &c->port,
                               err)) ||
        (rc = v2m_cfg_hostport("AUTH_SVC_ADDRESS", "127.0.0.1:5000", host, sizeof host, &port,
                               err)) ||
        (rc = v2m_cfg_size("V2M_MAX_UPLOAD", 2ULL << 30, &c->max_upload, err)) ||
        (rc = v2m_cfg_long("V2M_MAX_ACTIVE_JOBS", 20, 0, 1000000, &c->max_active_jobs, err)) ||
        (rc = v2m_cfg_size("V2M_QUOTA", 0, &c->quota, err)) ||
        (rc = v2m_cfg_seconds("V2M_SHUTDOWN_GRACE", 20, &c->grace, err)))
        return rc;
    c->retry_after = 30;
    if (v2m_cidr_list_parse(v2m_cfg_str("V2M_TRUSTED_PROXIES", ""), &c->trusted, &perr))
        return v2m_fail(err, V2M_ECONFIG, "V2M_TRUSTED_PROXIES: %s", v2m_error_msg(&perr));
    admin = v2m_cfg_str("V2M_ADMIN_LISTEN", "127.0.0.1:9080");
    if (strcmp(admin, "off") != 0 &&
        (rc = v2m_cfg_hostport("V2M_ADMIN_LISTEN", "127.0.0.1:9080", c->admin_host,
                               sizeof c->admin_host, &c->admin_port, err)))
        return rc;
    snprintf(c->auth_addr, sizeof c->auth_addr, "%s", v2m_cfg_str("AUTH_SVC_ADDRESS", "127.0.0.1:5000"));
    snprintf(c->store_url, sizeof c->store_url, "%s", v2m_cfg_str("V2M_STORE", "file://./var/store"));
    snprintf(c->jobs_url, sizeof c->jobs_url, "%s", v2m_cfg_str("V2M_JOBS", c->store_url));
    snprintf(c->queue_url, sizeof c->queue_url, "%s", v2m_cfg_str("V2M_QUEUE", "sqlite://./var/queue.db"));
    snprintf(c->video_queue, sizeof c->video_queue, "%s", v2m_cfg_str("VIDEO_QUEUE", "video"));
    if (c->max_upload == 0)
        return v2m_fail(err, V2M_ECONFIG, "V2M_MAX_UPLOAD must be above 0");
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
    {.method = "POST", .path = "/login", .handler = gw_login},
    {.method = "POST", .path = "/upload", .handler = gw_upload, .body_begin = gw_upload_begin,
     .body_data = gw_upload_data, .body_end = gw_upload_end},
    {.method = "GET", .path = "/download", .handler = gw_download},
    {.method = "GET", .path = "/jobs", .handler = gw_jobs},
    {.method = "GET", .path = "/jobs/", .prefix = 1, .handler = gw_job},
};

int main(int argc, char **argv)
{
    static gw_app a; /* large; lives for the whole process */
    v2m_error err = {0};
    v2m_httpd *srv = NULL;
    v2m_httpd_opts hopts;
    int rc = v2m_service_args(argc, argv, "v2m-gateway", usage);

    if (rc >= 0)
        return rc;
    if (load_config(&a.cfg, &err) != V2M_OK) {
        fprintf(stderr, "v2m-gateway: %s\n", v2m_error_msg(&err));
        v2m_cidr_list_free(&a.cfg.trusted);
        return 1;
    }
    snprintf(a.auth_url, sizeof a.auth_url, "http://%s", a.cfg.auth_addr);
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
    if (v2m_httpd_env(&hopts, &err) == V2M_OK)
        srv = v2m_httpd_start(&hopts, &err);
    if (!srv) {
        fprintf(stderr, "v2m-gateway: %s\n", v2m_error_msg(&err));
        goto done;
    }
    V2M_LOG(V2M_INFO, "v2m-gateway listening addr=%s:%d admin=%s:%d auth=%s store=%s "
            "max_upload=%llu max_active_jobs=%ld quota=%llu",
            a.cfg.host, v2m_httpd_port(srv), a.cfg.admin_host[0] ? a.cfg.admin_host : "-",
            v2m_httpd_admin_port(srv), a.cfg.auth_addr, v2m_store_scheme(a.store),
            (unsigned long long)a.cfg.max_upload, a.cfg.max_active_jobs,
            (unsigned long long)a.cfg.quota);
    v2m_write_port_file2(v2m_httpd_port(srv), v2m_httpd_admin_port(srv));
    rc = v2m_signals_wait();
    V2M_LOG(V2M_INFO, "v2m-gateway stopping signal=%d", rc);
    /* New connections are refused; uploads in progress get the grace. */
    v2m_httpd_drain(srv, (double)a.cfg.grace);
    rc = 0;
done:
    v2m_httpd_stop(srv);
    gw_queue_close(&a);
    v2m_jobs_close(a.jobs);
    v2m_store_close(a.store);
    v2m_cidr_list_free(&a.cfg.trusted);
    return rc;
}
