/* sniff.h - is this upload a video or audio file the engine reads? Decided
 * from its first bytes, while the rest is still arriving.
 *
 *   uint8_t head[V2M_SNIFF_BYTES + V2M_SNIFF_PAD] = {0};  // first bytes, then zeros
 *   if (v2m_sniff(head, got, name, sizeof name) != 1)
 *       refuse with 415 "not a video or audio file"
 *
 * libavformat's own probe (av_probe_input_format3, no demuxer opened,
 * nothing decoded) over the first V2M_SNIFF_BYTES, or the whole file when
 * shorter; the best match must be one of the engine's containers (the list
 * of src/media/input.c, repeated in sniff.c and kept equal by
 * tests/media/test_sniff.c) with a score of at least V2M_SNIFF_MIN_SCORE.
 * It only turns away what is plainly not media (text, images, documents,
 * archives, playlists, noise): the engine, which reads the whole file, has
 * the last word on everything else.
 *
 * Thread-safe; allocates nothing. Built as a library of its own (v2m_sniff,
 * in src/gateway/CMakeLists.txt): the gateway links libavformat's probes,
 * not the engine with its decoders and encoders.
 */
#ifndef V2M_MEDIA_SNIFF_H
#define V2M_MEDIA_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#define V2M_SNIFF_BYTES 65536
/* Zero bytes the caller keeps after the data (libavformat's
 * AVPROBE_PADDING_SIZE): probes may read a little past the end. */
#define V2M_SNIFF_PAD 64
/* libavformat's AVPROBE_SCORE_RETRY, the engine's own threshold: below it a
 * "match" is a few stray bytes that look like an MPEG audio frame header. */
#define V2M_SNIFF_MIN_SCORE 25

/* 1 when buf[0..len) (len <= V2M_SNIFF_BYTES, followed by V2M_SNIFF_PAD zero
 * bytes) starts a file of an allowed container; 0 when it does not (len 0
 * included). The best match's demuxer name and score go to name (may be
 * NULL; "" when none) and *score (may be NULL), for logs. */
int v2m_sniff(const uint8_t *buf, size_t len, char *name, size_t namesz, int *score);

/* The allowed demuxers, NULL-ended: the same list as input.c's. */
extern const char *const v2m_sniff_demuxers[];

#endif
