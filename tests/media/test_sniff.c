/* test_sniff.c - the upload door's recogniser (media/sniff.c).
 *
 * 1. Its list of demuxers is the engine's (src/media/input.c), read from
 *    the source: the two cannot drift apart.
 * 2. Every file the media and pipeline tests convert (fixtures.sh, plus the
 *    other containers of the allow-list, MP3 with and without an ID3 tag,
 *    one whose tag holds more than 64 KiB of cover art), cut to its first
 *    64 KiB, is recognised.
 * 3. Text, noise, images, a PDF, HLS and DASH playlists, a concat script, a
 *    zip and an empty file are not.
 * Needs the ffmpeg CLI (exit 77 without it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "media/sniff.h"

static char fx[1024];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    int r = system(cmd);
    return r != -1 && WIFEXITED(r) && WEXITSTATUS(r) == 0 ? 0 : -1;
}

/* The first 64 KiB of a file, as the gateway holds them. */
static int sniff_file(const char *name, char *fmt, size_t fmtsz, int *score, size_t *got)
{
    static uint8_t buf[V2M_SNIFF_BYTES + V2M_SNIFF_PAD];
    char path[2048];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", fx, name);
    memset(buf, 0, sizeof buf);
    if (!(f = fopen(path, "rb")))
        return -1;
    *got = fread(buf, 1, V2M_SNIFF_BYTES, f);
    fclose(f);
    return v2m_sniff(buf, *got, fmt, fmtsz, score);
}

static void expect(const char *name, int want)
{
    char fmt[64];
    int score;
    size_t got = 0;
    int r = sniff_file(name, fmt, sizeof fmt, &score, &got);
    CHECKF(r == want, "%s (%zu bytes): %s, best match %s score %d", name, got,
           r < 0 ? "missing" : r ? "recognised" : "refused", fmt[0] ? fmt : "none", score);
}

/* input.c's allowed_demuxers[], from the source text. */
static void same_list_as_the_engine(void)
{
    const char *src = getenv("V2M_SRC");
    char path[1024], *text = NULL, *p, *end;
    size_t n = 0, len;
    FILE *f;

    check_scenario = "list";
    snprintf(path, sizeof path, "%s/src/media/input.c", src ? src : ".");
    f = fopen(path, "rb");
    REQUIRE(f != NULL, "cannot read %s (set V2M_SRC)", path);
    text = calloc(1, 1 << 20);
    len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    text[len] = 0;
    p = strstr(text, "allowed_demuxers[] = {");
    end = p ? strstr(p, "};") : NULL;
    REQUIRE(p && end, "allowed_demuxers[] not found in %s", path);
    *end = 0;
    /* Every string literal in the initialiser, in order (comments hold none). */
    while ((p = strchr(p, '"'))) {
        char *q = strchr(p + 1, '"');
        if (!q)
            break;
        *q = 0;
        CHECKF(v2m_sniff_demuxers[n] && strcmp(v2m_sniff_demuxers[n], p + 1) == 0,
               "demuxer %zu: input.c has \"%s\", sniff.c \"%s\"", n, p + 1,
               v2m_sniff_demuxers[n] ? v2m_sniff_demuxers[n] : "(end)");
        if (v2m_sniff_demuxers[n])
            n++;
        p = q + 1;
    }
    CHECKF(n > 10 && v2m_sniff_demuxers[n] == NULL, "sniff.c lists more than input.c (%zu)", n);
    free(text);
}

#define TONE "-f lavfi -i sine=f=440:r=44100:d=2"
#define PICS "-f lavfi -i testsrc2=size=160x120:rate=10:d=2"

static const struct {
    const char *file, *ffargs;
} more[] = {
    {"x.3gp", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a aac"},
    {"x.mka", TONE " -c:a libvorbis"},
    {"x.webm", PICS " " TONE " -c:v libvpx -deadline realtime -c:a libopus"},
    {"x.ts", PICS " " TONE " -c:v libx264 -preset ultrafast -c:a aac"},
    {"x.mpg", PICS " " TONE " -c:v mpeg2video -c:a mp2"},
    {"x.wmv", PICS " " TONE " -c:v wmv2 -c:a wmav2"},
    {"x.ogg", TONE " -c:a libvorbis"},
    {"x.opus", TONE " -c:a libopus"},
    {"x.wav", TONE},
    {"x.aiff", TONE},
    {"x.caf", TONE " -c:a pcm_s16be"},
    {"x.flac", TONE},
    {"x.ac3", TONE " -c:a ac3"},
    {"x.wv", TONE " -c:a wavpack"},
    {"x.aac", TONE " -c:a aac -f adts"},
    {"id3.mp3", TONE " -c:a libmp3lame"},
    {"bare.mp3", TONE " -c:a libmp3lame -id3v2_version 0 -write_xing 0"},
    /* Cover art of some 400 KiB (noise does not compress) in the ID3 tag. */
    {"cover.mp3", TONE " -f lavfi -i 'nullsrc=s=512x512:d=1,geq=random(1)*255:128:128' -map 0 "
                  "-map 1 -frames:v 1 -c:a libmp3lame -c:v png -id3v2_version 3"},
    {"pic.png", "-f lavfi -i testsrc2=size=320x240 -frames:v 1"},
    {"pic.jpg", "-f lavfi -i testsrc2=size=320x240 -frames:v 1"},
};

/* Deterministic noise (xorshift), so the test never depends on luck. */
static void noise(const char *name, size_t len, uint32_t seed)
{
    char path[2048];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", fx, name);
    f = fopen(path, "wb");
    for (size_t i = 0; f && i < len; i++) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        fputc((int)(seed & 0xff), f);
    }
    if (f)
        fclose(f);
}

static void text_file(const char *name, const char *text)
{
    char path[2048];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", fx, name);
    if ((f = fopen(path, "wb"))) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    static const char *const good[] = {
        "mp4_end.mp4", "mp4_fast.mp4", "mkv_vp9_opus.mkv", "webm_vp8_vorbis.webm", "avi_mp3.avi",
        "mov_pcm.mov", "flv_aac.flv", "aac51.mp4", "mono8k.mp4", "hi96k.mkv", "two_tracks.mkv",
        "audio.m4a", "mov_pcm_long.mov", "noaudio.mp4", "trunc_fast.mp4", "trunc_end.mp4",
        "unknown_codec.wav"};
    const char *src = getenv("V2M_SRC");
    const char *tmp = getenv("TMPDIR");
    char name[64];

    same_list_as_the_engine();
    if (sh("command -v ffmpeg >/dev/null 2>&1") != 0)
        SKIP("ffmpeg CLI not found: the fixtures cannot be made (make deps installs it)");
    snprintf(fx, sizeof fx, "%s/v2m-sniff-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(fx))
        FATAL("mkdtemp failed");
    if (sh("sh '%s/tests/media/fixtures.sh' '%s'", src ? src : ".", fx) != 0)
        FATAL("fixtures.sh failed");
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (sh("ffmpeg -nostdin -v error -y %s '%s/%s'", more[i].ffargs, fx, more[i].file) != 0)
            FATAL("ffmpeg could not make %s", more[i].file);

    check_scenario = "media";
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        expect(good[i], 1);
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        expect(more[i].file, strstr(more[i].file, "pic.") ? 0 : 1);
    {
        /* The tag must really be longer than what the door holds. */
        char path[2048];
        FILE *f;
        snprintf(path, sizeof path, "%s/cover.mp3", fx);
        f = fopen(path, "rb");
        fseek(f, 0, SEEK_END);
        CHECKF(ftell(f) > 2 * V2M_SNIFF_BYTES, "cover.mp3 is only %ld bytes", ftell(f));
        fclose(f);
    }

    check_scenario = "not media";
    expect("empty.mp4", 0);
    expect("text.mp4", 0);
    expect("random.bin", 0);
    for (uint32_t seed = 1; seed <= 32; seed++) {
        snprintf(name, sizeof name, "noise%u.bin", seed);
        noise(name, seed == 1 ? 1 << 20 : 4096 * seed, seed * 2654435761u);
        expect(name, 0);
    }
    text_file("doc.pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                         "2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << "
                         "/Root 1 0 R >>\n%%EOF\n");
    text_file("list.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\nseg0.ts\n"
                           "#EXTINF:3,\nhttp://example.com/seg1.ts\n#EXT-X-ENDLIST\n");
    text_file("list.mpd", "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
                          "type=\"static\" mediaPresentationDuration=\"PT3S\"><Period><AdaptationSet>"
                          "<Representation id=\"a\" bandwidth=\"1\"><BaseURL>a.mp4</BaseURL>"
                          "</Representation></AdaptationSet></Period></MPD>\n");
    text_file("list.ffconcat", "ffconcat version 1.0\nfile /etc/passwd\n");
    text_file("page.html", "<!doctype html><html><body>hello</body></html>\n");
    expect("doc.pdf", 0);
    expect("list.m3u8", 0);
    expect("list.mpd", 0);
    expect("list.ffconcat", 0);
    expect("page.html", 0);
    expect("pic.png", 0);
    expect("pic.jpg", 0);
    if (sh("cd '%s' && /usr/bin/python3 -c \"import zipfile; z=zipfile.ZipFile('a.zip','w',zipfile.ZIP_DEFLATED); "
           "z.write('mp4_fast.mp4'); z.write('text.mp4'); z.close()\"", fx) == 0)
        expect("a.zip", 0);
    else
        CHECKF(0, "python3 could not make a zip file");

    if (!getenv("V2M_KEEP_FIXTURES"))
        sh("rm -rf '%s'", fx);
    return check_exit("test_sniff");
}
