/* test_media.c - the media engine on real files made by the ffmpeg CLI.
 *
 * Fixtures come from tests/media/fixtures.sh (tones of known frequencies:
 * left 440 Hz, right 1000 Hz). Every MP3 produced is decoded again with
 * libav and checked: format, rate, channels, length within one MP3 frame of
 * the source once the encoder delay and padding are removed (the Xing/LAME
 * frame tells libavformat how much), and the dominant frequency of each
 * channel. Bad inputs must fail with their own code and no leak (ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "check.h"
#include "common/log.h"
#include "media/media.h"
#include "membuf.h"

#define MP3_FRAME 1152

static char fx[1024];      /* fixture folder */

static const char *path(const char *name)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "%s/%s", fx, name);
    return buf;
}

/* ---- memory sink: membuf.h ---- */

static int save(const membuf *m, const char *name)
{
    FILE *f = fopen(path(name), "wb");
    if (!f)
        return -1;
    size_t n = fwrite(m->data, 1, m->len, f);
    return fclose(f) == 0 && n == m->len ? 0 : -1;
}

/* ---- inputs: a file, optionally without seek, optionally failing ---- */

typedef struct src {
    int fd;
    long fail_after; /* read error once this many bytes were read; < 0: never */
    long done;
} src;

static int src_read(void *opaque, uint8_t *buf, int size)
{
    src *s = opaque;
    if (s->fail_after >= 0) {
        if (s->done >= s->fail_after)
            return -1;
        if (size > 4096)
            size = 4096; /* trickle, like a network stream */
    }
    ssize_t n = read(s->fd, buf, (size_t)size);
    if (n > 0)
        s->done += n;
    return (int)n;
}

static int64_t src_seek(void *opaque, int64_t off, int whence)
{
    src *s = opaque;
    if (whence == V2M_MEDIA_SEEK_SIZE) {
        off_t cur = lseek(s->fd, 0, SEEK_CUR), end = lseek(s->fd, 0, SEEK_END);
        lseek(s->fd, cur, SEEK_SET);
        return end;
    }
    return lseek(s->fd, off, whence);
}

static int open_src(src *s, v2m_media_io *io, const char *name, int seekable)
{
    s->fd = open(path(name), O_RDONLY);
    s->fail_after = -1;
    s->done = 0;
    io->opaque = s;
    io->read = src_read;
    io->seek = seekable ? src_seek : NULL;
    return s->fd;
}

/* ---- decoding with libav ---- */

typedef struct audio {
    int rate, channels;
    int64_t samples;  /* per channel */
    float *pcm[2];    /* first two channels, whole length */
    int64_t cap;
    AVDictionary *tags;
    int64_t bit_rate;
} audio;

static void audio_free(audio *a)
{
    free(a->pcm[0]);
    free(a->pcm[1]);
    av_dict_free(&a->tags);
    memset(a, 0, sizeof *a);
}

static float sample_at(const AVFrame *f, int ch, int i)
{
    int n = f->ch_layout.nb_channels;
    switch (f->format) {
    case AV_SAMPLE_FMT_FLTP: return ((const float *)f->extended_data[ch])[i];
    case AV_SAMPLE_FMT_FLT: return ((const float *)f->data[0])[i * n + ch];
    case AV_SAMPLE_FMT_S16P: return ((const int16_t *)f->extended_data[ch])[i] / 32768.0f;
    case AV_SAMPLE_FMT_S16: return ((const int16_t *)f->data[0])[i * n + ch] / 32768.0f;
    case AV_SAMPLE_FMT_S32P: return (float)(((const int32_t *)f->extended_data[ch])[i] / 2147483648.0);
    case AV_SAMPLE_FMT_S32: return (float)(((const int32_t *)f->data[0])[i * n + ch] / 2147483648.0);
    case AV_SAMPLE_FMT_DBLP: return (float)((const double *)f->extended_data[ch])[i];
    default: return 0;
    }
}

/* Decode the best audio stream of a file; keep_pcm stores the samples. */
static int decode_file(const char *file, audio *a, int keep_pcm)
{
    AVFormatContext *ic = NULL;
    AVCodecContext *dec = NULL;
    const AVCodec *codec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int r, si, rc = -1;

    memset(a, 0, sizeof *a);
    if (avformat_open_input(&ic, file, NULL, NULL) < 0 || avformat_find_stream_info(ic, NULL) < 0)
        goto out;
    si = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (si < 0)
        goto out;
    av_dict_copy(&a->tags, ic->metadata, 0);
    a->bit_rate = ic->streams[si]->codecpar->bit_rate;
    dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, ic->streams[si]->codecpar);
    dec->pkt_timebase = ic->streams[si]->time_base;
    if (avcodec_open2(dec, codec, NULL) < 0)
        goto out;
    for (int eof = 0; !eof;) {
        r = av_read_frame(ic, pkt);
        if (r < 0) {
            eof = 1;
            avcodec_send_packet(dec, NULL);
        } else {
            if (pkt->stream_index == si)
                avcodec_send_packet(dec, pkt);
            av_packet_unref(pkt);
        }
        while (avcodec_receive_frame(dec, f) == 0) {
            a->rate = f->sample_rate;
            a->channels = f->ch_layout.nb_channels;
            if (keep_pcm) {
                if (a->samples + f->nb_samples > a->cap) {
                    a->cap = (a->samples + f->nb_samples) * 2;
                    for (int c = 0; c < 2; c++)
                        a->pcm[c] = realloc(a->pcm[c], (size_t)a->cap * sizeof(float));
                }
                for (int c = 0; c < 2; c++)
                    for (int i = 0; i < f->nb_samples; i++)
                        a->pcm[c][a->samples + i] = sample_at(f, c < a->channels ? c : 0, i);
            }
            a->samples += f->nb_samples;
            av_frame_unref(f);
        }
    }
    rc = 0;
out:
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
    return rc;
}

#define WIN_MAX 8192

/* x[0..n) times a Hann window, n <= WIN_MAX. */
static void hann(const float *x, int n, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = x[i] * (0.5 - 0.5 * cos(2 * M_PI * i / (n - 1)));
}

/* Power of frequency hz in the windowed samples xw (Goertzel). */
static double goertzel(const double *xw, int n, double hz, int rate)
{
    double w = 2 * cos(2 * M_PI * hz / rate), s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double s = xw[i] + w * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    return s1 * s1 + s2 * s2 - w * s1 * s2;
}

static double power_at(const float *x, int n, double hz, int rate)
{
    double xw[WIN_MAX];
    hann(x, n, xw);
    return goertzel(xw, n, hz, rate);
}

/* The strongest frequency between 100 Hz and 5 kHz, in 5 Hz steps, over a
 * window in the middle of channel ch. */
static double dominant(const audio *a, int ch)
{
    double xw[WIN_MAX];
    int n = WIN_MAX;
    if (a->samples < n + 16)
        n = (int)(a->samples / 2);
    hann(a->pcm[ch] + (a->samples - n) / 2, n, xw);
    double best = 0, best_hz = 0, top = fmin(5000, a->rate / 2.0 - 100);
    for (double hz = 100; hz <= top; hz += 5) {
        double p = goertzel(xw, n, hz, a->rate);
        if (p > best) {
            best = p;
            best_hz = hz;
        }
    }
    return best_hz;
}

/* Packets of the best audio stream, as (size, hash) pairs. */
typedef struct pktlist {
    int n;
    uint64_t h[4096];
} pktlist;

static int read_packets(const char *file, pktlist *l)
{
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    int si, rc = -1;

    l->n = 0;
    if (avformat_open_input(&ic, file, NULL, NULL) < 0 || avformat_find_stream_info(ic, NULL) < 0)
        goto out;
    if ((si = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0)) < 0)
        goto out;
    while (av_read_frame(ic, pkt) >= 0) {
        if (pkt->stream_index == si && l->n < 4096) {
            uint64_t h = 1469598103934665603ULL ^ (uint64_t)pkt->size;
            for (int i = 0; i < pkt->size; i++)
                h = (h ^ pkt->data[i]) * 1099511628211ULL;
            l->h[l->n++] = h;
        }
        av_packet_unref(pkt);
    }
    rc = 0;
out:
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    return rc;
}

/* ---- conversions ---- */

/* Convert fixture name with o into m (seekable sink unless told), save the
 * result as out and decode it into a. */
static v2m_err run(const char *name, const v2m_media_opts *o, int seekable_sink, membuf *m,
                   v2m_media_stats *st, v2m_error *err)
{
    src s;
    v2m_media_io io;
    if (open_src(&s, &io, name, 1) < 0) {
        fprintf(stderr, "cannot open %s: %s\n", path(name), strerror(errno));
        return V2M_EIO;
    }
    v2m_media_sink sink = mem_sink(m, seekable_sink);
    v2m_err rc = v2m_media_convert(&io, &sink, o, st, err);
    close(s.fd);
    return rc;
}

typedef struct good {
    const char *name;
    int rate, channels;
    double left, right; /* expected dominant frequencies */
    int copy;           /* MP3 source: frames copied */
} good;

static const good goods[] = {
    {"mp4_end.mp4", 44100, 2, 440, 1000, 0},
    {"mp4_fast.mp4", 44100, 2, 440, 1000, 0},
    {"mkv_vp9_opus.mkv", 48000, 2, 440, 1000, 0},
    {"webm_vp8_vorbis.webm", 44100, 2, 440, 1000, 0},
    {"avi_mp3.avi", 44100, 2, 440, 1000, 1},
    {"mov_pcm.mov", 48000, 2, 440, 1000, 0},
    {"flv_aac.flv", 44100, 2, 440, 1000, 0},
    {"aac51.mp4", 48000, 2, 440, 1000, 0},
    {"mono8k.mp4", 8000, 1, 440, 440, 0},
    {"hi96k.mkv", 48000, 2, 440, 1000, 0},
    {"two_tracks.mkv", 44100, 2, 440, 1000, 0},
    {"audio.m4a", 44100, 2, 440, 1000, 0},
};

/* Expected output length: the source's decoded samples at the output rate. */
static int64_t expected_samples(const char *name, int out_rate)
{
    audio in;
    if (decode_file(path(name), &in, 0) != 0 || in.rate <= 0)
        return -1;
    int64_t n = (int64_t)llround((double)in.samples * out_rate / in.rate);
    audio_free(&in);
    return n;
}

static void test_good(const good *g)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;
    audio a = {0};
    char out[256];

    check_scenario = g->name;
    v2m_media_opts_init(&o);
    o.filename = g->name;
    v2m_err rc = run(g->name, &o, 1, &m, &st, &err);
    snprintf(out, sizeof out, "out_%s.mp3", g->name);
    int saved = save(&m, out);
    free(m.data);
    REQUIRE(rc == V2M_OK, "convert failed: %d %s", rc, err.msg);
    REQUIRE(saved == 0, "cannot save output");
    REQUIRE(st.passthrough == g->copy, "passthrough=%d, expected %d", st.passthrough, g->copy);
    REQUIRE(st.xing == 1, "no Xing frame with a seekable sink");
    REQUIRE(st.sample_rate == g->rate && st.channels == g->channels, "stats say %d Hz %d ch",
            st.sample_rate, st.channels);
    REQUIRE(decode_file(path(out), &a, 1) == 0, "output does not decode");
    int64_t want = expected_samples(g->name, g->rate);
    int rate = a.rate, ch = a.channels;
    int64_t got = a.samples;
    double l = dominant(&a, 0), r = dominant(&a, g->channels > 1 ? 1 : 0);
    audio_free(&a);
    REQUIRE(rate == g->rate && ch == g->channels, "decoded as %d Hz / %d ch", rate, ch);
    REQUIRE(want > 0 && llabs(got - want) <= MP3_FRAME, "samples %lld, source has %lld",
            (long long)got, (long long)want);
    REQUIRE(fabs(l - g->left) <= 10 && fabs(r - g->right) <= 10,
            "dominant frequencies %.0f/%.0f Hz, expected %.0f/%.0f", l, r, g->left, g->right);
}

static void test_tags(void)
{
    audio a;
    check_scenario = "id3 tags";
    REQUIRE(decode_file(path("out_mp4_end.mp4.mp3"), &a, 0) == 0, "no output of mp4_end.mp4");
    const AVDictionaryEntry *t = av_dict_get(a.tags, "title", NULL, 0);
    const AVDictionaryEntry *ar = av_dict_get(a.tags, "artist", NULL, 0);
    const AVDictionaryEntry *al = av_dict_get(a.tags, "album", NULL, 0);
    const AVDictionaryEntry *d = av_dict_get(a.tags, "date", NULL, 0);
    int ok = t && !strcmp(t->value, "Tone Test") && ar && !strcmp(ar->value, "v2m") && al &&
             !strcmp(al->value, "Fixtures") && d && !strcmp(d->value, "2024");
    audio_free(&a);
    REQUIRE(ok, "source tags not carried over");
    REQUIRE(decode_file(path("out_mp4_fast.mp4.mp3"), &a, 0) == 0, "no output of mp4_fast.mp4");
    t = av_dict_get(a.tags, "title", NULL, 0);
    ok = t && !strcmp(t->value, "mp4_fast");
    audio_free(&a);
    REQUIRE(ok, "title is not the file name when the source has none");
}

static void test_passthrough_packets(void)
{
    static pktlist in, out;
    check_scenario = "passthrough packets";
    REQUIRE(read_packets(path("avi_mp3.avi"), &in) == 0, "cannot read the source");
    REQUIRE(read_packets(path("out_avi_mp3.avi.mp3"), &out) == 0, "cannot read the output");
    REQUIRE(in.n > 50 && in.n == out.n, "%d source frames, %d copied", in.n, out.n);
    for (int i = 0; i < in.n; i++)
        REQUIRE(in.h[i] == out.h[i], "frame %d differs", i);
}

/* Convert mp4_fast.mp4 with o, decode; returns 0 when it converted. */
static int convert_decode(const v2m_media_opts *o, const char *out, audio *a, v2m_media_stats *st,
                          v2m_error *err, v2m_err *rc, size_t *bytes)
{
    membuf m;
    *rc = run("mp4_fast.mp4", o, 1, &m, st, err);
    *bytes = m.len;
    int r = *rc == V2M_OK && save(&m, out) == 0 && decode_file(path(out), a, 1) == 0 ? 0 : -1;
    free(m.data);
    return r;
}

static void test_options(void)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    v2m_err rc;
    audio a;
    size_t bytes;
    int64_t full = expected_samples("mp4_fast.mp4", 44100);

    check_scenario = "--channels 1";
    v2m_media_opts_init(&o);
    o.channels = 1;
    REQUIRE(convert_decode(&o, "o_mono.mp3", &a, &st, &err, &rc, &bytes) == 0, "rc=%d %s", rc, err.msg);
    {
        int n = 8192;
        const float *x = a.pcm[0] + a.samples / 2 - n / 2;
        double p440 = power_at(x, n, 440, a.rate), p1k = power_at(x, n, 1000, a.rate),
               p700 = power_at(x, n, 700, a.rate);
        int ch = a.channels;
        audio_free(&a);
        REQUIRE(ch == 1, "%d channels", ch);
        REQUIRE(p440 > 100 * p700 && p1k > 100 * p700, "downmix lost a tone (440: %g, 1000: %g, 700: %g)",
                p440, p1k, p700);
    }

    check_scenario = "--rate 22050";
    v2m_media_opts_init(&o);
    o.sample_rate = 22050;
    REQUIRE(convert_decode(&o, "o_22k.mp3", &a, &st, &err, &rc, &bytes) == 0, "rc=%d %s", rc, err.msg);
    {
        int rate = a.rate;
        int64_t n = a.samples;
        double l = dominant(&a, 0), r = dominant(&a, 1);
        audio_free(&a);
        REQUIRE(rate == 22050, "rate %d", rate);
        REQUIRE(llabs(n - full / 2) <= MP3_FRAME, "samples %lld, expected %lld", (long long)n,
                (long long)full / 2);
        REQUIRE(fabs(l - 440) <= 10 && fabs(r - 1000) <= 10, "tones %.0f/%.0f", l, r);
    }

    check_scenario = "--bitrate 128";
    v2m_media_opts_init(&o);
    o.bitrate_kbps = 128;
    o.cover = 0; /* the audio's bitrate: no picture in the file */
    REQUIRE(convert_decode(&o, "o_cbr.mp3", &a, &st, &err, &rc, &bytes) == 0, "rc=%d %s", rc, err.msg);
    {
        double secs = (double)a.samples / a.rate;
        double kbps = (double)bytes * 8 / secs / 1000;
        int64_t br = a.bit_rate;
        audio_free(&a);
        REQUIRE(br == 128000, "stream bit_rate %lld", (long long)br);
        REQUIRE(kbps > 124 && kbps < 136, "average %.1f kbit/s", kbps);
    }

    check_scenario = "--quality 9 vs 0";
    {
        size_t b9, b0;
        v2m_media_opts_init(&o);
        o.quality = 9;
        REQUIRE(convert_decode(&o, "o_q9.mp3", &a, &st, &err, &rc, &b9) == 0, "rc=%d %s", rc, err.msg);
        audio_free(&a);
        o.quality = 0;
        REQUIRE(convert_decode(&o, "o_q0.mp3", &a, &st, &err, &rc, &b0) == 0, "rc=%d %s", rc, err.msg);
        audio_free(&a);
        REQUIRE(b9 < b0, "V9 (%zu bytes) not smaller than V0 (%zu bytes)", b9, b0);
    }

    check_scenario = "--start 1 --end 2.5";
    v2m_media_opts_init(&o);
    o.start = 1;
    o.end = 2.5;
    REQUIRE(convert_decode(&o, "o_trim.mp3", &a, &st, &err, &rc, &bytes) == 0, "rc=%d %s", rc, err.msg);
    {
        int64_t n = a.samples;
        double l = dominant(&a, 0), r = dominant(&a, 1);
        audio_free(&a);
        REQUIRE(llabs(n - 66150) <= MP3_FRAME, "samples %lld, expected 66150", (long long)n);
        REQUIRE(fabs(l - 440) <= 10 && fabs(r - 1000) <= 10, "tones %.0f/%.0f", l, r);
    }

    check_scenario = "--start 2";
    v2m_media_opts_init(&o);
    o.start = 2;
    REQUIRE(convert_decode(&o, "o_start.mp3", &a, &st, &err, &rc, &bytes) == 0, "rc=%d %s", rc, err.msg);
    {
        int64_t n = a.samples;
        audio_free(&a);
        REQUIRE(llabs(n - (full - 88200)) <= MP3_FRAME, "samples %lld, expected %lld", (long long)n,
                (long long)(full - 88200));
    }

    check_scenario = "--end past the end";
    v2m_media_opts_init(&o);
    o.end = 100;
    REQUIRE(convert_decode(&o, "o_end.mp3", &a, &st, &err, &rc, &bytes) == 0, "rc=%d %s", rc, err.msg);
    {
        int64_t n = a.samples;
        audio_free(&a);
        REQUIRE(llabs(n - full) <= MP3_FRAME, "samples %lld, expected %lld", (long long)n, (long long)full);
    }

    check_scenario = "--start past the end";
    v2m_media_opts_init(&o);
    o.start = 100;
    REQUIRE(convert_decode(&o, "o_none.mp3", &a, &st, &err, &rc, &bytes) != 0 && rc == V2M_EINVAL,
            "rc=%d %s", rc, err.msg);

    check_scenario = "passthrough off";
    v2m_media_opts_init(&o);
    o.passthrough = 0;
    {
        membuf m;
        rc = run("avi_mp3.avi", &o, 1, &m, &st, &err);
        free(m.data);
        REQUIRE(rc == V2M_OK && !st.passthrough, "rc=%d passthrough=%d", rc, st.passthrough);
    }

    check_scenario = "bad options";
    {
        static const struct { int q, b, r, c; double s, e; } bad[] = {
            {10, 0, 0, 0, 0, 0}, {-1, 500, 0, 0, 0, 0}, {-1, 4, 0, 0, 0, 0}, {-1, 0, 44000, 0, 0, 0},
            {-1, 0, 0, 3, 0, 0}, {-1, 0, 0, 0, -1, 0}, {-1, 0, 0, 0, 2, 1},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            membuf m;
            v2m_media_opts_init(&o);
            o.quality = bad[i].q;
            o.bitrate_kbps = bad[i].b;
            o.sample_rate = bad[i].r;
            o.channels = bad[i].c;
            o.start = bad[i].s;
            o.end = bad[i].e;
            rc = run("mp4_fast.mp4", &o, 1, &m, &st, &err);
            free(m.data);
            REQUIRE(rc == V2M_EINVAL && err.code == V2M_EINVAL && err.msg[0], "case %zu: rc=%d", i, rc);
        }
    }
}

typedef struct progress_log {
    double f[512];
    int n;
    int monotonic;
    atomic_int *cancel_at_30;
} progress_log;

static void on_progress(void *opaque, double f)
{
    progress_log *p = opaque;
    if (p->n > 0 && f <= p->f[p->n - 1])
        p->monotonic = 0;
    if (p->n < 512)
        p->f[p->n++] = f;
    if (p->cancel_at_30 && f >= 0.3)
        atomic_store(p->cancel_at_30, 1);
}

static void test_progress_cancel(void)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;
    static progress_log p;
    atomic_int cancel = 0;

    check_scenario = "progress";
    memset(&p, 0, sizeof p);
    p.monotonic = 1;
    v2m_media_opts_init(&o);
    o.progress = on_progress;
    o.progress_opaque = &p;
    v2m_err rc = run("mp4_end.mp4", &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == V2M_OK, "rc=%d %s", rc, err.msg);
    REQUIRE(p.n >= 10, "only %d progress calls", p.n);
    REQUIRE(p.monotonic, "progress went backwards");
    REQUIRE(p.f[0] > 0 && p.f[0] < 0.2, "first progress %.3f", p.f[0]);
    REQUIRE(p.f[p.n - 1] == 1.0 && p.f[p.n - 2] > 0.9, "progress ends with %.3f, %.3f", p.f[p.n - 2],
            p.f[p.n - 1]);

    check_scenario = "cancel before start";
    atomic_store(&cancel, 1);
    v2m_media_opts_init(&o);
    o.cancel = &cancel;
    rc = run("mp4_end.mp4", &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == V2M_ECANCELLED && err.code == V2M_ECANCELLED, "rc=%d %s", rc, err.msg);

    check_scenario = "cancel midway";
    atomic_store(&cancel, 0);
    memset(&p, 0, sizeof p);
    p.monotonic = 1;
    p.cancel_at_30 = &cancel;
    o.progress = on_progress;
    o.progress_opaque = &p;
    rc = run("mp4_end.mp4", &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == V2M_ECANCELLED, "rc=%d %s", rc, err.msg);
    REQUIRE(p.n > 0, "no progress call before the cancel");
    REQUIRE(p.f[p.n - 1] < 0.5, "ran to %.2f after the cancel", p.f[p.n - 1]);

    check_scenario = "cancel passthrough";
    atomic_store(&cancel, 1);
    v2m_media_opts_init(&o);
    o.cancel = &cancel;
    rc = run("avi_mp3.avi", &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == V2M_ECANCELLED, "rc=%d %s", rc, err.msg);
}

static void test_streams(void)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;
    src s;
    v2m_media_io io;
    v2m_media_sink sink;
    v2m_err rc;
    audio a;

    v2m_media_opts_init(&o);

    check_scenario = "input without seek, moov first";
    open_src(&s, &io, "mp4_fast.mp4", 0);
    sink = mem_sink(&m, 1);
    rc = v2m_media_convert(&io, &sink, &o, &st, &err);
    close(s.fd);
    free(m.data);
    REQUIRE(rc == V2M_OK, "rc=%d %s", rc, err.msg);

    check_scenario = "input without seek, moov at the end";
    open_src(&s, &io, "mov_pcm_long.mov", 0);
    sink = mem_sink(&m, 1);
    rc = v2m_media_convert(&io, &sink, &o, &st, &err);
    close(s.fd);
    free(m.data);
    REQUIRE(rc == V2M_EMEDIA_NOSEEK && strstr(err.msg, "seek"), "rc=%d %s", rc, err.msg);

    check_scenario = "same file with seek";
    rc = run("mov_pcm_long.mov", &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == V2M_OK && st.duration > 19.9 && st.duration < 20.1, "rc=%d %s duration=%.2f", rc,
            err.msg, st.duration);

    check_scenario = "sink without seek";
    rc = run("mp4_fast.mp4", &o, 0, &m, &st, &err);
    int saved = rc == V2M_OK ? save(&m, "o_noseek.mp3") : -1;
    free(m.data);
    REQUIRE(rc == V2M_OK && st.xing == 0 && saved == 0, "rc=%d %s xing=%d", rc, err.msg, st.xing);
    REQUIRE(decode_file(path("o_noseek.mp3"), &a, 0) == 0, "output does not decode");
    {
        int64_t want = expected_samples("mp4_fast.mp4", 44100), got = a.samples;
        audio_free(&a);
        /* no LAME frame: the encoder delay and padding stay in */
        REQUIRE(got >= want + 1105 && got <= want + 1105 + 2 * MP3_FRAME, "samples %lld for %lld",
                (long long)got, (long long)want);
    }

    check_scenario = "sink write failure";
    open_src(&s, &io, "mp4_fast.mp4", 1);
    sink = mem_sink(&m, 1);
    m.fail_after = 5000;
    rc = v2m_media_convert(&io, &sink, &o, &st, &err);
    close(s.fd);
    free(m.data);
    REQUIRE(rc == V2M_EMEDIA_WRITE && err.code == V2M_EMEDIA_WRITE, "rc=%d %s", rc, err.msg);

    check_scenario = "input read failure";
    open_src(&s, &io, "mp4_fast.mp4", 1);
    s.fail_after = 40000;
    sink = mem_sink(&m, 1);
    rc = v2m_media_convert(&io, &sink, &o, &st, &err);
    close(s.fd);
    free(m.data);
    REQUIRE(rc == V2M_EIO, "rc=%d %s", rc, err.msg);

    check_scenario = "input read failure late, buffered input";
    open_src(&s, &io, "mkv_vp9_opus.mkv", 1);
    s.fail_after = 100000;
    sink = mem_sink(&m, 1);
    rc = v2m_media_convert(&io, &sink, &o, &st, &err);
    close(s.fd);
    free(m.data);
    REQUIRE(rc == V2M_EIO && !strcmp(err.msg, "reading the input failed"), "rc=%d %s", rc, err.msg);

    check_scenario = "fd adapters";
    {
        v2m_media_fd fin, fout;
        int in = open(path("mp4_fast.mp4"), O_RDONLY);
        int out = open(path("o_fd.mp3"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        v2m_media_io_fd(&io, &fin, in);
        v2m_media_sink_fd(&sink, &fout, out);
        int seekable = io.seek && sink.seek;
        rc = v2m_media_convert(&io, &sink, &o, &st, &err);
        close(in);
        close(out);
        REQUIRE(seekable && rc == V2M_OK && st.xing, "rc=%d %s", rc, err.msg);
        REQUIRE(decode_file(path("o_fd.mp3"), &a, 0) == 0, "output does not decode");
        int64_t want = expected_samples("mp4_fast.mp4", 44100), got = a.samples;
        audio_free(&a);
        REQUIRE(llabs(got - want) <= MP3_FRAME, "samples %lld for %lld", (long long)got, (long long)want);
    }
}

/* mp4_fast.mp4 with 4 KiB of noise over the middle of its data. */
static void test_corrupt_middle(void)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;
    audio a;

    check_scenario = "corrupt middle";
    FILE *f = fopen(path("mp4_fast.mp4"), "rb"), *g = fopen(path("corrupt_mid.mp4"), "wb");
    REQUIRE(f && g, "cannot copy the fixture");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    uint32_t x = 12345;
    for (long i = 0; i < size; i++) {
        int c = fgetc(f);
        if (i >= size / 2 && i < size / 2 + 4096) {
            x = x * 1103515245u + 12345u;
            c = (int)(x >> 24);
        }
        fputc(c, g);
    }
    fclose(f);
    fclose(g);
    v2m_media_opts_init(&o);
    v2m_err rc = run("corrupt_mid.mp4", &o, 1, &m, &st, &err);
    int saved = rc == V2M_OK ? save(&m, "o_corrupt.mp3") : -1;
    free(m.data);
    REQUIRE(rc == V2M_OK && saved == 0, "rc=%d %s", rc, err.msg);
    REQUIRE(decode_file(path("o_corrupt.mp3"), &a, 0) == 0, "output does not decode");
    int64_t want = expected_samples("mp4_fast.mp4", 44100), got = a.samples;
    audio_free(&a);
    REQUIRE(got > want * 8 / 10 && got <= want + MP3_FRAME, "samples %lld for %lld", (long long)got,
            (long long)want);
    fprintf(stderr, "corrupt middle: %lld packets skipped, %lld of %lld samples\n",
            (long long)st.packets_skipped, (long long)got, (long long)want);
}

typedef struct bad {
    const char *name;
    v2m_err code;
    const char *msg; /* a piece of the message */
} bad;

static const bad bads[] = {
    {"empty.mp4", V2M_EMEDIA_EMPTY, "empty"},
    {"text.mp4", V2M_EMEDIA_NOTMEDIA, "not a media file"},
    {"random.bin", V2M_EMEDIA_NOTMEDIA, "not a media file"},
    {"trunc_fast.mp4", V2M_EMEDIA_CORRUPT, "truncated"},
    {"trunc_end.mp4", V2M_EMEDIA_CORRUPT, "truncated"},
    {"noaudio.mp4", V2M_EMEDIA_NOAUDIO, "no audio stream"},
    {"unknown_codec.wav", V2M_EMEDIA_CODEC, "unsupported audio codec"},
};

static void test_bad(const bad *b)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;

    check_scenario = b->name;
    v2m_media_opts_init(&o);
    v2m_err rc = run(b->name, &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == b->code && err.code == b->code, "rc=%d (want %d) %s", rc, b->code, err.msg);
    REQUIRE(strstr(err.msg, b->msg), "message '%s' lacks '%s'", err.msg, b->msg);
    REQUIRE(strcmp(v2m_strerror(rc), "unknown error") != 0, "code %d has no text", rc);
}

/* Two conversions at once share nothing. */
/* ---- track choice, cover art, chapters, loudness: the engine's stats and
 * errors (test_media_features.sh measures the MP3s themselves) ---- */

/* Convert name with o, the input seekable or not, into a seekable memory
 * sink (which refuses seeks at or past V2M_MEDIA_SINK_HEAD_MAX but to its
 * end); out (when non-NULL) saves the MP3. */
static v2m_err run_in(const char *name, int seekable_in, const v2m_media_opts *o, v2m_media_stats *st,
                      v2m_error *err, const char *out, membuf *keep)
{
    src s;
    v2m_media_io io;
    membuf m;
    if (open_src(&s, &io, name, seekable_in) < 0) {
        fprintf(stderr, "cannot open %s: %s\n", path(name), strerror(errno));
        return V2M_EIO;
    }
    v2m_media_sink sink = mem_sink(&m, 1);
    v2m_err rc = v2m_media_convert(&io, &sink, o, st, err);
    close(s.fd);
    if (rc == V2M_OK && out && save(&m, out) != 0)
        rc = V2M_EIO;
    if (keep)
        *keep = m;
    else
        free(m.data);
    return rc;
}

/* Offset of the Xing/Info frame (after the ID3 tag), -1 when none. */
static long xing_offset(const membuf *m)
{
    size_t lim = m->len < 300 * 1024 ? m->len : 300 * 1024;
    for (size_t i = 0; i + 4 <= lim; i++)
        if (!memcmp(m->data + i, "Xing", 4) || !memcmp(m->data + i, "Info", 4))
            return (long)i;
    return -1;
}

static void test_features(void)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    v2m_err rc;
    membuf m;
    char cmd[8192];

    check_scenario = "feature fixtures";
    snprintf(cmd, sizeof cmd, "sh '%s/tests/media/fixtures.sh' '%s' lang2.mkv covr.mp4 head_max.mkv quiet.m4a",
             getenv("V2M_SRC") ? getenv("V2M_SRC") : ".", fx);
    REQUIRE(system(cmd) == 0, "fixtures.sh failed");

    check_scenario = "track 2";
    v2m_media_opts_init(&o);
    o.track = 2;
    rc = run_in("lang2.mkv", 1, &o, &st, &err, "f_track2.mp3", NULL);
    REQUIRE(rc == V2M_OK, "rc=%d %s", rc, err.msg);
    REQUIRE(st.track == 2 && st.tracks == 2 && !strcmp(st.language, "fre"), "track %d/%d '%s'", st.track,
            st.tracks, st.language);
    {
        audio a;
        REQUIRE(decode_file(path("f_track2.mp3"), &a, 1) == 0, "output does not decode");
        double hz = dominant(&a, 0);
        audio_free(&a);
        REQUIRE(fabs(hz - 1000) <= 10, "track 2 is %.0f Hz, expected 1000", hz);
    }

    static const char *const french[] = {"fre", "fra", "fr", "FR", "fr-FR"};
    for (size_t i = 0; i < sizeof french / sizeof french[0]; i++) {
        check_scenario = "language";
        v2m_media_opts_init(&o);
        o.language = french[i];
        rc = run_in("lang2.mkv", 1, &o, &st, &err, NULL, NULL);
        REQUIRE(rc == V2M_OK && st.track == 2, "language %s: rc=%d track %d %s", french[i], rc, st.track,
                err.msg);
    }
    check_scenario = "default track";
    v2m_media_opts_init(&o);
    o.language = "";
    rc = run_in("lang2.mkv", 1, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_OK && st.track == 1 && st.tracks == 2 && !strcmp(st.language, "eng"),
            "rc=%d track %d/%d '%s'", rc, st.track, st.tracks, st.language);
    check_scenario = "track 3";
    v2m_media_opts_init(&o);
    o.track = 3;
    rc = run_in("lang2.mkv", 1, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_EMEDIA_NOAUDIO && !strcmp(err.msg, "no audio track 3: the file has 2"), "rc=%d '%s'",
            rc, err.msg);
    check_scenario = "language de";
    v2m_media_opts_init(&o);
    o.language = "de";
    rc = run_in("lang2.mkv", 1, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_EMEDIA_NOAUDIO &&
                !strcmp(err.msg, "no audio track in language 'de': the file has eng, fre"),
            "rc=%d '%s'", rc, err.msg);

    check_scenario = "bad options";
    static const double bad_targets[] = {-80, -4, 3, NAN, -INFINITY};
    for (size_t i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++) {
        v2m_media_opts_init(&o);
        o.normalize = bad_targets[i];
        rc = run_in("quiet.m4a", 1, &o, &st, &err, NULL, NULL);
        REQUIRE(rc == V2M_EINVAL, "normalize %g: rc=%d", bad_targets[i], rc);
    }
    v2m_media_opts_init(&o);
    o.track = -1;
    rc = run_in("quiet.m4a", 1, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_EINVAL, "track -1: rc=%d", rc);

    check_scenario = "normalize without seek";
    v2m_media_opts_init(&o);
    o.normalize = -16;
    rc = run_in("quiet.m4a", 0, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_EMEDIA_NOSEEK && strstr(err.msg, "seekable"), "rc=%d %s", rc, err.msg);

    check_scenario = "normalize";
    {
        static progress_log p;
        memset(&p, 0, sizeof p);
        p.monotonic = 1;
        v2m_media_opts_init(&o);
        o.normalize = -16;
        o.progress = on_progress;
        o.progress_opaque = &p;
        rc = run_in("quiet.m4a", 1, &o, &st, &err, "f_norm.mp3", NULL);
        REQUIRE(rc == V2M_OK, "rc=%d %s", rc, err.msg);
        REQUIRE(st.loudness_in < -40 && st.loudness_in > -55, "measured %.1f LUFS", st.loudness_in);
        REQUIRE(fabs(st.gain_db - (-16 - st.loudness_in)) < 0.01, "gain %.2f dB for %.2f LUFS", st.gain_db,
                st.loudness_in);
        REQUIRE(p.monotonic && p.n >= 10 && p.f[p.n - 1] == 1.0, "progress: %d calls, monotonic %d", p.n,
                p.monotonic);
        int mid = 0;
        for (int i = 0; i < p.n; i++)
            mid |= p.f[i] > 0.4 && p.f[i] < 0.6;
        REQUIRE(mid, "no progress reported around the end of the measuring pass");
        audio a;
        REQUIRE(decode_file(path("f_norm.mp3"), &a, 0) == 0, "output does not decode");
        int64_t want = expected_samples("quiet.m4a", a.rate), got = a.samples;
        audio_free(&a);
        REQUIRE(llabs(got - want) <= MP3_FRAME, "samples %lld, source has %lld", (long long)got,
                (long long)want);
    }
    check_scenario = "normalize trimmed";
    v2m_media_opts_init(&o);
    o.normalize = -23;
    o.start = 1;
    o.end = 3.5;
    rc = run_in("quiet.m4a", 1, &o, &st, &err, "f_norm_trim.mp3", NULL);
    REQUIRE(rc == V2M_OK && fabs(st.duration - 2.5) < 0.03, "rc=%d %.3f s %s", rc, st.duration, err.msg);

    check_scenario = "cover";
    v2m_media_opts_init(&o);
    rc = run_in("mp4_fast.mp4", 1, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_OK && st.cover == 2, "rc=%d cover=%d", rc, st.cover);
    rc = run_in("mp4_fast.mp4", 0, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_OK && st.cover == 0, "no seek: rc=%d cover=%d %s", rc, st.cover, err.msg);
    rc = run_in("covr.mp4", 0, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_OK && st.cover == 1, "covr without seek: rc=%d cover=%d %s", rc, st.cover, err.msg);
    o.cover = 0;
    rc = run_in("covr.mp4", 1, &o, &st, &err, NULL, NULL);
    REQUIRE(rc == V2M_OK && st.cover == 0, "cover=0: rc=%d cover=%d", rc, st.cover);

    /* The largest tag a source can cause (every tag 2 KiB, 300 chapters
     * with 1 KiB titles, a picture of megabytes): the sink is never asked
     * to seek at or past V2M_MEDIA_SINK_HEAD_MAX (the memory sink refuses
     * that), and the Xing frame ends below it. */
    check_scenario = "head budget";
    v2m_media_opts_init(&o);
    rc = run_in("head_max.mkv", 1, &o, &st, &err, NULL, &m);
    long xo = rc == V2M_OK ? xing_offset(&m) : -1;
    free(m.data);
    REQUIRE(rc == V2M_OK && st.xing == 1, "rc=%d xing=%d %s", rc, st.xing, err.msg);
    REQUIRE(st.chapters == 64 && st.cover == 1, "chapters %d cover %d", st.chapters, st.cover);
    REQUIRE(xo > 0 && xo + 1441 < V2M_MEDIA_SINK_HEAD_MAX, "Xing frame at %ld", xo);
    fprintf(stderr, "head budget: Xing frame at %ld of %d\n", xo, V2M_MEDIA_SINK_HEAD_MAX);
}

typedef struct job {
    const char *name;
    v2m_err rc;
    v2m_media_stats st;
} job;

static void *job_main(void *opaque)
{
    job *j = opaque;
    v2m_media_opts o;
    v2m_error err;
    membuf m;
    v2m_media_opts_init(&o);
    j->rc = run(j->name, &o, 1, &m, &j->st, &err);
    free(m.data);
    return NULL;
}

static void test_threads(void)
{
    job jobs[3];
    memset(jobs, 0, sizeof jobs);
    jobs[0].name = "mp4_end.mp4";
    jobs[1].name = "mkv_vp9_opus.mkv";
    jobs[2].name = "aac51.mp4";
    pthread_t t[3];
    check_scenario = "threads";
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, job_main, &jobs[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        REQUIRE(jobs[i].rc == V2M_OK && jobs[i].st.duration > 2.9, "%s: rc=%d", jobs[i].name, jobs[i].rc);
}

int main(void)
{
    const char *srcdir = getenv("V2M_SRC");
    const char *tmp = getenv("TMPDIR");
    char cmd[8192];

    v2m_log_init();
    snprintf(fx, sizeof fx, "%s/v2m-media-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(cmd, sizeof cmd, "sh '%s/tests/media/fixtures.sh' '%s'", srcdir ? srcdir : ".", fx);
    int r = system(cmd);
    if (r == -1 || !WIFEXITED(r) || WEXITSTATUS(r) != 0) {
        int skip = r != -1 && WIFEXITED(r) && WEXITSTATUS(r) == 77;
        fprintf(stderr, skip ? "SKIP: the ffmpeg CLI is not installed; media tests NOT RUN\n"
                             : "fixtures.sh failed\n");
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", fx);
        return skip ? 77 : 1;
    }

    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++)
        test_good(&goods[i]);
    test_tags();
    test_passthrough_packets();
    test_options();
    test_progress_cancel();
    test_streams();
    test_corrupt_middle();
    test_features();
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
        test_bad(&bads[i]);
    test_threads();

    if (!getenv("V2M_KEEP_FIXTURES")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", fx);
    } else {
        fprintf(stderr, "fixtures kept in %s\n", fx);
    }
    return check_exit("test_media");
}
