/* cover.c - the picture written as the MP3's ID3 APIC frame (o->cover).
 *
 * In order of preference:
 *  1. the source's attached picture (AV_DISPOSITION_ATTACHED_PIC: an MP4
 *     `covr`, a Matroska image attachment, an MP3's own APIC), copied as it
 *     is when it is a JPEG or PNG of at most COVER_KEEP_MAX bytes, else
 *     decoded and made a JPEG of at most COVER_SIDE px on its longer side;
 *  2. for a video, one frame from about 10 % in (a seek of the input, so
 *     only with a seek callback), the same JPEG.
 * The picture is the demuxer's packet (no I/O) in case 1; case 2 reads the
 * input through the same demuxer as the audio, which is then opened again
 * from the start (v2m__reopen_input). Hostile input: only image decoders
 * for case 1, dimensions checked before and after decoding (COVER_MAX_SIDE,
 * COVER_MAX_PIXELS), and case 2 reads at most GRAB_MAX_PACKETS packets and
 * GRAB_MAX_BYTES bytes for at most GRAB_MAX_SECONDS. Whatever goes wrong,
 * the MP3 just has no picture.
 */
#include "media/media_int.h"

#include <string.h>
#include <time.h>

#include <libswscale/swscale.h>

#include "common/log.h"

#define COVER_KEEP_MAX (150 * 1024)     /* a bigger source picture is scaled down */
#define COVER_SIDE 600                  /* longer side of a picture we make */
#define COVER_QUALITY 3                 /* MJPEG qscale (2 best .. 31) */
#define COVER_MAX_SIDE 16384            /* pictures and frames larger than this are refused */
#define COVER_MAX_PIXELS (7680 * 4320)     /* 8K UHD; a 4-byte RGBA picture of it is 133 MB */
#define GRAB_AT 0.10                    /* where the frame is taken, as a fraction of the duration */
#define GRAB_MAX_PACKETS 600
#define GRAB_MAX_BYTES (64 * 1024 * 1024)
#define GRAB_MAX_SECONDS 10.0
#define NOMEM (-1)                      /* out of memory, from the helpers below */

static int size_ok(int w, int h)
{
    return w > 0 && h > 0 && w <= COVER_MAX_SIDE && h <= COVER_MAX_SIDE &&
           (int64_t)w * h <= COVER_MAX_PIXELS;
}

static int cancelled(const v2m__conv *j)
{
    return j->o->cancel && atomic_load_explicit(j->o->cancel, memory_order_relaxed);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A decoder for a picture or video stream, single-threaded, bounded. */
static AVCodecContext *open_decoder(const AVStream *s)
{
    const AVCodec *codec = avcodec_find_decoder(s->codecpar->codec_id);
    AVCodecContext *dec;
    if (!codec || !(dec = avcodec_alloc_context3(codec)))
        return NULL;
    if (avcodec_parameters_to_context(dec, s->codecpar) < 0)
        goto fail;
    dec->pkt_timebase = s->time_base;
    dec->thread_count = 1;
    dec->max_pixels = COVER_MAX_PIXELS;
    if (avcodec_open2(dec, codec, NULL) < 0)
        goto fail;
    return dec;
fail:
    avcodec_free_context(&dec);
    return NULL;
}

/* f scaled to at most COVER_SIDE px, as a JPEG in j->cover. 0, 1 when it
 * cannot be done (no picture), or NOMEM. */
static int make_jpeg(v2m__conv *j, const AVFrame *f)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *enc = NULL;
    struct SwsContext *sws = NULL;
    AVFrame *scaled = NULL;
    AVPacket *pkt = NULL;
    int w = f->width, h = f->height, ow = w, oh = h, rc = 1, r;

    if (!codec || !size_ok(w, h) || f->format < 0)
        return 1;
    if (w >= h && w > COVER_SIDE) {
        ow = COVER_SIDE;
        oh = (int)((int64_t)h * COVER_SIDE / w);
    } else if (h > w && h > COVER_SIDE) {
        oh = COVER_SIDE;
        ow = (int)((int64_t)w * COVER_SIDE / h);
    }
    ow = ow < 2 ? 2 : ow & ~1; /* 4:2:0 wants even sides */
    oh = oh < 2 ? 2 : oh & ~1;

    scaled = av_frame_alloc();
    pkt = av_packet_alloc();
    enc = avcodec_alloc_context3(codec);
    if (!scaled || !pkt || !enc) {
        rc = NOMEM;
        goto out;
    }
    /* The full-range ("J") 4:2:0 the MJPEG encoder takes; swscale also
     * converts a video's limited range to it. */
    sws = sws_getContext(w, h, f->format, ow, oh, AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws)
        goto out;
    scaled->format = AV_PIX_FMT_YUVJ420P;
    scaled->width = ow;
    scaled->height = oh;
    if (av_frame_get_buffer(scaled, 0) < 0) {
        rc = NOMEM;
        goto out;
    }
    if (sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, h, scaled->data,
                  scaled->linesize) != oh)
        goto out;
    enc->width = ow;
    enc->height = oh;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->time_base = (AVRational){1, 25};
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * COVER_QUALITY;
    enc->thread_count = 1;
    if (avcodec_open2(enc, codec, NULL) < 0)
        goto out;
    scaled->pts = 0;
    scaled->quality = enc->global_quality;
    if (avcodec_send_frame(enc, scaled) < 0 || avcodec_send_frame(enc, NULL) < 0 ||
        (r = avcodec_receive_packet(enc, pkt)) < 0)
        goto out;
    if (pkt->size > V2M__COVER_MAX) {
        V2M_LOG(V2M_DEBUG, "media cover too big bytes=%d", pkt->size);
        goto out;
    }
    av_packet_free(&j->cover);
    j->cover = pkt;
    pkt = NULL;
    j->cover_codec = AV_CODEC_ID_MJPEG;
    j->cover_w = ow;
    j->cover_h = oh;
    rc = 0;
out:
    av_packet_free(&pkt);
    avcodec_free_context(&enc);
    sws_freeContext(sws);
    av_frame_free(&scaled);
    return rc;
}

/* Image codecs a source picture may be decoded with (it is an upload). */
static int image_codec(enum AVCodecID id)
{
    return id == AV_CODEC_ID_MJPEG || id == AV_CODEC_ID_PNG || id == AV_CODEC_ID_BMP ||
           id == AV_CODEC_ID_GIF || id == AV_CODEC_ID_WEBP || id == AV_CODEC_ID_TIFF;
}

/* Case 1: the source's attached picture. 0 = taken, 1 = none usable. */
static int attached_picture(v2m__conv *j)
{
    AVFormatContext *ic = j->ic;

    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVStream *s = ic->streams[i];
        const AVCodecParameters *par = s->codecpar;
        const AVPacket *pic = &s->attached_pic;
        if (!(s->disposition & AV_DISPOSITION_ATTACHED_PIC) || pic->size <= 0 ||
            par->codec_type != AVMEDIA_TYPE_VIDEO || !image_codec(par->codec_id))
            continue;
        if (par->width > COVER_MAX_SIDE || par->height > COVER_MAX_SIDE)
            continue;
        if ((par->codec_id == AV_CODEC_ID_MJPEG || par->codec_id == AV_CODEC_ID_PNG) &&
            pic->size <= COVER_KEEP_MAX) {
            if (!(j->cover = av_packet_clone(pic)))
                return NOMEM;
            j->cover_codec = par->codec_id;
            j->cover_w = par->width;
            j->cover_h = par->height;
            return 0;
        }
        /* Too big, or not a JPEG/PNG: decode it and make our JPEG. */
        AVCodecContext *dec = open_decoder(s);
        AVFrame *f = av_frame_alloc();
        int rc = 1;
        if (dec && f && avcodec_send_packet(dec, pic) >= 0) {
            avcodec_send_packet(dec, NULL);
            if (avcodec_receive_frame(dec, f) >= 0)
                rc = make_jpeg(j, f);
        }
        av_frame_free(&f);
        avcodec_free_context(&dec);
        if (rc == 0 || rc == NOMEM)
            return rc;
    }
    return 1;
}

/* Case 2: one frame of the video from about 10 % in. 0 = taken, 1 = none,
 * NOMEM. The demuxer's position has moved either way. */
static int video_frame(v2m__conv *j, int vs)
{
    AVFormatContext *ic = j->ic;
    AVStream *s = ic->streams[vs];
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int64_t bytes0 = j->st->bytes_in;
    double t_end = now() + GRAB_MAX_SECONDS;
    int rc = 1, r;

    if (!pkt || !f) {
        rc = NOMEM;
        goto out;
    }
    if (!(dec = open_decoder(s)))
        goto out;
    for (unsigned i = 0; i < ic->nb_streams; i++)
        ic->streams[i]->discard = (int)i == vs ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    if (ic->duration > 0) {
        int64_t ts = (int64_t)(ic->duration * GRAB_AT);
        if (ic->start_time != AV_NOPTS_VALUE)
            ts += ic->start_time;
        r = avformat_seek_file(ic, -1, INT64_MIN, ts, ts, 0);
        if (r < 0)
            V2M_LOG(V2M_DEBUG, "media cover seek failed err=\"%s\"", av_err2str(r));
    }
    for (int n = 0, eof = 0; n < GRAB_MAX_PACKETS; n++) {
        if (cancelled(j) || now() > t_end || j->st->bytes_in - bytes0 > GRAB_MAX_BYTES)
            break;
        if (!eof) {
            r = av_read_frame(ic, pkt);
            if (r == AVERROR(EAGAIN))
                continue;
            if (r < 0) {
                eof = 1;
                avcodec_send_packet(dec, NULL);
            } else {
                if (pkt->stream_index == vs)
                    avcodec_send_packet(dec, pkt);
                av_packet_unref(pkt);
            }
        }
        r = avcodec_receive_frame(dec, f);
        if (r >= 0) {
            rc = size_ok(f->width, f->height) ? make_jpeg(j, f) : 1;
            break;
        }
        if (r != AVERROR(EAGAIN))
            break; /* end of stream, or an error */
    }
out:
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    return rc;
}

/* The video stream a frame may be taken from: not a picture, a size within
 * bounds, a decoder. -1 when none. */
static int video_stream(const AVFormatContext *ic)
{
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        const AVStream *s = ic->streams[i];
        const AVCodecParameters *par = s->codecpar;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC) &&
            !image_codec(par->codec_id) && avcodec_find_decoder(par->codec_id) &&
            (par->width == 0 || size_ok(par->width, par->height)))
            return (int)i;
    }
    return -1;
}

v2m_err v2m__find_cover(v2m__conv *j, int *reread, v2m_error *err)
{
    int r, vs;

    *reread = 0;
    if (!j->o->cover)
        return V2M_OK;
    r = attached_picture(j);
    if (r == 0)
        j->st->cover = 1;
    else if (r == NOMEM)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    else if (j->io->seek && (vs = video_stream(j->ic)) >= 0) {
        *reread = 1;
        r = video_frame(j, vs);
        if (r == NOMEM)
            return v2m_fail(err, V2M_ENOMEM, "out of memory");
        if (r == 0)
            j->st->cover = 2;
    }
    if (cancelled(j))
        return v2m_fail(err, V2M_ECANCELLED, "conversion cancelled");
    if (j->cover)
        V2M_LOG(V2M_DEBUG, "media cover source=%s codec=%s size=%dx%d bytes=%d",
                j->st->cover == 1 ? "picture" : "frame", avcodec_get_name(j->cover_codec), j->cover_w,
                j->cover_h, j->cover->size);
    return V2M_OK;
}

void v2m__free_cover(v2m__conv *j)
{
    av_packet_free(&j->cover);
}
