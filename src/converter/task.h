/* task.h - one conversion task of the converter: a video in the store becomes
 * an MP3 in the store. */
#ifndef V2M_CONVERTER_TASK_H
#define V2M_CONVERTER_TASK_H

#include <stdatomic.h>

#include "common/jobopts.h"
#include "common/message.h"
#include "ports/jobs.h"
#include "ports/store.h"

/* What to do with the message that asked for the work. */
typedef enum cv_outcome {
    CV_DONE = 0,     /* finished (or already finished): ack */
    CV_FAILED = 1,   /* the input can never be converted; the user is told: ack */
    CV_RETRY = 2,    /* a backend was away: hand back for a later attempt */
    CV_INVALID = 3,  /* the message itself is unusable: dead-letter it */
    CV_GONE = 4,     /* the job was deleted (or never existed): ack, nothing to tell */
} cv_outcome;

typedef struct cv_ctx {
    v2m_store *store;
    v2m_jobs *jobs;
    const atomic_int *cancel;   /* set when the process must stop at once */
    int max_attempts;           /* conversions started before a job is given up */
    double max_duration;        /* seconds of audio a video may have (V2M_MAX_DURATION) */
    const v2m_jobopts *defaults; /* the service's conversion options (V2M_MP3_*, ...); may
                                    be NULL; a job's own options win over them */
    /* Cores for one long input: a conversion of at least split_min seconds
     * (0: never) is cut into segments encoded on the cores no other
     * conversion of this process is using (busy counts those running). */
    int cores;
    double split_min;
    atomic_int *busy;
    /* Several converters for one long input: a conversion of at least
     * distribute_min seconds (0: never) hands out segments of about
     * segment_length seconds (0: the media default) with publish_segment (a
     * task body for the segments queue) and waits up to segment_wait
     * seconds for each before encoding it itself. */
    double distribute_min;
    double segment_length;
    double segment_wait;
    v2m_err (*publish_segment)(void *opaque, const char *body, v2m_error *err);
    /* While it waits: take one segment task (any job's) if one is ready,
     * encode and settle it, 1; 0 none (may be NULL). */
    int (*take_segment)(void);
    /* Publish the result message to the mp3 queue (confirmed); 0 on success. */
    v2m_err (*publish)(void *opaque, const v2m_msg *m, v2m_error *err);
    void *publish_opaque;
} cv_ctx;

/* Process one message body. On CV_RETRY/CV_INVALID err says why. */
cv_outcome cv_process(cv_ctx *c, const char *body, size_t len, v2m_error *err);

#endif
