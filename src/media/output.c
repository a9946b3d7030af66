/* output.c - the MP3 side: libmp3lame encoder, mp3 muxer, ID3v2 tag.
 *
 * The muxer writes an ID3v2.4 tag, then (when the sink can seek) an empty
 * Xing/LAME frame that av_write_trailer() fills with the frame count, the
 * seek table and the encoder delay/padding, then the audio frames.
 */
#include "media/media_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Longest tag value copied from the source; keeps the ID3v2 tag (and so the
 * offset of the Xing frame) well below V2M_MEDIA_SINK_HEAD_MAX. */
#define TAG_MAX 1024

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

static int set_tag(AVDictionary **d, const char *key, const char *value, size_t len)
{
    char buf[TAG_MAX + 1];
    if (len > TAG_MAX) {
        len = TAG_MAX;
        while (len > 0 && ((unsigned char)value[len] & 0xC0) == 0x80)
            len--; /* do not cut a UTF-8 sequence */
    }
    memcpy(buf, value, len);
    buf[len] = '\0';
    return av_dict_set(d, key, buf, 0);
}

/* title/artist/album/date from the container or the audio stream; the
 * original file name (no folder, no extension) when there is no title. */
static int copy_tags(v2m__conv *j)
{
    static const char *const keys[] = {"title", "artist", "album", "date"};
    int r;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const AVDictionaryEntry *e = av_dict_get(j->ic->metadata, keys[i], NULL, 0);
        if (!e || !e->value[0])
            e = av_dict_get(j->ist->metadata, keys[i], NULL, 0);
        if (e && e->value[0] && (r = set_tag(&j->oc->metadata, keys[i], e->value, strlen(e->value))) < 0)
            return r;
    }
    if (!av_dict_get(j->oc->metadata, "title", NULL, 0) && j->o->filename) {
        const char *base = strrchr(j->o->filename, '/');
        base = base ? base + 1 : j->o->filename;
        const char *dot = strrchr(base, '.');
        size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        if (len > 0 && (r = set_tag(&j->oc->metadata, "title", base, len)) < 0)
            return r;
    }
    return 0;
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
    if ((r = copy_tags(j)) < 0)
        return mux_error(j, err, r, "id3 tag");
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
    enc->sample_fmt = encoder_format(first->format);
    enc->time_base = (AVRational){1, enc->sample_rate};
    if (o->bitrate_kbps > 0) {
        enc->bit_rate = (int64_t)o->bitrate_kbps * 1000;
    } else {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * (o->quality >= 0 ? o->quality : 2);
    }
    r = avcodec_open2(enc, codec, NULL);
    if (r < 0)
        return mux_error(j, err, r, "cannot open the mp3 encoder");

    r = avcodec_parameters_from_context(j->ost->codecpar, enc);
    if (r < 0)
        return mux_error(j, err, r, "mp3 stream");
    j->ost->time_base = enc->time_base;

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

void v2m__close_output(v2m__conv *j)
{
    avcodec_free_context(&j->enc);
    av_audio_fifo_free(j->fifo);
    j->fifo = NULL;
    av_frame_free(&j->eframe);
    if (j->oc) {
        j->oc->pb = NULL;
        avformat_free_context(j->oc);
        j->oc = NULL;
    }
    v2m__output_close(j);
}
