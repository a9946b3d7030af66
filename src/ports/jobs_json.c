/* jobs_json.c - a job record's JSON form (see jobs_json.h). */
#include "jobs_json.h"

#include <stdio.h>
#include <time.h>

json_t *v2m_json_time(int64_t ms)
{
    char buf[80];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(buf);
}

json_t *v2m_job_json(const v2m_job *j)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "video_fid", json_string(j->video_fid));
    json_object_set_new(o, "status", json_string(v2m_job_status_name(j->status)));
    json_object_set_new(o, "progress", json_real(j->progress));
    /* While converting, mp3_fid names the MP3 being written: not yet a file. */
    json_object_set_new(o, "mp3_fid", j->status == V2M_JOB_DONE && j->mp3_fid[0]
                                          ? json_string(j->mp3_fid)
                                          : json_null());
    json_object_set_new(o, "error", j->error[0] ? json_string(j->error) : json_null());
    json_object_set_new(o, "filename", json_string(j->filename));
    json_object_set_new(o, "size", json_integer(j->size));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "created_at", v2m_json_time(j->created_at));
    json_object_set_new(o, "updated_at", v2m_json_time(j->updated_at));
    /* The options as asked for ({} = the service's defaults), the audio
     * track used once known, and the failure's short code. */
    {
        json_t *opts = j->options[0] ? json_loads(j->options, 0, NULL) : NULL;
        json_object_set_new(o, "options", json_is_object(opts) ? opts : json_object());
        if (opts && !json_is_object(opts))
            json_decref(opts);
    }
    json_object_set_new(o, "track", j->track > 0 ? json_integer(j->track) : json_null());
    json_object_set_new(o, "language", j->language[0] ? json_string(j->language) : json_null());
    json_object_set_new(o, "error_code", j->error_code[0] ? json_string(j->error_code)
                                                         : json_null());
    return o;
}
