/* jobs_int.h - the jobs port's backend interface.
 *
 * Internal to src/ports: only jobs.c and the jobs backends include it;
 * services use jobs.h. A backend is one file defining a v2m__jobs_ops table,
 * listed by URL scheme in jobs.c's backends[].
 */
#ifndef V2M_PORTS_JOBS_INT_H
#define V2M_PORTS_JOBS_INT_H

#include <stdint.h>

#include "jobs.h"

/* A backend. jobs.c checks and normalises ids and changes and sets the
 * times; the backend stores the records. */
typedef struct v2m__jobs_ops {
    v2m_err (*open)(const char *url, void **impl, v2m_error *err);
    void (*close)(void *impl);
    v2m_err (*ping)(void *impl, v2m_error *err);
    /* Insert job (all fields set by jobs.c); V2M_EEXIST for a known fid. */
    v2m_err (*create)(void *impl, const v2m_job *job, v2m_error *err);
    /* V2M_ENOTFOUND for an unknown fid. */
    v2m_err (*get)(void *impl, const char *fid, v2m_job *out, v2m_error *err);
    /* Apply chg at time now_ms. V2M_OK with the new record; V2M_ESTATE with
     * the unchanged record when its status is not in chg->from;
     * V2M_ENOTFOUND. */
    v2m_err (*update)(void *impl, const char *fid, const v2m_job_change *chg, int64_t now_ms,
                      v2m_job *out, v2m_error *err);
    /* Newest first (created_at, then fid, descending); owner NULL for all. */
    v2m_err (*list)(void *impl, const char *owner, int limit, int offset, v2m_jobs_each fn,
                    void *ud, v2m_error *err);
    v2m_err (*del)(void *impl, const char *fid, v2m_error *err);
    /* Mark the record (of owner, when non-NULL) as being deleted at now_ms,
     * unless it is already; the record as it then is; V2M_ENOTFOUND. */
    v2m_err (*del_begin)(void *impl, const char *fid, const char *owner, int64_t now_ms,
                         v2m_job *out, v2m_error *err);
    /* Live records with status in mask and 0 < ended_at < before, (with
     * V2M_JOBS_VIDEO_STORED) video_gone 0, by ended_at ascending; at most limit. */
    v2m_err (*ended)(void *impl, unsigned mask, int64_t before, int flags, int limit,
                     v2m_jobs_each fn, void *ud, v2m_error *err);
    /* Records with 0 < deleting_at < before, oldest first; at most limit. */
    v2m_err (*deleting)(void *impl, int64_t before, int limit, v2m_jobs_each fn, void *ud,
                        v2m_error *err);
} v2m__jobs_ops;

/* The backends, one file each; jobs.c lists them by URL scheme. */
extern const v2m__jobs_ops v2m__jobs_sqlite;   /* jobs_sqlite.c: file:// and sqlite:// */
extern const v2m__jobs_ops v2m__jobs_mongo;    /* jobs_mongo.c */

#endif
