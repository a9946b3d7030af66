/* media_int.h - the state of one conversion, shared by the engine's files.
 *
 * One v2m__conv per v2m_media_convert() call, on its stack: nothing of a
 * conversion lives anywhere else, which is what lets several run at once.
 * Internal names are v2m__*; only media.h is public.
 */
#ifndef V2M_MEDIA_INT_H
#define V2M_MEDIA_INT_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libswresample/swresample.h>

#include "media/media.h"

typedef struct v2m__conv {
    const v2m_media_opts *o;    /* never NULL inside the engine */
    v2m_media_stats *st;        /* never NULL inside the engine */

    /* input */
    const v2m_media_io *io;
    AVIOContext *in_pb;         /* custom I/O over io (avio.c) */
    int in_io_failed;           /* io->read or io->seek returned an error */
    int in_seek_refused;        /* a seek was needed but io->seek is NULL */
    int in_open_refused;        /* the demuxer asked to open another file or URL */
    int64_t in_size;            /* total input size, -1 when unknown */
    int64_t in_pos;             /* position of the input, -1 after a failed seek */
    AVFormatContext *ic;
    AVStream *ist;              /* the chosen audio stream */
    AVCodecContext *dec;        /* its decoder (not used in passthrough) */
    int64_t t0;                 /* input time origin, in ist->time_base */

    /* output */
    const v2m_media_sink *sink;
    AVIOContext *out_pb;        /* custom I/O over sink (avio.c) */
    int64_t out_pos;            /* where the next byte goes */
    int64_t out_size;           /* bytes of MP3 so far */
    int out_failed;             /* sink->write or sink->seek failed */
    AVFormatContext *oc;        /* the mp3 muxer */
    AVStream *ost;
    AVCodecContext *enc;        /* libmp3lame, opened on the first decoded frame */
    int header_written;

    /* decode -> resample -> fifo -> encode */
    SwrContext *swr;            /* NULL while decoded frames match the encoder input */
    int swr_fmt, swr_rate;      /* the input the resampler is configured for */
    AVChannelLayout swr_layout;
    uint8_t **cvt;              /* resampler output, cvt_cap samples per channel */
    int cvt_cap;
    AVAudioFifo *fifo;          /* decoded samples waiting for a full encoder frame */
    AVFrame *frame;             /* decoded */
    AVFrame *eframe;            /* one encoder frame, reused */
    AVPacket *pkt;              /* demuxed */
    AVPacket *opkt;             /* encoded */
    int64_t enc_pts;            /* samples sent to the encoder */
    int64_t frames_decoded;

    /* trim and progress, in seconds of input time */
    double start, end;          /* end < 0: to the end of the input */
    double span;                /* length to report progress against; <= 0: use bytes */
    double next_time;           /* expected time of the next decoded frame */
    double last_progress;

    /* cover art (cover.c): the picture written as the ID3 APIC */
    AVPacket *cover;            /* JPEG or PNG bytes; NULL: no picture */
    enum AVCodecID cover_codec; /* AV_CODEC_ID_MJPEG or AV_CODEC_ID_PNG */
    int cover_w, cover_h;
    AVStream *cover_st;         /* its stream in the muxer */

    /* loudness (loudness.c) */
    int measuring;              /* the measuring pass: frames go to the meter, not the encoder */
    struct AVFilterGraph *meter;
    struct AVFilterContext *meter_in, *meter_out;
    AVFrame *meter_frame;
    double meter_i, meter_tp;   /* last integrated loudness (LUFS) and true peak (dBTP) read */
    float gain;                 /* linear gain applied before encoding; 1 = none */
    double pass_base, pass_share; /* progress: this pass covers [base, base + share) */

    /* duration limit (o->max_duration > 0) */
    double stated;              /* seconds the input states it lasts; 0: unknown */
    double audio_out;           /* seconds of audio taken so far (after trimming) */

    /* One segment of a parallel conversion (parallel.c); all unused when
     * seg is NULL. Sample indexes are global: 0 is the first sample the
     * one-encoder conversion would take, at input time seg_origin. */
    struct v2m__seg *seg;       /* encoded frames go here, not to a muxer */
    double seg_origin;          /* input time of input sample 0, seconds */
    double seg_seek;            /* > 0: seek to this input time first */
    int64_t seg_in_from;        /* >= 0: input samples before this one are dropped */
    int seg_in_rate;            /* the decoded rate the indexes are counted in */
    int64_t seg_fifo_pos;       /* output index of the FIFO's first sample */
    int64_t seg_enc_from;       /* output samples [from, to) are encoded; */
    int64_t seg_enc_to;         /* to < 0: to the end */
    int seg_full;               /* seg_enc_to was reached */
    int seg_no_reservoir;       /* encode without LAME's bit reservoir */
    int seg_snap;               /* > 0: timestamps coarser than a sample (Matroska's
                                   milliseconds): frames are seg_snap samples each, the
                                   first seg_snap_first, and a frame's index is its
                                   timestamp's rounded to that grid */
    int seg_snap_first;
    double seg_snap_tol;        /* samples a timestamp may be off the grid */
    double seg_snap_t0;         /* input time of the grid's first frame */
    double seg_snap_shift;      /* grid samples before input sample 0 (a trimmed start) */
} v2m__conv;

/* input.c: recognise the input, choose the audio stream, open its decoder. */
v2m_err v2m__open_input(v2m__conv *j, v2m_error *err);
v2m_err v2m__open_decoder(v2m__conv *j, v2m_error *err);
double v2m__input_duration(const v2m__conv *j);
/* Seconds the input itself states it lasts (not a guess from the bitrate);
 * 0 when it does not say. */
double v2m__stated_duration(const v2m__conv *j);
/* A failed read of the input as the right v2m code (read error, needs
 * seeking, truncated/corrupt), with what was being done. */
v2m_err v2m__read_error(v2m__conv *j, v2m_error *err, int averr, const char *what);
/* Close the input and open it again from its first byte (needs io->seek). */
v2m_err v2m__reopen_input(v2m__conv *j, v2m_error *err);
void v2m__close_input(v2m__conv *j);

/* convert.c: the decode -> encode loop of one pass or one segment. */
v2m_err v2m__run_encode(v2m__conv *j, v2m_error *err);
/* The first decoded frame's rate, format and channel count, its input time
 * in seconds and its samples, and the second frame's samples (0: none) (for
 * choosing segments before any encoder opens). */
typedef struct v2m__first {
    int rate, format, channels;
    double t;
    int n0, n1;
} v2m__first;
v2m_err v2m__first_frame(v2m__conv *j, v2m__first *f, v2m_error *err);
/* Where a conversion trimmed at its start begins, read as v2m__run_encode
 * reads it (the same seek, the same trim): the first frame it keeps, its
 * input time *t (as coarse as its timestamp), its samples *n, and the
 * samples dropped of it *off. The caller reopens the input afterwards. */
v2m_err v2m__trim_entry(v2m__conv *j, double *t, int *n, int *off, v2m_error *err);
/* A frame of n samples whose timestamp says it starts q samples after the
 * first frame: its place on the grid of whole frames (the first holds
 * first samples, every other each), *on = 1, when it is within tol samples
 * of that place and of the size the grid expects; else q, *on = 0. */
double v2m__grid_place(double q, int n, int first, int each, double tol, int *on);

/* parallel.c: one input cut into segments encoded on several threads, the
 * MP3 frames joined into one stream. Called in place of v2m__run_encode. */
int v2m__parallel_wanted(const v2m__conv *j);
v2m_err v2m__run_parallel(v2m__conv *j, v2m_error *err);
/* Hooks of a segment's conversion. */
void v2m__seg_encoder_opened(v2m__conv *c);
v2m_err v2m__seg_frame(v2m__conv *c, AVPacket *pkt, v2m_error *err);
void v2m__seg_encoded(v2m__conv *c, int samples);

/* output.c: mp3 muxer and libmp3lame. The encoder opens on the first decoded
 * frame, when the real rate and layout of the source are known. */
v2m_err v2m__open_muxer(v2m__conv *j, v2m_error *err);
v2m_err v2m__open_encoder(v2m__conv *j, const AVFrame *first, v2m_error *err);
v2m_err v2m__open_copy(v2m__conv *j, v2m_error *err);
v2m_err v2m__write_header(v2m__conv *j, v2m_error *err);
v2m_err v2m__write_packet(v2m__conv *j, AVPacket *pkt, v2m_error *err);
v2m_err v2m__encode(v2m__conv *j, AVFrame *frame, v2m_error *err);
v2m_err v2m__finish_output(v2m__conv *j, v2m_error *err);
/* Free the encoder, its FIFO and frame (between two passes). */
void v2m__close_encoder(v2m__conv *j);
void v2m__close_output(v2m__conv *j);

/* cover.c: find or make the picture (j->cover) before the muxer opens.
 * May read the input (a video frame): *reread is then set and the input
 * must be opened again before the audio is read. Only ENOMEM and
 * cancellation are errors; a picture that cannot be had is just left out. */
v2m_err v2m__find_cover(v2m__conv *j, int *reread, v2m_error *err);
void v2m__free_cover(v2m__conv *j);

/* loudness.c: the EBU R128 meter of the measuring pass. */
v2m_err v2m__meter_open(v2m__conv *j, v2m_error *err);
v2m_err v2m__meter_feed(v2m__conv *j, AVFrame *frame, v2m_error *err); /* NULL: the end */
void v2m__meter_close(v2m__conv *j);

/* The ID3v2 tag budget: the tag (text frames, chapters, picture) plus the
 * Xing frame stay below V2M_MEDIA_SINK_HEAD_MAX. */
#define V2M__TAGS_BUDGET (16 * 1024 + 2 * 1024)      /* text frames (output.c) */
#define V2M__CHAPTERS_BUDGET (20 * 1024)             /* 64 chapters of <= 200-byte titles */
#define V2M__XING_MAX 2048                           /* the Xing/LAME frame (1441 at most) */
#define V2M__COVER_MAX (V2M_MEDIA_SINK_HEAD_MAX - V2M__TAGS_BUDGET - V2M__CHAPTERS_BUDGET - \
                        V2M__XING_MAX - 1024)

/* avio.c: custom AVIOContexts over the caller's callbacks. */
int v2m__input_open(v2m__conv *j);
void v2m__input_close(v2m__conv *j);
int v2m__output_open(v2m__conv *j);
void v2m__output_close(v2m__conv *j);

/* avlog.c: route libav's messages through V2M_LOG (installed once). */
void v2m__avlog_install(void);

#endif
