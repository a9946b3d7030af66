/* jobs.h - the job records port: one record per uploaded video, following its
 * conversion from queued to done or failed.
 *
 *   v2m_jobs *j = v2m_jobs_open(jobs_url, &err);                   // V2M_JOBS
 *   v2m_jobs_create(j, fid, "a@b.c", "clip.mp4", size, &err);      // gateway
 *   if (v2m_jobs_begin(j, fid, &job, &err) == V2M_ESTATE) ack;      // converter
 *   ... v2m_jobs_done(j, fid, mp3_fid, &job, &err) ...
 *
 * Backends, one file each, picked by the URL's scheme. The services take the
 * URL from V2M_JOBS, by default the store's (V2M_STORE), so records live
 * beside the files they describe:
 *   jobs_sqlite.c  `file:///dir` -> SQLite `<dir>/jobs.db` (WAL, busy timeout);
 *                  `sqlite:///path/jobs.db` names the database directly
 *   jobs_mongo.c   `mongodb://host:port/` -> collection `jobs` of database `videos`
 *
 * Every change is one atomic conditional update (SQLite UPDATE ... WHERE
 * status IN (...) RETURNING, MongoDB findAndModify): it applies only when the
 * record's status is one of change->from, so two workers racing on the same
 * job, or a redelivered message, cannot both move it (V2M_ESTATE for the
 * loser, with the record as it is).
 *
 * Threads: a v2m_jobs handle is thread-safe and may be shared by all the
 * threads of a process; several processes may use the same database.
 */
#ifndef V2M_PORTS_JOBS_H
#define V2M_PORTS_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum v2m_job_status {
    V2M_JOB_QUEUED = 0,
    V2M_JOB_CONVERTING = 1,
    V2M_JOB_DONE = 2,
    V2M_JOB_FAILED = 3,
    V2M_JOB_EXPIRED = 4,     /* its files were removed when their time was up */
} v2m_job_status;

#define V2M_JOB_BIT(s) (1u << (s))
#define V2M_JOB_ANY 0x1fu

typedef struct v2m_job {
    char video_fid[25];      /* the key */
    char owner[256];         /* uploader's email */
    char filename[256];      /* the uploaded file's name */
    int64_t size;            /* the video's bytes */
    v2m_job_status status;
    double progress;         /* 0..1 */
    char mp3_fid[25];        /* "" until done */
    char error[256];         /* "" when none; the last failure otherwise */
    int attempts;            /* conversions started */
    int64_t created_at;      /* ms since the epoch */
    int64_t updated_at;
    int64_t ended_at;        /* when it became done or failed; 0 before */
    char options[1024];      /* the conversion options asked for, a compact JSON
                                object ("" = none: the service's defaults) */
    char callback_url[1024]; /* "" or the URL told when the job ends */
    int track;               /* the source's audio track used, 1 = the first; 0 unknown */
    char language[16];       /* that track's language tag, "" when none */
    char error_code[32];     /* "" or a short code of the failure, e.g. "noaudio" */
    int video_gone;          /* 1: the video was removed from the store (retention) */
    int64_t deleting_at;     /* when its deletion began (v2m_jobs_delete_begin); 0 for
                                a live record, the only kind get/list/update see */
} v2m_job;

/* A conditional change: applied atomically when the record's status is in
 * `from`. Start from V2M_JOB_CHANGE_INIT and set what changes. */
typedef struct v2m_job_change {
    unsigned from;           /* V2M_JOB_BIT()s the status must be one of */
    int status;              /* new status; -1 keeps it */
    double progress;         /* new progress (clamped to 0..1); < 0 keeps it */
    const char *mp3_fid;     /* NULL keeps, "" clears, else sets (24 hex digits) */
    const char *error;       /* NULL keeps, "" clears, else sets (cut to 255 bytes) */
    int add_attempt;         /* 1: attempts += 1 */
    int track;               /* < 0 keeps, else sets */
    const char *language;    /* NULL keeps, else sets ("" clears) */
    const char *error_code;  /* NULL keeps, else sets ("" clears) */
    int video_gone;          /* < 0 keeps, else sets */
    int reset_attempts;      /* 1: attempts = 0 (a retry asked for by the user) */
} v2m_job_change;

/* ended_at follows status: set to the time of the change when the status
 * becomes done or failed, cleared when it becomes queued or converting, kept
 * when it becomes expired. */
#define V2M_JOB_CHANGE_INIT {V2M_JOB_ANY, -1, -1.0, NULL, NULL, 0, -1, NULL, NULL, -1, 0}

/* Called for each listed job; return non-zero to stop. */
typedef int (*v2m_jobs_each)(void *ud, const v2m_job *job);

typedef struct v2m_jobs v2m_jobs;

/* Open by URL (see the top); lazy like the store: a MongoDB server is first
 * contacted by the first call. */
v2m_jobs *v2m_jobs_open(const char *url, v2m_error *err);
void v2m_jobs_close(v2m_jobs *j);   /* safe on NULL */
v2m_err v2m_jobs_ping(v2m_jobs *j, v2m_error *err);

/* A new record, status queued, progress 0, attempts 0. options (a JSON
 * object's text) and callback_url may be NULL. V2M_EEXIST when the fid has
 * one already; V2M_EINVAL for a field too long for the record. */
v2m_err v2m_jobs_create(v2m_jobs *j, const char *video_fid, const char *owner,
                        const char *filename, int64_t size, const char *options,
                        const char *callback_url, v2m_error *err);
v2m_err v2m_jobs_get(v2m_jobs *j, const char *video_fid, v2m_job *out, v2m_error *err);
/* The general conditional change (out may be NULL). */
v2m_err v2m_jobs_update(v2m_jobs *j, const char *video_fid, const v2m_job_change *chg,
                        v2m_job *out, v2m_error *err);

/* The transitions the services use, all conditional (out may be NULL):
 * begin     queued|converting -> converting, attempts+1, progress 0, error cleared
 *           (converting too, so a message redelivered after a crash resumes)
 * progress  converting -> converting with progress p
 * done      anything but done -> done with mp3_fid, progress 1, error cleared;
 *           V2M_ESTATE when already done (out->mp3_fid is the existing MP3)
 * fail      queued|converting -> failed with error and its code (final; code
 *           may be NULL)
 * requeue   converting -> queued with error (a transient failure, retried later) */
v2m_err v2m_jobs_begin(v2m_jobs *j, const char *video_fid, v2m_job *out, v2m_error *err);
v2m_err v2m_jobs_progress(v2m_jobs *j, const char *video_fid, double p, v2m_error *err);
v2m_err v2m_jobs_done(v2m_jobs *j, const char *video_fid, const char *mp3_fid, v2m_job *out,
                      v2m_error *err);
v2m_err v2m_jobs_fail(v2m_jobs *j, const char *video_fid, const char *error,
                      const char *code, v2m_job *out, v2m_error *err);
v2m_err v2m_jobs_requeue(v2m_jobs *j, const char *video_fid, const char *error, v2m_job *out,
                         v2m_error *err);

/* Jobs of owner (NULL: everyone's, for admins), newest first, skipping
 * offset and giving at most limit (<= 0: no limit). */
v2m_err v2m_jobs_list(v2m_jobs *j, const char *owner, int limit, int offset, v2m_jobs_each fn,
                      void *ud, v2m_error *err);
v2m_err v2m_jobs_delete(v2m_jobs *j, const char *video_fid, v2m_error *err);

/* Deleting a job and its files takes several steps that may fail midway
 * (the store is down), so it is two-phase. delete_begin marks the record as
 * being deleted and returns it (its mp3_fid names the MP3, finished or being
 * written): from then on get, list and every change answer V2M_ENOTFOUND, as
 * for a record that is gone, so a converter working on it stops and cleans
 * up after itself, and create still answers V2M_EEXIST, so a late message
 * cannot make the record again. The caller then deletes the files and ends
 * with v2m_jobs_delete. owner non-NULL: only that owner's record (else
 * V2M_ENOTFOUND). Repeating it on a record already marked returns it again,
 * so an interrupted deletion is finished by asking again. */
v2m_err v2m_jobs_delete_begin(v2m_jobs *j, const char *video_fid, const char *owner,
                              v2m_job *out, v2m_error *err);

/* For the janitor: live records whose status is in status_mask (V2M_JOB_BIT()s)
 * and that ended (ended_at > 0) before before_ms, oldest end first, at most
 * limit (1..1000). flags V2M_JOBS_VIDEO_STORED: only those whose video is
 * still stored (video_gone 0). The records are read first and fn is called
 * after, so fn may change them. */
#define V2M_JOBS_VIDEO_STORED 1
v2m_err v2m_jobs_ended_before(v2m_jobs *j, unsigned status_mask, int64_t before_ms, int flags,
                              int limit, v2m_jobs_each fn, void *ud, v2m_error *err);
/* Records whose deletion began before before_ms and was never finished,
 * oldest first, at most limit (1..1000); fn as above. */
v2m_err v2m_jobs_deleting_before(v2m_jobs *j, int64_t before_ms, int limit, v2m_jobs_each fn,
                                 void *ud, v2m_error *err);

/* "queued", "converting", "done", "failed", "expired"; and back (-1 for anything else). */
const char *v2m_job_status_name(v2m_job_status s);
int v2m_job_status_parse(const char *s);

/* Tests only: stamp records with now_ms() instead of the real time (ms
 * since the epoch); NULL puts the real clock back. Not thread-safe: set it
 * before any thread uses the records. */
void v2m__jobs_set_clock(int64_t (*now_ms)(void));

#endif
