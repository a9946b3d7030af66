/* lifecycle.c - files under the user's control: DELETE /jobs/<video_fid>
 * removes a job with its video and MP3; POST /jobs/<video_fid>/retry starts a
 * failed job again.
 *
 * Deleting is two-phase (v2m_jobs_delete_begin in jobs.h): the record is
 * marked first, which makes it gone for everyone else at once (a converter
 * working on it stops and removes the MP3 it was writing; a late message is
 * acked and dropped), then the files are deleted, then the record. A failure
 * midway (the store is down) leaves the mark; asking again, or the janitor,
 * finishes the job. Deleting a file that is already gone counts as done, so
 * every step may be repeated.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/oid.h"
#include "gateway.h"

static v2m_err delete_file(gw_app *a, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    v2m_err rc;
    if (!fid[0])
        return V2M_OK;
    rc = v2m_store_delete(a->store, ns, fid, err);
    return rc == V2M_ENOTFOUND ? V2M_OK : rc;
}

v2m_err gw_job_purge(gw_app *a, const v2m_job *j, v2m_error *err)
{
    v2m_err rc;

    /* The MP3 as the record names it: finished, or the one being written
     * (a converter that finishes it later finds no record and removes it). */
    if ((rc = delete_file(a, V2M_NS_MP3S, j->mp3_fid, err)) ||
        (rc = delete_file(a, V2M_NS_VIDEOS, j->video_fid, err)))
        return rc;
    rc = v2m_jobs_delete(a->jobs, j->video_fid, err);
    return rc == V2M_ENOTFOUND ? V2M_OK : rc;
}

void gw_job_delete(void *app, v2m_http_req *req, v2m_http_resp *resp)
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
    /* Someone else's job looks exactly like one that does not exist. */
    rc = v2m_jobs_delete_begin(a->jobs, fid, u.admin ? NULL : u.username, &j, &err);
    if (rc == V2M_ENOTFOUND) {
        v2m_http_reply_text(resp, 404, "no such job");
        return;
    }
    if (rc) {
        V2M_LOG(V2M_ERROR, "delete job %s: %s", fid, v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "job records unavailable, try again later");
        return;
    }
    if ((rc = gw_job_purge(a, &j, &err))) {
        V2M_LOG(V2M_ERROR, "delete job %s unfinished: %s", fid, v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503,
                            "the job is being deleted but the store is unavailable; "
                            "send the same request again to finish");
        return;
    }
    V2M_LOG(V2M_INFO, "job deleted video_fid=%s mp3_fid=%s by=%s", j.video_fid,
            j.mp3_fid[0] ? j.mp3_fid : "-", u.username);
    atomic_fetch_add(&a->jobs_deleted, 1);
    v2m_http_reply_raw(resp, 204, "text/plain", "", 0);
}

/* Back to failed as it was: the message could not be published. */
static void unretry(gw_app *a, const v2m_job *was)
{
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    v2m_error err = {0};

    c.from = V2M_JOB_BIT(V2M_JOB_QUEUED);
    c.status = V2M_JOB_FAILED;
    c.error = was->error[0] ? was->error : "failed";
    c.error_code = was->error_code;
    if (v2m_jobs_update(a->jobs, was->video_fid, &c, NULL, &err))
        V2M_LOG(V2M_WARN, "retry of %s: cannot put the job back to failed: %s", was->video_fid,
                v2m_error_msg(&err));
}

void gw_job_retry(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    const char *rest = v2m_http_path(req) + strlen("/jobs/");
    char fid[25];
    gw_user u;
    v2m_job j, was;
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    v2m_store_meta meta;
    v2m_msg m;
    v2m_error err = {0};
    v2m_err rc;

    if (gw_authenticate(a, req, resp, &u))
        return;
    if (strlen(rest) != 24 + strlen("/retry") || strcmp(rest + 24, "/retry") != 0) {
        v2m_http_reply_text(resp, 404, "not found");
        return;
    }
    snprintf(fid, sizeof fid, "%.24s", rest);
    if (!v2m_oid_valid(fid)) {
        v2m_http_reply_text(resp, 404, "no such job");
        return;
    }
    rc = v2m_jobs_get(a->jobs, fid, &was, &err);
    if (rc == V2M_ENOTFOUND || (rc == V2M_OK && !u.admin && strcmp(was.owner, u.username) != 0)) {
        v2m_http_reply_text(resp, 404, "no such job");
        return;
    }
    if (rc)
        goto records_down;
    if (was.status != V2M_JOB_FAILED) {
        v2m_http_reply_text(resp, 409, "job is %s; only a failed job can be retried",
                            v2m_job_status_name(was.status));
        return;
    }
    rc = was.video_gone ? V2M_ENOTFOUND
                        : v2m_store_stat(a->store, V2M_NS_VIDEOS, fid, &meta, &err);
    if (rc == V2M_ENOTFOUND) {
        v2m_http_reply_text(resp, 410, "the video of this job is no longer stored; upload it again");
        return;
    }
    if (rc) {
        V2M_LOG(V2M_ERROR, "retry of %s: %s", fid, v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "file store unavailable, try again later");
        return;
    }
    /* Conditional: of two retries at once, one wins; the other sees queued. The
     * attempts start again from 0, so a job given up after too many attempts
     * gets its full share again. */
    c.from = V2M_JOB_BIT(V2M_JOB_FAILED);
    c.status = V2M_JOB_QUEUED;
    c.progress = 0;
    c.error = "";
    c.error_code = "";
    c.reset_attempts = 1;
    rc = v2m_jobs_update(a->jobs, fid, &c, &j, &err);
    if (rc == V2M_ESTATE) {
        v2m_http_reply_text(resp, 409, "job is %s; only a failed job can be retried",
                            v2m_job_status_name(j.status));
        return;
    }
    if (rc == V2M_ENOTFOUND) {
        v2m_http_reply_text(resp, 404, "no such job");
        return;
    }
    if (rc)
        goto records_down;
    memset(&m, 0, sizeof m);
    snprintf(m.video_fid, sizeof m.video_fid, "%s", j.video_fid);
    snprintf(m.username, sizeof m.username, "%s", j.owner);
    snprintf(m.filename, sizeof m.filename, "%s", j.filename);
    snprintf(m.options, sizeof m.options, "%s", j.options);
    snprintf(m.callback_url, sizeof m.callback_url, "%s", j.callback_url);
    if (gw_publish(a, &m, &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "retry of %s: publish failed: %s", fid, v2m_error_msg(&err));
        unretry(a, &was);
        v2m_http_reply_text(resp, 503, "queue unavailable, try again later");
        return;
    }
    V2M_LOG(V2M_INFO, "job retried video_fid=%s by=%s", fid, u.username);
    json_t *o = json_object();
    json_object_set_new(o, "video_fid", json_string(fid));
    json_object_set_new(o, "status", json_string("queued"));
    v2m_http_reply_json(resp, 200, o);
    return;
records_down:
    V2M_LOG(V2M_ERROR, "retry of %s: %s", fid, v2m_error_msg(&err));
    v2m_http_reply_text(resp, 503, "job records unavailable, try again later");
}
