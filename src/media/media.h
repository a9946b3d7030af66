/* media.h - the media engine: any audio/video container in, MP3 out.
 *
 *   v2m_media_io in;  v2m_media_sink out;  v2m_media_opts o;  v2m_media_stats st;
 *   v2m_media_fd fin, fout;  v2m_error err;
 *   v2m_media_io_fd(&in, &fin, in_fd);
 *   v2m_media_sink_fd(&out, &fout, out_fd);
 *   v2m_media_opts_init(&o);
 *   o.filename = "holiday.mp4";
 *   if (v2m_media_convert(&in, &out, &o, &st, &err) != V2M_OK)
 *       V2M_LOG(V2M_WARN, "convert failed err=%s", v2m_error_msg(&err));
 *
 * Input comes through a read (+ optional seek) callback and output goes to a
 * write (+ optional seek) callback, so the same engine reads a local file, a
 * GridFS file or a socket and writes wherever the caller wants. Memory stays
 * bounded whatever the input size: no temporary files, no whole-file buffers
 * (about 1 MiB of buffers plus the codecs' own state per conversion; while a
 * video frame is decoded for the cover, that decoder's state too).
 *
 * Thread-safety: every conversion keeps all its state in its own context, so
 * any number of v2m_media_convert() calls may run at once in different
 * threads. The callbacks of one conversion are only ever called from the
 * thread that runs it. Nothing here spawns threads. The first conversion
 * installs, once for the process, a libav log callback that sends libav's
 * messages to V2M_LOG at debug level.
 *
 * Hostile input: the input is only ever read through the caller's callbacks.
 * Only the demuxers of ordinary video and audio containers are used (the
 * list is in input.c and docs/MEDIA.md); no protocol is allowed, and any
 * attempt of a demuxer to open another file or URL is refused, so a
 * playlist or a file naming other files can neither read them nor reach the
 * network.
 *
 * Errors follow src/common/err.h; the codes a conversion can return:
 *   V2M_EINVAL           bad options (quality out of 0..9, unsupported rate, ...)
 *   V2M_EIO              the input's read callback failed
 *   V2M_EMEDIA_EMPTY     the input has zero bytes
 *   V2M_EMEDIA_NOTMEDIA  no demuxer recognises the input
 *   V2M_EMEDIA_CORRUPT   recognised but truncated or unreadable
 *   V2M_EMEDIA_NOAUDIO   no audio stream, or not the one asked for ("no audio
 *                        track 3: the file has 2", "no audio track in language
 *                        'de': the file has eng, fre")
 *   V2M_EMEDIA_CODEC     the audio codec cannot be decoded
 *   V2M_EMEDIA_WRITE     the sink's write or seek callback failed
 *   V2M_EMEDIA_ENCODE    encoder, resampler or muxer failure
 *   V2M_EMEDIA_NOSEEK    the file needs seeking (e.g. MP4 with its index at
 *                        the end), or normalize is set (the input is read
 *                        twice), but the input has no seek callback
 *   V2M_EMEDIA_UNSUPPORTED  recognised, but not one of the containers the
 *                        engine reads (a playlist, a stream description, an
 *                        image, subtitles...), or it asked to open another
 *                        file or URL: "input is not a supported video or
 *                        audio file"
 *   V2M_EMEDIA_TOOLONG   the audio lasts longer than opts->max_duration
 *   V2M_ECANCELLED       *opts->cancel became non-zero
 *   V2M_ENOMEM           out of memory
 * On any failure the sink may already have received part of an MP3: the
 * caller discards it (delete the temporary file, abort the upload).
 */
#ifndef V2M_MEDIA_H
#define V2M_MEDIA_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/err.h"

/* The whence value that asks an input's seek callback for the total size
 * (the same value as libavformat's AVSEEK_SIZE). */
#define V2M_MEDIA_SEEK_SIZE 0x10000

/* Every seek the engine asks of a sink targets an offset below this (the
 * ID3v2 tag, with its cover picture and chapters, plus the Xing/LAME frame),
 * except the final return to the end; the bytes rewritten there end below
 * it too. A sink that can only rewrite its first bytes (e.g. a store holding
 * its first chunk of 255 KiB until close) may therefore still offer a seek
 * callback. */
#define V2M_MEDIA_SINK_HEAD_MAX (250 * 1024)

/* Input. read() returns the number of bytes stored into buf (1..size), 0 at
 * the end of the input, or a negative value on failure. seek() may be NULL
 * for a stream that cannot seek; otherwise it takes whence = SEEK_SET,
 * SEEK_CUR or SEEK_END and returns the new absolute position, or whence =
 * V2M_MEDIA_SEEK_SIZE and returns the total size (offset ignored; negative
 * when unknown); negative on failure. Without seek, files that keep their
 * index at the end (MP4/MOV with the moov atom last) cannot be converted.
 * The input must be at its first byte when the conversion starts. */
typedef struct v2m_media_io {
    void *opaque;                                          /* passed back to both callbacks */
    int (*read)(void *opaque, uint8_t *buf, int size);
    int64_t (*seek)(void *opaque, int64_t offset, int whence); /* may be NULL */
} v2m_media_io;

/* Output, written sequentially. write() stores all size bytes and returns 0,
 * or returns a negative value on failure. seek() may be NULL; when present it
 * moves the write position to the absolute offset (never beyond the bytes
 * written so far) and returns 0 or negative on failure. With a seek callback
 * the engine writes the Xing/LAME header frame (exact duration, seek table,
 * encoder delay and padding for gapless playback): at the end it seeks back
 * to rewrite that frame (offset < V2M_MEDIA_SINK_HEAD_MAX), then seeks to the
 * end. Without one the MP3 has no Xing/LAME frame: it plays everywhere, but
 * players estimate a VBR file's duration from its first frames and play the
 * encoder delay (1105 samples, 25 ms at 44.1 kHz, of silence at the start). */
typedef struct v2m_media_sink {
    void *opaque;
    int (*write)(void *opaque, const uint8_t *buf, int size);
    int (*seek)(void *opaque, int64_t offset); /* may be NULL */
} v2m_media_sink;

/* Segments encoded by other processes (see v2m_media_opts.remote). The
 * callbacks are called from the conversion's thread. */
typedef struct v2m_media_remote {
    void *opaque;
    /* Hand out segments 1 .. upto of segments (0; negative: they are
     * encoded here). The calling thread keeps the first and the last ones
     * after upto, which it encodes while the others are away. gain_db: a
     * normalized conversion's measured gain, for v2m_media_segment()'s
     * v2m_media_opts.gain_db (0 when not normalizing). */
    int (*request)(void *opaque, int segments, int upto, double gain_db);
    /* Segment k, when it is there: 1 with *io open on what v2m_media_segment()
     * wrote (its read callback only is used), 0 not yet, negative on failure. */
    int (*fetch)(void *opaque, int k, v2m_media_io *io);
    void (*release)(void *opaque, v2m_media_io *io); /* may be NULL */
    /* Other work while the segments are away, when nothing of this
     * conversion's is left to encode here (may be NULL): 1 when some was
     * done, 0 when there was none. A converter takes a segment task from
     * its queue, maybe one of these segments. */
    int (*work)(void *opaque);
    double wait;          /* seconds to wait for a segment before encoding it here */
} v2m_media_remote;

/* The most segments one input is cut into for other processes. */
#define V2M_MEDIA_REMOTE_SEGMENTS 64
/* Segments handed to other processes last about this long (seconds) unless
 * segment_length says otherwise: short enough that a converter slowed by its
 * neighbours holds back little of the whole, long enough that the pre-roll
 * and the overlaps (about 4 s of audio each) stay near 1 %. */
#define V2M_MEDIA_REMOTE_SEG 300.0

/* Options. Always start from v2m_media_opts_init(); a field left at its
 * default means "keep what the source has". */
typedef struct v2m_media_opts {
    int quality;          /* LAME VBR quality 0 (best) .. 9; -1 = default (2) */
    int bitrate_kbps;     /* > 0: constant bitrate 8..320 instead of VBR; 0 = VBR */
    int sample_rate;      /* output rate, one LAME supports (8000..48000); 0 = the
                             source rate, or the nearest one LAME supports */
    int channels;         /* 1 or 2; 0 = mono for a mono source, else stereo
                             (more than two channels are downmixed) */
    double start;         /* trim: seconds from the start of the input; 0 = none */
    double end;           /* trim: stop at this time in seconds; <= 0 = to the end */
    int passthrough;      /* 1 (default): an MP3 source with no change asked for
                             (quality, bitrate, rate, channels, trim all left at
                             their defaults) is copied frame for frame without
                             decoding; 0: always re-encode */
    const char *filename; /* original file name; its base name without extension
                             becomes the ID3 title when the source has no title
                             (may be NULL) */
    double max_duration;  /* > 0: the most seconds of audio converted (after
                             trimming). A file that states a longer duration is
                             refused before any decoding; one that does not say,
                             or says less than it holds, is stopped once the
                             audio passes the limit. Both V2M_EMEDIA_TOOLONG.
                             0 (default) = no limit */
    int track;            /* 0 (default): the container's default audio stream;
                             N >= 1: the Nth audio stream in file order
                             (V2M_EMEDIA_NOAUDIO when there are fewer);
                             < 0: V2M_EINVAL */
    const char *language; /* NULL or "": no choice; else an ISO 639-2/B, -2/T
                             or -1 code ("fre", "fra", "fr", any case, a
                             region after - or _ ignored): the first audio
                             stream whose language tag names the same
                             language (V2M_EMEDIA_NOAUDIO when none).
                             Ignored when track is set */
    double normalize;     /* 0 (default): no change of level; < 0: the target
                             integrated loudness in LUFS, -70..-5 (else
                             V2M_EINVAL), e.g. -16: the audio is measured
                             (EBU R128) in a first pass and encoded in a
                             second with one static gain, min(target -
                             loudness, -1 dBTP - true peak). Needs the input's
                             seek (else V2M_EMEDIA_NOSEEK); no passthrough */
    int cover;            /* 1 (default): cover art from the source's attached
                             picture (copied when a JPEG/PNG of at most
                             150 KiB, else made a JPEG of at most 600 px),
                             else, for a video and an input that seeks, a
                             frame from about 10% in (JPEG, at most 600 px);
                             0: no picture */
    const char *title;    /* non-NULL and non-empty: override the source's tag */
    const char *artist;
    const char *album;
    /* Several cores for one input: with threads > 1, a reopen callback, a
     * seekable input, a known duration of at least split_min seconds and
     * audio that is re-encoded, the timeline is cut on the MP3 frame grid
     * into segments encoded on up to `threads` threads at once, and their
     * frames are joined into one gapless stream (same frames, same sample
     * count, one Xing/LAME frame; see docs/MEDIA.md). reopen() opens
     * another reader over the same input, at its first byte, into *io; it
     * and reclose() are called from the engine's threads, and the reader's
     * callbacks from the thread that opened it. threads 0 or 1: one thread.
     * Inputs whose timestamps are coarser than their sample rate (Matroska,
     * WebM) are encoded on one thread unless their codec's frames are of
     * one size (AAC, AC-3, MP2, MP3, Opus, FLAC; docs/MEDIA.md). */
    int threads;
    int segments;         /* 0: as the length asks (threads, or more for long
                             inputs, to bound memory); N > 0: exactly N */
    double split_min;     /* seconds; 0: V2M_MEDIA_SPLIT_MIN */
    int (*reopen)(void *opaque, v2m_media_io *io); /* 0 or negative */
    void (*reclose)(void *opaque, v2m_media_io *io);
    void *reopen_opaque;
    /* Other processes for one input: an input of at least distribute_min
     * seconds (0: never) is cut into segments of about segment_length
     * seconds (0: V2M_MEDIA_REMOTE_SEG; longer when that would make more
     * than V2M_MEDIA_REMOTE_SEGMENTS); the
     * calling thread encodes the first and the last, asks remote->request()
     * for those between (each encoded elsewhere by v2m_media_segment() and given back
     * by remote->fetch()), and joins them; a segment that does not come
     * within remote->wait seconds is encoded here (needs reopen). */
    const struct v2m_media_remote *remote;
    double distribute_min;
    double segment_length;
    /* v2m_media_segment() of a normalized conversion (normalize < 0): the
     * gain the joining side measured (its remote->request()'s gain_db),
     * applied instead of measuring again, so every segment gets the same
     * one; without gain_given such a segment is refused. Ignored by
     * v2m_media_convert(). */
    int gain_given;
    double gain_db;
    /* Called with a fraction 0..1 of the work done, monotonically increasing,
     * at most about every 1 %, and with 1.0 once on success. May be NULL. */
    void (*progress)(void *opaque, double fraction);
    void *progress_opaque;
    /* When non-NULL and it becomes non-zero (from any thread), the conversion
     * stops within one packet and returns V2M_ECANCELLED. */
    const atomic_int *cancel;
} v2m_media_opts;

/* What a conversion did; filled on success and, as far as it got, on failure. */
typedef struct v2m_media_stats {
    char in_format[32];       /* demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" (truncated) */
    char in_codec[32];        /* source audio codec, e.g. "aac" */
    int in_sample_rate;       /* source audio */
    int in_channels;
    int sample_rate;          /* output */
    int channels;
    int passthrough;          /* 1 when MP3 frames were copied without re-encoding */
    int xing;                 /* 1 when the Xing/LAME frame was written (seekable sink) */
    int64_t samples;          /* output samples per channel: encoded (the encoder
                                 delay excluded), or in the frames copied */
    double duration;          /* output duration in seconds */
    int64_t packets_skipped;  /* corrupt input packets that were dropped */
    int64_t bytes_in;         /* bytes taken from the read callback */
    int64_t bytes_out;        /* size of the MP3 */
    int track;                /* the audio stream used: 1 = the first in file order */
    int tracks;               /* audio streams in the source */
    char language[16];        /* that stream's language tag, "" when it has none */
    int cover;                /* 0 none, 1 the source's picture, 2 a video frame */
    int chapters;             /* chapters written (ID3 CHAP frames) */
    double loudness_in;       /* normalize: integrated loudness measured, LUFS
                                 (-70 for silence: nothing above the gate) */
    double gain_db;           /* normalize: the gain applied, dB (0 for silence) */
    double span;              /* seconds of input to convert (after trimming), as
                                 far as the input states; 0 unknown. Set before
                                 the first progress call */
    int segments;             /* segments encoded in parallel; 0: one encoder */
    int joins_moved;          /* joins that needed bytes moved or a frame enlarged */
    int remote;               /* segments encoded by other processes */
    int joins_reencoded;      /* joins that needed a segment encoded again
                                 without the bit reservoir */
    int64_t join_frames[16];  /* the first frame (0 = the first after the
                                 Xing frame) taken from each segment after
                                 the first, for the first 16 joins */
} v2m_media_stats;

/* The shortest input (seconds, after trimming) cut into segments by default:
 * below it, opening several readers and the overlap of each segment cost
 * more than the cores give back (bench/parallel.sh). */
#define V2M_MEDIA_SPLIT_MIN 120.0

/* Defaults: VBR quality 2, source rate and channels, no trim, passthrough on,
 * the default audio track, no normalization, cover art on, no duration
 * limit, no callbacks. */
void v2m_media_opts_init(v2m_media_opts *o);

/* Convert the whole input (or the trimmed part) to MP3. in and out must have
 * their read/write callbacks; o may be NULL for the defaults; stats and err
 * may be NULL. Nothing is retained after the call returns: the caller owns
 * in, out, o and whatever their opaque pointers refer to, and closes them. */
v2m_err v2m_media_convert(const v2m_media_io *in, const v2m_media_sink *out,
                          const v2m_media_opts *o, v2m_media_stats *stats, v2m_error *err);

/* Segment k (0 .. segments-1) of a conversion with these options, as the
 * conversion of the same input would cut it (v2m_media_opts.remote), into
 * out: a header and the segment's MP3 frames, for the conversion's fetch.
 * The input must seek. stats->samples: the samples encoded. */
v2m_err v2m_media_segment(const v2m_media_io *in, const v2m_media_opts *o, int k, int segments,
                          const v2m_media_sink *out, v2m_media_stats *stats, v2m_error *err);

/* Adapters over a file descriptor the caller opened and still owns (and
 * closes after the conversion), with their state in f, which must live as
 * long as the conversion. Seeking is offered only when the descriptor is
 * seekable and not append-only, so a pipe or a terminal gets seek == NULL.
 * The descriptor's offset when the adapter is made counts as the start of
 * the file. An input is read with pread (its offset does not move); a sink
 * is written with write, and ends at the end of what was written. */
typedef struct v2m_media_fd {
    int fd;
    int64_t base;    /* the descriptor's offset taken as position 0 */
    int64_t pos;     /* position relative to base */
} v2m_media_fd;

void v2m_media_io_fd(v2m_media_io *io, v2m_media_fd *f, int fd);
void v2m_media_sink_fd(v2m_media_sink *sink, v2m_media_fd *f, int fd);

/* For v2m_media_opts.reopen/reclose over a seekable descriptor: opaque is
 * the input's v2m_media_fd; each reader made reads with pread on the same
 * descriptor (safe from any thread) and is freed by reclose. */
int v2m_media_fd_reopen(void *opaque, v2m_media_io *io);
void v2m_media_fd_reclose(void *opaque, v2m_media_io *io);

/* The sample rates LAME can encode, ascending, ended by 0. */
extern const int v2m_media_rates[];

/* Nearest rate in v2m_media_rates to hz (the higher one on a tie). */
int v2m_media_nearest_rate(int hz);

#endif
