/* limits.c - what one user may hold at once: jobs not yet finished
 * (V2M_MAX_ACTIVE_JOBS, 429) and bytes stored (V2M_QUOTA, 413).
 *
 * Unfinished resumable uploads (tus.c) count too: each as an active job,
 * with its whole Upload-Length against the quota.
 *
 * Both are counted from the user's job records, so they hold across gateway
 * replicas without any state here. The count and the new record are not one
 * transaction: uploads finishing at the same instant may pass the cap
 * together, by at most the number of such uploads; the cap is there to stop
 * floods, which this keeps bounded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "gateway.h"

typedef struct usage {
    long active;           /* queued or converting */
    uint64_t bytes;        /* the sizes of the videos still stored */
} usage;

static int add_usage(void *ud, const v2m_job *j)
{
    usage *u = ud;
    if (j->status == V2M_JOB_QUEUED || j->status == V2M_JOB_CONVERTING)
        u->active++;
    /* Only videos still stored count: a deleted job is not listed, and one
     * whose video the janitor removed (or that expired) frees its share. */
    if (j->size > 0 && !j->video_gone && j->status != V2M_JOB_EXPIRED)
        u->bytes += (uint64_t)j->size;
    return 0;
}

int gw_limits_check(gw_app *a, const gw_user *user, uint64_t incoming, uint64_t *room,
                    v2m_http_resp *resp)
{
    usage u = {0, 0};
    v2m_error err = {0};

    *room = UINT64_MAX;
    if (a->cfg.max_active_jobs <= 0 && a->cfg.quota == 0)
        return 0;
    if (v2m_jobs_list(a->jobs, user->username, 0, 0, add_usage, &u, &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "limits: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "job records unavailable, try again later");
        return -1;
    }
    /* Unfinished resumable uploads count as jobs, with their whole length. */
    {
        uint64_t tb;
        long tn;
        if (gw_tus_usage(a, user->username, &tb, &tn, &err) != V2M_OK) {
            V2M_LOG(V2M_ERROR, "limits: %s", v2m_error_msg(&err));
            v2m_http_reply_text(resp, 503, "file store unavailable, try again later");
            return -1;
        }
        u.bytes += tb;
        u.active += tn;
    }
    if (a->cfg.max_active_jobs > 0 && u.active >= a->cfg.max_active_jobs) {
        char secs[16];
        v2m_http_reply_text(resp, 429,
                            "too many unfinished jobs: %ld queued or converting, the limit is %ld; "
                            "upload again when one has finished",
                            u.active, a->cfg.max_active_jobs);
        snprintf(secs, sizeof secs, "%ld", a->cfg.retry_after);
        v2m_http_add_header(resp, "Retry-After", secs);
        atomic_fetch_add(&a->limited, 1);
        return -1;
    }
    if (a->cfg.quota) {
        if (u.bytes >= a->cfg.quota || incoming > a->cfg.quota - u.bytes) {
            v2m_http_reply_text(resp, 413,
                                "storage quota exceeded: %" PRIu64 " of %" PRIu64
                                " bytes used, this upload needs %" PRIu64 " more",
                                u.bytes, a->cfg.quota, incoming);
            atomic_fetch_add(&a->limited, 1);
            return -1;
        }
        *room = a->cfg.quota - u.bytes;
    }
    return 0;
}
