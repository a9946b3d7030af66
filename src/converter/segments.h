/* segments.h - one long video encoded by several converters.
 *
 * The converter that takes the video message (the joining one) plans
 * segments of about 10 minutes, encodes the first and the last itself,
 * publishes one task per segment between on the segments queue (a queue of v2m's own, so
 * the original's converters never see one), and joins the segments as they
 * come from the store (namespace `segments`, named "<video_fid>.<k>of<n>");
 * one that does not come in time it encodes itself. Any converter's
 * segments lane takes a task, encodes that segment (v2m_media_segment) into
 * the store and acks; killed mid-segment, the task is redelivered and only
 * that segment is encoded again. The job ends exactly once, as before: the
 * joining converter's MP3 and the usual `mp3` message; the segments are
 * deleted after the job record says done (and a segment stored after that
 * is deleted by its own converter, which looks at the record after storing).
 */
#ifndef V2M_CONVERTER_SEGMENTS_H
#define V2M_CONVERTER_SEGMENTS_H

#include "media/media.h"
#include "task.h"

/* The remote side of one conversion (v2m_media_opts.remote). */
typedef struct cv_remote {
    cv_ctx *c;
    const char *video_fid;
    const char *options;      /* the job's options, JSON ("" none) */
    int segments;             /* set by request */
    v2m_media_remote remote;
} cv_remote;

void cv_remote_init(cv_remote *r, cv_ctx *c, const char *video_fid, const char *options);

/* Remove every stored segment of the video (after the job ended). */
void cv_segments_delete(cv_ctx *c, const char *video_fid, int segments);

/* A task from the segments queue. */
cv_outcome cv_segment_process(cv_ctx *c, const char *body, size_t len, v2m_error *err);

#endif
