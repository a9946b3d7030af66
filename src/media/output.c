/* output.c - the MP3 side: libmp3lame encoder, mp3 muxer, ID3v2 tag.
 *
 * The muxer writes an ID3v2.4 tag (text frames, CHAP/CTOC chapters, the
 * APIC picture from a second, attached-picture stream), then (when the sink
 * can seek) an empty Xing/LAME frame that av_write_trailer() fills with the
 * frame count, the seek table and the encoder delay/padding, then the audio
 * frames.
 */
#include "media/media_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Longest tag value copied from the source, and the most bytes of tag
 * keys and values in all. With the chapters and the picture (cover.c) they
 * keep the ID3v2 tag, and so the offset of the Xing frame, below
 * V2M_MEDIA_SINK_HEAD_MAX (see V2M__ID3_BUDGET in media_int.h). */
#define TAG_MAX 1024
#define TAGS_TOTAL_MAX (16 * 1024)
/* Chapters: at most this many, with titles cut at this many bytes. */
#define CHAPTERS_MAX 64
#define CHAPTER_TITLE_MAX 200

const int v2m_media_rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 0};

int v2m_media_nearest_rate(int hz)
{
    int best = v2m_media_rates[0];
    for (int i = 1; v2m_media_rates[i]; i++) {
        long d = labs((long)v2m_media_rates[i] - hz), bd = labs((long)best - hz);
        if (d <= bd)
            best = v2m_media_rates[i];
    }
    return best;
}

static v2m_err mux_error(v2m__conv *j, v2m_error *err, int averr, const char *what)
{
    if (j->out_failed)
        return v2m_fail(err, V2M_EMEDIA_WRITE, "writing the output failed");
    if (averr == AVERROR(ENOMEM))
        return v2m_fail(err, V2M_ENOMEM, "%s: out of memory", what);
    return v2m_fail(err, V2M_EMEDIA_ENCODE, "%s: %s", what, av_err2str(averr));
}

/* Copy value (len bytes) under key, cut at max bytes on a UTF-8 boundary;
 * *total counts the bytes taken (NULL: not counted). 0, 1 when the total
 * is reached (the tag is left out), or a negative AVERROR. */
static int set_tag_max(AVDictionary **d, const char *key, const char *value, size_t len, size_t max,
                       size_t *total)
{
    char buf[TAG_MAX + 1];
    if (max > TAG_MAX)
        max = TAG_MAX;
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)value[len] & 0xC0) == 0x80)
            len--; /* do not cut a UTF-8 sequence */
    }
    if (total) {
        if (*total + strlen(key) + len > TAGS_TOTAL_MAX)
            return 1;
        *total += strlen(key) + len;
    }
    memcpy(buf, value, len);
    buf[len] = '\0';
    return av_dict_set(d, key, buf, 0);
}

/* The source tags an ID3v2.4 tag carries, by libavformat's generic names
 * (the mp3 muxer turns them into TIT2, TPE1, TALB, TPE2, TDRC, TCON, TRCK,
 * TPOS, TCOM, TLAN, TPE3, TPUB, TCOP, TIT1, TCMP, TSO*, the lyrics into
 * USLT text and the comment into a TXXX frame; libavformat reads them back
 * under the same names). encoded_by and encoder are the source's own
 * business and are left out; the muxer writes its TSSE. */
static const char *const tag_keys[] = {
    "title", "artist", "album", "album_artist", "date", "genre", "track", "disc",
    "composer", "comment", "language", "performer", "publisher", "copyright", "lyrics",
    "grouping", "compilation", "title-sort", "artist-sort", "album-sort",
};

/* A source tag: the container's, else the audio stream's. "lyrics" also
 * matches "lyrics-eng" (an ID3 USLT frame with its language). */
static const AVDictionaryEntry *source_tag(const v2m__conv *j, const char *key)
{
    int flags = strcmp(key, "lyrics") == 0 ? AV_DICT_IGNORE_SUFFIX : 0;
    const AVDictionaryEntry *e = av_dict_get(j->ic->metadata, key, NULL, flags);
    if (!e || !e->value[0])
        e = av_dict_get(j->ist->metadata, key, NULL, flags);
    if (e && strcmp(key, "language") == 0 && (!strcmp(e->value, "und") || !strcmp(e->value, "zxx")))
        return NULL; /* "undetermined", "no linguistic content": say nothing */
    return e && e->value[0] ? e : NULL;
}

/* The source's tags, the caller's title/artist/album over them, and the
 * original file name (no folder, no extension) when there is no title. */
static int copy_tags(v2m__conv *j)
{
    const char *const overrides[][2] = {
        {"title", j->o->title}, {"artist", j->o->artist}, {"album", j->o->album}};
    AVDictionary **d = &j->oc->metadata;
    size_t total = 0;
    int r;

    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
        const char *v = overrides[i][1];
        if (v && v[0] && (r = set_tag_max(d, overrides[i][0], v, strlen(v), TAG_MAX, &total)) < 0)
            return r;
    }
    for (size_t i = 0; i < sizeof tag_keys / sizeof tag_keys[0]; i++) {
        if (av_dict_get(*d, tag_keys[i], NULL, 0))
            continue; /* overridden */
        const AVDictionaryEntry *e = source_tag(j, tag_keys[i]);
        if (e && (r = set_tag_max(d, tag_keys[i], e->value, strlen(e->value), TAG_MAX, &total)) < 0)
            return r;
    }
    if (!av_dict_get(*d, "title", NULL, 0) && j->o->filename) {
        const char *base = strrchr(j->o->filename, '/');
        base = base ? base + 1 : j->o->filename;
        const char *dot = strrchr(base, '.');
        size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        if (len > 0 && (r = set_tag_max(d, "title", base, len, TAG_MAX, NULL)) < 0)
            return r;
    }
    return 0;
}

/* The source's chapters (MP4/Matroska chapters, ID3 CHAP), in output time:
 * shifted by the trim start and the input's time origin, clipped to the
 * trimmed span; the mp3 muxer writes them as ID3 CHAP frames with a CTOC. */
static int copy_chapters(v2m__conv *j)
{
    AVFormatContext *ic = j->ic, *oc = j->oc;
    double origin = (double)j->t0 * av_q2d(j->ist->time_base) + j->start;
    double len = (j->end > 0 ? j->end : v2m__input_duration(j)) - j->start; /* <= 0: unknown */

    for (unsigned i = 0; i < ic->nb_chapters && oc->nb_chapters < CHAPTERS_MAX; i++) {
        const AVChapter *c = ic->chapters[i];
        if (c->time_base.num <= 0 || c->time_base.den <= 0)
            continue;
        double s = (double)c->start * av_q2d(c->time_base) - origin;
        double e = (double)c->end * av_q2d(c->time_base) - origin;
        if (!isfinite(s) || !isfinite(e) || e <= 0 || (len > 0 && s >= len))
            continue;
        if (s < 0)
            s = 0;
        if (len > 0 && e > len)
            e = len;
        if (e <= s)
            continue;
        AVChapter *oc_ch = av_mallocz(sizeof *oc_ch);
        if (!oc_ch)
            return AVERROR(ENOMEM);
        oc_ch->id = oc->nb_chapters;
        oc_ch->time_base = (AVRational){1, 1000};
        oc_ch->start = llround(s * 1000);
        oc_ch->end = llround(e * 1000);
        const AVDictionaryEntry *t = av_dict_get(c->metadata, "title", NULL, 0);
        int r = t && t->value[0]
                    ? set_tag_max(&oc_ch->metadata, "title", t->value, strlen(t->value), CHAPTER_TITLE_MAX, NULL)
                    : 0;
        if (r >= 0)
            r = av_dynarray_add_nofree(&oc->chapters, (int *)&oc->nb_chapters, oc_ch);
        if (r < 0) {
            av_dict_free(&oc_ch->metadata);
            av_free(oc_ch);
            return r;
        }
    }
    j->st->chapters = (int)oc->nb_chapters;
    return 0;
}

/* The picture cover.c made or found, as a second stream: the mp3 muxer
 * writes an attached picture's packet as the ID3 APIC frame. */
static int add_cover_stream(v2m__conv *j)
{
    AVStream *st;
    if (!j->cover)
        return 0;
    if (!(st = avformat_new_stream(j->oc, NULL)))
        return AVERROR(ENOMEM);
    st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    st->codecpar->codec_id = j->cover_codec;
    st->codecpar->width = j->cover_w;
    st->codecpar->height = j->cover_h;
    st->disposition = AV_DISPOSITION_ATTACHED_PIC;
    st->time_base = (AVRational){1, 90000};
    j->cover_st = st;
    /* The APIC picture type: "Cover (front)" */
    return av_dict_set(&st->metadata, "comment", "Cover (front)", 0);
}

v2m_err v2m__open_muxer(v2m__conv *j, v2m_error *err)
{
    int r;

    if (v2m__output_open(j) < 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    r = avformat_alloc_output_context2(&j->oc, NULL, "mp3", NULL);
    if (r < 0)
        return mux_error(j, err, r, "mp3 muxer");
    j->oc->pb = j->out_pb;
    j->oc->flush_packets = 0; /* write whole buffers, not one syscall per MP3 frame */
    j->ost = avformat_new_stream(j->oc, NULL);
    if (!j->ost)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if ((r = copy_tags(j)) < 0 || (r = copy_chapters(j)) < 0)
        return mux_error(j, err, r, "id3 tag");
    if ((r = add_cover_stream(j)) < 0)
        return mux_error(j, err, r, "cover picture");
    return V2M_OK;
}

/* Header once the stream parameters are known (encoder open, or copied). */
v2m_err v2m__write_header(v2m__conv *j, v2m_error *err)
{
    int r = avformat_write_header(j->oc, NULL);
    if (r < 0)
        return mux_error(j, err, r, "mp3 header");
    j->header_written = 1;
    j->st->xing = j->sink->seek != NULL;
    if (j->cover_st) {
        /* Right after the header: the muxer holds back audio packets until
         * the picture came, then writes the APIC, ends the tag and writes
         * the Xing frame. */
        AVPacket *p = av_packet_clone(j->cover);
        if (!p)
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
        p->stream_index = j->cover_st->index;
        p->pts = p->dts = 0;
        p->pos = -1;
        p->flags |= AV_PKT_FLAG_KEY;
        r = av_write_frame(j->oc, p);
        av_packet_free(&p);
        if (r < 0 || j->out_failed)
            return mux_error(j, err, r, "cover picture");
    }
    return V2M_OK;
}

/* The encoder's input sample format closest to the decoder's output, so
 * that most sources need no sample conversion at all (AAC, Opus, Vorbis
 * and MP3 decode to float; PCM is often 16-bit). */
static enum AVSampleFormat encoder_format(int decoded)
{
    switch (av_get_packed_sample_fmt(decoded)) {
    case AV_SAMPLE_FMT_U8:
    case AV_SAMPLE_FMT_S16: return AV_SAMPLE_FMT_S16P;
    case AV_SAMPLE_FMT_S32: return AV_SAMPLE_FMT_S32P;
    default: return AV_SAMPLE_FMT_FLTP;
    }
}

v2m_err v2m__open_encoder(v2m__conv *j, const AVFrame *first, v2m_error *err)
{
    const v2m_media_opts *o = j->o;
    const AVCodec *codec = avcodec_find_encoder_by_name("libmp3lame");
    AVCodecContext *enc;
    int r, channels;

    if (!codec)
        return v2m_fail(err, V2M_EMEDIA_ENCODE, "the libmp3lame encoder is not available");
    enc = j->enc = avcodec_alloc_context3(codec);
    if (!enc)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");

    channels = o->channels > 0 ? o->channels : first->ch_layout.nb_channels == 1 ? 1 : 2;
    av_channel_layout_default(&enc->ch_layout, channels);
    enc->sample_rate = o->sample_rate > 0 ? o->sample_rate : v2m_media_nearest_rate(first->sample_rate);
    /* Normalizing applies its gain to float samples. */
    enc->sample_fmt = o->normalize < 0 ? AV_SAMPLE_FMT_FLTP : encoder_format(first->format);
    enc->time_base = (AVRational){1, enc->sample_rate};
    if (o->bitrate_kbps > 0) {
        enc->bit_rate = (int64_t)o->bitrate_kbps * 1000;
    } else {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * (o->quality >= 0 ? o->quality : 2);
    }
    AVDictionary *eo = NULL;
    if (j->seg_no_reservoir && av_dict_set(&eo, "reservoir", "0", 0) < 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    r = avcodec_open2(enc, codec, &eo);
    av_dict_free(&eo);
    if (r < 0)
        return mux_error(j, err, r, "cannot open the mp3 encoder");

    j->fifo = av_audio_fifo_alloc(enc->sample_fmt, channels, 4 * enc->frame_size);
    j->eframe = av_frame_alloc();
    if (!j->fifo || !j->eframe)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    j->eframe->nb_samples = enc->frame_size;
    j->eframe->format = enc->sample_fmt;
    j->eframe->sample_rate = enc->sample_rate;
    if ((r = av_channel_layout_copy(&j->eframe->ch_layout, &enc->ch_layout)) < 0 ||
        (r = av_frame_get_buffer(j->eframe, 0)) < 0)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");

    j->st->sample_rate = enc->sample_rate;
    j->st->channels = channels;
    V2M_LOG(V2M_DEBUG, "media encoder rate=%d channels=%d fmt=%s mode=%s frame=%d",
            enc->sample_rate, channels, av_get_sample_fmt_name(enc->sample_fmt),
            o->bitrate_kbps > 0 ? "cbr" : "vbr", enc->frame_size);
    if (j->measuring) /* the same frames, to the loudness meter */
        return v2m__meter_open(j, err);
    if (j->seg) { /* a segment: its frames go to the joiner (parallel.c) */
        v2m__seg_encoder_opened(j);
        return V2M_OK;
    }
    r = avcodec_parameters_from_context(j->ost->codecpar, enc);
    if (r < 0)
        return mux_error(j, err, r, "mp3 stream");
    j->ost->time_base = enc->time_base;
    return v2m__write_header(j, err);
}

/* Copy mode: the output stream takes the source's MP3 parameters. */
v2m_err v2m__open_copy(v2m__conv *j, v2m_error *err)
{
    int r = avcodec_parameters_copy(j->ost->codecpar, j->ist->codecpar);
    if (r < 0)
        return mux_error(j, err, r, "mp3 stream");
    j->ost->codecpar->codec_tag = 0;
    j->ost->time_base = (AVRational){1, j->ist->codecpar->sample_rate};
    j->st->sample_rate = j->ist->codecpar->sample_rate;
    j->st->channels = j->ist->codecpar->ch_layout.nb_channels;
    j->st->passthrough = 1;
    return v2m__write_header(j, err);
}

v2m_err v2m__write_packet(v2m__conv *j, AVPacket *pkt, v2m_error *err)
{
    pkt->stream_index = j->ost->index;
    pkt->pos = -1;
    int r = av_write_frame(j->oc, pkt);
    av_packet_unref(pkt);
    if (r < 0 || j->out_failed)
        return mux_error(j, err, r, "writing an mp3 frame");
    return V2M_OK;
}

/* Send one frame (NULL: flush) and write every packet that comes out. */
v2m_err v2m__encode(v2m__conv *j, AVFrame *frame, v2m_error *err)
{
    int r = avcodec_send_frame(j->enc, frame);
    if (r < 0)
        return mux_error(j, err, r, "mp3 encoder");
    for (;;) {
        r = avcodec_receive_packet(j->enc, j->opkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return V2M_OK;
        if (r < 0)
            return mux_error(j, err, r, "mp3 encoder");
        if (j->seg) {
            v2m_err rc = v2m__seg_frame(j, j->opkt, err);
            if (rc)
                return rc;
            continue;
        }
        av_packet_rescale_ts(j->opkt, j->enc->time_base, j->ost->time_base);
        v2m_err rc = v2m__write_packet(j, j->opkt, err);
        if (rc)
            return rc;
    }
}

/* Trailer (fills the Xing/LAME frame), then leave the sink at the end. */
v2m_err v2m__finish_output(v2m__conv *j, v2m_error *err)
{
    int r = av_write_trailer(j->oc);
    j->header_written = 0;
    if (r < 0 || j->out_failed)
        return mux_error(j, err, r, "mp3 trailer");
    avio_flush(j->out_pb);
    if (!j->out_failed && j->out_pos != j->out_size &&
        (!j->sink->seek || j->sink->seek(j->sink->opaque, j->out_size) < 0))
        j->out_failed = 1;
    if (j->out_failed)
        return v2m_fail(err, V2M_EMEDIA_WRITE, "writing the output failed");
    j->out_pos = j->out_size;
    j->st->bytes_out = j->out_size;
    return V2M_OK;
}

void v2m__close_encoder(v2m__conv *j)
{
    avcodec_free_context(&j->enc);
    av_audio_fifo_free(j->fifo);
    j->fifo = NULL;
    av_frame_free(&j->eframe);
}

void v2m__close_output(v2m__conv *j)
{
    v2m__close_encoder(j);
    if (j->oc) {
        j->oc->pb = NULL;
        avformat_free_context(j->oc);
        j->oc = NULL;
    }
    v2m__output_close(j);
}
