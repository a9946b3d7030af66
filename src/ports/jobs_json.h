/* jobs_json.h - a job record's JSON form: what GET /jobs/<video_fid> answers
 * (gateway/jobs_api.c) and what a webhook posts when the job ends
 * (notification/webhook.c), so the two cannot drift apart.
 *
 *   {"video_fid","status","progress","mp3_fid","error","filename","size",
 *    "attempts","created_at","updated_at"}
 *
 * mp3_fid is null unless the job is done (while converting it names the MP3
 * being written, not yet a file); error is null when there is none; times
 * are ISO 8601 UTC with milliseconds.
 */
#ifndef V2M_PORTS_JOBS_JSON_H
#define V2M_PORTS_JOBS_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "jobs.h"

/* A new object (NULL when out of memory). */
json_t *v2m_job_json(const v2m_job *j);

/* ms since the epoch as "2026-11-28T20:30:00.123Z". */
json_t *v2m_json_time(int64_t ms);

#endif
