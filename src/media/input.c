/* input.c - recognise the input, choose its audio stream, open the decoder.
 *
 * Errors are sorted here by what went wrong, so the user hears "not a media
 * file" for a text file, "truncated or corrupt" for a recognised file that
 * cannot be read, and "no audio stream" for a silent video.
 */
#include "media/media_int.h"

#include <stdio.h>
#include <string.h>

#include <libavutil/avstring.h>
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

/* ISO 639 codes of the languages people tag audio tracks with: 639-1,
 * 639-2/B, 639-2/T (the same as /B for most). A tag or an option in any of
 * the three forms names the language of its row; a code not in the table
 * matches only itself (case aside). libavformat has such a table, but not
 * in its public API. */
static const char *const languages[][3] = {
    {"ar", "ara", "ara"}, {"bg", "bul", "bul"}, {"bn", "ben", "ben"}, {"ca", "cat", "cat"},
    {"cs", "cze", "ces"}, {"cy", "wel", "cym"}, {"da", "dan", "dan"}, {"de", "ger", "deu"},
    {"el", "gre", "ell"}, {"en", "eng", "eng"}, {"es", "spa", "spa"}, {"et", "est", "est"},
    {"eu", "baq", "eus"}, {"fa", "per", "fas"}, {"fi", "fin", "fin"}, {"fr", "fre", "fra"},
    {"ga", "gle", "gle"}, {"he", "heb", "heb"}, {"hi", "hin", "hin"}, {"hr", "hrv", "hrv"},
    {"hu", "hun", "hun"}, {"hy", "arm", "hye"}, {"id", "ind", "ind"}, {"is", "ice", "isl"},
    {"it", "ita", "ita"}, {"ja", "jpn", "jpn"}, {"ka", "geo", "kat"}, {"ko", "kor", "kor"},
    {"lt", "lit", "lit"}, {"lv", "lav", "lav"}, {"mk", "mac", "mkd"}, {"ms", "may", "msa"},
    {"my", "bur", "mya"}, {"nl", "dut", "nld"}, {"no", "nor", "nor"}, {"nb", "nob", "nob"},
    {"nn", "nno", "nno"}, {"pl", "pol", "pol"}, {"pt", "por", "por"}, {"ro", "rum", "ron"},
    {"ru", "rus", "rus"}, {"sk", "slo", "slk"}, {"sl", "slv", "slv"}, {"sq", "alb", "sqi"},
    {"sr", "srp", "srp"}, {"sv", "swe", "swe"}, {"ta", "tam", "tam"}, {"th", "tha", "tha"},
    {"bo", "tib", "bod"}, {"tr", "tur", "tur"}, {"uk", "ukr", "ukr"}, {"ur", "urd", "urd"},
    {"vi", "vie", "vie"}, {"zh", "chi", "zho"}, {"mi", "mao", "mri"},
};

/* The row of code in languages[] (the part before any "-" or "_": "en-US"
 * is "en"), or -1. */
static int language_row(const char *code, size_t len)
{
    for (size_t i = 0; i < sizeof languages / sizeof languages[0]; i++)
        for (int k = 0; k < 3; k++)
            if (strlen(languages[i][k]) == len && av_strncasecmp(code, languages[i][k], len) == 0)
                return (int)i;
    return -1;
}

static size_t language_len(const char *code)
{
    size_t n = strcspn(code, "-_");
    return n;
}

/* Does the language tag of a stream name the language asked for? */
static int language_matches(const char *tag, const char *want)
{
    size_t tl = language_len(tag), wl = language_len(want);
    if (!tl || !wl)
        return 0;
    if (tl == wl && av_strncasecmp(tag, want, tl) == 0)
        return 1;
    int a = language_row(tag, tl), b = language_row(want, wl);
    return a >= 0 && a == b;
}

static const char *stream_language(const AVStream *s)
{
    const AVDictionaryEntry *e = av_dict_get(s->metadata, "language", NULL, 0);
    return e && e->value[0] ? e->value : NULL;
}

/* The stream asked for by o->track or o->language, or by neither (-1: let
 * av_find_best_stream choose); < 0 with err set when there is none. */
static int wanted_stream(v2m__conv *j, v2m_err *rc, v2m_error *err)
{
    AVFormatContext *ic = j->ic;
    const char *lang = j->o->language && j->o->language[0] ? j->o->language : NULL;
    int n = 0;

    *rc = V2M_OK;
    if (j->o->track <= 0 && !lang)
        return -1;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVStream *s = ic->streams[i];
        if (s->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
            continue;
        n++;
        if (j->o->track > 0 ? n == j->o->track : stream_language(s) && language_matches(stream_language(s), lang))
            return (int)i;
    }
    if (n == 0) {
        *rc = v2m_fail(err, V2M_EMEDIA_NOAUDIO, "input has no audio stream");
        return -2;
    }
    if (j->o->track > 0) {
        *rc = v2m_fail(err, V2M_EMEDIA_NOAUDIO, "no audio track %d: the file has %d", j->o->track, n);
        return -2;
    }
    /* "the file has eng, fre" (the tags as the file writes them) */
    char have[160] = "";
    size_t used = 0;
    for (unsigned i = 0; i < ic->nb_streams && used + 16 < sizeof have; i++) {
        const AVStream *s = ic->streams[i];
        if (s->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
            continue;
        const char *t = stream_language(s);
        int w = snprintf(have + used, sizeof have - used, "%s%.8s", used ? ", " : "", t ? t : "(untagged)");
        if (w > 0)
            used += (size_t)w < sizeof have - used ? (size_t)w : sizeof have - used - 1;
    }
    *rc = v2m_fail(err, V2M_EMEDIA_NOAUDIO, "no audio track in language '%.16s': the file has %s", lang,
                   have);
    return -2;
}

/* Phase 3: the audio stream to convert (j->ist), described in j->st. */
static v2m_err pick_audio(v2m__conv *j, const AVInputFormat *fmt, v2m_error *err)
{
    AVFormatContext *ic = j->ic;
    const AVCodec *codec = NULL;
    v2m_err rc;
    int si = wanted_stream(j, &rc, err);

    if (rc)
        return rc;
    if (si >= 0) {
        codec = avcodec_find_decoder(ic->streams[si]->codecpar->codec_id);
        if (!codec) {
            const AVCodecParameters *par = ic->streams[si]->codecpar;
            if (par->codec_id == AV_CODEC_ID_NONE)
                return v2m_fail(err, V2M_EMEDIA_CODEC, "unsupported audio codec (unknown, tag 0x%04x)",
                                par->codec_tag);
            copy_name(j->st->in_codec, sizeof j->st->in_codec, avcodec_get_name(par->codec_id));
            return v2m_fail(err, V2M_EMEDIA_CODEC, "unsupported audio codec %s", j->st->in_codec);
        }
    } else {
        si = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    }

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

    /* Its place among the audio streams, in file order. */
    j->st->tracks = 0;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        if (ic->streams[i]->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
            continue;
        j->st->tracks++;
        if ((int)i == si)
            j->st->track = j->st->tracks;
    }
    const char *lang = stream_language(j->ist);
    copy_name(j->st->language, sizeof j->st->language, lang && strcmp(lang, "und") ? lang : NULL);

    const AVCodecParameters *par = j->ist->codecpar;
    copy_name(j->st->in_codec, sizeof j->st->in_codec, avcodec_get_name(par->codec_id));
    j->st->in_sample_rate = par->sample_rate;
    j->st->in_channels = par->ch_layout.nb_channels;
    if (ic->start_time != AV_NOPTS_VALUE)
        j->t0 = av_rescale_q(ic->start_time, AV_TIME_BASE_Q, j->ist->time_base);
    else if (j->ist->start_time != AV_NOPTS_VALUE)
        j->t0 = j->ist->start_time;

    V2M_LOG(V2M_DEBUG, "media input format=%s stream=%d track=%d/%d lang=%s codec=%s rate=%d channels=%d size=%lld",
            fmt->name, si, j->st->track, j->st->tracks, j->st->language[0] ? j->st->language : "-",
            j->st->in_codec, par->sample_rate, par->ch_layout.nb_channels, (long long)j->in_size);
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

/* Read the input once more from its first byte: a fresh demuxer (the same
 * allow-list, whitelists and refusals), the same stream chosen again. */
v2m_err v2m__reopen_input(v2m__conv *j, v2m_error *err)
{
    avcodec_free_context(&j->dec);
    avformat_close_input(&j->ic);
    v2m__input_close(j);
    j->ist = NULL;
    j->t0 = 0;
    if (!j->io->seek)
        return v2m_fail(err, V2M_EMEDIA_NOSEEK, "input must be seekable to be read twice");
    if (j->io->seek(j->io->opaque, 0, SEEK_SET) != 0) {
        j->in_io_failed = 1;
        return v2m_fail(err, V2M_EIO, "reading the input failed (seeking back to its start)");
    }
    return v2m__open_input(j, err);
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
