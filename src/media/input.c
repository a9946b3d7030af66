/* input.c - recognise the input, choose its audio stream, open the decoder.
 *
 * Errors are sorted here by what went wrong, so the user hears "not a media
 * file" for a text file, "truncated or corrupt" for a recognised file that
 * cannot be read, and "no audio stream" for a silent video.
 */
#include "media/media_int.h"

#include <stdio.h>
#include <string.h>

#include <libavutil/bprint.h>

#include "common/log.h"

/* A probe score below this is a guess from a few stray bytes (random data
 * often looks like one or two MPEG audio frame headers). */
#define MIN_PROBE_SCORE AVPROBE_SCORE_RETRY

/* The only demuxers an input may use: the containers of the video and audio
 * files people have, by libavformat's names (`ffmpeg -demuxers`), each whole
 * as the probe reports it. Everything else is refused with
 * V2M_EMEDIA_UNSUPPORTED: above all the demuxers that open what the input
 * names (playlists and scripts: concat, hls, dash; stream descriptions: sdp,
 * rtp, rtsp; image sequences: image2), but also images, subtitles and raw
 * codec streams, which carry no audio, and the rarer containers, which only
 * add code an upload could reach. Keep docs/MEDIA.md in step. */
static const char *const allowed_demuxers[] = {
    "mov,mp4,m4a,3gp,3g2,mj2", /* MP4, MOV, M4A, 3GP */
    "matroska,webm",           /* MKV, MKA, WebM */
    "avi",
    "flv", "live_flv",         /* Flash video (live_flv: recordings of RTMP servers) */
    "mpegts",                  /* MPEG-TS, M2TS/MTS (camcorders) */
    "mpeg",                    /* MPEG-PS: MPG, VOB, MOD */
    "asf",                     /* WMV, WMA */
    "rm",                      /* RealMedia, RMVB */
    "dv",                      /* DV (camcorders) */
    "ogg",                     /* Ogg Vorbis/Opus/FLAC, OGV */
    "wav", "w64",              /* WAV (also RF64/BW64), Sony Wave64 */
    "aiff", "caf",
    "mp3",
    "aac",                     /* AAC in ADTS */
    "flac",
    "ac3", "eac3", "dts",
    "amr",                     /* AMR-NB/WB with the #!AMR header (3GP voice memos) */
    "wv", "ape",               /* WavPack, Monkey's Audio */
};

/* No protocol has this name: as libavformat's protocol_whitelist it lets
 * none through (libavformat checks the list whenever a demuxer opens a URL
 * by itself, e.g. the UDP ports of an SDP description). */
#define NO_PROTOCOLS "none"

static int demuxer_allowed(const char *name)
{
    for (size_t i = 0; i < sizeof allowed_demuxers / sizeof allowed_demuxers[0]; i++)
        if (strcmp(name, allowed_demuxers[i]) == 0)
            return 1;
    return 0;
}

/* The list again as libavformat's format_whitelist ("a,b,c"), which it
 * checks on its own before a demuxer runs. */
static char *format_whitelist(void)
{
    AVBPrint bp;
    char *s = NULL;

    av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
    for (size_t i = 0; i < sizeof allowed_demuxers / sizeof allowed_demuxers[0]; i++)
        av_bprintf(&bp, "%s%s", i ? "," : "", allowed_demuxers[i]);
    if (!av_bprint_is_complete(&bp) || av_bprint_finalize(&bp, &s) < 0)
        return NULL;
    return s;
}

/* The demuxer's way to open anything besides the input (another file, a
 * URL, a segment of a playlist): always refused. The input itself comes
 * through the caller's callbacks and never through here. */
static int refuse_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                       AVDictionary **options)
{
    v2m__conv *j = s->opaque;
    (void)flags;
    (void)options;
    *pb = NULL;
    j->in_open_refused = 1;
    V2M_LOG(V2M_DEBUG, "media input asked to open another file or URL, refused url=\"%.100s\"",
            url ? url : "");
    return AVERROR(EPERM);
}

static v2m_err unsupported(v2m_error *err)
{
    return v2m_fail(err, V2M_EMEDIA_UNSUPPORTED, "input is not a supported video or audio file");
}

v2m_err v2m__read_error(v2m__conv *j, v2m_error *err, int averr, const char *what)
{
    if (averr == AVERROR(ENOMEM))
        return v2m_fail(err, V2M_ENOMEM, "out of memory (%s)", what);
    if (j->in_io_failed)
        return v2m_fail(err, V2M_EIO, "reading the input failed (%s)", what);
    if (j->in_open_refused)
        return unsupported(err);
    if (j->in_seek_refused)
        return v2m_fail(err, V2M_EMEDIA_NOSEEK,
                        "input must be seekable to read this %s file (its index is not at the start)",
                        j->st->in_format);
    return v2m_fail(err, V2M_EMEDIA_CORRUPT, "input is truncated or corrupt (%s: %s, at byte %lld)",
                    what, av_err2str(averr), (long long)(j->in_pb ? avio_tell(j->in_pb) : 0));
}

static void copy_name(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Streams that are not audio are dropped by the demuxer from now on: for
 * MP4 their samples are never even read. */
static void discard_all_but(AVFormatContext *ic, int keep_audio, int keep_index)
{
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVStream *s = ic->streams[i];
        int keep = keep_index >= 0 ? (int)i == keep_index
                                   : keep_audio && s->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
        s->discard = keep ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    }
}

/* Phase 1: which demuxer the input is for, refusing what is not media or
 * not allowed. */
static v2m_err probe_format(v2m__conv *j, const AVInputFormat **fmt, v2m_error *err)
{
    int r = av_probe_input_buffer2(j->in_pb, fmt, "", NULL, 0, 0);

    if (r < 0 || !*fmt) {
        if (j->in_io_failed)
            return v2m_fail(err, V2M_EIO, "reading the input failed");
        if (j->st->bytes_in == 0)
            return v2m_fail(err, V2M_EMEDIA_EMPTY, "input is empty");
        return v2m_fail(err, V2M_EMEDIA_NOTMEDIA, "input is not a media file");
    }
    if (r < MIN_PROBE_SCORE)
        return v2m_fail(err, V2M_EMEDIA_NOTMEDIA,
                        "input is not a media file (at best it looks like %s, score %d)",
                        (*fmt)->name, r);
    copy_name(j->st->in_format, sizeof j->st->in_format, (*fmt)->name);
    if (!demuxer_allowed((*fmt)->name)) {
        V2M_LOG(V2M_INFO, "media input refused format=%s score=%d", (*fmt)->name, r);
        return unsupported(err);
    }
    /* MP4/MOV: the demuxer reads each audio sample at its own offset. Read
     * those directly (one read per sample, a seek over the video between)
     * rather than stream the whole file through the buffer, most of it video.
     * Not for the others: MPEG-TS, for one, reads 188 bytes at a time. */
    if (j->io->seek && strcmp((*fmt)->name, "mov,mp4,m4a,3gp,3g2,mj2") == 0)
        j->in_pb->direct = 1;
    return V2M_OK;
}

/* Phase 2: open the demuxer on the input (j->ic) and read the parameters of
 * its streams. */
static v2m_err open_demuxer(v2m__conv *j, const AVInputFormat *fmt, v2m_error *err)
{
    AVFormatContext *ic = avformat_alloc_context();
    int r, has_audio = 0;

    if (!ic)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    ic->pb = j->in_pb;
    ic->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_DISCARD_CORRUPT;
    /* Nothing but the input: no other demuxer, no protocol, no nested open
     * (the whitelists are freed with ic). */
    ic->opaque = j;
    ic->io_open = refuse_open;
    ic->format_whitelist = format_whitelist();
    ic->protocol_whitelist = av_strdup(NO_PROTOCOLS);
    if (!ic->format_whitelist || !ic->protocol_whitelist) {
        avformat_free_context(ic);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    r = avformat_open_input(&ic, "", fmt, NULL); /* frees ic on failure */
    if (r < 0)
        return v2m__read_error(j, err, r, "opening it");
    j->ic = ic;

    /* Skip probing the video: only audio is worth the stream-info pass. */
    for (unsigned i = 0; i < ic->nb_streams; i++)
        has_audio |= ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
    if (has_audio)
        discard_all_but(ic, 1, -1);
    r = avformat_find_stream_info(ic, NULL);
    if (r < 0)
        return v2m__read_error(j, err, r, "reading its stream parameters");
    return V2M_OK;
}

/* Phase 3: the audio stream to convert (j->ist), described in j->st. */
static v2m_err pick_audio(v2m__conv *j, const AVInputFormat *fmt, v2m_error *err)
{
    AVFormatContext *ic = j->ic;
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);

    if (si == AVERROR_DECODER_NOT_FOUND) {
        si = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
        const AVCodecParameters *par = si >= 0 ? ic->streams[si]->codecpar : NULL;
        if (!par || par->codec_id == AV_CODEC_ID_NONE)
            return v2m_fail(err, V2M_EMEDIA_CODEC, "unsupported audio codec (unknown, tag 0x%04x)",
                            par ? par->codec_tag : 0);
        copy_name(j->st->in_codec, sizeof j->st->in_codec, avcodec_get_name(par->codec_id));
        return v2m_fail(err, V2M_EMEDIA_CODEC, "unsupported audio codec %s", j->st->in_codec);
    }
    if (si < 0)
        return v2m_fail(err, V2M_EMEDIA_NOAUDIO, "input has no audio stream");
    discard_all_but(ic, 0, si);
    j->ist = ic->streams[si];

    const AVCodecParameters *par = j->ist->codecpar;
    copy_name(j->st->in_codec, sizeof j->st->in_codec, avcodec_get_name(par->codec_id));
    j->st->in_sample_rate = par->sample_rate;
    j->st->in_channels = par->ch_layout.nb_channels;
    if (ic->start_time != AV_NOPTS_VALUE)
        j->t0 = av_rescale_q(ic->start_time, AV_TIME_BASE_Q, j->ist->time_base);
    else if (j->ist->start_time != AV_NOPTS_VALUE)
        j->t0 = j->ist->start_time;

    V2M_LOG(V2M_DEBUG, "media input format=%s stream=%d codec=%s rate=%d channels=%d size=%lld",
            fmt->name, si, j->st->in_codec, par->sample_rate, par->ch_layout.nb_channels,
            (long long)j->in_size);
    return V2M_OK;
}

v2m_err v2m__open_input(v2m__conv *j, v2m_error *err)
{
    const AVInputFormat *fmt = NULL;
    v2m_err rc;

    if (v2m__input_open(j) < 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (j->in_size == 0)
        return v2m_fail(err, V2M_EMEDIA_EMPTY, "input is empty");
    if ((rc = probe_format(j, &fmt, err)) || (rc = open_demuxer(j, fmt, err)))
        return rc;
    return pick_audio(j, fmt, err);
}

v2m_err v2m__open_decoder(v2m__conv *j, v2m_error *err)
{
    const AVCodec *codec = avcodec_find_decoder(j->ist->codecpar->codec_id);
    int r;

    if (!codec)
        return v2m_fail(err, V2M_EMEDIA_CODEC, "unsupported audio codec %s", j->st->in_codec);
    j->dec = avcodec_alloc_context3(codec);
    if (!j->dec)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    r = avcodec_parameters_to_context(j->dec, j->ist->codecpar);
    if (r < 0)
        return v2m_fail(err, V2M_EMEDIA_CODEC, "%s decoder: %s", j->st->in_codec, av_err2str(r));
    j->dec->pkt_timebase = j->ist->time_base;
    j->dec->thread_count = 1;
    r = avcodec_open2(j->dec, codec, NULL);
    if (r < 0)
        return v2m_fail(err, V2M_EMEDIA_CODEC, "cannot open the %s decoder: %s",
                        j->st->in_codec, av_err2str(r));
    return V2M_OK;
}

/* Seconds the chosen stream (else the file) says it lasts; <= 0 unknown. */
double v2m__stated_duration(const v2m__conv *j)
{
    if (j->ic->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE)
        return 0;
    return v2m__input_duration(j);
}

double v2m__input_duration(const v2m__conv *j)
{
    if (j->ist->duration > 0)
        return (double)j->ist->duration * av_q2d(j->ist->time_base);
    if (j->ic->duration > 0)
        return (double)j->ic->duration / AV_TIME_BASE;
    return 0;
}

void v2m__close_input(v2m__conv *j)
{
    avcodec_free_context(&j->dec);
    avformat_close_input(&j->ic);
    v2m__input_close(j);
}
