/* jobs.c - the job records port: pick the backend by URL; the transitions the
 * services use. */
#include "jobs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports_int.h"
#include "clock_int.h"
#include "utf8_int.h"
#include "common/oid.h"

/* The time records are stamped with; tests put in their own clock. */
static int64_t (*jobs_clock)(void) = v2m__now_ms;

void v2m__jobs_set_clock(int64_t (*now_ms)(void)) { jobs_clock = now_ms ? now_ms : v2m__now_ms; }

struct v2m_jobs {
    const v2m__jobs_ops *ops;
    void *impl;
};

/* The backends by URL scheme: a new one is its file and a row here.
 * file:///dir keeps the records beside the store's files, in <dir>/jobs.db. */
static const v2m__backend backends[] = {
    {"file", &v2m__jobs_sqlite},
    {"sqlite", &v2m__jobs_sqlite},
    {"mongodb", &v2m__jobs_mongo},
};

static const char *const status_names[] = {"queued", "converting", "done", "failed",
                                           "expired"};

const char *v2m_job_status_name(v2m_job_status s)
{
    return (unsigned)s < V2M__COUNT(status_names) ? status_names[s] : "unknown";
}

int v2m_job_status_parse(const char *s)
{
    for (int i = 0; i < (int)V2M__COUNT(status_names); i++)
        if (s && strcmp(s, status_names[i]) == 0)
            return i;
    return -1;
}

v2m_jobs *v2m_jobs_open(const char *url, v2m_error *err)
{
    const v2m__backend *b =
        v2m__pick(backends, V2M__COUNT(backends), url, "jobs",
                  "file:///dir, sqlite:///path.db or mongodb://host:port/", err);
    v2m_jobs *j;

    if (!b)
        return NULL;
    j = calloc(1, sizeof *j);
    if (!j) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    j->ops = b->ops;
    if (j->ops->open(url, &j->impl, err) != V2M_OK) {
        free(j);
        return NULL;
    }
    return j;
}

void v2m_jobs_close(v2m_jobs *j)
{
    if (!j)
        return;
    j->ops->close(j->impl);
    free(j);
}

v2m_err v2m_jobs_ping(v2m_jobs *j, v2m_error *err) { return j->ops->ping(j->impl, err); }

static v2m_err check_text(const char *s, size_t max, const char *what, v2m_error *err)
{
    if (s && strlen(s) > max)
        return v2m_fail(err, V2M_EINVAL, "job %s longer than %zu bytes", what, max);
    return V2M_OK;
}

v2m_err v2m_jobs_create(v2m_jobs *j, const char *video_fid, const char *owner,
                        const char *filename, int64_t size, const char *options,
                        const char *callback_url, v2m_error *err)
{
    v2m_job job;
    v2m_err rc;

    memset(&job, 0, sizeof job);
    if ((rc = v2m_oid_norm(video_fid, job.video_fid, err)))
        return v2m_fail(err, V2M_EINVAL, "job: '%.40s' is not a file id", video_fid);
    if ((rc = check_text(owner, sizeof job.owner - 1, "owner", err)) ||
        (rc = check_text(filename, sizeof job.filename - 1, "filename", err)) ||
        (rc = check_text(options, sizeof job.options - 1, "options", err)) ||
        (rc = check_text(callback_url, sizeof job.callback_url - 1, "callback_url", err)))
        return rc;
    if (!owner || !*owner)
        return v2m_fail(err, V2M_EINVAL, "job: owner is required");
    snprintf(job.owner, sizeof job.owner, "%s", owner);
    snprintf(job.filename, sizeof job.filename, "%s", filename ? filename : "");
    snprintf(job.options, sizeof job.options, "%s", options ? options : "");
    snprintf(job.callback_url, sizeof job.callback_url, "%s", callback_url ? callback_url : "");
    job.size = size < 0 ? 0 : size;
    job.status = V2M_JOB_QUEUED;
    job.created_at = job.updated_at = jobs_clock();
    return j->ops->create(j->impl, &job, err);
}

v2m_err v2m_jobs_get(v2m_jobs *j, const char *video_fid, v2m_job *out, v2m_error *err)
{
    char fid[25];
    v2m_err rc = v2m_oid_norm(video_fid, fid, err);
    return rc ? rc : j->ops->get(j->impl, fid, out, err);
}

v2m_err v2m_jobs_update(v2m_jobs *j, const char *video_fid, const v2m_job_change *chg,
                        v2m_job *out, v2m_error *err)
{
    char fid[25], mp3[25], ebuf[256], lbuf[16], cbuf[32];
    v2m_job_change c = *chg;
    v2m_job tmp;
    v2m_err rc;

    if ((rc = v2m_oid_norm(video_fid, fid, err)))
        return rc;
    if (c.status < -1 || c.status > V2M_JOB_EXPIRED || (c.from & V2M_JOB_ANY) == 0)
        return v2m_fail(err, V2M_EINVAL, "job change: bad status %d or empty from-set", c.status);
    if (c.mp3_fid && *c.mp3_fid) {
        if (v2m_oid_norm(c.mp3_fid, mp3, NULL))
            return v2m_fail(err, V2M_EINVAL, "job change: '%.40s' is not a file id", c.mp3_fid);
        c.mp3_fid = mp3;
    }
    if (c.error) {
        v2m__strlcpy_utf8(ebuf, sizeof ebuf, c.error, strlen(c.error));
        c.error = ebuf;
    }
    if (c.language) {
        v2m__strlcpy_utf8(lbuf, sizeof lbuf, c.language, strlen(c.language));
        c.language = lbuf;
    }
    if (c.error_code) {
        v2m__strlcpy_utf8(cbuf, sizeof cbuf, c.error_code, strlen(c.error_code));
        c.error_code = cbuf;
    }
    if (c.progress > 1.0)
        c.progress = 1.0;
    if (!out)
        out = &tmp;
    for (int tries = 0;; tries++) {
        rc = j->ops->update(j->impl, fid, &c, jobs_clock(), out, err);
        /* Nothing matched, yet the record has a status the change accepts:
         * it was made (or changed) between the update and the look that
         * tells why, e.g. by a gateway that publishes before it records.
         * Try again rather than report a state that does not hold. */
        if (rc != V2M_ESTATE || !(c.from & V2M_JOB_BIT(out->status)) || tries == 3)
            return rc;
    }
}

v2m_err v2m_jobs_begin(v2m_jobs *j, const char *video_fid, v2m_job *out, v2m_error *err)
{
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    c.from = V2M_JOB_BIT(V2M_JOB_QUEUED) | V2M_JOB_BIT(V2M_JOB_CONVERTING);
    c.status = V2M_JOB_CONVERTING;
    c.progress = 0;
    c.error = "";
    c.error_code = "";
    c.add_attempt = 1;
    return v2m_jobs_update(j, video_fid, &c, out, err);
}

v2m_err v2m_jobs_progress(v2m_jobs *j, const char *video_fid, double p, v2m_error *err)
{
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    c.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
    c.progress = p < 0 ? 0 : p;
    return v2m_jobs_update(j, video_fid, &c, NULL, err);
}

v2m_err v2m_jobs_done(v2m_jobs *j, const char *video_fid, const char *mp3_fid, v2m_job *out,
                      v2m_error *err)
{
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    if (!mp3_fid || !*mp3_fid)
        return v2m_fail(err, V2M_EINVAL, "job done: mp3 file id is required");
    c.from = V2M_JOB_ANY & ~V2M_JOB_BIT(V2M_JOB_DONE);
    c.status = V2M_JOB_DONE;
    c.progress = 1;
    c.mp3_fid = mp3_fid;
    c.error = "";
    c.error_code = "";
    return v2m_jobs_update(j, video_fid, &c, out, err);
}

v2m_err v2m_jobs_fail(v2m_jobs *j, const char *video_fid, const char *error,
                      const char *code, v2m_job *out, v2m_error *err)
{
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    c.from = V2M_JOB_BIT(V2M_JOB_QUEUED) | V2M_JOB_BIT(V2M_JOB_CONVERTING);
    c.status = V2M_JOB_FAILED;
    c.error = error && *error ? error : "failed";
    c.error_code = code ? code : "";
    return v2m_jobs_update(j, video_fid, &c, out, err);
}

v2m_err v2m_jobs_requeue(v2m_jobs *j, const char *video_fid, const char *error, v2m_job *out,
                         v2m_error *err)
{
    v2m_job_change c = V2M_JOB_CHANGE_INIT;
    c.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
    c.status = V2M_JOB_QUEUED;
    c.progress = 0;
    c.error = error ? error : NULL;
    c.error_code = "";
    return v2m_jobs_update(j, video_fid, &c, out, err);
}

v2m_err v2m_jobs_list(v2m_jobs *j, const char *owner, int limit, int offset, v2m_jobs_each fn,
                      void *ud, v2m_error *err)
{
    return j->ops->list(j->impl, owner, limit > 0 ? limit : 0, offset > 0 ? offset : 0, fn, ud,
                        err);
}

v2m_err v2m_jobs_delete(v2m_jobs *j, const char *video_fid, v2m_error *err)
{
    char fid[25];
    v2m_err rc = v2m_oid_norm(video_fid, fid, err);
    return rc ? rc : j->ops->del(j->impl, fid, err);
}

v2m_err v2m_jobs_delete_begin(v2m_jobs *j, const char *video_fid, const char *owner,
                              v2m_job *out, v2m_error *err)
{
    char fid[25];
    v2m_job tmp;
    v2m_err rc = v2m_oid_norm(video_fid, fid, err);
    return rc ? rc : j->ops->del_begin(j->impl, fid, owner, jobs_clock(), out ? out : &tmp, err);
}

/* The janitor's lists are read whole into memory before the caller sees
 * them: its callback deletes files and changes the very records listed,
 * which a backend holding its lock (SQLite) or a cursor open could not
 * take. */
typedef struct collected {
    v2m_job *jobs;
    int n, max;
} collected;

static int collect(void *ud, const v2m_job *job)
{
    collected *c = ud;
    if (c->n >= c->max)
        return 1;
    c->jobs[c->n++] = *job;
    return 0;
}

static v2m_err hand_out(collected *c, v2m_err rc, v2m_jobs_each fn, void *ud)
{
    for (int i = 0; rc == V2M_OK && i < c->n; i++)
        if (fn(ud, &c->jobs[i]))
            break;
    free(c->jobs);
    return rc;
}

static v2m_err collect_init(collected *c, int limit, v2m_error *err)
{
    if (limit < 1 || limit > 1000)
        return v2m_fail(err, V2M_EINVAL, "jobs: limit %d is not within 1..1000", limit);
    c->n = 0;
    c->max = limit;
    c->jobs = malloc((size_t)limit * sizeof *c->jobs);
    return c->jobs ? V2M_OK : v2m_fail(err, V2M_ENOMEM, "out of memory");
}

v2m_err v2m_jobs_ended_before(v2m_jobs *j, unsigned status_mask, int64_t before_ms, int flags,
                              int limit, v2m_jobs_each fn, void *ud, v2m_error *err)
{
    collected c;
    v2m_err rc;

    if ((status_mask & V2M_JOB_ANY) == 0)
        return v2m_fail(err, V2M_EINVAL, "jobs: empty status set");
    if ((rc = collect_init(&c, limit, err)))
        return rc;
    rc = j->ops->ended(j->impl, status_mask & V2M_JOB_ANY, before_ms, flags, limit, collect, &c,
                       err);
    return hand_out(&c, rc, fn, ud);
}

v2m_err v2m_jobs_deleting_before(v2m_jobs *j, int64_t before_ms, int limit, v2m_jobs_each fn,
                                 void *ud, v2m_error *err)
{
    collected c;
    v2m_err rc = collect_init(&c, limit, err);

    if (rc)
        return rc;
    rc = j->ops->deleting(j->impl, before_ms, limit, collect, &c, err);
    return hand_out(&c, rc, fn, ud);
}
