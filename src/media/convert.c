/* convert.c - v2m_media_convert(): the demux -> decode -> resample -> fifo ->
 * encode -> mux loop, and the packet-copy loop for MP3 sources.
 *
 * The shape is FFmpeg's doc/examples/transcode_aac.c, with every piece of
 * state in the job (the example's static pts would be shared by all the
 * conversions of a worker). Decoded frames go straight into the FIFO when
 * they already have the encoder's format, rate and layout; otherwise through
 * swresample, which also downmixes (5.1 -> stereo or mono).
 *
 * Before the audio: the cover picture (cover.c), which may read a video
 * frame; with o->normalize, a measuring pass runs the same loop into the
 * loudness meter (loudness.c) instead of the encoder. Each of those reads
 * the input again from its first byte afterwards (v2m__reopen_input).
 */
#include "media/media_int.h"

#include <math.h>
#include <string.h>

#include "common/log.h"

/* A file that yields only this many bad packets and not one good frame is
 * given up on instead of being read to its end. */
#define MAX_BAD_BEFORE_FIRST_FRAME 1000
/* At most this many channels in a decoded frame. */
#define MAX_CHANNELS 64
/* While decoding, audio may run this far past the duration limit before the
 * conversion is stopped: a file that states exactly the limit is accepted up
 * front and may decode a frame or two longer (encoder priming no container
 * mentions); it must not then fail at its very end. */
#define DURATION_SLACK 0.5
/* Loudness targets accepted (LUFS): from quieter than any broadcast norm to
 * louder than any streaming one. */
#define NORMALIZE_MIN (-70)
#define NORMALIZE_MAX (-5)
/* Normalizing: the true peak the gain may bring the audio to (dBTP), and
 * what the meter says of audio with nothing above its -70 LUFS gate. */
#define PEAK_CEILING (-1.0)
#define SILENCE_LUFS (-69.9)
/* Source sample rates that are resampled: from below any real audio's to
 * twice DXD's 352.8 kHz. A corrupt header can claim any rate: libswresample's
 * filter for a rate of a billion takes minutes and gigabytes to build, and
 * 1 Hz would turn each sample into a second of MP3. */
#define MIN_SOURCE_RATE 1000
#define MAX_SOURCE_RATE 768000

void v2m_media_opts_init(v2m_media_opts *o)
{
    memset(o, 0, sizeof *o);
    o->quality = -1;
    o->passthrough = 1;
    o->cover = 1;
}

static v2m_err check_opts(const v2m_media_opts *o, v2m_error *err)
{
    if (o->quality > 9)
        return v2m_fail(err, V2M_EINVAL, "quality %d is out of range 0..9", o->quality);
    if (o->bitrate_kbps < 0 || (o->bitrate_kbps > 0 && (o->bitrate_kbps < 8 || o->bitrate_kbps > 320)))
        return v2m_fail(err, V2M_EINVAL, "bitrate %d kbit/s is out of range 8..320", o->bitrate_kbps);
    if (o->sample_rate < 0 || (o->sample_rate > 0 && v2m_media_nearest_rate(o->sample_rate) != o->sample_rate))
        return v2m_fail(err, V2M_EINVAL, "sample rate %d Hz is not one MP3 supports", o->sample_rate);
    if (o->channels < 0 || o->channels > 2)
        return v2m_fail(err, V2M_EINVAL, "channels must be 1 or 2, not %d", o->channels);
    if (!isfinite(o->start) || !isfinite(o->end) || o->start < 0)
        return v2m_fail(err, V2M_EINVAL, "bad trim times");
    if (o->end > 0 && o->end <= o->start)
        return v2m_fail(err, V2M_EINVAL, "end %.3f s is not after start %.3f s", o->end, o->start);
    if (!isfinite(o->max_duration) || o->max_duration < 0)
        return v2m_fail(err, V2M_EINVAL, "max duration must be 0 (no limit) or a positive number of seconds");
    if (o->track < 0)
        return v2m_fail(err, V2M_EINVAL, "track must be 0 (the default) or a track number from 1, not %d",
                        o->track);
    if (!isfinite(o->normalize) || (o->normalize != 0 && (o->normalize < NORMALIZE_MIN ||
                                                          o->normalize > NORMALIZE_MAX)))
        return v2m_fail(err, V2M_EINVAL, "loudness target %g LUFS is out of range %d..%d", o->normalize,
                        NORMALIZE_MIN, NORMALIZE_MAX);
    return V2M_OK;
}

/* "20.5 s", "45 s", "43200 s (12:00:00)". */
static const char *fmt_seconds(char *buf, size_t size, double secs)
{
    int n = snprintf(buf, size, secs < 10 ? "%.1f s" : "%.0f s", secs);
    if (secs >= 3600 && n > 0 && (size_t)n < size) {
        long t = lround(secs);
        snprintf(buf + n, size - (size_t)n, " (%ld:%02ld:%02ld)", t / 3600, t / 60 % 60, t % 60);
    }
    return buf;
}

/* Before any decoding: does the input state it lasts longer than the limit
 * (the part within the trim, when trimmed)? */
static v2m_err check_stated_duration(v2m__conv *j, v2m_error *err)
{
    char a[48], b[48];
    double span;

    j->stated = v2m__stated_duration(j);
    if (j->o->max_duration <= 0 || j->stated <= 0)
        return V2M_OK;
    span = (j->end > 0 && j->end < j->stated ? j->end : j->stated) - j->start;
    if (span <= j->o->max_duration)
        return V2M_OK;
    return v2m_fail(err, V2M_EMEDIA_TOOLONG, "input is too long: %s of audio, the limit is %s",
                    fmt_seconds(a, sizeof a, span), fmt_seconds(b, sizeof b, j->o->max_duration));
}

/* While decoding: secs more seconds of audio are about to be taken. */
static v2m_err count_audio(v2m__conv *j, double secs, v2m_error *err)
{
    char a[48], b[48];

    j->audio_out += secs;
    if (j->o->max_duration <= 0 || j->audio_out <= j->o->max_duration + DURATION_SLACK)
        return V2M_OK;
    if (j->stated > 0)
        return v2m_fail(err, V2M_EMEDIA_TOOLONG,
                        "input is too long: its audio goes on past the limit of %s (the file states %s)",
                        fmt_seconds(a, sizeof a, j->o->max_duration),
                        fmt_seconds(b, sizeof b, j->stated));
    return v2m_fail(err, V2M_EMEDIA_TOOLONG, "input is too long: its audio goes on past the limit of %s",
                    fmt_seconds(a, sizeof a, j->o->max_duration));
}

static int cancelled(const v2m__conv *j)
{
    return j->o->cancel && atomic_load_explicit(j->o->cancel, memory_order_relaxed);
}

/* Report progress given the input time reached (seconds). */
static void progress(v2m__conv *j, double t)
{
    double f;

    if (!j->o->progress)
        return;
    if (j->span > 0)
        f = (t - j->start) / j->span;
    else if (j->in_size > 0)
        f = (double)avio_tell(j->in_pb) / (double)j->in_size;
    else
        return;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    f = j->pass_base + f * j->pass_share; /* the measuring pass is the first half */
    if (f > 0.999)
        f = 0.999; /* 1.0 is for success */
    if (f >= j->last_progress + 0.01) {
        j->last_progress = f;
        j->o->progress(j->o->progress_opaque, f);
    }
}

static void skipped(v2m__conv *j, int averr)
{
    j->st->packets_skipped++;
    V2M_LOG(V2M_DEBUG, "media corrupt packet skipped codec=%s err=\"%s\" n=%lld", j->st->in_codec,
            av_err2str(averr), (long long)j->st->packets_skipped);
}

/* Channel layout of a frame, with a default order when the source left
 * it unspecified (the resampler needs to know which channel is which). */
static int frame_layout(const AVFrame *f, AVChannelLayout *out)
{
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
        av_channel_layout_default(out, f->ch_layout.nb_channels);
        return 0;
    }
    return av_channel_layout_copy(out, &f->ch_layout);
}

/* Push n samples of f, starting at sample off, into the FIFO, converting
 * when needed. */
static v2m_err push_samples(v2m__conv *j, const AVFrame *f, int off, int n, v2m_error *err)
{
    const uint8_t *in[MAX_CHANNELS];
    int nch = f->ch_layout.nb_channels;
    int bps = av_get_bytes_per_sample(f->format);
    int planar = av_sample_fmt_is_planar(f->format);
    AVChannelLayout layout = {0};
    v2m_err rc = V2M_OK;
    int r;

    if (nch <= 0 || nch > MAX_CHANNELS || bps <= 0)
        return v2m_fail(err, V2M_EMEDIA_CODEC, "decoded audio has %d channels", nch);
    for (int c = 0; c < (planar ? nch : 1); c++)
        in[c] = f->extended_data[c] + (size_t)off * bps * (planar ? 1 : nch);
    if (frame_layout(f, &layout) < 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");

    int same_as_swr = j->swr && f->format == j->swr_fmt && f->sample_rate == j->swr_rate &&
                      !av_channel_layout_compare(&layout, &j->swr_layout);
    int same_as_enc = f->format == j->enc->sample_fmt && f->sample_rate == j->enc->sample_rate &&
                      !av_channel_layout_compare(&layout, &j->enc->ch_layout);

    if (j->swr && !same_as_swr) {
        /* The source changed format mid-stream: drain and drop the old resampler. */
        r = swr_convert(j->swr, j->cvt, j->cvt_cap, NULL, 0);
        if (r > 0 && av_audio_fifo_write(j->fifo, (void **)j->cvt, r) < r)
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        swr_free(&j->swr);
        av_channel_layout_uninit(&j->swr_layout);
        if (rc)
            goto out;
    }
    if (!j->swr && same_as_enc) {
        if (av_audio_fifo_write(j->fifo, (void **)in, n) < n)
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        goto out;
    }
    if (!j->swr) {
        if (f->sample_rate < MIN_SOURCE_RATE || f->sample_rate > MAX_SOURCE_RATE) {
            rc = v2m_fail(err, V2M_EMEDIA_CORRUPT, "audio sample rate %d Hz is out of range %d..%d",
                          f->sample_rate, MIN_SOURCE_RATE, MAX_SOURCE_RATE);
            goto out;
        }
        r = swr_alloc_set_opts2(&j->swr, &j->enc->ch_layout, j->enc->sample_fmt, j->enc->sample_rate,
                                &layout, f->format, f->sample_rate, 0, NULL);
        if (r >= 0)
            r = swr_init(j->swr);
        if (r < 0) {
            rc = v2m_fail(err, V2M_EMEDIA_ENCODE, "resampler %d Hz %d ch -> %d Hz %d ch: %s",
                          f->sample_rate, nch, j->enc->sample_rate, j->enc->ch_layout.nb_channels,
                          av_err2str(r));
            goto out;
        }
        j->swr_fmt = f->format;
        j->swr_rate = f->sample_rate;
        av_channel_layout_uninit(&j->swr_layout);
        if (av_channel_layout_copy(&j->swr_layout, &layout) < 0) {
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
            goto out;
        }
    }
    int want = swr_get_out_samples(j->swr, n);
    if (want > j->cvt_cap) {
        if (j->cvt)
            av_freep(&j->cvt[0]);
        av_freep(&j->cvt);
        j->cvt_cap = 0;
        if (av_samples_alloc_array_and_samples(&j->cvt, NULL, j->enc->ch_layout.nb_channels, want,
                                               j->enc->sample_fmt, 0) < 0) {
            rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
            goto out;
        }
        j->cvt_cap = want;
    }
    r = swr_convert(j->swr, j->cvt, j->cvt_cap, in, n);
    if (r < 0)
        rc = v2m_fail(err, V2M_EMEDIA_ENCODE, "resampler: %s", av_err2str(r));
    else if (r > 0 && av_audio_fifo_write(j->fifo, (void **)j->cvt, r) < r)
        rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
out:
    av_channel_layout_uninit(&layout);
    return rc;
}

/* Float samples into [-1, 1], NaN to silence. A corrupt stream can decode
 * to huge values (Nellymoser: 1e13), on which LAME fails an assertion and
 * aborts the whole process; past full scale is clipping anyway. With
 * normalizing, the gain comes first (it keeps the true peak at -1 dBTP, so
 * nothing clips); the meter sees the samples before clipping, only bounded,
 * so that a float source's overs count in the peak the gain avoids. */
static void clip_float(v2m__conv *j, AVFrame *f)
{
    const float lim = j->measuring ? 64.0f : 1.0f, g = j->gain;
    if (j->enc->sample_fmt != AV_SAMPLE_FMT_FLTP)
        return;
    for (int c = 0; c < j->enc->ch_layout.nb_channels; c++) {
        float *s = (float *)f->extended_data[c];
        for (int i = 0; i < f->nb_samples; i++) {
            float v = isnan(s[i]) ? 0.0f : s[i] * g;
            s[i] = v > lim ? lim : v < -lim ? -lim : v;
        }
    }
}

/* Encode whole frames from the FIFO; with final, also the short last one. */
static v2m_err drain_fifo(v2m__conv *j, int final, v2m_error *err)
{
    int fs = j->enc->frame_size;
    for (;;) {
        int have = av_audio_fifo_size(j->fifo);
        if (j->seg) {
            /* A segment: only its window of output samples is encoded. */
            if (j->seg_fifo_pos < j->seg_enc_from) {
                int64_t drop = j->seg_enc_from - j->seg_fifo_pos;
                if (drop > have)
                    drop = have;
                av_audio_fifo_drain(j->fifo, (int)drop);
                j->seg_fifo_pos += drop;
                have -= (int)drop;
                if (j->seg_fifo_pos < j->seg_enc_from)
                    return V2M_OK;
            }
            if (j->seg_enc_to >= 0 && j->seg_fifo_pos >= j->seg_enc_to) {
                j->seg_full = 1;
                av_audio_fifo_reset(j->fifo);
                return V2M_OK;
            }
        }
        if (have < fs && !(final && have > 0))
            return V2M_OK;
        int n = have < fs ? have : fs;
        if (j->seg && j->seg_enc_to >= 0 && n > j->seg_enc_to - j->seg_fifo_pos)
            n = (int)(j->seg_enc_to - j->seg_fifo_pos);
        if (av_frame_make_writable(j->eframe) < 0)
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
        j->eframe->nb_samples = n;
        if (av_audio_fifo_read(j->fifo, (void **)j->eframe->data, n) < n)
            return v2m_fail(err, V2M_EINTERNAL, "audio fifo underrun");
        clip_float(j, j->eframe);
        j->eframe->pts = j->enc_pts;
        j->enc_pts += n;
        j->seg_fifo_pos += n;
        v2m_err rc = j->measuring ? v2m__meter_feed(j, j->eframe, err) : v2m__encode(j, j->eframe, err);
        if (rc)
            return rc;
        if (j->seg)
            v2m__seg_encoded(j, n);
    }
}

/* A decoded frame's input time, seconds: its timestamp's, else where the
 * one before it ended. */
static double frame_time(v2m__conv *j, const AVFrame *f)
{
    int64_t ts = f->best_effort_timestamp;
    double t = ts != AV_NOPTS_VALUE ? (double)(ts - j->t0) * av_q2d(j->ist->time_base) : j->next_time;
    j->next_time = t + (double)f->nb_samples / f->sample_rate;
    return t;
}

/* The trim at the start: of a frame of n samples at input time t, how many
 * are dropped (*off). 0: the whole frame is. The sample counts are bounded
 * in floating point before they become ints: with a corrupt timestamp far
 * from the trim points they are far outside int, and a truncated count
 * would point outside the frame. */
static int start_trim(const v2m__conv *j, double t, int n, int rate, int *off)
{
    *off = 0;
    if (j->start > 0 && t < j->start) {
        double skip = (j->start - t) * rate;
        if (!(skip < n))
            return 0;
        *off = (int)llround(skip);
        if (*off >= n)
            return 0;
    }
    return 1;
}

double v2m__grid_place(double q, int n, int first, int each, double tol, int *on)
{
    int is_first = q < first / 2.0;
    double g = is_first ? 0 : first + (double)llround((q - first) / each) * each;
    *on = fabs(g - q) <= tol && n == (is_first ? first : each);
    return *on ? g : q;
}

/* One decoded frame: trim it, open the encoder on the first one, queue it. */
static v2m_err take_frame(v2m__conv *j, AVFrame *f, int *done, v2m_error *err)
{
    int rate = f->sample_rate, n = f->nb_samples, off = 0, keep = n;
    double t, t_end;
    v2m_err rc;

    if (rate <= 0 || n <= 0)
        return V2M_OK;
    t = frame_time(j, f);
    t_end = j->next_time;
    j->frames_decoded++;

    if (!start_trim(j, t, n, rate, &off))
        return V2M_OK;
    if (j->seg && j->seg_in_from >= 0) {
        /* A segment's first input sample: from here on the resampler runs
         * exactly as the one-encoder conversion's does (see parallel.c). */
        if (rate != j->seg_in_rate)
            return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment: the audio changes rate (%d Hz, then %d Hz)",
                            j->seg_in_rate, rate);
        double q = (t - j->seg_origin) * rate;
        int on = 1;
        if (j->seg_snap > 0) {
            /* Coarse timestamps: the frame's index is the one of the grid
             * of whole frames nearest to its timestamp. A frame off that
             * grid (one of another size, a gap) is placed by its timestamp
             * alone, as a damaged MP4 would be: the join may then be a few
             * samples off, but the conversion goes on. (The first frame of
             * a fresh Opus decoder is shorter by the stream's pre-skip: off
             * the grid, and dropped as it comes before the segment.) */
            double g = v2m__grid_place((t - j->seg_snap_t0) * rate, n, j->seg_snap_first, j->seg_snap,
                                       j->seg_snap_tol, &on);
            if (on)
                q = g - j->seg_snap_shift;
        }
        if (!(q + n > (double)j->seg_in_from))
            return V2M_OK;
        if (!on)
            V2M_LOG(V2M_WARN, "media segment: its first frame, of %d samples at %.3f s, is off the grid of %d-sample frames",
                    n, t, j->seg_snap);
        int64_t qi = llround(q);
        if (qi > j->seg_in_from)
            return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment: the seek went past the start");
        if (j->seg_in_from - qi > off)
            off = (int)(j->seg_in_from - qi);
        j->seg_in_from = -1;
    }
    if (j->end >= 0 && t_end > j->end) {
        double upto = (j->end - t) * rate;
        keep = upto > 0 ? (upto < n ? (int)llround(upto) : n) : 0;
        *done = 1;
        if (keep <= off)
            return V2M_OK;
    }
    if ((rc = count_audio(j, (double)(keep - off) / rate, err)))
        return rc;
    if (!j->enc && (rc = v2m__open_encoder(j, f, err)))
        return rc;
    if ((rc = push_samples(j, f, off, keep - off, err)) || (rc = drain_fifo(j, 0, err)))
        return rc;
    if (j->seg_full)
        *done = 1;
    progress(j, t_end);
    return V2M_OK;
}

/* Feed one packet (NULL: flush) to the decoder and take what comes out. A
 * packet the decoder refuses is counted and skipped, not fatal. */
static v2m_err decode(v2m__conv *j, const AVPacket *pkt, int *done, v2m_error *err)
{
    int r = avcodec_send_packet(j->dec, pkt);
    if (r == AVERROR(ENOMEM))
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (r < 0 && r != AVERROR_EOF)
        skipped(j, r);
    for (int bad = 0; bad < 16;) {
        r = avcodec_receive_frame(j->dec, j->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            break;
        if (r == AVERROR(ENOMEM))
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
        if (r < 0) {
            skipped(j, r);
            bad++;
            continue;
        }
        v2m_err rc = *done ? V2M_OK : take_frame(j, j->frame, done, err);
        av_frame_unref(j->frame);
        if (rc)
            return rc;
    }
    if (!j->frames_decoded && j->st->packets_skipped > MAX_BAD_BEFORE_FIRST_FRAME)
        return v2m_fail(err, V2M_EMEDIA_CORRUPT, "input is corrupt: %lld %s packets and none decodes",
                        (long long)j->st->packets_skipped, j->st->in_codec);
    return V2M_OK;
}

/* Read the next packet of the chosen stream. 1 = got one, 0 = end of input. */
static int next_packet(v2m__conv *j, v2m_err *rc, v2m_error *err)
{
    for (;;) {
        if (cancelled(j)) {
            *rc = v2m_fail(err, V2M_ECANCELLED, "conversion cancelled");
            return -1;
        }
        int r = av_read_frame(j->ic, j->pkt);
        if (r == AVERROR_EOF && !j->in_io_failed)
            return 0;
        if (r == AVERROR(EAGAIN))
            continue;
        if (r < 0) {
            *rc = v2m__read_error(j, err, r, "reading a packet");
            return -1;
        }
        if (j->pkt->stream_index == j->ist->index)
            return 1;
        av_packet_unref(j->pkt);
    }
}

/* The input ended: did it end where the audio stream said it would? A file
 * cut in half ends early without any read error. Only a duration the file
 * states counts, not one guessed from the bitrate. */
static v2m_err check_complete(v2m__conv *j, v2m_error *err)
{
    if (j->ist->duration <= 0 || j->ic->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE)
        return V2M_OK;
    double declared = (double)j->ist->duration * av_q2d(j->ist->time_base);
    double missing = declared - j->next_time;
    if (missing > 0.5 && missing > 0.02 * declared)
        return v2m_fail(err, V2M_EMEDIA_CORRUPT,
                        "input is truncated: audio stops at %.1f s of %.1f s", j->next_time, declared);
    return V2M_OK;
}

/* A conversion trimmed at its start seeks near it first. */
static void seek_start(v2m__conv *j)
{
    if (j->start > 0 && j->in_pb->seekable) {
        int64_t ts = j->t0 + (int64_t)(j->start / av_q2d(j->ist->time_base));
        int r = avformat_seek_file(j->ic, j->ist->index, INT64_MIN, ts, ts, 0);
        if (r < 0) /* decode from the start and drop what comes before */
            V2M_LOG(V2M_DEBUG, "media seek failed start=%.3f err=\"%s\"", j->start, av_err2str(r));
    }
}

v2m_err v2m__run_encode(v2m__conv *j, v2m_error *err)
{
    v2m_err rc = V2M_OK;
    int done = 0, got;

    if ((rc = v2m__open_decoder(j, err)))
        return rc;
    if (j->seg && j->seg_seek > 0) {
        int64_t ts = j->t0 + (int64_t)(j->seg_seek / av_q2d(j->ist->time_base));
        int r = avformat_seek_file(j->ic, j->ist->index, INT64_MIN, ts, ts, 0);
        if (r < 0)
            return v2m_fail(err, V2M_EMEDIA_ENCODE, "segment: seeking to %.3f s failed: %s", j->seg_seek,
                            av_err2str(r));
    } else {
        seek_start(j);
    }
    while (!done && (got = next_packet(j, &rc, err)) > 0) {
        rc = decode(j, j->pkt, &done, err);
        av_packet_unref(j->pkt);
        if (rc)
            return rc;
    }
    if (rc)
        return rc;
    if (!done && (rc = decode(j, NULL, &done, err)))
        return rc;
    if (!j->enc && j->seg && j->seg_enc_from > 0)
        return V2M_OK; /* the input ended before this segment: nothing of it */
    if (!j->enc) {
        if (j->frames_decoded > 0)
            return v2m_fail(err, V2M_EINVAL, "nothing left after trimming (the audio lasts %.1f s)",
                            j->next_time);
        if (j->st->packets_skipped > 0)
            return v2m_fail(err, V2M_EMEDIA_CORRUPT, "input is corrupt: no %s packet decodes",
                            j->st->in_codec);
        return v2m_fail(err, V2M_EMEDIA_NOAUDIO, "the audio stream is empty");
    }
    if (!done && (rc = check_complete(j, err)))
        return rc;
    if (j->seg_full) /* the frames past the window are not kept: no flush of the resampler */
        return v2m__encode(j, NULL, err);
    if (j->swr) {
        int want = swr_get_out_samples(j->swr, 0);
        while (want > 0) {
            int r = swr_convert(j->swr, j->cvt, j->cvt_cap, NULL, 0);
            if (r <= 0)
                break;
            if (av_audio_fifo_write(j->fifo, (void **)j->cvt, r) < r)
                return v2m_fail(err, V2M_ENOMEM, "out of memory");
            want -= r;
        }
    }
    if (j->measuring) {
        if ((rc = drain_fifo(j, 1, err)) || (rc = v2m__meter_feed(j, NULL, err)))
            return rc;
        return V2M_OK;
    }
    if ((rc = drain_fifo(j, 1, err)) || (rc = v2m__encode(j, NULL, err)))
        return rc;
    if (j->seg)
        return V2M_OK;
    j->st->samples = j->enc_pts;
    j->st->duration = (double)j->enc_pts / j->enc->sample_rate;
    return v2m__finish_output(j, err);
}

/* MP3 in, no change asked: copy the frames, new ID3 tag and Xing frame. */
static v2m_err run_copy(v2m__conv *j, v2m_error *err)
{
    const AVCodecParameters *par = j->ist->codecpar;
    int rate = par->sample_rate;
    int64_t frame = par->frame_size > 0 ? par->frame_size : rate >= 32000 ? 1152 : 576;
    int64_t samples = 0;
    v2m_err rc = V2M_OK;
    int got;

    if ((rc = v2m__open_copy(j, err)))
        return rc;
    while ((got = next_packet(j, &rc, err)) > 0) {
        AVPacket *p = j->pkt;
        int64_t n = p->duration > 0 ? av_rescale_q(p->duration, j->ist->time_base, (AVRational){1, rate})
                                    : frame;
        if (p->pts != AV_NOPTS_VALUE)
            j->next_time = (double)(p->pts - j->t0) * av_q2d(j->ist->time_base) + (double)n / rate;
        else
            j->next_time += (double)n / rate;
        p->pts = p->dts = av_rescale_q(samples, (AVRational){1, rate}, j->ost->time_base);
        p->duration = av_rescale_q(n, (AVRational){1, rate}, j->ost->time_base);
        samples += n;
        if ((rc = count_audio(j, (double)n / rate, err)) || (rc = v2m__write_packet(j, p, err)))
            return rc;
        progress(j, j->next_time);
    }
    if (rc)
        return rc;
    if (samples == 0)
        return v2m_fail(err, V2M_EMEDIA_NOAUDIO, "the audio stream is empty");
    if ((rc = check_complete(j, err)))
        return rc;
    j->st->samples = samples;
    j->st->duration = (double)samples / rate;
    return v2m__finish_output(j, err);
}

/* The next decoded frame of the chosen stream into j->frame (the caller
 * unrefs it): 1, or 0 at the end of the input, -1 on an error (*rc). A
 * packet the decoder refuses is passed over. */
static int next_frame(v2m__conv *j, v2m_err *rc, v2m_error *err)
{
    for (;;) {
        if (avcodec_receive_frame(j->dec, j->frame) >= 0)
            return 1;
        int got = next_packet(j, rc, err);
        if (got <= 0)
            return got;
        int r = avcodec_send_packet(j->dec, j->pkt);
        av_packet_unref(j->pkt);
        if (r == AVERROR(ENOMEM)) {
            *rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
            return -1;
        }
    }
}

v2m_err v2m__first_frame(v2m__conv *j, v2m__first *f, v2m_error *err)
{
    v2m_err rc = V2M_OK;

    memset(f, 0, sizeof *f);
    if ((rc = v2m__open_decoder(j, err)))
        return rc;
    while (next_frame(j, &rc, err) > 0) {
        int64_t ts = j->frame->best_effort_timestamp;
        int n = j->frame->nb_samples, rate = j->frame->sample_rate;
        if (f->n0 > 0) { /* the second */
            f->n1 = rate == f->rate ? n : 0;
            av_frame_unref(j->frame);
            return V2M_OK;
        }
        f->rate = rate;
        f->format = j->frame->format;
        f->channels = j->frame->ch_layout.nb_channels;
        f->t = ts != AV_NOPTS_VALUE ? (double)(ts - j->t0) * av_q2d(j->ist->time_base) : 0;
        av_frame_unref(j->frame);
        if (rate > 0 && n > 0)
            f->n0 = n;
    }
    if (rc)
        return rc;
    if (f->n0 > 0)
        return V2M_OK;
    return v2m_fail(err, V2M_EMEDIA_NOAUDIO, "the audio stream is empty");
}

v2m_err v2m__trim_entry(v2m__conv *j, double *t, int *n, int *off, v2m_error *err)
{
    v2m_err rc = V2M_OK;
    double saved = j->next_time;

    *n = 0;
    if ((rc = v2m__open_decoder(j, err)))
        return rc;
    seek_start(j);
    j->next_time = 0;
    while (!*n && next_frame(j, &rc, err) > 0) {
        int rate = j->frame->sample_rate, k = j->frame->nb_samples;
        if (rate > 0 && k > 0) {
            *t = frame_time(j, j->frame);
            if (start_trim(j, *t, k, rate, off))
                *n = k;
        }
        av_frame_unref(j->frame);
    }
    j->next_time = saved;
    if (!rc && !*n)
        rc = v2m_fail(err, V2M_EMEDIA_NOAUDIO, "no audio after the start");
    return rc;
}

/* Copy MP3 frames as they are? Only when nothing is asked to change and the
 * container's rate is one MP3 has (an FLV header can say 5512 Hz for MP3
 * frames: the copy's rate, duration and Xing frame would be wrong). */
static int wants_copy(const v2m__conv *j)
{
    const v2m_media_opts *o = j->o;
    const AVCodecParameters *par = j->ist->codecpar;
    return o->passthrough && o->normalize == 0 && par->codec_id == AV_CODEC_ID_MP3 &&
           v2m_media_nearest_rate(par->sample_rate) == par->sample_rate &&
           o->quality < 0 && o->bitrate_kbps == 0 && o->start <= 0 && o->end <= 0 &&
           (o->sample_rate == 0 || o->sample_rate == par->sample_rate) &&
           (o->channels == 0 || o->channels == par->ch_layout.nb_channels);
}

/* Back to a fresh decode pipeline for the encoding pass (the input is
 * opened again by the caller). */
static void reset_pipeline(v2m__conv *j)
{
    swr_free(&j->swr);
    av_channel_layout_uninit(&j->swr_layout);
    if (j->cvt)
        av_freep(&j->cvt[0]);
    av_freep(&j->cvt);
    j->cvt_cap = 0;
    v2m__close_encoder(j);
    v2m__meter_close(j);
    j->enc_pts = 0;
    j->frames_decoded = 0;
    j->next_time = 0;
    j->audio_out = 0;
    j->st->packets_skipped = 0;
}

/* The measuring pass: the whole (trimmed) audio through the same pipeline
 * into the EBU R128 meter; then the one static gain of the encoding pass:
 * to the target, but no further than a true peak of -1 dBTP. */
static v2m_err measure(v2m__conv *j, v2m_error *err)
{
    v2m_err rc;

    j->measuring = 1;
    j->pass_share = 0.5;
    rc = v2m__run_encode(j, err);
    j->measuring = 0;
    if (rc)
        return rc;
    double in = j->meter_i, tp = j->meter_tp, gain_db = 0;
    if (in > SILENCE_LUFS && isfinite(in)) {
        gain_db = j->o->normalize - in;
        if (isfinite(tp) && gain_db > PEAK_CEILING - tp)
            gain_db = PEAK_CEILING - tp;
    }
    j->st->loudness_in = isfinite(in) ? in : -HUGE_VAL;
    j->st->gain_db = gain_db;
    j->gain = (float)pow(10.0, gain_db / 20.0);
    V2M_LOG(V2M_DEBUG, "media loudness measured lufs=%.2f true_peak=%.2f target=%.1f gain=%.2f",
            in, tp, j->o->normalize, gain_db);
    reset_pipeline(j);
    j->pass_base = 0.5;
    return V2M_OK;
}

v2m_err v2m_media_convert(const v2m_media_io *in, const v2m_media_sink *out,
                          const v2m_media_opts *o, v2m_media_stats *stats, v2m_error *err)
{
    v2m_media_opts defaults;
    v2m_media_stats local;
    v2m__conv j;
    v2m_err rc;
    int reread = 0;

    v2m_error_clear(err);
    if (!o) {
        v2m_media_opts_init(&defaults);
        o = &defaults;
    }
    memset(&j, 0, sizeof j);
    j.o = o;
    j.st = stats ? stats : &local;
    memset(j.st, 0, sizeof *j.st);
    j.io = in;
    j.sink = out;
    j.gain = 1.0f;
    j.pass_share = 1.0;
    if (!in || !in->read || !out || !out->write)
        return v2m_fail(err, V2M_EINVAL, "input and output callbacks are required");
    if ((rc = check_opts(o, err)))
        return rc;
    if (o->normalize < 0 && !in->seek)
        return v2m_fail(err, V2M_EMEDIA_NOSEEK,
                        "normalizing the loudness needs a seekable input: the audio is read twice "
                        "(measured, then encoded)");
    v2m__avlog_install();

    j.pkt = av_packet_alloc();
    j.opkt = av_packet_alloc();
    j.frame = av_frame_alloc();
    if (!j.pkt || !j.opkt || !j.frame) {
        rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        goto out;
    }
    j.start = o->start > 0 ? o->start : 0;
    j.end = o->end > 0 ? o->end : -1;
    if ((rc = v2m__open_input(&j, err)) || (rc = check_stated_duration(&j, err)) ||
        (rc = v2m__find_cover(&j, &reread, err)))
        goto out;

    double duration = v2m__input_duration(&j);
    j.span = (j.end > 0 ? j.end : duration) - j.start;
    if (duration <= 0 && j.end <= 0)
        j.span = 0;
    j.st->span = j.span > 0 ? j.span : 0;

    if (o->normalize < 0) {
        if ((reread && (rc = v2m__reopen_input(&j, err))) || (rc = measure(&j, err)))
            goto out;
        reread = 1;
    }
    if ((reread && (rc = v2m__reopen_input(&j, err))) || (rc = v2m__open_muxer(&j, err)))
        goto out;

    if (wants_copy(&j))
        rc = run_copy(&j, err);
    else if (v2m__parallel_wanted(&j))
        rc = v2m__run_parallel(&j, err);
    else
        rc = v2m__run_encode(&j, err);
    if (rc == V2M_OK && o->progress)
        o->progress(o->progress_opaque, 1.0);

out:
    /* Whatever a demuxer made of a failed read (an early end, a stream with
     * no parameters), the cause is the input. */
    if (rc != V2M_OK && rc != V2M_ECANCELLED && rc != V2M_ENOMEM && j.in_io_failed)
        rc = v2m_fail(err, V2M_EIO, "reading the input failed");
    /* Likewise when it failed after a demuxer was refused another file or
     * URL: the input is a reference to something else, not a media file. */
    else if (rc != V2M_OK && rc != V2M_ECANCELLED && j.in_open_refused)
        rc = v2m_fail(err, V2M_EMEDIA_UNSUPPORTED, "input is not a supported video or audio file");
    if (rc == V2M_OK && j.st->packets_skipped > 0)
        V2M_LOG(V2M_WARN, "media corrupt packets skipped n=%lld codec=%s",
                (long long)j.st->packets_skipped, j.st->in_codec);
    if (rc == V2M_OK) {
        V2M_LOG(V2M_INFO, "media converted format=%s codec=%s mode=%s rate=%d channels=%d seconds=%.3f "
                "bytes_in=%lld bytes_out=%lld skipped=%lld xing=%d track=%d/%d cover=%d chapters=%d "
                "gain=%.2f",
                j.st->in_format, j.st->in_codec, j.st->passthrough ? "copy" : "encode",
                j.st->sample_rate, j.st->channels, j.st->duration, (long long)j.st->bytes_in,
                (long long)j.st->bytes_out, (long long)j.st->packets_skipped, j.st->xing, j.st->track,
                j.st->tracks, j.st->cover, j.st->chapters, j.st->gain_db);
    } else {
        V2M_LOG(V2M_DEBUG, "media conversion failed code=%d bytes_in=%lld", rc, (long long)j.st->bytes_in);
    }
    swr_free(&j.swr);
    av_channel_layout_uninit(&j.swr_layout);
    if (j.cvt)
        av_freep(&j.cvt[0]);
    av_freep(&j.cvt);
    av_packet_free(&j.pkt);
    av_packet_free(&j.opkt);
    av_frame_free(&j.frame);
    v2m__meter_close(&j);
    v2m__free_cover(&j);
    v2m__close_output(&j);
    v2m__close_input(&j);
    return rc;
}
