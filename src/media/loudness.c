/* loudness.c - the EBU R128 meter of the measuring pass (o->normalize).
 *
 * The measuring pass runs the same decode -> trim -> resample/downmix ->
 * FIFO as the encoding pass, and sends the encoder's frames here instead of
 * to LAME. The meter is a libavfilter graph:
 *
 *   abuffer -> ebur128=metadata=1 -> aresample=192000 -> astats -> abuffersink
 *
 * - ebur128 (ITU-R BS.1770 K-weighting, 400 ms blocks, absolute and relative
 *   gates) gives the integrated loudness, read from the last frame's
 *   lavfi.r128.I;
 * - the true peak is the sample peak of the signal oversampled to 192 kHz
 *   (4x at 48 kHz: the method of BS.1770 annex 2, and what ebur128's own
 *   peak=true does). It is read from astats (lavfi.astats.Overall.Peak_level,
 *   dBFS with six decimals) rather than from ebur128's metadata, which gives
 *   the linear peak with three decimals: useless for a quiet source.
 *
 * Both values are cumulative over the whole stream, so only the last frame
 * out of the graph matters. The graph runs in the conversion's thread.
 */
#include "media/media_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>

#include "common/log.h"

#define METER_CHAIN \
    "ebur128=metadata=1,aresample=192000," \
    "astats=metadata=1:reset=0:measure_perchannel=none:measure_overall=Peak_level"

static v2m_err meter_fail(v2m_error *err, int r, const char *what)
{
    if (r == AVERROR(ENOMEM))
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    return v2m_fail(err, V2M_EMEDIA_ENCODE, "loudness meter: %s: %s", what, av_err2str(r));
}

v2m_err v2m__meter_open(v2m__conv *j, v2m_error *err)
{
    const AVCodecContext *enc = j->enc;
    AVFilterInOut *in = NULL, *out = NULL;
    char args[256], layout[64];
    int r;

    j->meter_i = -HUGE_VAL;
    j->meter_tp = -HUGE_VAL;
    if (!(j->meter = avfilter_graph_alloc()) || !(j->meter_frame = av_frame_alloc()))
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    j->meter->nb_threads = 1; /* the engine starts no threads */
    if (av_channel_layout_describe(&enc->ch_layout, layout, sizeof layout) < 0)
        return v2m_fail(err, V2M_EINTERNAL, "loudness meter: channel layout");
    snprintf(args, sizeof args, "sample_rate=%d:sample_fmt=%s:channel_layout=%s:time_base=1/%d",
             enc->sample_rate, av_get_sample_fmt_name(enc->sample_fmt), layout, enc->sample_rate);
    r = avfilter_graph_create_filter(&j->meter_in, avfilter_get_by_name("abuffer"), "in", args, NULL,
                                     j->meter);
    if (r < 0)
        return meter_fail(err, r, "abuffer");
    r = avfilter_graph_create_filter(&j->meter_out, avfilter_get_by_name("abuffersink"), "out", NULL,
                                     NULL, j->meter);
    if (r < 0)
        return meter_fail(err, r, "abuffersink");
    if (!(in = avfilter_inout_alloc()) || !(out = avfilter_inout_alloc())) {
        avfilter_inout_free(&in);
        avfilter_inout_free(&out);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    /* The chain's open input takes the source's output, and the reverse. */
    out->name = av_strdup("in");
    out->filter_ctx = j->meter_in;
    in->name = av_strdup("out");
    in->filter_ctx = j->meter_out;
    r = !out->name || !in->name ? AVERROR(ENOMEM)
                                : avfilter_graph_parse_ptr(j->meter, METER_CHAIN, &in, &out, NULL);
    avfilter_inout_free(&in);
    avfilter_inout_free(&out);
    if (r < 0)
        return meter_fail(err, r, "graph");
    if ((r = avfilter_graph_config(j->meter, NULL)) < 0)
        return meter_fail(err, r, "graph");
    return V2M_OK;
}

static void read_value(const AVFrame *f, const char *key, double *out)
{
    const AVDictionaryEntry *e = av_dict_get(f->metadata, key, NULL, 0);
    char *end;
    if (!e)
        return;
    double v = strtod(e->value, &end);
    if (end != e->value && !isnan(v))
        *out = v;
}

/* Take what came out of the graph, keeping the latest values. */
static v2m_err drain(v2m__conv *j, v2m_error *err)
{
    for (;;) {
        int r = av_buffersink_get_frame(j->meter_out, j->meter_frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return V2M_OK;
        if (r < 0)
            return meter_fail(err, r, "reading");
        read_value(j->meter_frame, "lavfi.r128.I", &j->meter_i);
        read_value(j->meter_frame, "lavfi.astats.Overall.Peak_level", &j->meter_tp);
        av_frame_unref(j->meter_frame);
    }
}

v2m_err v2m__meter_feed(v2m__conv *j, AVFrame *frame, v2m_error *err)
{
    int r = av_buffersrc_add_frame_flags(j->meter_in, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (r < 0)
        return meter_fail(err, r, "feeding");
    return drain(j, err);
}

void v2m__meter_close(v2m__conv *j)
{
    avfilter_graph_free(&j->meter);
    j->meter_in = j->meter_out = NULL;
    av_frame_free(&j->meter_frame);
}
