/* parallel.c - one input on several cores: segments encoded at once, their
 * MP3 frames joined into the stream one encoder would have written.
 *
 * The timeline is cut at boundaries b_k on the MP3 frame grid (multiples
 * of the frame size fs, 1152 or 576 samples). Segment k has its own reader
 * (o->reopen), demuxer, decoder, resampler and LAME encoder:
 *
 *   - it seeks PREROLL seconds before its first sample and drops what comes
 *     before it, so the decoder has warmed up; the resampler starts on an
 *     input sample whose output position is a whole number, the same phase
 *     as the one-encoder conversion's resampler at that point;
 *   - its encoder starts WARMUP frames before b_k (the frames before b_k
 *     are its own priming and warm-up, thrown away) and runs JOIN + TAIL
 *     frames past b_{k+1}, so that the join can be made at any of JOIN
 *     frames after the boundary and LAME's look-ahead there is real audio.
 *
 * Since every encoder starts on the grid, its frame i covers the same
 * samples as the one encoder's frame i. The joiner (the calling thread)
 * writes segment 0's frames, then at each boundary picks the join frame a
 * in [b_k, b_k + JOIN) where frames a-1 of both encoders use the same
 * window sequence, and fixes the bit reservoir there: segment k's frame a
 * may take up to 511 bytes of its main data from frames before it
 * (main_data_begin), frames of segment k that are not written. Those bytes
 * are copied to the end of the written stream, over bytes no written frame
 * uses (segment k-1's own reservoir left over at a), and when that is not
 * room enough, into frame a-1 enlarged to a higher bitrate (its own data
 * does not move). When no frame of the window allows either, segment k is
 * encoded again without the bit reservoir, whose frames need nothing
 * before them. Only the first segment keeps its encoder delay and only the
 * last its padding; the mp3 muxer writes one Xing/LAME frame over the whole.
 *
 * Memory: a segment's frames wait in memory until joined; at most `window`
 * segments are encoded ahead of the joiner, and long inputs get more,
 * shorter segments (SEG_MAX), so memory stays bounded by the output of a
 * few segments, never by the input.
 */
#include "media/media_int.h"
#include "media/mp3frame.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define WARMUP 48          /* frames each segment encodes before its boundary */
#define JOIN 48            /* candidate join frames after a boundary */
#define TAIL 4             /* frames encoded past the candidates (LAME's look-ahead) */
#define PREROLL 1.5        /* seconds decoded before a segment's first sample */
#define RESAMPLER_MARGIN 1024 /* output samples the resampler runs before the encoder */
#define SEG_MAX 600.0      /* longer segments are cut again (memory) */
#define SEG_MIN 30.0       /* no shorter segment when the length decides */
#define MAX_THREADS 64

struct v2m__seg {
    struct par *p;
    int index;
    int64_t enc_from, enc_to; /* output samples encoded; enc_to < 0: to the end */
    int64_t in_from;          /* input sample the resampler starts on; -1: the start */
    int64_t fifo_from;        /* its output position */
    double seek;              /* input time to seek to first; 0: none */
    int no_reservoir;
    int on_main;              /* encoded by the calling thread (progress reports) */

    AVPacket **frames;        /* frames[i] is frame first + i of the whole stream */
    size_t n, cap;
    int64_t first;
    int eof;                  /* the (trimmed) input ended in this segment */
    int64_t samples_end;      /* enc_from + samples encoded */

    int state;                /* 0 waiting, 1 encoding, 2 done */
    v2m_err rc;
    v2m_error err;
    v2m_media_stats st;
};

typedef struct par {
    v2m__conv *j;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct v2m__seg *segs;
    int nseg, next_claim, joined, window;
    atomic_int abort;
    v2m_media_opts so, so_last; /* the segments' options: no callbacks, the shared stop flag */
    int in_rate, out_rate, fs;
    double origin;
    int snap, snap_first;     /* coarse timestamps: see v2m__conv.seg_snap */
    double snap_tol, snap_t0, snap_shift;
    int64_t work;             /* output samples all segments encode, overlaps included */
    atomic_llong encoded;
    AVCodecParameters *par;   /* from the first encoder that opened */
    const v2m_media_remote *remote; /* segments 1.. come from elsewhere */
    int back;                 /* remote: the next segment local threads take, from the last */
    int handed;               /* remote: segments 1 .. handed are handed out */
} par;

static int tb_fine_enough(const AVStream *st, int rate)
{
    return st->time_base.num > 0 && rate > 0 &&
           (int64_t)st->time_base.den >= (int64_t)rate * st->time_base.num;
}

/* Codecs whose every packet is one frame of a fixed number of samples (AAC,
 * AC-3, MP2, MP3), or of one number chosen by the encoder and, from the
 * encoders in use, kept for the whole stream: Opus (20 ms from libopus and
 * the browsers' recorders) and FLAC (a fixed block size unless the encoder
 * was told otherwise). A frame of another size in a segment's way is placed
 * by its timestamp, with a warning (see take_frame()); planning reads the
 * first two frames' sizes. Not Vorbis (long and short blocks alternate) nor
 * PCM (packets of any length). */
static int fixed_frames(enum AVCodecID id)
{
    return id == AV_CODEC_ID_AAC || id == AV_CODEC_ID_AC3 || id == AV_CODEC_ID_MP2 || id == AV_CODEC_ID_MP3 ||
           id == AV_CODEC_ID_OPUS || id == AV_CODEC_ID_FLAC;
}

/* Can a segment place its first sample exactly? With timestamps at least as
 * fine as a sample, by them. With coarser ones (Matroska and WebM count
 * milliseconds), when every packet is one frame of a fixed size and a
 * timestamp's error (a tick at each end) is far within half a frame: by
 * rounding to that grid of frames (frame: its size, 0 when not known yet).
 * Returns the samples a timestamp may be off in *tol, 0 for fine
 * timestamps. */
static int placeable(const v2m__conv *j, int rate, int frame, double *tol)
{
    const AVStream *st = j->ist;
    *tol = 0;
    if (rate <= 0 || st->time_base.num <= 0)
        return 0;
    if (tb_fine_enough(st, rate))
        return 1;
    if (!fixed_frames(st->codecpar->codec_id))
        return 0;
    if (frame <= 0)
        frame = st->codecpar->frame_size > 0 ? st->codecpar->frame_size : 576;
    *tol = 2.0 * rate * av_q2d(st->time_base) + 1;
    return 4 * *tol <= frame;
}

static int remote_wanted(const v2m__conv *j);

int v2m__parallel_wanted(const v2m__conv *j)
{
    const v2m_media_opts *o = j->o;
    double min = o->split_min > 0 ? o->split_min : V2M_MEDIA_SPLIT_MIN;
    if (!j->io->seek || !j->in_pb->seekable || j->span <= 0)
        return 0;
    double tol;
    if (remote_wanted(j))
        return placeable(j, j->ist->codecpar->sample_rate, 0, &tol);
    if (o->threads < 2 || !o->reopen)
        return 0;
    if (o->segments == 1 || (o->segments == 0 && j->span < min))
        return 0;
    return placeable(j, j->ist->codecpar->sample_rate, 0, &tol);
}

/* ---- segment hooks (called from the segment's thread) ---- */

void v2m__seg_encoder_opened(v2m__conv *c)
{
    par *p = c->seg->p;
    pthread_mutex_lock(&p->mu);
    if (!p->par && (p->par = avcodec_parameters_alloc()) &&
        avcodec_parameters_from_context(p->par, c->enc) < 0)
        avcodec_parameters_free(&p->par);
    pthread_mutex_unlock(&p->mu);
}

static v2m_err write_frames(par *p, struct v2m__seg *s, int64_t from, int64_t to, v2m_error *err);
static v2m_err write_header(par *p, v2m_error *err);

/* Segment 0, encoded by the calling thread, goes to the muxer as it comes,
 * all but its last HOLD frames (the join may rewrite some of them): the MP3
 * grows in the sink from the start, and only later segments wait in memory. */
#define HOLD (WARMUP + JOIN + TAIL + 32)

static v2m_err stream_first(par *p, struct v2m__seg *s, v2m_error *err)
{
    v2m_err rc;
    size_t out = s->n - HOLD;
    if (!p->j->header_written && (rc = write_header(p, err)))
        return rc;
    if ((rc = write_frames(p, s, s->first, s->first + (int64_t)out, err)))
        return rc;
    memmove(s->frames, s->frames + out, HOLD * sizeof *s->frames);
    s->n = HOLD;
    s->first += (int64_t)out;
    return V2M_OK;
}

v2m_err v2m__seg_frame(v2m__conv *c, AVPacket *pkt, v2m_error *err)
{
    struct v2m__seg *s = c->seg;
    if (s->index == 0 && s->on_main && s->n >= 2 * HOLD) {
        v2m_err rc = stream_first(s->p, s, err);
        if (rc)
            return rc;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        AVPacket **f = realloc(s->frames, cap * sizeof *f);
        if (!f)
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
        s->frames = f;
        s->cap = cap;
    }
    AVPacket *q = av_packet_alloc();
    if (!q)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    av_packet_move_ref(q, pkt);
    s->frames[s->n++] = q;
    return V2M_OK;
}

static void report(par *p)
{
    v2m__conv *j = p->j;
    if (!j->o->progress || p->work <= 0)
        return;
    double f = (double)atomic_load(&p->encoded) / (double)p->work;
    f = j->pass_base + (f > 1 ? 1 : f) * j->pass_share;
    if (f > 0.999)
        f = 0.999;
    if (f >= j->last_progress + 0.01) {
        j->last_progress = f;
        j->o->progress(j->o->progress_opaque, f);
    }
}

void v2m__seg_encoded(v2m__conv *c, int samples)
{
    par *p = c->seg->p;
    const atomic_int *cancel = p->j->o->cancel;
    atomic_fetch_add(&p->encoded, samples);
    /* The caller's stop flag reaches every segment within one frame. */
    if (cancel && atomic_load(cancel))
        atomic_store(&p->abort, 1);
    if (c->seg->on_main)
        report(p);
}

/* ---- encoding one segment ---- */

static void seg_free_frames(struct v2m__seg *s)
{
    for (size_t i = 0; i < s->n; i++)
        av_packet_free(&s->frames[i]);
    free(s->frames);
    s->frames = NULL;
    s->n = s->cap = 0;
}

/* Encode segment s, reading through given (NULL: a reader opened with
 * o->reopen for the purpose). */
static void run_segment_io(par *p, struct v2m__seg *s, const v2m_media_io *given)
{
    const v2m_media_opts *o = p->j->o;
    v2m_media_io io = {0};
    v2m__conv c;
    v2m_err rc;

    memset(&c, 0, sizeof c);
    seg_free_frames(s);
    memset(&s->st, 0, sizeof s->st);
    v2m_error_clear(&s->err);
    if (given) {
        io = *given;
    } else if (!o->reopen || o->reopen(o->reopen_opaque, &io) < 0 || !io.read || !io.seek) {
        if (io.read && o->reclose)
            o->reclose(o->reopen_opaque, &io);
        s->rc = v2m_fail(&s->err, V2M_EIO, "reading the input failed (opening it again)");
        return;
    }
    c.o = s->index == p->nseg - 1 ? &p->so_last : &p->so;
    c.st = &s->st;
    c.io = &io;
    c.start = p->j->start;
    c.end = p->j->end;
    c.gain = p->j->gain;
    c.pass_share = 1.0;
    c.seg = s;
    c.seg_origin = p->origin;
    c.seg_seek = s->seek;
    c.seg_in_from = s->in_from;
    c.seg_in_rate = p->in_rate;
    c.seg_fifo_pos = s->fifo_from;
    c.seg_enc_from = s->enc_from;
    c.seg_enc_to = s->enc_to;
    c.seg_no_reservoir = s->no_reservoir;
    c.seg_snap = p->snap;
    c.seg_snap_first = p->snap_first;
    c.seg_snap_tol = p->snap_tol;
    c.seg_snap_t0 = p->snap_t0;
    c.seg_snap_shift = p->snap_shift;
    c.audio_out = (double)s->enc_from / p->out_rate;
    s->first = s->enc_from / p->fs;
    c.pkt = av_packet_alloc();
    c.opkt = av_packet_alloc();
    c.frame = av_frame_alloc();
    if (!c.pkt || !c.opkt || !c.frame)
        rc = v2m_fail(&s->err, V2M_ENOMEM, "out of memory");
    else if (!(rc = v2m__open_input(&c, &s->err)))
        rc = v2m__run_encode(&c, &s->err);
    if (rc == V2M_OK && c.enc && c.enc->frame_size != p->fs)
        rc = v2m_fail(&s->err, V2M_EMEDIA_ENCODE, "segment: frame size %d, not %d", c.enc->frame_size, p->fs);
    if (rc != V2M_OK && rc != V2M_ECANCELLED && rc != V2M_ENOMEM && c.in_io_failed)
        rc = v2m_fail(&s->err, V2M_EIO, "reading the input failed");
    s->rc = rc;
    s->eof = !c.seg_full;
    s->samples_end = s->enc_from + c.enc_pts;
    if (!c.enc)
        s->n = 0;
    swr_free(&c.swr);
    av_channel_layout_uninit(&c.swr_layout);
    if (c.cvt)
        av_freep(&c.cvt[0]);
    av_freep(&c.cvt);
    av_packet_free(&c.pkt);
    av_packet_free(&c.opkt);
    av_frame_free(&c.frame);
    v2m__close_output(&c);
    v2m__close_input(&c);
    if (!given && o->reclose)
        o->reclose(o->reopen_opaque, &io);
}

static void run_segment(par *p, struct v2m__seg *s)
{
    run_segment_io(p, s, NULL);
}

/* Take the next segment to encode, if the window allows: its index, or -1. */
static int claim(par *p)
{
    if (atomic_load(&p->abort) || p->next_claim >= p->nseg || p->next_claim >= p->joined + p->window)
        return -1;
    if (p->remote && p->next_claim > 0) {
        /* The others are handed out, and taken from the first on; idle
         * cores here take them from the last back (join_all uses whichever
         * copy is there first). */
        while (p->back > 0 && p->segs[p->back].state != 0)
            p->back--;
        if (p->back < 1)
            return -1;
        p->segs[p->back].state = 1;
        return p->back--;
    }
    int k = p->next_claim++;
    p->segs[k].state = 1;
    return k;
}

static void finished(par *p, int k)
{
    p->segs[k].state = 2;
    if (p->segs[k].rc != V2M_OK)
        atomic_store(&p->abort, 1);
    pthread_cond_broadcast(&p->cv);
}

static void *worker(void *arg)
{
    par *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int k = claim(p);
        if (k < 0) {
            if (atomic_load(&p->abort) || p->next_claim >= p->nseg)
                break;
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        run_segment(p, &p->segs[k]);
        pthread_mutex_lock(&p->mu);
        finished(p, k);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- segments encoded elsewhere ----
 *
 * A segment written by v2m_media_segment(): a 64-byte header, then its MP3
 * frames back to back (each frame says its own size).
 *
 *   0  "V2MSEG01"
 *   8  segment index, segments, first frame index, samples_end, eof flag,
 *      output rate, frame size (little-endian 64-bit each)
 *  64  1 when the last frame carries the encoder's skip-samples side data
 *      (the last segment's padding, which the muxer writes in the LAME
 *      tag), then its 10 bytes
 */
#define SEG_MAGIC "V2MSEG01"
#define SEG_HEADER 96
#define SEG_MAX_BYTES (256LL << 20) /* 10 minutes at 320 kbit/s is 24 MiB */

static void put64(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

static int64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static v2m_err write_segment(par *p, struct v2m__seg *s, const v2m_media_sink *out, v2m_error *err)
{
    uint8_t h[SEG_HEADER] = {0};
    memcpy(h, SEG_MAGIC, 8);
    int64_t f[7] = {s->index, p->nseg, s->first, s->samples_end, s->eof, p->out_rate, p->fs};
    for (int i = 0; i < 7; i++)
        put64(h + 8 + 8 * i, f[i]);
    size_t skip_size = 0;
    const uint8_t *skip = s->n ? av_packet_get_side_data(s->frames[s->n - 1], AV_PKT_DATA_SKIP_SAMPLES, &skip_size)
                               : NULL;
    if (skip && skip_size >= 10) {
        put64(h + 64, 1);
        memcpy(h + 72, skip, 10);
    }
    if (out->write(out->opaque, h, SEG_HEADER) < 0)
        return v2m_fail(err, V2M_EMEDIA_WRITE, "writing the segment failed");
    for (size_t i = 0; i < s->n; i++)
        if (out->write(out->opaque, s->frames[i]->data, s->frames[i]->size) < 0)
            return v2m_fail(err, V2M_EMEDIA_WRITE, "writing the segment failed");
    return V2M_OK;
}

/* Segment s from what v2m_media_segment() wrote, read from io. */
static v2m_err load_segment(par *p, struct v2m__seg *s, const v2m_media_io *io, v2m_error *err)
{
    uint8_t *buf = NULL;
    int64_t len = 0, cap = 0;
    v2m_err rc = V2M_OK;

    seg_free_frames(s);
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            uint8_t *b = cap <= SEG_MAX_BYTES ? realloc(buf, (size_t)cap) : NULL;
            if (!b) {
                free(buf);
                return v2m_fail(err, V2M_ENOMEM, "segment %d is too large", s->index);
            }
            buf = b;
        }
        int n = io->read(io->opaque, buf + len, (int)(cap - len > (1 << 20) ? 1 << 20 : cap - len));
        if (n < 0) {
            free(buf);
            return v2m_fail(err, V2M_EIO, "reading segment %d failed", s->index);
        }
        if (n == 0)
            break;
        len += n;
    }
    if (len < SEG_HEADER || memcmp(buf, SEG_MAGIC, 8) != 0 || get64(buf + 8) != s->index ||
        get64(buf + 16) != p->nseg || get64(buf + 24) != s->enc_from / p->fs || get64(buf + 48) != p->out_rate ||
        get64(buf + 56) != p->fs) {
        free(buf);
        return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment %d does not belong to this conversion", s->index);
    }
    s->first = get64(buf + 24);
    s->samples_end = get64(buf + 32);
    s->eof = get64(buf + 40) != 0;
    int has_skip = get64(buf + 64) == 1;
    for (int64_t at = SEG_HEADER; at < len && !rc;) {
        v2m__mp3hdr h;
        AVPacket *q = NULL;
        if (v2m__mp3_parse(buf + at, (size_t)(len - at), &h) < 0)
            rc = v2m_fail(err, V2M_EMEDIA_ENCODE, "segment %d: a broken frame at byte %lld", s->index,
                          (long long)at);
        else if (!(q = av_packet_alloc()) || av_new_packet(q, h.size) < 0)
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        else if (s->n == s->cap && !(s->frames = realloc(s->frames, (s->cap = s->cap ? 2 * s->cap : 1024) *
                                                                         sizeof *s->frames)))
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        if (rc) {
            av_packet_free(&q);
            break;
        }
        memcpy(q->data, buf + at, (size_t)h.size);
        s->frames[s->n++] = q;
        at += h.size;
    }
    if (!rc && has_skip && s->n) {
        uint8_t *sd = av_packet_new_side_data(s->frames[s->n - 1], AV_PKT_DATA_SKIP_SAMPLES, 10);
        if (!sd)
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        else
            memcpy(sd, buf + 72, 10);
    }
    free(buf);
    return rc;
}

/* Segment s from what another process wrote, read from io. */
static v2m_err load_remote(par *p, struct v2m__seg *s, const v2m_media_io *io, v2m_error *err)
{
    v2m_err rc = load_segment(p, s, io, err);
    if (rc == V2M_OK)
        atomic_fetch_add(&p->encoded, (s->enc_to >= 0 ? s->enc_to : s->samples_end) - s->enc_from);
    return rc;
}

/* ---- joining ---- */

static int frame_at(const struct v2m__seg *s, int64_t idx, v2m__mp3hdr *h)
{
    if (idx < s->first || idx >= s->first + (int64_t)s->n)
        return -1;
    const AVPacket *f = s->frames[idx - s->first];
    if (v2m__mp3_parse(f->data, (size_t)f->size, h) < 0 || h->size != f->size)
        return -1;
    return 0;
}

/* The last d bytes of s's main data stream before frame idx's main data
 * area, into out. */
static int stream_read(const struct v2m__seg *s, int64_t idx, uint8_t *out, int d)
{
    for (int64_t i = idx - 1; d > 0; i--) {
        v2m__mp3hdr h;
        if (frame_at(s, i, &h) < 0)
            return -1;
        int len = h.size - h.payload, take = len < d ? len : d;
        memcpy(out + d - take, s->frames[i - s->first]->data + h.size - take, (size_t)take);
        d -= take;
    }
    return 0;
}

/* Write src over the last d bytes of s's main data stream before frame idx. */
static int stream_write(struct v2m__seg *s, int64_t idx, const uint8_t *src, int d)
{
    for (int64_t i = idx - 1; d > 0; i--) {
        v2m__mp3hdr h;
        if (frame_at(s, i, &h) < 0 || av_packet_make_writable(s->frames[i - s->first]) < 0)
            return -1;
        int len = h.size - h.payload, take = len < d ? len : d;
        memcpy(s->frames[i - s->first]->data + h.size - take, src + d - take, (size_t)take);
        d -= take;
    }
    return 0;
}

typedef struct {
    int64_t at;     /* first frame of the next segment written */
    int d;          /* its back-pointer */
    int grow;       /* bitrate index frame at-1 is enlarged to; 0: none */
    int pad;
    int level;      /* the level it was found at */
} joinplan;

/* Find a join frame in [lo, hi); same_windows: only where both encoders
 * chose the same window sequence for the frame before. */
/* The two encoders wrote the same bytes for frame idx. */
static int same_frame(const struct v2m__seg *a, const struct v2m__seg *b, int64_t idx)
{
    const AVPacket *x = a->frames[idx - a->first], *y = b->frames[idx - b->first];
    return x->size == y->size && !memcmp(x->data, y->data, (size_t)x->size);
}

/* Find a join frame in [lo, hi) at the level asked: CONVERGED, where both
 * encoders wrote the same bytes for the CONVERGED frames before it (their
 * states agree: the join is invisible); SAME_RESERVOIR, where besides the
 * windows their bit reservoirs hold the same bytes at the join (what keeps
 * two constant-bitrate encoders apart longest); SAME_WINDOWS, where they
 * chose the same window sequence for the frame before; ANY. */
enum { ANY, SAME_WINDOWS, SAME_RESERVOIR, CONVERGED };
#define CONVERGED_FRAMES 3

static int plan_join(const struct v2m__seg *a, const struct v2m__seg *b, int64_t lo, int64_t hi,
                     int level, joinplan *pl)
{
    for (int64_t at = lo; at < hi; at++) {
        v2m__mp3hdr last, next, b_last, b_at, h;
        if (frame_at(a, at - 1, &last) < 0 || frame_at(a, at, &next) < 0 ||
            frame_at(b, at - 1, &b_last) < 0 || frame_at(b, at, &b_at) < 0)
            continue;
        if (level >= SAME_WINDOWS && last.blocks != b_last.blocks)
            continue;
        if (level == CONVERGED) {
            int same = 1;
            for (int64_t i = at - CONVERGED_FRAMES; i < at && same; i++)
                same = frame_at(a, i, &h) == 0 && frame_at(b, i, &h) == 0 && same_frame(a, b, i);
            if (!same)
                continue;
        }
        int d = b_at.main_data_begin, room = next.main_data_begin;
        if (level == SAME_RESERVOIR && d != room)
            continue;
        pl->level = level;
        pl->at = at;
        pl->d = d;
        pl->grow = pl->pad = 0;
        if (d <= room)
            return 1;
        if (last.crc)
            continue; /* the CRC covers the header: leave such frames alone */
        int best = 0;
        for (int bi = 1; bi <= V2M__MP3_MAX_BITRATE_INDEX; bi++) {
            for (int pad = 0; pad <= 1; pad++) {
                int size = v2m__mp3_size_for(&last, bi, pad);
                if (size - last.size >= d - room && (!best || size < best)) {
                    best = size;
                    pl->grow = bi;
                    pl->pad = pad;
                }
            }
        }
        if (best)
            return 1;
    }
    return 0;
}

/* Enlarge frame idx of s to bitrate index bi (the new bytes at its end). */
static int grow_frame(struct v2m__seg *s, int64_t idx, int bi, int pad)
{
    v2m__mp3hdr h;
    if (frame_at(s, idx, &h) < 0)
        return -1;
    AVPacket *old = s->frames[idx - s->first];
    int size = v2m__mp3_size_for(&h, bi, pad);
    AVPacket *q = av_packet_alloc();
    if (!q || av_new_packet(q, size) < 0) {
        av_packet_free(&q);
        return -1;
    }
    memcpy(q->data, old->data, (size_t)old->size);
    memset(q->data + old->size, 0, (size_t)(size - old->size));
    v2m__mp3_set_bitrate(q->data, bi, pad);
    av_packet_free(&old);
    s->frames[idx - s->first] = q;
    return 0;
}

static v2m_err write_frames(par *p, struct v2m__seg *s, int64_t from, int64_t to, v2m_error *err)
{
    for (int64_t i = from; i < to; i++) {
        AVPacket *f = s->frames[i - s->first];
        f->pts = f->dts = i * p->fs;
        f->duration = p->fs;
        v2m_err rc = v2m__write_packet(p->j, f, err);
        av_packet_free(&s->frames[i - s->first]);
        if (rc)
            return rc;
    }
    return V2M_OK;
}

/* The muxer's header, with the first encoder's parameters. */
static v2m_err write_header(par *p, v2m_error *err)
{
    v2m__conv *j = p->j;
    if (!p->par)
        return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment 0 has no encoder");
    if (avcodec_parameters_copy(j->ost->codecpar, p->par) < 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    j->ost->time_base = (AVRational){1, p->out_rate};
    j->st->sample_rate = p->par->sample_rate;
    j->st->channels = p->par->ch_layout.nb_channels;
    return v2m__write_header(j, err);
}

static v2m_err join(par *p, struct v2m__seg *a, struct v2m__seg *b, int64_t *at, v2m_error *err)
{
    int64_t lo = b->enc_from / p->fs + WARMUP, hi = lo + JOIN;
    joinplan pl;
    uint8_t ref[512];

    if (!plan_join(a, b, lo, hi, CONVERGED, &pl) && !plan_join(a, b, lo, hi, SAME_RESERVOIR, &pl) &&
        !plan_join(a, b, lo, hi, SAME_WINDOWS, &pl) && !plan_join(a, b, lo, hi, ANY, &pl)) {
        /* No frame of the window lets the reservoir be fixed: this segment
         * again, without the reservoir (its frames point nowhere back). */
        V2M_LOG(V2M_DEBUG, "media parallel join segment=%d reencode", b->index);
        b->no_reservoir = 1;
        b->on_main = 1;
        run_segment(p, b);
        if (b->rc)
            return v2m_fail(err, b->rc, "%s", b->err.msg);
        p->j->st->joins_reencoded++;
        if (!plan_join(a, b, lo, hi, SAME_WINDOWS, &pl) && !plan_join(a, b, lo, hi, ANY, &pl))
            return v2m_fail(err, V2M_EMEDIA_ENCODE, "segments %d and %d cannot be joined", a->index,
                            b->index);
    }
    if (pl.d > 0) {
        if ((pl.grow && grow_frame(a, pl.at - 1, pl.grow, pl.pad) < 0) || stream_read(b, pl.at, ref, pl.d) < 0 ||
            stream_write(a, pl.at, ref, pl.d) < 0)
            return v2m_fail(err, V2M_EMEDIA_ENCODE, "joining segments %d and %d failed", a->index, b->index);
        p->j->st->joins_moved++;
    }
    V2M_LOG(V2M_DEBUG, "media parallel join segment=%d at=%lld back=%d grow=%d level=%d", b->index,
            (long long)pl.at, pl.d, pl.grow, pl.level);
    *at = pl.at;
    if (b->index - 1 < 16)
        p->j->st->join_frames[b->index - 1] = pl.at;
    return V2M_OK;
}

/* The segments' frames into the muxer, in order, as they complete; the
 * calling thread encodes segments itself while it waits. */
static v2m_err join_all(par *p, v2m_error *err)
{
    v2m__conv *j = p->j;
    struct v2m__seg *prev = NULL;
    int64_t w = 0; /* prev's frames before w are written */
    v2m_err rc = V2M_OK;

    for (int k = 0; k < p->nseg; k++) {
        struct v2m__seg *s = &p->segs[k];
        if (p->remote && k > 0 && k <= p->handed) {
            /* Encoded elsewhere, or by a thread here taking segments from
             * the last back: whichever is there first. When neither comes
             * (no converter free, a lost task), this thread encodes it. */
            struct timespec t0, now;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (;;) {
                pthread_mutex_lock(&p->mu);
                int state = s->state;
                pthread_mutex_unlock(&p->mu);
                if (state == 2)
                    break;
                if (state == 0) {
                    v2m_media_io io = {0};
                    int got = p->remote->fetch(p->remote->opaque, k, &io);
                    if (got < 0)
                        return v2m_fail(err, V2M_EIO, "fetching segment %d failed", k);
                    if (got > 0) {
                        pthread_mutex_lock(&p->mu);
                        int mine = s->state == 0;
                        if (mine)
                            s->state = 3; /* loading: no thread here takes it now */
                        pthread_mutex_unlock(&p->mu);
                        if (mine)
                            rc = load_remote(p, s, &io, err);
                        if (p->remote->release)
                            p->remote->release(p->remote->opaque, &io);
                        if (rc)
                            return rc;
                        if (mine) {
                            pthread_mutex_lock(&p->mu);
                            s->state = 2;
                            pthread_mutex_unlock(&p->mu);
                            break;
                        }
                        continue;
                    }
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (state == 0 &&
                    (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 > p->remote->wait) {
                    pthread_mutex_lock(&p->mu);
                    int mine = s->state == 0;
                    if (mine)
                        s->state = 1;
                    pthread_mutex_unlock(&p->mu);
                    if (mine) {
                        V2M_LOG(V2M_INFO, "media segment %d did not come in %.0f s: encoding it here", k,
                                p->remote->wait);
                        s->on_main = 1;
                        run_segment(p, s);
                        pthread_mutex_lock(&p->mu);
                        finished(p, k);
                        pthread_mutex_unlock(&p->mu);
                        if (s->rc)
                            return v2m_fail(err, s->rc, "%s", s->err.msg);
                        break;
                    }
                    continue;
                }
                /* Work while it waits: a segment kept here, from the last. */
                pthread_mutex_lock(&p->mu);
                int kept = p->back > p->handed ? claim(p) : -1;
                pthread_mutex_unlock(&p->mu);
                if (kept >= 0) {
                    p->segs[kept].on_main = 1;
                    run_segment(p, &p->segs[kept]);
                    pthread_mutex_lock(&p->mu);
                    finished(p, kept);
                    pthread_mutex_unlock(&p->mu);
                    if (p->segs[kept].rc)
                        return v2m_fail(err, p->segs[kept].rc, "%s", p->segs[kept].err.msg);
                    continue;
                }
                /* Or the converter's other work: a segment task, maybe
                 * one of these. */
                if (p->remote->work && p->remote->work(p->remote->opaque) > 0)
                    continue;
                /* The caller hears from the conversion while it waits (its
                 * progress callback is where it looks at its own state). */
                if (j->o->progress)
                    j->o->progress(j->o->progress_opaque, j->last_progress);
                if ((j->o->cancel && atomic_load(j->o->cancel)))
                    return v2m_fail(err, V2M_ECANCELLED, "conversion cancelled");
                report(p);
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        pthread_mutex_lock(&p->mu);
        while (s->state != 2 && !atomic_load(&p->abort)) {
            int mine = claim(p);
            if (mine >= 0) {
                pthread_mutex_unlock(&p->mu);
                p->segs[mine].on_main = 1;
                run_segment(p, &p->segs[mine]);
                pthread_mutex_lock(&p->mu);
                finished(p, mine);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            if (j->o->cancel && atomic_load(j->o->cancel))
                atomic_store(&p->abort, 1);
            pthread_mutex_unlock(&p->mu);
            report(p);
            pthread_mutex_lock(&p->mu);
        }
        pthread_mutex_unlock(&p->mu);
        if (atomic_load(&p->abort))
            break;
        if (k == 0) {
            if (!p->par || s->n == 0)
                return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment 0 has no audio");
            if (!j->header_written && (rc = write_header(p, err)))
                return rc;
            prev = s;
            w = s->first;
        } else {
            int64_t at = 0;
            if (s->n == 0)
                return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment %d has no audio", k);
            if ((rc = join(p, prev, s, &at, err)) || (rc = write_frames(p, prev, w, at, err)))
                return rc;
            seg_free_frames(prev);
            prev = s;
            w = at;
        }
        pthread_mutex_lock(&p->mu);
        p->joined = k;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (s->eof)
            break;
    }
    if (atomic_load(&p->abort)) {
        for (int k = 0; k < p->nseg; k++)
            if (p->segs[k].state == 2 && p->segs[k].rc != V2M_OK)
                return v2m_fail(err, p->segs[k].rc, "%s", p->segs[k].err.msg);
        return v2m_fail(err, V2M_ECANCELLED, "conversion cancelled");
    }
    if (!prev || !prev->eof)
        return v2m_fail(err, V2M_EMEDIA_ENCODE, "the segments did not reach the end of the audio");
    if ((rc = write_frames(p, prev, w, prev->first + (int64_t)prev->n, err)))
        return rc;
    j->st->samples = prev->samples_end;
    j->st->duration = (double)prev->samples_end / p->out_rate;
    return v2m__finish_output(j, err);
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Cut [0, total) output samples into nseg segments. */
static void plan_segments(par *p, int64_t total)
{
    int64_t fs = p->fs, g = gcd64(p->in_rate, p->out_rate);
    int64_t ui = p->in_rate / g, uo = p->out_rate / g;
    for (int k = 0; k < p->nseg; k++) {
        struct v2m__seg *s = &p->segs[k];
        int64_t b = total * k / p->nseg / fs * fs;
        int64_t next = total * (k + 1) / p->nseg / fs * fs;
        s->p = p;
        s->index = k;
        s->enc_from = k ? b - WARMUP * fs : 0;
        s->enc_to = k < p->nseg - 1 ? next + (WARMUP + JOIN + TAIL) * fs : -1;
        s->in_from = -1;
        s->fifo_from = 0;
        s->seek = 0;
        if (k) {
            int64_t at = s->enc_from - RESAMPLER_MARGIN;
            int64_t q = at > 0 ? at / uo : 0;
            s->fifo_from = q * uo;
            s->in_from = q * ui;
            double seek = p->origin + (double)s->in_from / p->in_rate - PREROLL;
            s->seek = seek > 0 ? seek : 0;
        }
        p->work += (s->enc_to >= 0 ? s->enc_to : total) - s->enc_from;
    }
}

/* Coarse timestamps and a trimmed start: the one-encoder conversion takes
 * its first sample where its trim put it, from the timestamp of the frame
 * it was in. Read that frame as it does (from a freshly opened input, so
 * the seek lands where its seek does) and find its place on the grid:
 * the segments count their samples from there (p->snap_shift). A frame off
 * the grid there: *placed = 0, one encoder. */
static v2m_err trim_on_grid(par *p, v2m__conv *j, int rate, int *placed, v2m_error *err)
{
    double t;
    int n, off, on;
    v2m_err rc;

    if ((rc = v2m__reopen_input(j, err)))
        return rc;
    rc = v2m__trim_entry(j, &t, &n, &off, err);
    if (rc == V2M_EMEDIA_NOAUDIO) { /* nothing to split: one encoder says so */
        v2m_error_clear(err);
        *placed = 0;
        return V2M_OK;
    }
    if (rc)
        return rc;
    double g = v2m__grid_place((t - p->snap_t0) * rate, n, p->snap_first, p->snap, p->snap_tol, &on);
    p->snap_shift = g + off;
    if (!on)
        *placed = 0;
    return V2M_OK;
}

/* Learn the rates from the first frame and choose the segments: p->nseg
 * (below 2: one encoder), p->segs planned. The input is left at its start
 * (reopened). remote_seg > 0: segments of about that many seconds, for
 * converters elsewhere. */
static v2m_err plan(par *p, v2m__conv *j, int threads, double remote_seg, v2m_error *err)
{
    const v2m_media_opts *o = j->o;
    v2m__first ff;
    v2m_err rc;

    if ((rc = v2m__first_frame(j, &ff, err)))
        return rc;
    int rate = ff.rate;
    double t0 = ff.t, tol = 0;
    int placed = placeable(j, rate, ff.n1, &tol);
    if (placed && tol > 0) {
        if (ff.n1 <= 0 || ff.n0 > ff.n1)
            placed = 0;
        p->snap = ff.n1;
        p->snap_first = ff.n0;
        p->snap_tol = tol;
        p->snap_t0 = t0;
        if (placed && j->start > 0 && (rc = trim_on_grid(p, j, rate, &placed, err)))
            return rc;
    }
    p->j = j;
    p->in_rate = rate;
    p->out_rate = o->sample_rate > 0 ? o->sample_rate : v2m_media_nearest_rate(rate);
    p->fs = p->out_rate >= 32000 ? 1152 : 576;
    p->origin = j->start > 0 ? j->start : t0;
    int64_t total = (int64_t)(j->span * p->out_rate);
    int nseg = o->segments > 0 ? o->segments
               : remote_seg > 0 ? (int)ceil(j->span / remote_seg)
                                : threads * (int)ceil(j->span / (threads * SEG_MAX));
    if (remote_seg > 0 && o->segments <= 0 && nseg < 2)
        nseg = 2;
    if (remote_seg > 0 && nseg > V2M_MEDIA_REMOTE_SEGMENTS)
        nseg = V2M_MEDIA_REMOTE_SEGMENTS; /* longer ones, then */
    /* Each segment must hold its join window with room to spare. */
    double shortest = o->segments > 0 ? 2.0 * (JOIN + TAIL) * p->fs / p->out_rate : SEG_MIN;
    while (nseg > 1 && j->span / nseg < shortest)
        nseg--;
    /* Back to the start for a one-encoder conversion, or for the muxer's
     * sake (the segments read through readers of their own). */
    if ((rc = v2m__reopen_input(j, err)))
        return rc;
    if (nseg < 2 || !placed || rate < 1000 || total < 4 * (WARMUP + JOIN + TAIL) * p->fs)
        nseg = 0;
    p->nseg = nseg;
    if (nseg < 2)
        return V2M_OK;
    p->so = *o;
    p->so.progress = NULL;
    p->so.cancel = &p->abort;
    p->so.max_duration = 0;
    p->so_last = p->so;
    p->so_last.max_duration = o->max_duration;
    if (!(p->segs = calloc((size_t)nseg, sizeof *p->segs)))
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    plan_segments(p, total);
    V2M_LOG(V2M_DEBUG, "media parallel segments=%d threads=%d remote=%d rate=%d->%d samples=%lld", nseg,
            threads, remote_seg > 0, rate, p->out_rate, (long long)total);
    return V2M_OK;
}

static int remote_wanted(const v2m__conv *j)
{
    const v2m_media_opts *o = j->o;
    return o->remote && o->distribute_min > 0 && j->span >= o->distribute_min && o->reopen;
}

v2m_err v2m__run_parallel(v2m__conv *j, v2m_error *err)
{
    const v2m_media_opts *o = j->o;
    int threads = o->threads > MAX_THREADS ? MAX_THREADS : o->threads < 1 ? 1 : o->threads;
    int remote = remote_wanted(j);
    pthread_t tid[MAX_THREADS];
    int started = 0;
    par p;
    v2m_err rc;

    memset(&p, 0, sizeof p);
    double seg_len = o->segment_length > 0 ? o->segment_length : V2M_MEDIA_REMOTE_SEG;
    if ((rc = plan(&p, j, threads, remote ? seg_len : 0, err)))
        return rc;
    int nseg = p.nseg;
    if (nseg < 2)
        return v2m__run_encode(j, err);
    if (remote) {
        /* The first and (from three on) the last are encoded here: the
         * calling thread works while the others are away. */
        int upto = nseg > 2 ? nseg - 2 : nseg - 1;
        if (o->remote->request(o->remote->opaque, nseg, upto, o->normalize < 0 ? j->st->gain_db : 0) < 0) {
            V2M_LOG(V2M_WARN, "media segments could not be handed out: encoding them here");
        } else {
            p.remote = o->remote;
            p.handed = upto;
            p.back = nseg - 1;
        }
    }
    p.window = threads + 1;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    j->st->segments = nseg;
    j->st->remote = p.remote ? p.handed : 0;

    /* The calling thread takes segment 0; the others start after it. */
    pthread_mutex_lock(&p.mu);
    int first = claim(&p);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < threads - 1 && i < nseg - 1; i++) {
        if (pthread_create(&tid[started], NULL, worker, &p) != 0)
            break; /* fewer threads: the calling thread does more */
        started++;
    }
    p.segs[first].on_main = 1;
    run_segment(&p, &p.segs[first]);
    pthread_mutex_lock(&p.mu);
    finished(&p, first);
    pthread_mutex_unlock(&p.mu);

    rc = join_all(&p, err);

    pthread_mutex_lock(&p.mu);
    atomic_store(&p.abort, 1);
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    for (int k = 0; k < nseg; k++) {
        j->st->packets_skipped += p.segs[k].st.packets_skipped;
        j->st->bytes_in += p.segs[k].st.bytes_in;
        seg_free_frames(&p.segs[k]);
    }
    avcodec_parameters_free(&p.par);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(p.segs);
    return rc;
}

v2m_err v2m_media_segment(const v2m_media_io *in, const v2m_media_opts *o, int k, int segments,
                          const v2m_media_sink *out, v2m_media_stats *stats, v2m_error *err)
{
    v2m_media_opts copy;
    v2m_media_stats local;
    v2m__conv j;
    par p;
    v2m_err rc;

    v2m_error_clear(err);
    if (!in || !in->read || !in->seek || !out || !out->write || !o)
        return v2m_fail(err, V2M_EINVAL, "a seekable input, an output and options are required");
    if (segments < 2 || k < 0 || k >= segments)
        return v2m_fail(err, V2M_EINVAL, "segment %d of %d", k, segments);
    copy = *o;
    copy.segments = segments;
    copy.progress = NULL;
    copy.cover = 0;
    memset(&j, 0, sizeof j);
    memset(&p, 0, sizeof p);
    j.o = &copy;
    j.st = stats ? stats : &local;
    memset(j.st, 0, sizeof *j.st);
    j.io = in;
    j.gain = 1.0f;
    j.pass_share = 1.0;
    j.start = o->start > 0 ? o->start : 0;
    j.end = o->end > 0 ? o->end : -1;
    v2m__avlog_install();
    j.pkt = av_packet_alloc();
    j.frame = av_frame_alloc();
    if (!j.pkt || !j.frame) {
        rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        goto out;
    }
    if (o->normalize < 0) {
        /* The whole input's gain, measured once by the joining side: a
         * segment's own loudness would give each a different level. */
        if (!o->gain_given || !isfinite(o->gain_db) || fabs(o->gain_db) > 100) {
            rc = v2m_fail(err, V2M_EINVAL, "a normalized segment needs the gain the whole input was given");
            goto out;
        }
        j.gain = (float)pow(10.0, o->gain_db / 20.0);
        j.st->gain_db = o->gain_db;
    }
    if ((rc = v2m__open_input(&j, err)))
        goto out;
    double duration = v2m__input_duration(&j);
    j.span = (j.end > 0 ? j.end : duration) - j.start;
    if ((rc = plan(&p, &j, 1, 0, err)))
        goto out;
    if (p.nseg != segments) {
        rc = v2m_fail(err, V2M_EMEDIA_ENCODE, "the input makes %d segments, not %d", p.nseg, segments);
        goto out;
    }
    v2m__close_input(&j);
    if (in->seek(in->opaque, 0, SEEK_SET) != 0) {
        rc = v2m_fail(err, V2M_EIO, "reading the input failed (seeking back to its start)");
        goto out;
    }
    struct v2m__seg *s = &p.segs[k];
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    run_segment_io(&p, s, in);
    rc = s->rc;
    if (rc)
        v2m_fail(err, rc, "%s", s->err.msg);
    else if (s->n == 0)
        rc = v2m_fail(err, V2M_EMEDIA_ENCODE, "segment %d of %d has no audio", k, segments);
    else
        rc = write_segment(&p, s, out, err);
    if (rc == V2M_OK) {
        j.st->samples = s->samples_end - s->enc_from;
        j.st->sample_rate = p.out_rate;
        j.st->segments = segments;
        j.st->packets_skipped = s->st.packets_skipped;
        j.st->bytes_in = s->st.bytes_in;
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
out:
    if (p.segs) {
        for (int i = 0; i < p.nseg; i++)
            seg_free_frames(&p.segs[i]);
        free(p.segs);
    }
    avcodec_parameters_free(&p.par);
    av_packet_free(&j.pkt);
    av_frame_free(&j.frame);
    v2m__close_input(&j);
    return rc;
}
