/* convert.c - v2m-convert: one local conversion with the media engine.
 *
 *   v2m-convert [-y | -n] IN [OUT] [--quality N | --bitrate K] [--rate HZ]
 *               [--channels 1|2] [--start T] [--end T] [--max-duration T]
 *               [--no-copy] [--progress] [--track N|CODE | --language CODE]
 *               [--normalize[=LUFS]] [--no-cover] [--title T] [--artist A] [--album A]
 *
 * IN is read by this program only; the media engine takes ordinary video and
 * audio containers and refuses playlists and other files that name further
 * files or URLs (no local file but IN is opened, no network is used).
 *
 * IN or OUT may be "-" for stdin/stdout. A file OUT is written under a
 * temporary name beside it and renamed only on success, so a failed or
 * interrupted run never leaves a half-written OUT behind. OUT is never the
 * input file (compared by device and inode), and an existing OUT is replaced
 * only with -y.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/jobopts.h"
#include "common/ncpu.h"
#include "common/log.h"
#include "media/media.h"

#define PROG "v2m-convert"

static atomic_int interrupted;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " IN OUT [options]\n"
            "       " PROG " IN [options]          (OUT: IN's name with .mp3, beside IN)\n"
            "Convert the audio of any video or audio file to MP3. IN or OUT may be - (stdin/stdout).\n"
            "\n"
            "OUT is never the input file (also not through a symbolic or hard link). It is written\n"
            "under a temporary name in its directory and renamed to OUT only on success, so a failed\n"
            "or interrupted conversion leaves no partial file and an existing OUT as it was.\n"
            "\n"
            "  -y             overwrite OUT if it exists\n"
            "  -n             never overwrite OUT (the default): refuse when it exists\n"
            "  --quality N    VBR quality 0 (best) .. 9 (default 2)\n"
            "  --bitrate K    constant bitrate in kbit/s, 8..320, e.g. 192 or 192k, instead of VBR\n"
            "  --rate HZ      output sample rate: 8000 11025 12000 16000 22050 24000 32000 44100 48000\n"
            "                 (also 44.1k; default: the source's, or the nearest of these)\n"
            "  --channels N   1 or 2, also mono or stereo (default: mono stays mono, anything else\n"
            "                 becomes stereo)\n"
            "  --start T      start at T: seconds (90, 2.5) or [hh:]mm:ss[.mmm] (1:30, 01:02:03.5)\n"
            "  --end T        stop at T, written the same way; after --start\n"
            "  --max-duration T\n"
            "                 refuse audio longer than T: seconds, or with s, m, h or d\n"
            "                 (e.g. 90m, 12h; default: no limit)\n"
            "  --no-copy      re-encode an MP3 source even when nothing asks for a change\n"
            "  --track N|CODE convert the Nth audio track (1 = the first in the file, up to 99), or\n"
            "                 the first in language CODE (like --language)\n"
            "  --language CODE\n"
            "                 convert the first audio track in that language (ISO 639: fr, fre\n"
            "                 and fra all mean French); ignored with --track N\n"
            "  --normalize[=LUFS]\n"
            "                 bring the loudness to LUFS (EBU R128, -70..-5; default -16) with one\n"
            "                 gain for the whole file, true peak at most -1 dBTP; IN is read twice,\n"
            "                 so it cannot be a pipe\n"
            "  --no-cover     no cover picture (default: the source's, else a frame of the video)\n"
            "  --title T, --artist A, --album A\n"
            "                 set these tags instead of the source's\n"
            "  --progress     report progress on stderr: the share done, the position in the input\n"
            "                 (hh:mm:ss of the total, when the input states its length), the speed\n"
            "                 (x real time) and the time left; on a terminal one line redrawn in\n"
            "                 place, else a line (progress=...) every 5 %% or 2 s; then a summary\n"
            "                 (track, cover, chapters, loudness)\n"
            "  --threads N    encode a long input on up to N cores at once (default: all of them,\n"
            "                 %d here); 1: one core\n"
            "  --split-min T  inputs at least this long are cut into segments for the cores\n"
            "                 (default 2m; seconds, or with s, m, h)\n"
            "  --segments N   cut into exactly N segments, whatever the length (for testing)\n"
            "  --help         this text\n"
            "  --version      print the version\n"
            "\n"
            "A warning is printed (the conversion goes on) when OUT does not end in .mp3.\n"
            "\n"
            "Inputs: the usual video and audio containers (MP4/MOV, MKV/WebM, AVI, FLV, MPEG-TS/PS,\n"
            "WMV/ASF, Ogg, WAV, AIFF, CAF, MP3, AAC, FLAC, AC-3, AMR...); playlists (concat, HLS,\n"
            "DASH), stream descriptions (SDP), images and subtitles are refused.\n"
            "\n"
            "Exit status: 0 on success; 1 when the conversion fails (unreadable, unsupported or\n"
            "too long input, write error, interrupted); 2 on bad usage or a refusal (OUT is the\n"
            "input, OUT exists without -y, no OUT for an IN ending in .mp3).\n",
            v2m_ncpu());
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '" PROG " --help'.\n");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* A duration: seconds (decimals allowed) with an optional s, m, h or d. */
static int parse_duration(const char *s, double *out)
{
    static const char suffixes[] = "smhd";
    static const double mult[] = {1, 60, 3600, 86400};
    char *end;
    double v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !isfinite(v))
        return -1;
    if (*end) {
        const char *p = strchr(suffixes, *end);
        if (!p || end[1])
            return -1;
        v *= mult[p - suffixes];
    }
    if (v <= 0 || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* hh:mm:ss of t seconds into buf (at most 9999 hours shown). */
static const char *hms(char *buf, size_t n, double t)
{
    int s = t > 0 ? (t < 9999 * 3600.0 ? (int)(t + 0.5) : 9999 * 3600) : 0;
    snprintf(buf, n, "%02d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

typedef struct progress_state {
    int tty;
    double t0;         /* when the conversion started */
    double total;      /* seconds of input to convert, 0 when unknown */
    const v2m_media_stats *st; /* the engine's account: its span, once known */
    double last_f, last_t; /* the last line printed (not a terminal) */
    int width;         /* of the last line drawn (terminal) */
} progress_state;

static void show_progress(void *opaque, double f)
{
    progress_state *p = opaque;
    double t = now(), el = t - p->t0;
    char pos[64] = "", a[24], b[24], speed[32] = "speed=?", eta[40] = "eta=?";
    int len;

    if (!p->tty && f < 1.0 && f < p->last_f + 0.05 && t < p->last_t + 2.0)
        return;
    p->last_f = f;
    p->last_t = t;
    if (p->total <= 0 && p->st && p->st->span > 0)
        p->total = p->st->span;
    if (p->total > 0)
        snprintf(pos, sizeof pos, " time=%s/%s", hms(a, sizeof a, f * p->total),
                 hms(b, sizeof b, p->total));
    if (el > 0.05 && f > 0) {
        if (p->total > 0)
            snprintf(speed, sizeof speed, "speed=%.1fx", f * p->total / el);
        else
            snprintf(speed, sizeof speed, "speed=%.1f%%/s", f * 100 / el);
        snprintf(eta, sizeof eta, "eta=%s", hms(a, sizeof a, el * (1 - f) / f));
    }
    if (p->tty) {
        len = fprintf(stderr, "\r" PROG ": %3d%%%s %s %s", (int)(f * 100), pos, speed, eta);
        if (len > 0 && len < p->width)
            fprintf(stderr, "%*s", p->width - len, "");
        p->width = len;
        if (f >= 1.0)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "progress=%.2f%s %s %s\n", f, pos, speed, eta);
    }
    fflush(stderr);
}

enum { OPT_QUALITY = 256, OPT_BITRATE, OPT_RATE, OPT_CHANNELS, OPT_START, OPT_END,
       OPT_MAXDUR, OPT_NOCOPY, OPT_PROGRESS, OPT_HELP, OPT_VERSION, OPT_TRACK, OPT_LANGUAGE,
       OPT_NORMALIZE, OPT_NOCOVER, OPT_TITLE, OPT_ARTIST, OPT_ALBUM, OPT_THREADS, OPT_SEGMENTS,
       OPT_SPLIT_MIN };

/* -y: replace an existing OUT. */
static int overwrite;

/* The default target of a bare --normalize (LUFS): what the streaming
 * services play music at. */
#define NORMALIZE_DEFAULT (-16.0)

/* A loudness target: a number of LUFS in -70..-5 (the minus sign may be
 * left out: "16" is -16). */
static int parse_lufs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || (*end && strcmp(end, "LUFS") != 0 && strcmp(end, "lufs") != 0) ||
        !isfinite(v))
        return -1;
    if (v > 0)
        v = -v;
    if (v < -70 || v > -5)
        return -1;
    *out = v;
    return 0;
}

/* An ISO 639 language code: 2 or 3 letters, perhaps a region after - or _. */
static int is_language(const char *s)
{
    size_t n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z'))
        n++;
    return (n == 2 || n == 3) && (s[n] == '\0' || ((s[n] == '-' || s[n] == '_') && strlen(s) <= 15));
}

/* Parse optarg as jobopts' option name (the same text forms as an upload's
 * fields) into a fresh j; 0, or the usage error printed and -1. */
static int jobopt(const char *name, v2m_jobopts *j)
{
    v2m_error err;

    v2m_jobopts_init(j);
    if (v2m_jobopts_set(j, name, optarg, &err) == V2M_OK)
        return 0;
    usage_error("--%s, not '%s'", err.msg, optarg);
    return -1;
}

/* Apply option c (its value in optarg) to o. -1 to go on, else the exit
 * status. */
static int parse_option(int c, char **argv, v2m_media_opts *o, int *want_progress)
{
    v2m_jobopts j;

    switch (c) {
    case 'y': overwrite = 1; break;
    case 'n': overwrite = 0; break;
    case OPT_QUALITY:
        if (parse_int(optarg, 0, 9, &o->quality))
            return usage_error("--quality wants 0..9, not '%s'", optarg);
        break;
    case OPT_BITRATE:
        if (jobopt("bitrate", &j))
            return 2;
        o->bitrate_kbps = j.bitrate;
        break;
    case OPT_RATE:
        if (jobopt("rate", &j))
            return 2;
        o->sample_rate = j.rate;
        break;
    case OPT_CHANNELS:
        if (jobopt("channels", &j))
            return 2;
        o->channels = j.channels;
        break;
    case OPT_START:
        if (jobopt("start", &j))
            return 2;
        o->start = (double)j.start_ms / 1000;
        break;
    case OPT_END:
        if (jobopt("end", &j))
            return 2;
        o->end = (double)j.end_ms / 1000;
        break;
    case OPT_MAXDUR:
        if (parse_duration(optarg, &o->max_duration))
            return usage_error("--max-duration wants a duration > 0 like 600, 90m or 12h, "
                               "not '%s'", optarg);
        break;
    case OPT_NOCOPY: o->passthrough = 0; break;
    case OPT_TRACK:
        if (jobopt("track", &j))
            return 2;
        if (j.set & V2M_OPT_TRACK) {
            o->track = j.track;
        } else {
            o->track = 0;
            o->language = optarg; /* checked by jobopts: 2 or 3 letters */
        }
        break;
    case OPT_LANGUAGE:
        if (!is_language(optarg))
            return usage_error("--language wants an ISO 639 code like fr, fre or fra, not '%s'", optarg);
        o->language = optarg;
        break;
    case OPT_NORMALIZE:
        o->normalize = NORMALIZE_DEFAULT;
        if (optarg && parse_lufs(optarg, &o->normalize))
            return usage_error("--normalize wants a loudness in LUFS from -70 to -5, not '%s'", optarg);
        break;
    case OPT_NOCOVER: o->cover = 0; break;
    case OPT_TITLE: o->title = optarg; break;
    case OPT_ARTIST: o->artist = optarg; break;
    case OPT_ALBUM: o->album = optarg; break;
    case OPT_PROGRESS: *want_progress = 1; break;
    case OPT_THREADS:
        if (parse_int(optarg, 1, 64, &o->threads))
            return usage_error("--threads wants 1..64, not '%s'", optarg);
        break;
    case OPT_SEGMENTS:
        if (parse_int(optarg, 1, 1000, &o->segments))
            return usage_error("--segments wants 1..1000, not '%s'", optarg);
        break;
    case OPT_SPLIT_MIN:
        if (parse_duration(optarg, &o->split_min))
            return usage_error("--split-min wants a duration > 0 like 120 or 2m, not '%s'", optarg);
        break;
    case OPT_HELP: usage(stdout); return 0;
    case OPT_VERSION: printf(PROG " " V2M_VERSION "\n"); return 0;
    case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return usage_error("unknown option '%s'", argv[optind - 1]);
    }
    return -1;
}

/* The options into o; -1 to go on with argv[optind] and argv[optind + 1],
 * else the exit status. */
static int parse_args(int argc, char **argv, v2m_media_opts *o, int *want_progress)
{
    static const struct option longopts[] = {
        {"quality", required_argument, NULL, OPT_QUALITY},
        {"bitrate", required_argument, NULL, OPT_BITRATE},
        {"rate", required_argument, NULL, OPT_RATE},
        {"channels", required_argument, NULL, OPT_CHANNELS},
        {"start", required_argument, NULL, OPT_START},
        {"end", required_argument, NULL, OPT_END},
        {"max-duration", required_argument, NULL, OPT_MAXDUR},
        {"no-copy", no_argument, NULL, OPT_NOCOPY},
        {"track", required_argument, NULL, OPT_TRACK},
        {"language", required_argument, NULL, OPT_LANGUAGE},
        {"normalize", optional_argument, NULL, OPT_NORMALIZE},
        {"no-cover", no_argument, NULL, OPT_NOCOVER},
        {"title", required_argument, NULL, OPT_TITLE},
        {"artist", required_argument, NULL, OPT_ARTIST},
        {"album", required_argument, NULL, OPT_ALBUM},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"segments", required_argument, NULL, OPT_SEGMENTS},
        {"split-min", required_argument, NULL, OPT_SPLIT_MIN},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":yn", longopts, NULL)) != -1) {
        if ((rc = parse_option(c, argv, o, want_progress)) >= 0)
            return rc;
    }
    if (argc - optind < 1)
        return usage_error("%s", "IN is required (IN and OUT are required when IN is -)");
    if (argc - optind > 2)
        return usage_error("%s", "too many arguments");
    if (o->quality >= 0 && o->bitrate_kbps > 0)
        return usage_error("%s", "--quality and --bitrate exclude each other");
    if (o->end > 0 && o->end <= o->start)
        return usage_error("--end (%g s) must be after --start (%g s)", o->end, o->start);
    return -1;
}

/* A temporary file beside out_path, renamed over it when complete; 0, or -1
 * with the reason printed. */
static int open_output(const char *out_path, char **tmp, int *out_fd)
{
    size_t n = strlen(out_path) + sizeof ".tmp-XXXXXX";

    *tmp = malloc(n);
    if (!*tmp) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    snprintf(*tmp, n, "%s.tmp-XXXXXX", out_path);
    if ((*out_fd = mkstemp(*tmp)) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", out_path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    return 0;
}

/* Give the complete temporary file the usual mode, close it (*out_fd becomes
 * -1) and move it to out_path: over an existing file only with -y. 0, or the
 * exit status with the reason printed (the temporary file stays for the
 * caller to remove). */
static int commit_output(const char *tmp, int *out_fd, const char *out_path)
{
    mode_t mask = umask(0);
    struct stat sb;

    umask(mask);
    if (fchmod(*out_fd, 0666 & ~mask) != 0 || close(*out_fd) != 0) {
        *out_fd = -1;
        fprintf(stderr, PROG ": %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    *out_fd = -1;
    if (!overwrite) {
        /* link() never replaces OUT, even one that appeared meanwhile. */
        if (link(tmp, out_path) == 0) {
            unlink(tmp);
            return 0;
        }
        if (errno == EEXIST) {
            fprintf(stderr, PROG ": %s exists; use -y to overwrite\n", out_path);
            return 2;
        }
        /* A file system without hard links: check, then rename. */
        if (lstat(out_path, &sb) == 0) {
            fprintf(stderr, PROG ": %s exists; use -y to overwrite\n", out_path);
            return 2;
        }
    }
    if (rename(tmp, out_path) != 0) {
        fprintf(stderr, PROG ": %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    return 0;
}

/* SIGINT and SIGTERM cancel the conversion; a closed stdout is an error. */
static void catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void summary(const v2m_media_stats *st, const v2m_media_opts *o)
{
    static const char *const covers[] = {"no cover", "cover: the source's picture", "cover: a video frame"};
    char loud[96] = "";

    if (o->normalize < 0)
        snprintf(loud, sizeof loud, ", loudness %.1f LUFS, gain %+.1f dB (target %.1f LUFS)",
                 st->loudness_in, st->gain_db, o->normalize);
    fprintf(stderr, PROG ": %s %.1f s, %d Hz, %d ch, %lld bytes%s\n",
            st->passthrough ? "copied" : "encoded", st->duration, st->sample_rate, st->channels,
            (long long)st->bytes_out, st->packets_skipped ? " (corrupt packets skipped)" : "");
    fprintf(stderr, PROG ": audio track %d of %d%s%s%s, %s, %d chapter%s%s\n", st->track, st->tracks,
            st->language[0] ? " (" : "", st->language, st->language[0] ? ")" : "",
            covers[st->cover >= 0 && st->cover <= 2 ? st->cover : 0], st->chapters,
            st->chapters == 1 ? "" : "s", loud);
}

/* 1 when path ends in ext (any case). */
static int ends_with(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n >= e && strcasecmp(path + n - e, ext) == 0;
}

/* The extension of path's last component ("" when none). */
static const char *extension(const char *path)
{
    const char *base = strrchr(path, '/'), *dot;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    return dot && dot != base ? dot : "";
}

/* IN's name with its extension replaced by .mp3 (malloc'd), or NULL with
 * the usage error printed. */
static char *default_out(const char *in_path)
{
    const char *ext = extension(in_path);
    size_t n = strlen(in_path) - strlen(ext);
    char *out;

    if (strcmp(in_path, "-") == 0) {
        usage_error("%s", "OUT is required when IN is -");
        return NULL;
    }
    if (ends_with(in_path, ".mp3")) {
        usage_error("%s already ends in .mp3: give OUT, a different name", in_path);
        return NULL;
    }
    if (!(out = malloc(n + sizeof ".mp3"))) {
        fprintf(stderr, PROG ": out of memory\n");
        return NULL;
    }
    memcpy(out, in_path, n);
    memcpy(out + n, ".mp3", sizeof ".mp3");
    return out;
}

/* Before anything is written: refuse OUT when it is the input file (by
 * device and inode, so also through a symbolic or hard link) or, without
 * -y, when it exists. 0 to go on, else the exit status. */
static int check_output(int in_fd, const char *out_path)
{
    struct stat in_sb, out_sb;
    int out_std = strcmp(out_path, "-") == 0;

    if (out_std ? fstat(1, &out_sb) != 0 : stat(out_path, &out_sb) != 0) {
        if (!out_std && errno != ENOENT && lstat(out_path, &out_sb) == 0 && !overwrite)
            goto exists; /* a dangling symbolic link is still a name taken */
        return 0;
    }
    if (fstat(in_fd, &in_sb) == 0 && S_ISREG(out_sb.st_mode) && in_sb.st_dev == out_sb.st_dev &&
        in_sb.st_ino == out_sb.st_ino) {
        fprintf(stderr, PROG ": %s is the input file\n", out_std ? "stdout" : out_path);
        return 2;
    }
    if (out_std || overwrite)
        return 0;
exists:
    fprintf(stderr, PROG ": %s exists; use -y to overwrite\n", out_path);
    return 2;
}

/* Convert in_path into out_path ("-": stdin, stdout); the exit status. */
static int convert(const char *in_path, const char *out_path, v2m_media_opts *o,
                   int want_progress)
{
    int in_std = strcmp(in_path, "-") == 0, out_std = strcmp(out_path, "-") == 0;
    char *tmp = NULL;
    int in_fd = 0, out_fd = 1, rc = 1;
    progress_state ps = {0};
    v2m_media_io in;
    v2m_media_sink out;
    v2m_media_fd in_state, out_state;
    v2m_media_stats st;
    v2m_error err;

    if (!in_std && (in_fd = open(in_path, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", in_path, strerror(errno));
        return 1;
    }
    if ((rc = check_output(in_fd, out_path)) != 0)
        goto done;
    rc = 1;
    if (!out_std && !ends_with(out_path, ".mp3")) {
        const char *ext = extension(out_path);
        if (*ext)
            fprintf(stderr, PROG ": warning: %s writes MP3 data; the name ends in %s\n",
                    out_path, ext);
        else
            fprintf(stderr, PROG ": warning: %s writes MP3 data; the name has no .mp3\n",
                    out_path);
    }
    catch_signals();
    if (!out_std && open_output(out_path, &tmp, &out_fd) != 0)
        goto done;
    v2m_media_io_fd(&in, &in_state, in_fd);
    v2m_media_sink_fd(&out, &out_state, out_fd);
    o->filename = in_std ? NULL : in_path;
    if (in.seek) {
        o->reopen = v2m_media_fd_reopen;
        o->reclose = v2m_media_fd_reclose;
        o->reopen_opaque = &in_state;
    }
    o->cancel = &interrupted;
    if (want_progress) {
        ps.tty = isatty(2);
        ps.t0 = now();
        ps.last_f = -1;
        ps.total = o->end > 0 ? o->end - o->start : 0;
        ps.st = &st;
        o->progress = show_progress;
        o->progress_opaque = &ps;
    }
    if (v2m_media_convert(&in, &out, o, &st, &err) != V2M_OK) {
        fprintf(stderr, PROG ": %s: %s\n", in_std ? "stdin" : in_path, v2m_error_msg(&err));
        goto done;
    }
    if (tmp) {
        if ((rc = commit_output(tmp, &out_fd, out_path)) != 0)
            goto done;
        free(tmp);
        tmp = NULL;
    }
    if (want_progress)
        summary(&st, o);
    rc = 0;
done:
    if (tmp) {
        if (out_fd >= 0)
            close(out_fd);
        unlink(tmp);
        free(tmp);
    }
    if (!in_std && in_fd >= 0)
        close(in_fd);
    return rc;
}

int main(int argc, char **argv)
{
    v2m_media_opts o;
    int want_progress = 0, rc;
    char *out;

    v2m_media_opts_init(&o);
    o.threads = v2m_ncpu();
    v2m_log_threshold = V2M_WARN;
    if (v2m_log_init() != 0) {
        fprintf(stderr, PROG ": bad V2M_LOG_LEVEL (debug|info|warn|error|silent)\n");
        return 2;
    }
    if ((rc = parse_args(argc, argv, &o, &want_progress)) >= 0)
        return rc;
    if (argc - optind == 2)
        return convert(argv[optind], argv[optind + 1], &o, want_progress);
    if (!(out = default_out(argv[optind])))
        return 2;
    rc = convert(argv[optind], out, &o, want_progress);
    free(out);
    return rc;
}
