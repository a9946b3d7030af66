/* jobs_api.c - GET /jobs and GET /jobs/<video_fid>: where each upload stands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/oid.h"
#include "gateway.h"
#include "ports/jobs_json.h"

/* o with what the user asked for and what became of it: the options as the
 * record keeps them ({} for none: the converter's defaults), the audio track
 * used and its language once converted, a short code of the failure. */
/* o with "download_url": a fresh signed link to a done job's MP3 (relative
 * to the gateway's address, so it works behind any proxy), else null. */
static json_t *with_link(const gw_app *a, const v2m_job *j, json_t *o)
{
    char url[V2M_LINK_MAX];

    if (j->status == V2M_JOB_DONE &&
        v2m_link_make(&a->links, j->mp3_fid, (int64_t)time(NULL), url, sizeof url) == 0)
        json_object_set_new(o, "download_url", json_string(url));
    else
        json_object_set_new(o, "download_url", json_null());
    return o;
}

void gw_job(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    const char *fid = v2m_http_path(req) + strlen("/jobs/");
    gw_user u;
    v2m_job j;
    v2m_error err = {0};
    v2m_err rc;

    if (gw_authenticate(a, req, resp, &u))
        return;
    if (!v2m_oid_valid(fid)) {
        v2m_http_reply_text(resp, 404, "no such job");
        return;
    }
    rc = v2m_jobs_get(a->jobs, fid, &j, &err);
    if (rc == V2M_ENOTFOUND || (rc == V2M_OK && !u.admin && strcmp(j.owner, u.username) != 0)) {
        v2m_http_reply_text(resp, 404, "no such job");
        return;
    }
    if (rc) {
        V2M_LOG(V2M_ERROR, "job %s: %s", fid, v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "job records unavailable, try again later");
        return;
    }
    v2m_http_reply_json(resp, 200, with_link(a, &j, v2m_job_json(&j)));
}

typedef struct job_list {
    const gw_app *a;
    json_t *arr;
} job_list;

static int add_job(void *ud, const v2m_job *j)
{
    job_list *l = ud;
    json_array_append_new(l->arr, with_link(l->a, j, v2m_job_json(j)));
    return 0;
}

/* The parameter within [min, max] (above max: max), def when absent, -1
 * when not an integer or below min. */
static int query_int(v2m_http_req *req, const char *name, int def, int min, int max)
{
    const char *v = v2m_http_query(req, name);
    char *end;
    long n;
    if (!v || !*v)
        return def;
    n = strtol(v, &end, 10);
    if (*end || n < min)
        return -1;
    return n > max ? max : (int)n;
}

void gw_jobs(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    gw_user u;
    v2m_error err = {0};
    json_t *arr;
    int limit, offset;
    const char *all = v2m_http_query(req, "all");

    if (gw_authenticate(a, req, resp, &u))
        return;
    limit = query_int(req, "limit", 100, 1, 1000);
    offset = query_int(req, "offset", 0, 0, 1 << 30);
    if (limit < 0 || offset < 0) {
        v2m_http_reply_text(resp, 400,
                            "limit must be an integer from 1 to 1000 and offset a non-negative integer");
        return;
    }
    arr = json_array();
    /* Admins see their own jobs unless they ask for everyone's (?all=1). */
    if (v2m_jobs_list(a->jobs, u.admin && all && strcmp(all, "1") == 0 ? NULL : u.username,
                      limit, offset, add_job, &(job_list){a, arr}, &err) != V2M_OK) {
        json_decref(arr);
        V2M_LOG(V2M_ERROR, "jobs list: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "job records unavailable, try again later");
        return;
    }
    v2m_http_reply_json(resp, 200, arr);
}
