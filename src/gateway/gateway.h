/* gateway.h - the public entry point: login, upload, download, jobs. */
#ifndef V2M_GATEWAY_H
#define V2M_GATEWAY_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/httpd.h"
#include "common/link.h"
#include "common/message.h"
#include "common/netaddr.h"
#include "ports/jobs.h"
#include "ports/store.h"

typedef struct gw_config {
    char host[256];
    int port;
    char auth_addr[300];     /* AUTH_SVC_ADDRESS host:port */
    char store_url[1024];
    char jobs_url[1024];     /* V2M_JOBS, by default the store's URL */
    char queue_url[1024];
    char video_queue[128];
    int queue_type;             /* V2M_QUEUE_CLASSIC or V2M_QUEUE_QUORUM */
    uint64_t max_upload;     /* V2M_MAX_UPLOAD */
    long max_active_jobs;    /* V2M_MAX_ACTIVE_JOBS per user; 0 = none */
    uint64_t quota;          /* V2M_QUOTA bytes per user; 0 = none */
    long retry_after;        /* seconds, in 429 answers */
    long grace;              /* V2M_SHUTDOWN_GRACE seconds for uploads in progress */
    char admin_host[256];    /* V2M_ADMIN_LISTEN ("" = none) */
    int admin_port;
    v2m_cidr_list trusted;   /* V2M_TRUSTED_PROXIES: exempt from the per-address cap */
    long keep_video;         /* V2M_KEEP_VIDEO seconds after a job ends; 0 = forever */
    long keep_mp3;           /* V2M_KEEP_MP3 seconds after a job ends; 0 = forever */
    long janitor_interval;   /* V2M_JANITOR_INTERVAL seconds */
    v2m_cidr_list webhook_allow; /* V2M_WEBHOOK_ALLOW: for v2m_callback_url_check */
    long upload_expiry;      /* V2M_UPLOAD_EXPIRY seconds for an unfinished /files/ upload */
    long sweep_grace;        /* V2M_SWEEP_GRACE seconds: store leftovers older are removed */
} gw_config;

typedef struct gw_user {
    char username[256];
    int admin;
} gw_user;

typedef struct gw_app {
    gw_config cfg;
    char auth_url[400];      /* http://AUTH_SVC_ADDRESS */
    v2m_store *store;
    v2m_jobs *jobs;
    struct gw_queue *queue;  /* see publish.c */
    v2m_links links;         /* signed download links (V2M_LINK_SECRET); off without one */
    atomic_ulong uploads_ok, uploads_failed, upload_bytes, downloads, auth_calls, limited;
    atomic_ullong auth_ns;   /* time spent in auth calls */
    atomic_ulong jobs_deleted;
    struct gw_janitor *janitor;   /* see janitor.c */
} gw_app;

typedef struct gw_janitor gw_janitor;

/* Check the request's bearer token with auth's /validate. On refusal (or
 * auth unreachable) the answer is written into resp and -1 returned. */
int gw_authenticate(gw_app *a, v2m_http_req *req, v2m_http_resp *resp, gw_user *u);

/* The user's limits (limits.c), before an upload of `incoming` bytes (0 when
 * unknown): 0 and *room = the bytes the quota leaves (UINT64_MAX without
 * one), or -1 with the refusal (429, 413, 503) written into resp. */
int gw_limits_check(gw_app *a, const gw_user *user, uint64_t incoming, uint64_t *room,
                    v2m_http_resp *resp);

/* The queue connection(s) of the gateway (publish.c). */
v2m_err gw_queue_open(gw_app *a, v2m_error *err);
void gw_queue_close(gw_app *a);
v2m_err gw_queue_ping(gw_app *a, v2m_error *err);
/* Persistent, confirmed publish of msg to the video queue. */
v2m_err gw_publish(gw_app *a, const v2m_msg *msg, v2m_error *err);

/* Retention (janitor.c): a thread sweeping expired files; stop joins it. */
v2m_err gw_janitor_start(gw_app *a, v2m_error *err);
void gw_janitor_stop(gw_app *a);
void gw_janitor_metrics(gw_app *a, v2m_buf *buf);

/* Delete the files of a job whose deletion began (v2m_jobs_delete_begin),
 * then its record; files or record already gone count as deleted
 * (lifecycle.c). */
v2m_err gw_job_purge(gw_app *a, const v2m_job *j, v2m_error *err);

void gw_login(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_page_serve(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_favicon_serve(void *app, v2m_http_req *req, v2m_http_resp *resp);
/* GET /static/tus.min.js and its licence: the page's upload script (page.c). */
void gw_tus_js_serve(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_tus_license_serve(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_download(void *app, v2m_http_req *req, v2m_http_resp *resp);
/* GET /d/<mp3_fid>?e=&s=: a signed link, no token (download.c). */
void gw_link_download(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_jobs(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_job(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_job_delete(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_job_retry(void *app, v2m_http_req *req, v2m_http_resp *resp);
/* POST /webhook-secret, forwarded to auth (webhook_secret.c). */
void gw_webhook_secret(void *app, v2m_http_req *req, v2m_http_resp *resp);

/* The job of a video just finished in the store (meta): the limits again,
 * the job record with options (JSON) and callback_url, a confirmed publish.
 * 0 when queued; else -1 with the file removed and the answer in resp
 * (upload.c; used by /upload and /files/). */
int gw_job_make(gw_app *a, const gw_user *user, const v2m_store_meta *meta,
                const char *options, const char *callback_url, v2m_http_resp *resp);

/* tus 1.0 resumable uploads at /files/ (tus.c). */
void gw_tus_options(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_tus_head(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_tus_delete(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_tus_post_begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream);
void gw_tus_patch_begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream);
int gw_tus_data(void *app, v2m_http_req *req, v2m_http_resp *resp, void *stream,
                const char *data, size_t len);
void gw_tus_end(void *app, void *stream);
void gw_tus_post(void *app, v2m_http_req *req, v2m_http_resp *resp);
void gw_tus_patch(void *app, v2m_http_req *req, v2m_http_resp *resp);
/* Unfinished uploads of user (not expired): their Upload-Lengths and count,
 * for the limits. */
v2m_err gw_tus_usage(gw_app *a, const char *user, uint64_t *bytes, long *count,
                     v2m_error *err);
/* Remove expired unfinished uploads (janitor); how many went. */
long gw_tus_sweep(gw_app *a);

void gw_upload_begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream);
int gw_upload_data(void *app, v2m_http_req *req, v2m_http_resp *resp, void *stream,
                   const char *data, size_t len);
void gw_upload_end(void *app, void *stream);
void gw_upload(void *app, v2m_http_req *req, v2m_http_resp *resp);

#endif
