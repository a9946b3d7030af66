/* test_media_inputs.c - what the media engine agrees to read.
 *
 * 1. Formats: a file of every container on the allow-list (made by the
 *    ffmpeg CLI) converts, and the probe names the demuxer the list names.
 * 2. Hostile inputs: playlists and scripts (concat, HLS, DASH), a stream
 *    description (SDP), image sequences, subtitles, and URLs of every kind
 *    (relative and absolute paths, file:, http:, rtsp:, data:, tee:,
 *    subfile:) naming "canaries": real media files in folders the test
 *    watches with inotify, and a TCP listener on 127.0.0.1. Each input must
 *    fail with V2M_EMEDIA_UNSUPPORTED and the exact message, with no file in
 *    those folders opened, no connection to the listener, no descriptor left
 *    behind and nothing written. Control checks first show that the
 *    detectors see an open and a connection, that the canaries convert, and
 *    that the ffmpeg CLI, which follows references, does read them through
 *    the local playlists: the inputs are real attacks, not broken files.
 *    The engine must answer with its own error, not a timeout or a retry.
 * 3. The duration limit: a duration the file states (refused before a byte
 *    of MP3 is written), none stated (raw ADTS, MP3 without a Xing frame,
 *    from a stream that cannot seek: stopped while decoding, before the end
 *    of the input), a stated duration that lies (Matroska whose Duration
 *    says 3 s of 60), copy and encode paths, trimming, bad values.
 *
 * Sockets a demuxer could open without connecting (SDP's UDP ports) are
 * checked from outside by test_convert_hostile.sh under strace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/base64.h>

#include "check.h"
#include "common/log.h"
#include "media/media.h"
#include "membuf.h"

#define UNSUPPORTED_MSG "input is not a supported video or audio file"
#define STORED_FID "65f1c0ffee0000000000beef"

static char fx[1024]; /* the test's folder, also its working directory */
/* ---- helpers ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command in fx; 0 when it exits 0. */
static int sh(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    int r = system(cmd);
    return r != -1 && WIFEXITED(r) && WEXITSTATUS(r) == 0 ? 0 : -1;
}

static int write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(name, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static char *read_file(const char *name, size_t *len)
{
    FILE *f = fopen(name, "rb");
    char *d = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (d = malloc((size_t)n + 1)) && fread(d, 1, (size_t)n, f) == (size_t)n) {
        d[n] = '\0';
        *len = (size_t)n;
    } else {
        free(d);
        d = NULL;
    }
    fclose(f);
    return d;
}

static long file_size(const char *name)
{
    struct stat sb;
    return stat(name, &sb) == 0 ? (long)sb.st_size : -1;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- file input (optionally without seek); the sink is membuf.h ---- */

static int fd_read(void *opaque, uint8_t *buf, int size)
{
    ssize_t n = read(*(int *)opaque, buf, (size_t)size);
    return n < 0 ? -1 : (int)n;
}

static int64_t fd_seek(void *opaque, int64_t off, int whence)
{
    int fd = *(int *)opaque;
    if (whence == V2M_MEDIA_SEEK_SIZE) {
        struct stat sb;
        return fstat(fd, &sb) == 0 ? (int64_t)sb.st_size : -1;
    }
    return lseek(fd, off, whence);
}

/* Convert the file at name (relative to fx) into m; *fd is the input's
 * descriptor, opened here and closed by the caller (so a test can look
 * around between opening the input and converting it). */
static int open_input(const char *name, int *fd, v2m_media_io *io, int seekable)
{
    *fd = open(name, O_RDONLY | O_CLOEXEC);
    io->opaque = fd;
    io->read = fd_read;
    io->seek = seekable ? fd_seek : NULL;
    return *fd;
}

static v2m_err convert(const char *name, const v2m_media_opts *o, int seekable, membuf *m,
                       v2m_media_stats *st, v2m_error *err)
{
    int fd;
    v2m_media_io io;
    v2m_media_sink sink = mem_sink(m, 1);
    if (open_input(name, &fd, &io, seekable) < 0) {
        fprintf(stderr, "cannot open %s: %s\n", name, strerror(errno));
        return V2M_EIO;
    }
    v2m_err rc = v2m_media_convert(&io, &sink, o, st, err);
    close(fd);
    return rc;
}

/* ---- 1. every container on the allow-list converts ---- */

typedef struct format_case {
    const char *file;    /* made in gen/ */
    const char *ffargs;  /* ffmpeg arguments before the output; NULL: made another way */
    const char *demuxer; /* the name the probe must give */
} format_case;

#define TONE "-f lavfi -i sine=f=440:r=44100:d=1"
#define PICS "-f lavfi -i testsrc2=size=160x128:rate=15:d=1"

static const format_case formats[] = {
    {"gen/f.mp4", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a aac", "mov,mp4,m4a,3gp,3g2,mj2"},
    {"gen/f.mov", PICS " " TONE " -c:v mpeg4 -c:a pcm_s16le", "mov,mp4,m4a,3gp,3g2,mj2"},
    {"gen/f.3gp", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a aac", "mov,mp4,m4a,3gp,3g2,mj2"},
    {"gen/f.m4a", TONE " -c:a aac", "mov,mp4,m4a,3gp,3g2,mj2"},
    {"gen/f.mkv", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a flac", "matroska,webm"},
    {"gen/f.webm", PICS " " TONE " -c:v libvpx -deadline realtime -c:a libopus", "matroska,webm"},
    {"gen/f.mka", TONE " -c:a libvorbis", "matroska,webm"},
    {"gen/f.avi", PICS " " TONE " -c:v mpeg4 -c:a libmp3lame", "avi"},
    {"gen/f.flv", PICS " " TONE " -c:v flv -c:a aac", "flv"},
    {"gen/f.ts", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a aac", "mpegts"},
    {"gen/f.m2ts", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a ac3 -mpegts_m2ts_mode 1",
     "mpegts"},
    {"gen/f.mpg", PICS " " TONE " -c:v mpeg2video -c:a mp2", "mpeg"},
    {"gen/f.vob", PICS " " TONE " -c:v mpeg2video -c:a ac3 -f vob", "mpeg"},
    {"gen/f.wmv", PICS " " TONE " -c:v wmv2 -c:a wmav2", "asf"},
    {"gen/f.wma", TONE " -c:a wmav2", "asf"},
    {"gen/f.rm", PICS " " TONE " -c:v rv10 -c:a ac3", "rm"},
    {"gen/f.dv", "-f lavfi -i testsrc2=size=720x576:rate=25:d=1 -f lavfi -i sine=f=440:r=48000:d=1 "
                 "-c:v dvvideo -pix_fmt yuv420p -c:a pcm_s16le -ac 2 -f dv", "dv"},
    {"gen/f.ogg", TONE " -c:a libvorbis", "ogg"},
    {"gen/f.opus", TONE " -c:a libopus", "ogg"},
    {"gen/f.ogv", PICS " " TONE " -c:v libtheora -c:a libvorbis", "ogg"},
    {"gen/f.wav", TONE, "wav"},
    {"gen/f_rf64.wav", TONE " -rf64 always", "wav"},
    {"gen/f.w64", TONE " -f w64", "w64"},
    {"gen/f.aiff", TONE, "aiff"},
    {"gen/f.caf", TONE " -c:a pcm_s16be", "caf"},
    {"gen/f.mp3", TONE " -c:a libmp3lame", "mp3"},
    {"gen/f.aac", TONE " -c:a aac -f adts", "aac"},
    {"gen/f.flac", TONE, "flac"},
    {"gen/f.ac3", TONE " -c:a ac3", "ac3"},
    {"gen/f.eac3", TONE " -c:a eac3", "eac3"},
    {"gen/f.dts", TONE " -c:a dca -strict -2", "dts"},
    {"gen/f.wv", TONE " -c:a wavpack", "wv"},
    {"gen/f.amr", NULL, "amr"},
};

/* AMR-NB file: the "#!AMR\n" magic and 50 frames (1 s) of mode 7 (12.2
 * kbit/s: a header byte and 31 bytes of payload). The ffmpeg CLI here has no
 * AMR encoder; any payload decodes. */
static int make_amr(const char *name)
{
    uint8_t d[6 + 50 * 32];
    uint32_t x = 1;
    memcpy(d, "#!AMR\n", 6);
    for (int i = 0; i < 50; i++) {
        uint8_t *f = d + 6 + i * 32;
        f[0] = 7 << 3 | 4;
        for (int k = 1; k < 32; k++) {
            x = x * 1103515245u + 12345u;
            f[k] = (uint8_t)(x >> 24);
        }
    }
    return write_file(name, d, sizeof d);
}

static void test_format(const format_case *c)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;

    check_scenario = c->file;
    int made = c->ffargs ? sh("ffmpeg -nostdin -v error -y %s '%s'", c->ffargs, c->file)
                         : make_amr(c->file);
    REQUIRE(made == 0, "cannot make the fixture");
    v2m_media_opts_init(&o);
    v2m_err rc = convert(c->file, &o, 1, &m, &st, &err);
    free(m.data);
    REQUIRE(rc == V2M_OK, "rc=%d %s (format %s)", rc, err.msg, st.in_format);
    REQUIRE(strcmp(st.in_format, c->demuxer) == 0, "demuxer %s, expected %s", st.in_format, c->demuxer);
    REQUIRE(st.duration > 0.9 && st.duration < 1.2, "%.3f s of audio", st.duration);
}

/* ---- 2. hostile inputs ---- */

static int ino = -1;      /* inotify: opens in the canaries' folders and the working dir */
static int listener = -1; /* TCP, 127.0.0.1:port, non-blocking */
static int port;

/* Names of the files opened in watched folders since the last call, into
 * buf ("" when none). */
static void opened(char *buf, size_t size)
{
    char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    size_t used = 0;
    ssize_t n;

    buf[0] = '\0';
    while ((n = read(ino, ev, sizeof ev)) > 0) {
        for (char *p = ev; p < ev + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            if ((e->mask & IN_OPEN) && used + 2 < size) {
                int k = snprintf(buf + used, size - used, "%s%s", used ? " " : "",
                                 e->len ? e->name : "(watched folder)");
                if (k > 0)
                    used += (size_t)k < size - used ? (size_t)k : size - used - 1;
            }
            p += sizeof *e + e->len;
        }
    }
}

/* 1 when a connection is waiting on the listener (it is accepted and closed). */
static int connected(void)
{
    int c = accept(listener, NULL, NULL);
    if (c < 0)
        return 0;
    close(c);
    return 1;
}

static int setup_watch(void)
{
    static const char *const dirs[] = {"canary", "var/store/videos", "in", "."};
    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0)
        return -1;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (inotify_add_watch(ino, dirs[i], IN_OPEN) < 0)
            return -1;
    return 0;
}

static int setup_listener(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(listener, 16) < 0 || getsockname(listener, (struct sockaddr *)&a, &len) < 0)
        return -1;
    port = ntohs(a.sin_port);
    return 0;
}

/* The detectors detect: an open in a watched folder is seen, and so is a
 * connection to the listener. */
static void test_detectors(void)
{
    char names[1024];
    check_scenario = "detectors";
    opened(names, sizeof names);
    int fd = open("var/store/videos/" STORED_FID, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0, "cannot open the stored canary");
    close(fd);
    opened(names, sizeof names);
    REQUIRE(strstr(names, STORED_FID), "inotify did not report an open (got '%s')", names);
    fd = open("canary/mp4_fast.mp4", O_RDONLY | O_CLOEXEC);
    close(fd);
    opened(names, sizeof names);
    REQUIRE(strstr(names, "mp4_fast.mp4"), "inotify did not report an open (got '%s')", names);

    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0, "cannot connect: %s",
            strerror(errno));
    close(c);
    REQUIRE(connected(), "the listener did not see a connection");
    REQUIRE(!connected(), "a second connection appeared");
}

/* The canaries are real media the engine converts when given directly. */
static void test_canaries_convert(void)
{
    static const char *const files[] = {"canary/mp4_fast.mp4", "canary/audio.m4a", "canary/seg.ts",
                                        "canary/tiny.aac", "var/store/videos/" STORED_FID};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        v2m_media_opts o;
        v2m_media_stats st;
        v2m_error err;
        membuf m;
        check_scenario = files[i];
        v2m_media_opts_init(&o);
        v2m_err rc = convert(files[i], &o, 1, &m, &st, &err);
        free(m.data);
        REQUIRE(rc == V2M_OK && st.duration > 0.4, "canary does not convert: rc=%d %s", rc, err.msg);
    }
    check_scenario = "canary images";
    REQUIRE(file_size("canary/img-001.png") > 0 && file_size("canary/img-003.png") > 0,
            "the image sequence is missing");
}

typedef struct hostile {
    const char *what;
    const char *file;    /* in in/ */
    const char *content; /* {FX} = the test's folder, {PORT} = the listener's port, {AAC} and
                            {TS} = base64 of canary/tiny.aac and canary/tiny.ts; NULL: the
                            image, a copy of canary/img-001.png */
    const char *control; /* shell command ({F} = the file) after which the ffmpeg CLI, following
                            the reference, prints the canary's stream types; NULL: none (network,
                            a loop, nothing the CLI reads either) */
} hostile;

#define PROBE "ffprobe -v error -show_entries stream=codec_type -of csv=p=0 "
#define AUDIO " 2>&1 | grep -qx audio"


static const hostile hostiles[] = {
    {"concat, relative path of a stored video", "in/rel.ffconcat",
     "ffconcat version 1.0\nfile var/store/videos/" STORED_FID "\n",
     /* the CLI resolves the path from the playlist's folder, the engine from
        the working directory */
     "cp {F} ctl.ffconcat && " PROBE "ctl.ffconcat" AUDIO},
    {"concat, absolute path", "in/abs.ffconcat",
     "ffconcat version 1.0\nfile {FX}/canary/mp4_fast.mp4\n", PROBE "-safe 0 {F}" AUDIO},
    {"concat, file: URL", "in/fileurl.ffconcat",
     "ffconcat version 1.0\nfile 'file:{FX}/canary/mp4_fast.mp4'\n", PROBE "-safe 0 {F}" AUDIO},
    {"concat naming itself", "in/self.ffconcat",
     "ffconcat version 1.0\nfile in/self.ffconcat\nfile {FX}/in/self.ffconcat\n", NULL},
    {"concat, http URL", "in/http.ffconcat",
     "ffconcat version 1.0\nfile 'http://127.0.0.1:{PORT}/video.mp4'\n", NULL},
    {"concat, image sequence pattern", "in/pattern.ffconcat",
     "ffconcat version 1.0\nfile '{FX}/canary/img-%03d.png'\n", PROBE "-safe 0 {F} | grep -qx video"},
    {"concat, data: URI", "in/data.ffconcat",
     "ffconcat version 1.0\nfile 'data:audio/aac;base64,{AAC}'\n", PROBE "-safe 0 {F}" AUDIO},
    {"concat, tee: URL", "in/tee.ffconcat",
     "ffconcat version 1.0\nfile 'tee:{FX}/canary/mp4_fast.mp4'\n", NULL},
    {"concat, subfile: URL", "in/subfile.ffconcat",
     "ffconcat version 1.0\nfile 'subfile,,start,0,end,0,,:{FX}/canary/mp4_fast.mp4'\n", NULL},
    {"HLS, local path and file: URL", "in/local.m3u8",
     "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\n{FX}/canary/seg.ts\n#EXTINF:3,\n"
     "file://{FX}/canary/seg.ts\n#EXT-X-ENDLIST\n", PROBE "{F}" AUDIO},
    {"HLS, http URL", "in/http.m3u8",
     "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\nhttp://127.0.0.1:{PORT}/seg.ts\n#EXT-X-ENDLIST\n",
     NULL},
    {"HLS, data: URI", "in/data.m3u8",
     "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\ndata:video/mp2t;base64,{TS}\n#EXT-X-ENDLIST\n",
     NULL},
    {"HLS, rtsp URL", "in/rtsp.m3u8",
     "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\nrtsp://127.0.0.1:{PORT}/live\n#EXT-X-ENDLIST\n",
     NULL},
    {"HLS, a variant naming another playlist", "in/variant.m3u8",
     "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=128000\n{FX}/in/local.m3u8\n", PROBE "{F}" AUDIO},
    {"DASH, http BaseURL", "in/http.mpd",
     "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
     "profiles=\"urn:mpeg:dash:profile:isoff-on-demand:2011\" type=\"static\" "
     "mediaPresentationDuration=\"PT3S\" minBufferTime=\"PT1S\">\n"
     "<BaseURL>http://127.0.0.1:{PORT}/x/</BaseURL>\n<Period><AdaptationSet mimeType=\"audio/mp4\">"
     "<Representation id=\"a\" bandwidth=\"128000\" codecs=\"mp4a.40.2\">"
     "<BaseURL>audio.m4a</BaseURL></Representation></AdaptationSet></Period>\n</MPD>\n", NULL},
    {"DASH, file: BaseURL", "in/file.mpd",
     "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
     "profiles=\"urn:mpeg:dash:profile:isoff-on-demand:2011\" type=\"static\" "
     "mediaPresentationDuration=\"PT3S\" minBufferTime=\"PT1S\">\n"
     "<Period><AdaptationSet mimeType=\"audio/mp4\">"
     "<Representation id=\"a\" bandwidth=\"128000\" codecs=\"mp4a.40.2\">"
     "<BaseURL>file:{FX}/canary/audio.m4a</BaseURL></Representation></AdaptationSet></Period>\n"
     "</MPD>\n",
     PROBE "{F}" AUDIO},
    {"SDP (RTP over UDP)", "in/stream.sdp",
     "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
     "m=audio {PORT} RTP/AVP 0\r\n", NULL},
    {"a PNG image", "in/image.png", NULL, NULL},
    {"SRT subtitles", "in/subs.srt",
     "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n", NULL},
    {"WebVTT subtitles", "in/subs.vtt",
     "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfirst\n\n00:00:03.000 --> 00:00:04.000\nsecond\n",
     NULL},
    {"ASS subtitles", "in/subs.ass",
     "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
     "Style: Default,Arial,20\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n"
     "Dialogue: 0,0:00:01.00,0:00:02.00,Default,first\n", NULL},
};

static char *base64_of(const char *name)
{
    size_t len;
    char *d = read_file(name, &len), *out = NULL;
    if (d && (out = malloc(AV_BASE64_SIZE(len))) &&
        !av_base64_encode(out, (int)AV_BASE64_SIZE(len), (const uint8_t *)d, (int)len)) {
        free(out);
        out = NULL;
    }
    free(d);
    return out;
}

/* tmpl with {NAME} replaced by the value vals[i] of names[i]; malloc'd. */
static char *subst(const char *tmpl, const char *const *names, const char *const *vals, int n)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    char *out = malloc(cap);
    for (const char *p = tmpl; out && *p;) {
        const char *v = NULL;
        size_t skip = 1, vlen = 1;
        for (int i = 0; i < n && *p == '{'; i++) {
            size_t k = strlen(names[i]);
            if (!strncmp(p + 1, names[i], k) && p[1 + k] == '}') {
                v = vals[i];
                vlen = strlen(v);
                skip = k + 2;
                break;
            }
        }
        if (!v)
            v = p;
        if (len + vlen + 1 > cap) {
            char *o = realloc(out, cap = (len + vlen + 1) * 2);
            if (!o) {
                free(out);
                return NULL;
            }
            out = o;
        }
        memcpy(out + len, v, vlen);
        len += vlen;
        p += skip;
    }
    if (out)
        out[len] = '\0';
    return out;
}

static int write_hostiles(void)
{
    static const char *const names[] = {"FX", "PORT", "AAC", "TS"};
    char *aac = base64_of("canary/tiny.aac"), *ts = base64_of("canary/tiny.ts");
    char portstr[16];
    int rc = aac && ts ? 0 : -1;

    snprintf(portstr, sizeof portstr, "%d", port);
    const char *const vals[] = {fx, portstr, aac, ts};
    for (size_t i = 0; rc == 0 && i < sizeof hostiles / sizeof hostiles[0]; i++) {
        const hostile *h = &hostiles[i];
        if (!h->content) {
            rc = sh("cp canary/img-001.png '%s'", h->file);
            continue;
        }
        char *c = subst(h->content, names, vals, 4);
        rc = c ? write_file(h->file, c, strlen(c)) : -1;
        free(c);
    }
    free(aac);
    free(ts);
    return rc;
}

/* Controls: the ffmpeg CLI, which follows references, finds the canaries'
 * streams through the local playlists (run before the watch starts: it
 * opens the canaries). */
static void test_hostile_control(const hostile *h)
{
    static const char *const names[] = {"F"};
    const char *const vals[] = {h->file};
    check_scenario = h->what;
    char *cmd = subst(h->control, names, vals, 1);
    int rc = cmd ? sh("%s", cmd) : -1;
    if (rc)
        fprintf(stderr, "control command: %s\n", cmd ? cmd : "(out of memory)");
    free(cmd);
    REQUIRE(rc == 0, "control: the ffmpeg CLI does not find the canary's streams through the input");
}

static void test_hostile(const hostile *h)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;
    v2m_media_io io;
    v2m_media_sink sink = mem_sink(&m, 1);
    char names[1024];
    int fd;

    check_scenario = h->what;
    v2m_media_opts_init(&o);
    REQUIRE(open_input(h->file, &fd, &io, 1) >= 0, "cannot open %s", h->file);
    opened(names, sizeof names); /* our own open of the input */
    int fds = count_fds();
    v2m_err rc = v2m_media_convert(&io, &sink, &o, &st, &err);
    int fds_after = count_fds();
    close(fd);
    free(m.data);
    opened(names, sizeof names);
    int conn = connected();
    REQUIRE(names[0] == '\0', "the engine opened: %s (rc=%d)", names, rc);
    REQUIRE(!conn, "the engine connected to 127.0.0.1:%d (rc=%d)", port, rc);
    REQUIRE(rc == V2M_EMEDIA_UNSUPPORTED && err.code == V2M_EMEDIA_UNSUPPORTED,
            "rc=%d '%s' (format %s), expected %d", rc, err.msg, st.in_format, V2M_EMEDIA_UNSUPPORTED);
    REQUIRE(strcmp(err.msg, UNSUPPORTED_MSG) == 0, "message '%s'", err.msg);
    REQUIRE(fds_after == fds, "%d descriptors before, %d after", fds, fds_after);
    REQUIRE(m.len == 0, "%zu bytes written", m.len);
}

/* ---- 3. the duration limit ---- */

/* gen/lie.mka: 60 s of FLAC whose Matroska Duration says 3 s. */
static int make_lying_mka(void)
{
    static const uint8_t id[] = {0x44, 0x89, 0x88}; /* Duration, an 8-byte float */
    size_t len;
    uint8_t *d = (uint8_t *)read_file("gen/tone60.mka", &len);
    int rc = -1;
    for (size_t i = 0; d && i + 11 <= len; i++) {
        if (memcmp(d + i, id, sizeof id) != 0)
            continue;
        uint64_t bits = 0;
        double v;
        for (int k = 0; k < 8; k++)
            bits = bits << 8 | d[i + 3 + k];
        memcpy(&v, &bits, sizeof v);
        if (v != 60000.0) /* milliseconds, the default time scale */
            break;
        v = 3000.0;
        memcpy(&bits, &v, sizeof bits);
        for (int k = 7; k >= 0; k--, bits >>= 8)
            d[i + 3 + k] = (uint8_t)bits;
        rc = write_file("gen/lie.mka", d, len);
        break;
    }
    free(d);
    return rc;
}

static int make_duration_fixtures(void)
{
    return sh("ffmpeg -nostdin -v error -y -f lavfi -i sine=f=440:r=44100:d=60 -c:a aac gen/tone60.m4a "
              "-c:a aac -f adts gen/tone60.aac -c:a libmp3lame -write_xing 0 gen/tone60.mp3 "
              "-c:a flac gen/tone60.mka") == 0 &&
                   sh("ffmpeg -nostdin -v error -y -f lavfi -i sine=f=440:r=44100:d=5 -c:a aac "
                      "gen/tone5.m4a") == 0 &&
                   make_lying_mka() == 0
               ? 0
               : -1;
}

typedef struct limit_case {
    const char *what;
    const char *file;
    int seekable, passthrough;
    double max, start, end;
    v2m_err code;
    const char *msg;   /* the whole message when code != OK */
    int stopped;       /* 1: stopped while decoding, before the end of the input;
                          0 with an error: refused before decoding (no progress, no byte out) */
    double seconds;    /* on success, the duration of the MP3 */
} limit_case;

static const limit_case limits[] = {
    {"stated 60 s, limit 5 s", "gen/tone60.m4a", 1, 1, 5, 0, 0, V2M_EMEDIA_TOOLONG,
     "input is too long: 60 s of audio, the limit is 5.0 s", 0, 0},
    {"stated 60 s, limit 12h", "gen/tone60.m4a", 1, 1, 43200, 0, 0, V2M_OK, NULL, 0, 60},
    {"stated 60 s, trimmed to 4 s, limit 5 s", "gen/tone60.m4a", 1, 1, 5, 0, 4, V2M_OK, NULL, 0, 4},
    {"stated 60 s, from 56 s, limit 5 s", "gen/tone60.m4a", 1, 1, 5, 56, 0, V2M_OK, NULL, 0, 4},
    {"stated 60 s, from 10 s to 25 s, limit 5 s", "gen/tone60.m4a", 1, 1, 5, 10, 25,
     V2M_EMEDIA_TOOLONG, "input is too long: 15 s of audio, the limit is 5.0 s", 0, 0},
    {"stated 5 s, limit 5 s", "gen/tone5.m4a", 1, 1, 5, 0, 0, V2M_OK, NULL, 0, 5},
    {"raw ADTS from a stream, limit 5 s", "gen/tone60.aac", 0, 1, 5, 0, 0, V2M_EMEDIA_TOOLONG,
     "input is too long: its audio goes on past the limit of 5.0 s", 1, 0},
    {"raw ADTS from a file (duration guessed from the bitrate), limit 5 s", "gen/tone60.aac", 1, 1,
     5, 0, 0, V2M_EMEDIA_TOOLONG, "input is too long: its audio goes on past the limit of 5.0 s", 1,
     0},
    {"MP3 without Xing frame, copied, limit 5 s", "gen/tone60.mp3", 1, 1, 5, 0, 0,
     V2M_EMEDIA_TOOLONG, "input is too long: its audio goes on past the limit of 5.0 s", 1, 0},
    {"MP3 without Xing frame from a stream, re-encoded, limit 5 s", "gen/tone60.mp3", 0, 0, 5, 0, 0,
     V2M_EMEDIA_TOOLONG, "input is too long: its audio goes on past the limit of 5.0 s", 1, 0},
    {"Matroska stating 3 s of 60, limit 10 s", "gen/lie.mka", 1, 1, 10, 0, 0, V2M_EMEDIA_TOOLONG,
     "input is too long: its audio goes on past the limit of 10 s (the file states 3.0 s)", 1, 0},
    {"Matroska stating 3 s of 60, no limit", "gen/lie.mka", 1, 1, 0, 0, 0, V2M_OK, NULL, 0, 60},
};

static void count_progress(void *opaque, double f)
{
    (void)f;
    ++*(int *)opaque;
}

static void test_limit(const limit_case *c)
{
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err;
    membuf m;
    int progress = 0;

    check_scenario = c->what;
    v2m_media_opts_init(&o);
    o.progress = count_progress;
    o.progress_opaque = &progress;
    o.max_duration = c->max;
    o.passthrough = c->passthrough;
    o.start = c->start;
    o.end = c->end;
    v2m_err rc = convert(c->file, &o, c->seekable, &m, &st, &err);
    free(m.data);
    long size = file_size(c->file);
    if (c->code == V2M_OK) {
        REQUIRE(rc == V2M_OK, "rc=%d %s", rc, err.msg);
        REQUIRE(fabs(st.duration - c->seconds) < 0.1, "%.3f s of MP3, expected %.1f", st.duration,
                c->seconds);
        return;
    }
    REQUIRE(rc == c->code && err.code == c->code, "rc=%d '%s', expected %d", rc, err.msg, c->code);
    REQUIRE(strcmp(err.msg, c->msg) == 0, "message '%s', expected '%s'", err.msg, c->msg);
    if (c->stopped) {
        REQUIRE(st.bytes_in < size, "read all %lld bytes before stopping", (long long)st.bytes_in);
        if (strstr(c->file, ".mp3")) /* both loops are stopped: frame copy and re-encode */
            REQUIRE(st.passthrough == c->passthrough, "passthrough %d", st.passthrough);
    } else {
        REQUIRE(m.len == 0 && progress == 0, "%zu bytes of MP3 written, %d progress reports before "
                "the refusal", m.len, progress);
    }
}

static void test_limit_options(void)
{
    static const double bad[] = {-1, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v2m_media_opts o;
        v2m_media_stats st;
        v2m_error err;
        membuf m;
        check_scenario = "bad max_duration";
        v2m_media_opts_init(&o);
        o.max_duration = bad[i];
        v2m_err rc = convert("gen/tone5.m4a", &o, 1, &m, &st, &err);
        free(m.data);
        REQUIRE(rc == V2M_EINVAL && strstr(err.msg, "max duration"), "%g: rc=%d %s", bad[i], rc, err.msg);
    }
    check_scenario = "error texts";
    REQUIRE(!strcmp(v2m_strerror(V2M_EMEDIA_UNSUPPORTED), UNSUPPORTED_MSG), "%s",
            v2m_strerror(V2M_EMEDIA_UNSUPPORTED));
    REQUIRE(!strcmp(v2m_strerror(V2M_EMEDIA_TOOLONG), "input is too long"), "%s",
            v2m_strerror(V2M_EMEDIA_TOOLONG));
}

int main(void)
{
    const char *srcdir = getenv("V2M_SRC");
    const char *tmp = getenv("TMPDIR");
    char src[1024];

    v2m_log_init();
    if (!realpath(srcdir ? srcdir : ".", src)) {
        perror("V2M_SRC");
        return 1;
    }
    snprintf(fx, sizeof fx, "%s/v2m-inputs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx) || chdir(fx) != 0) {
        perror(fx);
        return 1;
    }
    int r = system("command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1");
    if (r == -1 || !WIFEXITED(r) || WEXITSTATUS(r) != 0) {
        fprintf(stderr, "SKIP: the ffmpeg CLI is not installed; media input tests NOT RUN\n");
        sh("rm -rf '%s'", fx);
        return 77;
    }
    if (sh("mkdir -p canary in gen var/store/videos") ||
        sh("sh '%s/tests/media/fixtures.sh' canary mp4_fast.mp4 audio.m4a", src) ||
        sh("cp canary/mp4_fast.mp4 var/store/videos/" STORED_FID) ||
        sh("ffmpeg -nostdin -v error -y -i canary/mp4_fast.mp4 -c copy canary/seg.ts") ||
        sh("ffmpeg -nostdin -v error -y -f lavfi -i sine=f=440:r=44100:d=0.5 -c:a aac "
           "canary/tiny.aac -c:a aac -f mpegts canary/tiny.ts") ||
        sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=64x48:rate=1:d=3 "
           "canary/img-%%03d.png") ||
        setup_listener() || write_hostiles() || make_duration_fixtures()) {
        fprintf(stderr, "FAIL: cannot make the fixtures in %s\n", fx);
        return 1;
    }

    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        test_format(&formats[i]);

    test_canaries_convert();
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++)
        if (hostiles[i].control)
            test_hostile_control(&hostiles[i]);
    check_scenario = "inotify";
    if (setup_watch() != 0) {
        fprintf(stderr, "FAIL: inotify: %s\n", strerror(errno));
        return 1;
    }
    test_detectors();
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++)
        test_hostile(&hostiles[i]);
    close(ino);
    close(listener);

    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        test_limit(&limits[i]);
    test_limit_options();

    if (!getenv("V2M_KEEP_FIXTURES"))
        sh("rm -rf '%s'", fx);
    else
        fprintf(stderr, "fixtures kept in %s\n", fx);
    return check_exit("test_media_inputs");
}
