/* test_parallel.c - segment-parallel encoding gives the one-encoder MP3,
 * up to the encoder's own choices, with no click and no gap.
 *
 * Inputs made by the ffmpeg CLI: a sine sweep (stereo AAC), speech-like
 * noise (mono AAC at 48 kHz: syllables of band-limited noise with pauses)
 * and music-like material (stereo WAV: a chord with percussive noise
 * bursts, so the encoder switches to short blocks). Each is converted by one
 * encoder (threads 1) and in 1, 2, 3 and 8 segments (threads 2), also with
 * trims, resampling (to 32 kHz, and to 22.05 kHz where MPEG-2 frames hold
 * 576 samples) and constant bitrates. For every parallel output:
 *
 *   - the ffmpeg CLI and mpg123 decode it without a single error or
 *     warning (a wrong bit reservoir back-pointer makes mpg123 say "Can't
 *     rewind stream" and ffmpeg "overread"), and mpg123 gives exactly as
 *     many samples as for the one-encoder output (it applies the LAME
 *     tag's delay and padding);
 *   - libav decodes exactly as many samples as from the one-encoder output,
 *     and as the engine reports;
 *   - the Xing frame counts the frames and bytes of the file, and its LAME
 *     tag's delay and padding give that sample count;
 *   - no click at the joins: the difference to the one-encoder decode (RMS
 *     per frame) in the two frames either side of each join, against the
 *     frames where the two decodes differ elsewhere (see join_check), and
 *     the SNR to the one-encoder decode over the whole file.
 *
 * Then the same input cut into 4 segments encoded by other processes
 * (v2m_media_segment in forked children, as converters elsewhere would)
 * and joined: the same bytes as the segments encoded by threads; also
 * when one segment never comes and is encoded by the joining side.
 *
 * Skips (77) without the ffmpeg CLI or mpg123.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "check.h"
#include "common/log.h"
#include "media/media.h"

#define DELAY 1105 /* LAME's encoder delay: decoded sample 0 is input sample -1105 */

static char dir[256];
static int joins_total, joins_median_ok;
/* The parallel output against the one-encoder output, whole file: far
 * above a misaligned segment (one sample off on the sweep gives about 2 dB)
 * and below two encoder states' disagreement at 128 kbit/s CBR on
 * percussive material (27 dB). */
#define MIN_SNR 20.0

static const char *path(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static int sh(const char *cmd)
{
    int r = system(cmd);
    return r == -1 ? -1 : WEXITSTATUS(r);
}

/* ---- conversion ---- */

static v2m_err convert(const char *in, const char *out, v2m_media_opts *o, v2m_media_stats *st,
                       v2m_error *err)
{
    int ifd = open(in, O_RDONLY), ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    v2m_media_fd fin, fout;
    v2m_media_io io;
    v2m_media_sink sink;
    if (ifd < 0 || ofd < 0)
        FATAL("open %s / %s: %s", in, out, strerror(errno));
    v2m_media_io_fd(&io, &fin, ifd);
    v2m_media_sink_fd(&sink, &fout, ofd);
    o->reopen = v2m_media_fd_reopen;
    o->reclose = v2m_media_fd_reclose;
    o->reopen_opaque = &fin;
    v2m_err rc = v2m_media_convert(&io, &sink, o, st, err);
    close(ifd);
    close(ofd);
    return rc;
}

/* ---- decoding ---- */

typedef struct pcm {
    float *s;      /* interleaved */
    long n;        /* samples per channel */
    int ch, rate;
    int errors;    /* packets or frames the decoder refused */
} pcm;

static int decode(const char *file, pcm *p)
{
    AVFormatContext *ic = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    long cap = 0;
    int r;

    memset(p, 0, sizeof *p);
    if ((r = avformat_open_input(&ic, file, NULL, NULL)) < 0 || (r = avformat_find_stream_info(ic, NULL)) < 0)
        goto out;
    AVStream *st = ic->streams[0];
    dec = avcodec_alloc_context3(avcodec_find_decoder(st->codecpar->codec_id));
    avcodec_parameters_to_context(dec, st->codecpar);
    dec->pkt_timebase = st->time_base;
    if ((r = avcodec_open2(dec, NULL, NULL)) < 0)
        goto out;
    for (int eof = 0; !eof;) {
        r = av_read_frame(ic, pkt);
        if (r < 0)
            eof = 1;
        if (avcodec_send_packet(dec, eof ? NULL : pkt) < 0)
            p->errors++;
        av_packet_unref(pkt);
        while ((r = avcodec_receive_frame(dec, f)) != AVERROR(EAGAIN) && r != AVERROR_EOF) {
            if (r < 0) {
                p->errors++;
                break;
            }
            int ch = f->ch_layout.nb_channels;
            p->ch = ch;
            p->rate = f->sample_rate;
            if (p->n + f->nb_samples > cap) {
                cap = (p->n + f->nb_samples) * 2;
                p->s = realloc(p->s, (size_t)cap * ch * sizeof(float));
            }
            for (int i = 0; i < f->nb_samples; i++)
                for (int c = 0; c < ch; c++)
                    p->s[(p->n + i) * ch + c] = f->format == AV_SAMPLE_FMT_FLTP
                                                    ? ((float *)f->extended_data[c])[i]
                                                    : (float)((int16_t *)f->extended_data[c])[i] / 32768;
            p->n += f->nb_samples;
            av_frame_unref(f);
        }
    }
    r = 0;
out:
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
    av_packet_free(&pkt);
    av_frame_free(&f);
    return r;
}

/* ---- the file's own account: Xing frame, LAME tag, frames ---- */

typedef struct mp3info {
    long frames;          /* audio frames after the Xing frame */
    long bytes;           /* from the Xing frame's first byte to the end */
    long xing_frames, xing_bytes;
    int delay, padding;   /* LAME tag */
    int fs;
} mp3info;

static int frame_size(const unsigned char *h, int *fs)
{
    static const int br[2][15] = {{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
                                  {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}};
    static const int sr[3] = {44100, 48000, 32000};
    if (h[0] != 0xFF || (h[1] & 0xE0) != 0xE0 || ((h[1] >> 1) & 3) != 1)
        return -1;
    int ver = (h[1] >> 3) & 3, lsf = ver != 3, bi = h[2] >> 4, ri = (h[2] >> 2) & 3;
    if (ver == 1 || bi == 0 || bi == 15 || ri == 3)
        return -1;
    int rate = sr[ri] >> (lsf + (ver == 0));
    *fs = lsf ? 576 : 1152;
    return (lsf ? 72000 : 144000) * br[lsf][bi] / rate + ((h[2] >> 1) & 1);
}

static int read_info(const char *file, mp3info *m)
{
    FILE *f = fopen(file, "rb");
    unsigned char *d;
    long len, i = 0;
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    d = malloc((size_t)len);
    if (fread(d, 1, (size_t)len, f) != (size_t)len)
        len = 0;
    fclose(f);
    memset(m, 0, sizeof *m);
    if (len > 10 && !memcmp(d, "ID3", 3))
        i = 10 + ((long)d[6] << 21 | (long)d[7] << 14 | (long)d[8] << 7 | d[9]);
    int fs, size = i + 4 <= len ? frame_size(d + i, &fs) : -1;
    if (size <= 0) {
        free(d);
        return -1;
    }
    m->fs = fs;
    m->bytes = len - i;
    unsigned char *x = NULL;
    for (long k = i + 4; k + 4 < i + size; k++)
        if (!memcmp(d + k, "Xing", 4) || !memcmp(d + k, "Info", 4)) {
            x = d + k;
            break;
        }
    if (x) {
        m->xing_frames = (long)x[8] << 24 | x[9] << 16 | x[10] << 8 | x[11];
        m->xing_bytes = (long)x[12] << 24 | x[13] << 16 | x[14] << 8 | x[15];
        const unsigned char *lame = x + 120 + 21; /* flags, frames, bytes, TOC, quality; then the LAME tag */
        m->delay = lame[0] << 4 | lame[1] >> 4;
        m->padding = (lame[1] & 15) << 8 | lame[2];
    }
    for (i += size; i + 4 <= len; i += size) {
        int fs2;
        if ((size = frame_size(d + i, &fs2)) <= 0)
            break;
        m->frames++;
    }
    free(d);
    return x ? 0 : -1;
}

/* ---- the comparison ---- */

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Per-frame RMS difference of b to a; frame w covers decoded samples
 * [w fs - DELAY, (w+1) fs - DELAY). Around each join (two frames either
 * side) against the frames elsewhere where the decodes differ: their median
 * (reported; what two encoder states ordinarily disagree by) and their 99th
 * percentile (asserted: a click is an outlier, louder than the encoders'
 * ordinary disagreement on the same material; at a low constant bitrate on
 * percussive material that disagreement is the size of the coding noise at
 * each attack). Differences below
 * FLOAT_FLOOR are the decoder's float rounding. Also the SNR of b against a
 * over the whole file: a segment off by even one sample would bring it near
 * 0 dB (returned, dB; 200 when identical). */
#define FLOAT_FLOOR 1e-5

static double join_check(const pcm *a, const pcm *b, int fs, const v2m_media_stats *st, const char *name,
                         int *median_ok)
{
    long nw = (a->n + DELAY) / fs;
    double *rms = calloc((size_t)nw, sizeof *rms), *rest = calloc((size_t)nw, sizeof *rest);
    int njoin = st->segments > 1 ? st->segments - 1 : 0, nrest = 0, nzero = 0;
    double worst = 0, sig = 0, noise = 0;
    if (njoin > 16)
        njoin = 16;
    for (long w = 0; w < nw; w++) {
        double e = 0;
        long from = w * fs - DELAY, cnt = 0;
        for (long s = from < 0 ? 0 : from; s < from + fs && s < a->n; s++)
            for (int c = 0; c < a->ch; c++, cnt++) {
                double x = a->s[s * a->ch + c], d = x - b->s[s * b->ch + c];
                e += d * d;
                sig += x * x;
            }
        noise += e;
        rms[w] = cnt ? sqrt(e / cnt) : 0;
        int near = 0;
        for (int k = 0; k < njoin; k++)
            near |= labs(w - (long)st->join_frames[k]) <= 2;
        if (near) {
            if (rms[w] > worst)
                worst = rms[w];
        } else if (rms[w] > 0) {
            rest[nrest++] = rms[w];
        } else {
            nzero++;
        }
    }
    qsort(rest, (size_t)nrest, sizeof *rest, cmpd);
    double median = nrest ? rest[nrest / 2] : 0, p95 = nrest ? rest[nrest * 95 / 100] : 0;
    double p99 = nrest ? rest[nrest * 99 / 100] : 0, max = nrest ? rest[nrest - 1] : 0;
    double snr = noise > 0 ? 10 * log10(sig / noise) : 200;
    *median_ok = worst <= median || worst < FLOAT_FLOOR;
    printf("  %s: %d joins, worst RMS difference near a join %.6f; elsewhere %d frames identical, %d differ "
           "(median %.6f, 95th percentile %.6f, 99th %.6f, max %.6f); SNR to one encoder %.1f dB\n",
           name, njoin, worst, nzero, nrest, median, p95, p99, max, snr);
    CHECKF(worst <= p99 || worst < FLOAT_FLOOR, "%s: difference %.6f near a join, 99th percentile elsewhere %.6f",
           name, worst, p99);
    free(rms);
    free(rest);
    return snr;
}

/* mpg123 decodes file without a complaint; its sample count (per channel). */
static long mpg123_samples(const char *file, int ch)
{
    char cmd[1200];
    struct stat sb;
    snprintf(cmd, sizeof cmd, "mpg123 -q -s '%s' > '%s' 2> '%s'", file, path("mpg123.raw"), path("mpg123.err"));
    if (sh(cmd) != 0)
        return -1;
    if (stat(path("mpg123.err"), &sb) == 0 && sb.st_size > 0) {
        snprintf(cmd, sizeof cmd, "cat '%s' >&2", path("mpg123.err"));
        sh(cmd);
        return -2;
    }
    return stat(path("mpg123.raw"), &sb) == 0 ? (long)(sb.st_size / 2 / ch) : -1;
}

static int ffmpeg_clean(const char *file)
{
    char cmd[1200];
    struct stat sb;
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v warning -i '%s' -f null - 2> '%s'", file, path("ffmpeg.err"));
    if (sh(cmd) != 0)
        return 0;
    if (stat(path("ffmpeg.err"), &sb) == 0 && sb.st_size > 0) {
        snprintf(cmd, sizeof cmd, "cat '%s' >&2", path("ffmpeg.err"));
        sh(cmd);
        return 0;
    }
    return 1;
}

typedef struct scenario {
    const char *name, *input;
    int segments;
    int bitrate, rate;
    double start, end;
    int one_core;             /* the input cannot be placed by segments: one encoder */
} scenario;

static void run(const scenario *sc)
{
    char one[300], par[300];
    v2m_media_opts o;
    v2m_media_stats st1, st;
    v2m_error err;
    pcm a, b;
    mp3info ma, mb;

    check_scenario = sc->name;
    snprintf(one, sizeof one, "%s", path("one.mp3"));
    snprintf(par, sizeof par, "%s", path("par.mp3"));
    v2m_media_opts_init(&o);
    o.bitrate_kbps = sc->bitrate;
    o.sample_rate = sc->rate;
    o.start = sc->start;
    o.end = sc->end;
    o.cover = 0; /* a video's frame as the cover is a stream the decoders here count as an error */
    o.threads = 1;
    REQUIRE(convert(path(sc->input), one, &o, &st1, &err) == V2M_OK, "one encoder: %s", err.msg);
    CHECK(st1.segments == 0);
    o.threads = 2;
    o.segments = sc->segments;
    o.split_min = 1;
    REQUIRE(convert(path(sc->input), par, &o, &st, &err) == V2M_OK, "parallel: %s", err.msg);
    CHECKF(st.segments == (sc->segments > 1 && !sc->one_core ? sc->segments : 0), "%d segments", st.segments);
    CHECKF(st.samples == st1.samples, "samples: parallel %lld, one %lld", (long long)st.samples,
           (long long)st1.samples);

    REQUIRE(decode(one, &a) == 0 && decode(par, &b) == 0, "decode");
    CHECKF(a.errors == 0 && b.errors == 0, "decode errors: one %d, parallel %d", a.errors, b.errors);
    CHECKF(b.n == a.n && b.n == st.samples, "decoded samples: parallel %ld, one %ld, engine %lld", b.n, a.n,
           (long long)st.samples);
    CHECK(b.ch == a.ch && b.rate == a.rate);
    CHECKF(ffmpeg_clean(par), "%s", "ffmpeg complained about the parallel output");
    long m1 = mpg123_samples(one, a.ch), m2 = mpg123_samples(par, b.ch);
    CHECKF(m2 >= 0 && m2 == m1, "mpg123: parallel %ld samples, one %ld (-2: it complained)", m2, m1);

    REQUIRE(read_info(par, &mb) == 0 && read_info(one, &ma) == 0, "no Xing frame");
    CHECKF(mb.xing_frames == mb.frames, "Xing frame says %ld frames, the file has %ld", mb.xing_frames, mb.frames);
    CHECKF(mb.xing_bytes == mb.bytes, "Xing frame says %ld bytes, the file has %ld", mb.xing_bytes, mb.bytes);
    CHECKF(mb.frames == ma.frames, "frames: parallel %ld, one %ld", mb.frames, ma.frames);
    CHECKF(mb.delay == ma.delay && mb.padding == ma.padding, "delay/padding %d/%d, one %d/%d", mb.delay,
           mb.padding, ma.delay, ma.padding);
    CHECKF(mb.frames * mb.fs - mb.delay - mb.padding == st.samples,
           "LAME tag: %ld frames x %d - %d - %d is not %lld samples", mb.frames, mb.fs, mb.delay, mb.padding,
           (long long)st.samples);
    if (st.segments > 1 && b.n == a.n && b.ch == a.ch) {
        int median_ok;
        double snr = join_check(&a, &b, mb.fs, &st, sc->name, &median_ok);
        CHECKF(snr >= MIN_SNR, "%s: SNR to the one-encoder output %.1f dB", sc->name, snr);
        joins_total++;
        joins_median_ok += median_ok;
    }
    printf("  %s: %d segments, %lld samples, %ld frames, joins fixed by moving bytes %d, re-encoded %d\n",
           sc->name, st.segments, (long long)st.samples, mb.frames, st.joins_moved, st.joins_reencoded);
    free(a.s);
    free(b.s);
}

/* ---- segments encoded by other processes ----
 *
 * The remote side of v2m_media_opts.remote as a converter would do it, with
 * processes for converters: request() forks one child per segment, which
 * encodes it with v2m_media_segment() into seg-K (written under another
 * name and renamed when complete); fetch() opens seg-K once it exists.
 * lose: the child of that segment writes nothing (a converter that died),
 * so the conversion has to encode it itself after remote.wait. A normalized
 * conversion's children get the gain request() was given. */
typedef struct remote_state {
    const char *input;
    const v2m_media_opts *o;
    int lose;
    int requested, upto;
    double gain_db;
    pid_t kids[64];
    int nkids;
    v2m_media_fd fd[64];
} remote_state;

static int r_request(void *opaque, int segments, int upto, double gain_db)
{
    remote_state *r = opaque;
    r->requested = segments;
    r->upto = upto;
    r->gain_db = gain_db;
    for (int k = 1; k <= upto && k < segments && r->nkids < 64; k++) {
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            char part[600], done[600];
            snprintf(part, sizeof part, "%s.part", path("seg"));
            snprintf(done, sizeof done, "%s-%d", path("seg"), k);
            if (k == r->lose)
                _exit(0);
            snprintf(part + strlen(part), sizeof part - strlen(part), "-%d", k);
            int ifd = open(r->input, O_RDONLY), ofd = open(part, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            v2m_media_fd fin, fout;
            v2m_media_io io;
            v2m_media_sink sink;
            v2m_error err;
            v2m_media_io_fd(&io, &fin, ifd);
            v2m_media_sink_fd(&sink, &fout, ofd);
            v2m_media_opts so = *r->o;
            so.gain_given = 1;
            so.gain_db = gain_db;
            v2m_err rc = v2m_media_segment(&io, &so, k, segments, &sink, NULL, &err);
            if (rc)
                fprintf(stderr, "segment %d: %s\n", k, err.msg);
            close(ofd);
            _exit(rc == V2M_OK && rename(part, done) == 0 ? 0 : 1);
        }
        r->kids[r->nkids++] = pid;
    }
    return 0;
}

static int r_fetch(void *opaque, int k, v2m_media_io *io)
{
    remote_state *r = opaque;
    char name[600];
    snprintf(name, sizeof name, "%s-%d", path("seg"), k);
    int fd = open(name, O_RDONLY);
    if (fd < 0)
        return 0;
    v2m_media_io_fd(io, &r->fd[k], fd);
    return 1;
}

static void r_release(void *opaque, v2m_media_io *io)
{
    (void)opaque;
    close(((v2m_media_fd *)io->opaque)->fd);
}

static void remote_run(const char *input_path, int lose, int threads, double normalize, double start)
{
    char cmd[700], par[300], rem[300], input[300];
    v2m_media_opts o;
    v2m_media_stats st, st2;
    v2m_error err;
    snprintf(input, sizeof input, "%s", input_path);
    remote_state r = {.input = input, .lose = lose};
    v2m_media_remote remote = {.opaque = &r, .request = r_request, .fetch = r_fetch, .release = r_release,
                               .wait = lose ? 2 : 60};

    check_scenario = strstr(input_path, ".mkv") ? (start > 0 ? "other processes, Matroska trimmed" : "other processes, Matroska")
                     : strstr(input_path, ".webm") ? "other processes, WebM Opus"
                     : normalize < 0 ? "other processes, normalized"
                     : lose ? "other processes, one segment lost"
                     : threads > 1 ? "other processes and a thread here" : "other processes";
    snprintf(cmd, sizeof cmd, "rm -f '%s'-* '%s'.part-*", path("seg"), path("seg"));
    sh(cmd);
    snprintf(par, sizeof par, "%s", path("threads.mp3"));
    snprintf(rem, sizeof rem, "%s", path("remote.mp3"));
    v2m_media_opts_init(&o);
    o.threads = 2;
    o.segments = 4;
    o.split_min = 1;
    o.normalize = normalize;
    o.start = start;
    REQUIRE(convert(input, par, &o, &st, &err) == V2M_OK, "threads: %s", err.msg);
    v2m_media_opts_init(&o);
    o.threads = threads;
    o.segments = 4;
    o.normalize = normalize;
    o.start = start;
    o.remote = &remote;
    o.distribute_min = 1;
    r.o = &o;
    REQUIRE(convert(input, rem, &o, &st2, &err) == V2M_OK, "remote: %s", err.msg);
    for (int i = 0; i < r.nkids; i++) {
        int status = 0;
        waitpid(r.kids[i], &status, 0);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "segment child %d failed", i + 1);
    }
    CHECKF(r.requested == 4 && r.upto == 2 && st2.segments == 4 && st2.remote == 2,
           "requested %d up to %d, segments %d, handed out %d", r.requested, r.upto, st2.segments, st2.remote);
    CHECKF(st2.samples == st.samples, "samples %lld, threads %lld", (long long)st2.samples, (long long)st.samples);
    if (normalize < 0) {
        /* the measured gain went to the other processes, and was no no-op */
        CHECKF(r.gain_db == st2.gain_db && st2.gain_db == st.gain_db && fabs(st.gain_db) > 1,
               "gain handed out %.6f, applied %.6f, threads %.6f", r.gain_db, st2.gain_db, st.gain_db);
        /* and a segment asked for without it is refused */
        int ifd = open(input, O_RDONLY), ofd = open(path("refused.seg"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        v2m_media_fd fin, fout;
        v2m_media_io io;
        v2m_media_sink sink;
        v2m_media_io_fd(&io, &fin, ifd);
        v2m_media_sink_fd(&sink, &fout, ofd);
        CHECKF(v2m_media_segment(&io, &o, 1, 4, &sink, NULL, &err) == V2M_EINVAL,
               "%s", "a normalized segment without its gain was not refused");
        close(ifd);
        close(ofd);
    }
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", par, rem);
    CHECKF(sh(cmd) == 0, "%s", "the MP3 joined from other processes' segments differs from the threads' one");
    printf("  %s: 4 segments, 2 handed out%s, the same bytes as with threads\n", check_scenario,
           normalize < 0 ? " (the measured gain went with them)"
           : lose ? " (one never came and was encoded here)" : threads > 1 ? " (the last ones also taken here)" : "");
}

int main(void)
{
    char cmd[2048];

    if (sh("command -v ffmpeg >/dev/null 2>&1") != 0)
        SKIP("%s", "the ffmpeg CLI is not installed");
    if (sh("command -v mpg123 >/dev/null 2>&1") != 0)
        SKIP("%s", "mpg123 is not installed (Debian package mpg123)");
    snprintf(dir, sizeof dir, "/tmp/v2m-parallel-XXXXXX");
    if (!mkdtemp(dir))
        FATAL("mkdtemp: %s", strerror(errno));
    v2m_log_threshold = V2M_WARN;

    /* 40 s each: a sweep from 50 Hz to 12 kHz; syllables of noise; a chord
     * with a percussive burst every half second. */
    const char *ff = "ffmpeg -nostdin -hide_banner -loglevel error -y";
    snprintf(cmd, sizeof cmd,
             "%s -f lavfi -i 'aevalsrc=exprs=0.5*sin(2*PI*(50*t+149*t*t))|0.5*sin(2*PI*(50*t+149*t*t)+1):s=44100:d=40' "
             "-c:a aac -b:a 160k '%s' && "
             "%s -f lavfi -i 'anoisesrc=c=pink:r=48000:a=0.5:d=40:seed=7' -af "
             "\"lowpass=3400,highpass=200,volume='0.1+0.9*gt(sin(2*PI*4*t),0)*gt(sin(2*PI*0.3*t),-0.5)':eval=frame\" "
             "-c:a aac -b:a 96k '%s' && "
             "%s -f lavfi -i 'aevalsrc=exprs=0.15*sin(2*PI*220*t)+0.12*sin(2*PI*277.18*t)+0.1*sin(2*PI*329.63*t)"
             "+0.5*(random(0)*2-1)*exp(-30*mod(t\\,0.5))|0.15*sin(2*PI*220*t)+0.1*sin(2*PI*329.63*t)"
             "+0.4*(random(1)*2-1)*exp(-30*mod(t+0.25\\,0.5)):s=44100:d=40' -c:a pcm_s16le '%s'",
             ff, path("sweep.m4a"), ff, path("speech.m4a"), ff, path("music.wav"));
    if (sh(cmd) != 0)
        FATAL("%s", "making the inputs failed");
    /* Matroska and WebM count milliseconds: AAC, AC-3, Opus and FLAC (frames
     * of one size) are placed on their grid of frames, Vorbis (long and
     * short blocks) is not. */
    const char *mk[][4] = {
        {"", "sweep.m4a", "-c copy", "sweep.mka"},
        {"-f lavfi -i testsrc2=s=160x120:r=10:d=40", "speech.m4a", "-c:v libx264 -preset ultrafast -g 50 -c:a copy",
         "speech.mkv"},
        {"", "music.wav", "-c:a ac3 -b:a 192k", "music.mka"},
        {"", "speech.m4a", "-c:a libopus -b:a 64k", "speech.webm"},
        {"", "music.wav", "-c:a flac", "music-flac.mka"},
        {"", "speech.m4a", "-c:a libvorbis -q:a 3", "speech-vorbis.webm"},
    };
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s -i '%s' %s '%s'", ff, mk[i][0], path(mk[i][1]), mk[i][2], path(mk[i][3]));
        if (sh(cmd) != 0)
            FATAL("making %s failed", mk[i][3]);
    }

    static const scenario all[] = {
        {"sweep 1 segment", "sweep.m4a", 1, 0, 0, 0, 0, 0},
        {"sweep 2 segments", "sweep.m4a", 2, 0, 0, 0, 0, 0},
        {"sweep 3 segments CBR 192", "sweep.m4a", 3, 192, 0, 0, 0, 0},
        {"sweep 8 segments", "sweep.m4a", 8, 0, 0, 0, 0, 0},
        {"speech 2 segments 48->44.1 kHz", "speech.m4a", 2, 0, 44100, 0, 0, 0},
        {"speech 3 segments trimmed", "speech.m4a", 3, 0, 0, 3.25, 37.5, 0},
        {"speech 8 segments 22.05 kHz", "speech.m4a", 8, 0, 22050, 0, 0, 0},
        {"music 2 segments", "music.wav", 2, 0, 0, 0, 0, 0},
        {"music 3 segments CBR 320 32 kHz", "music.wav", 3, 320, 32000, 0, 0, 0},
        {"music 8 segments trimmed CBR 128", "music.wav", 8, 128, 0, 1.5, 38, 0},
        {"Matroska AAC sweep 3 segments", "sweep.mka", 3, 0, 0, 0, 0, 0},
        {"Matroska H.264 + AAC speech 8 segments 44.1 kHz", "speech.mkv", 8, 0, 44100, 0, 0, 0},
        {"Matroska AAC speech 2 segments ending at 31 s", "speech.mkv", 2, 0, 0, 0, 31, 0},
        {"Matroska AC-3 music 3 segments CBR 192", "music.mka", 3, 192, 0, 0, 0, 0},
        {"Matroska AAC speech 3 segments trimmed at 3.3 s", "speech.mkv", 3, 0, 0, 3.3, 0, 0},
        {"Matroska AC-3 music 2 segments from 1.234 s to 38 s 32 kHz", "music.mka", 2, 0, 32000, 1.234, 38, 0},
        {"WebM Opus speech 3 segments", "speech.webm", 3, 0, 0, 0, 0, 0},
        {"WebM Opus speech 2 segments from 3.3 s to 35 s 44.1 kHz", "speech.webm", 2, 0, 44100, 3.3, 35, 0},
        {"Matroska FLAC music 3 segments CBR 192", "music-flac.mka", 3, 192, 0, 0, 0, 0},
        {"Matroska FLAC music 2 segments from 1.234 s", "music-flac.mka", 2, 0, 0, 1.234, 0, 0},
        {"WebM Vorbis: one encoder", "speech-vorbis.webm", 3, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        run(&all[i]);
    remote_run(path("speech.m4a"), 0, 1, 0, 0);
    remote_run(path("speech.m4a"), 2, 1, 0, 0);
    remote_run(path("speech.m4a"), 0, 2, 0, 0);
    remote_run(path("speech.m4a"), 0, 1, -16, 0);
    remote_run(path("speech.mkv"), 0, 1, 0, 0);
    remote_run(path("speech.mkv"), 0, 1, 0, 3.3);
    remote_run(path("speech.webm"), 0, 1, 0, 0);

    printf("joins within the median of the encoders' disagreement elsewhere: %d of %d outputs\n",
           joins_median_ok, joins_total);
    if (!getenv("V2M_TEST_KEEP"))
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    else
        snprintf(cmd, sizeof cmd, "echo kept '%s'", dir);
    sh(cmd);
    return check_exit("test_parallel");
}
