/* Composing the notification mail (notification/mail.c): the headers and
 * body of a done and of a failed conversion, CRLF everywhere, the subject
 * naming the file (RFC 2047 when needed, decoded here again), a signed link
 * that checks out, plain words for each failure code with the detail below
 * a separator, and every field that could add a header or a recipient
 * refused with V2M_EINVAL. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "notification/mail.h"

#define VID "65f1c0ffee0000000000beef"
#define MP3 "0123456789abcdef01234567"

static v2m_mail_config cfg;

static v2m_err compose(const v2m_notice *n, long long now, char **out)
{
    v2m_error e = {0};
    size_t len = 0;
    v2m_err rc = v2m_mail_compose(&cfg, n, now, out, &len, &e);

    CHECK(rc == e.code);
    if (rc == V2M_OK) {
        CHECK(*out != NULL && len == strlen(*out));
    } else {
        CHECK(*out == NULL);
        CHECK(e.msg[0] != '\0');
    }
    return rc;
}

/* Every line break is CRLF, and the headers end at the first empty line. */
static void check_lines(const char *m)
{
    for (const char *p = m; *p; p++) {
        if (*p == '\n')
            CHECK(p > m && p[-1] == '\r');
        if (*p == '\r')
            CHECK(p[1] == '\n');
    }
    CHECK(strstr(m, "\r\n\r\n") != NULL);
}

/* The header block of m (up to the empty line), into h. */
static void headers(const char *m, char *h, size_t hsz)
{
    const char *end = strstr(m, "\r\n\r\n");
    snprintf(h, hsz, "%.*s\r\n", end ? (int)(end - m) : 0, m);
}

/* Compose n at time 0, check its lines and copy its header into h; the
 * message, or NULL when composing failed. */
static char *compose_read(const v2m_notice *n, char *h, size_t hsz)
{
    char *m = NULL;

    CHECK(compose(n, 0, &m) == V2M_OK);
    if (m) {
        check_lines(m);
        headers(m, h, hsz);
    }
    return m;
}

/* The Subject of header block h, decoded: plain text, or RFC 2047
 * encoded-words (UTF-8, B) on folded lines, each checked for its limits. */
static void subject(const char *h, char *out, size_t outsz)
{
    const char *p = strstr(h, "\r\nSubject:");
    size_t o = 0;

    out[0] = '\0';
    if (!p)
        return;
    p += 10;
    if (strncmp(p, " =?", 3) != 0) {
        const char *end = strstr(p, "\r\n");
        snprintf(out, outsz, "%.*s", (int)(end - p - 1), p + 1);
        return;
    }
    /* Words, separated by CRLF + space (folding) or a space. */
    while (strncmp(p, " =?UTF-8?B?", 11) == 0) {
        const char *b = p + 11, *q = strstr(b, "?=");
        unsigned char raw[128];
        int n;
        if (!q || q - b > 64) {
            CHECK(!"malformed encoded-word");
            return;
        }
        CHECKF(q + 2 - (p + 1) <= 75, "encoded-word of %d chars", (int)(q + 2 - (p + 1)));
        n = EVP_DecodeBlock(raw, (const unsigned char *)b, (int)(q - b));
        if (n < 0 || o + (size_t)n >= outsz)
            return;
        n -= (q - b >= 2 && q[-1] == '=') + (q - b >= 2 && q[-2] == '=');
        memcpy(out + o, raw, (size_t)n);
        o += (size_t)n;
        out[o] = '\0';
        p = q + 2;
        if (strncmp(p, "\r\n ", 3) == 0)
            p += 2;
    }
    CHECK(strncmp(p, "\r\n", 2) == 0 && p[2] != ' ' && p[2] != '\t');
}

/* No header line over 78 bytes. */
static void check_header_lines(const char *h)
{
    for (const char *p = h; *p;) {
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        CHECKF(e - p <= 78, "header line of %d bytes: %.*s", (int)(e - p), (int)(e - p), p);
        p = e + 2;
    }
}

static void test_done(void)
{
    v2m_notice n = {.username = "alice@example.com", .video_fid = VID, .mp3_fid = MP3,
                    .filename = "Caf\xc3\xa9.mp4"};
    char h[2048], subj[1024], e[32], sig[64], *m = compose_read(&n, h, sizeof h);
    const char *link;

    if (!m)
        return;
    CHECK(strncmp(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n", 39) == 0);
    CHECK(strstr(h, "\r\nFrom: v2m <v2m@example.com>\r\n") != NULL);
    CHECK(strstr(h, "\r\nTo: <alice@example.com>\r\n") != NULL);
    /* Not ASCII: encoded, and decodes to the MP3's name. */
    CHECK(strstr(h, "\r\nSubject: =?UTF-8?B?") != NULL);
    subject(h, subj, sizeof subj);
    CHECK_STR(subj, "MP3 Download: Caf\xc3\xa9.mp3 is ready");
    check_header_lines(h);
    CHECK(strstr(h, "\r\nMessage-ID: <" VID ".done.0@v2m>\r\n") != NULL);
    CHECK(strstr(h, "\r\nContent-Type: text/plain; charset=utf-8\r\n") != NULL);
    CHECK(strstr(h, "\r\nMIME-Version: 1.0\r\n") != NULL);
    /* The body: the original's first line, the video's name, the links. */
    CHECK(strstr(m, "\r\n\r\nmp3 file_id: " MP3 " is now ready!\r\n") != NULL);
    CHECK(strstr(m, "It is the audio of Caf\xc3\xa9.mp4.\r\n") != NULL);
    link = strstr(m, "  https://v2m.example/d/" MP3 "?e=");
    CHECK(link != NULL);
    if (link) {
        CHECK(sscanf(link, "  https://v2m.example/d/" MP3 "?e=%31[0-9]&s=%63[A-Za-z0-9_-]", e,
                     sig) == 2);
        /* 7 days (the ttl set in main), rounded up to the minute. */
        CHECK_STR(e, "604800");
        CHECK(v2m_link_check(&cfg.links, MP3, e, sig, 0) == V2M_LINK_OK);
        CHECK(v2m_link_check(&cfg.links, MP3, e, sig, 604800) == V2M_LINK_EXPIRED);
        CHECK(strstr(m, "the link works until 08 Jan 1970, 00:00 UTC") != NULL);
    }
    CHECK(strstr(m, "\r\n  https://v2m.example/?job=" VID "\r\n") != NULL);
    /* No shell commands or tokens for people; one pointer for API users. */
    CHECK(strstr(m, "curl") == NULL && strstr(m, "$TOKEN") == NULL);
    CHECK(strstr(m, "GET /download?fid=" MP3 " with your token") != NULL);
    free(m);

    /* Plain ASCII names stay plain in the subject. */
    n.filename = "holiday.mp4";
    m = compose_read(&n, h, sizeof h);
    CHECK(strstr(h, "\r\nSubject: MP3 Download: holiday.mp3 is ready\r\n") != NULL);
    free(m);
    /* Without a file name: no sentence about it. A later time: its date. */
    n.filename = NULL;
    CHECK(compose(&n, 1700000000LL, &m) == V2M_OK);
    CHECK(m && !strstr(m, "It is the audio"));
    CHECK(m && strstr(m, "\r\nSubject: MP3 Download: your MP3 is ready\r\n"));
    CHECK(m && strncmp(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 39) == 0);
    CHECK(m && strstr(m, "Message-ID: <" VID ".done.1700000000@v2m>\r\n"));
    CHECK(m && strstr(m, "?e=1700604840&s="));
    free(m);
    n.filename = "";
    CHECK(compose(&n, 0, &m) == V2M_OK);
    CHECK(m && !strstr(m, "It is the audio"));
    free(m);

    /* Links off (no secret): the web page, no /d/ link. */
    {
        v2m_links keep = cfg.links;
        CHECK(v2m_links_init(&cfg.links, NULL, 60, NULL) == V2M_OK);
        n.filename = "a.mp4";
        CHECK(compose(&n, 0, &m) == V2M_OK);
        CHECK(m && !strstr(m, "/d/") && strstr(m, "Log in to download it:\r\n\r\n"
                                                   "  https://v2m.example/?job=" VID "\r\n"));
        CHECK(m && strstr(m, "mp3 file_id: " MP3 " is now ready!\r\n"));
        free(m);
        cfg.links = keep;
    }
}

/* Subjects of any script and length: folded words, each within limits,
 * decoding to the whole name; "=?" in a plain name is encoded too. */
static void test_subjects(void)
{
    static const char *const names[] = {
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe5\x8b\x95\xe7\x94\xbb.mp4",
        "a=?UTF-8?B?QQ==?=b.mp4",
        "\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5"
        "\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5"
        "\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5 x.mov",
        "a very long but plain file name that does not fit on one subject line.mp4",
    };
    char big[256], h[4096], subj[1024], want[1024], *m;

    for (size_t i = 0; i < sizeof names / sizeof names[0] + 2; i++) {
        v2m_notice n = {.username = "a@example.com", .video_fid = VID, .error = "x"};
        if (i < sizeof names / sizeof names[0]) {
            n.filename = names[i];
        } else {
            /* 255 bytes: 2-byte characters and one odd byte at the end. */
            for (int k = 0; k < 127; k++)
                memcpy(big + 2 * k, "\xc3\xa9", 2);
            big[254] = 'x';
            big[255] = '\0';
            n.filename = big;
            if (i == sizeof names / sizeof names[0] + 1)
                n.mp3_fid = MP3;
        }
        m = compose_read(&n, h, sizeof h);
        if (!m)
            continue;
        check_header_lines(h);
        subject(h, subj, sizeof subj);
        if (n.mp3_fid) {
            const char *dot = strrchr(n.filename, '.');
            snprintf(want, sizeof want, "MP3 Download: %.*s.mp3 is ready",
                     dot ? (int)(dot - n.filename) : (int)strlen(n.filename), n.filename);
        } else {
            snprintf(want, sizeof want, "MP3 Download: %s could not be converted", n.filename);
        }
        CHECK_STR(subj, want);
        CHECK(strstr(h, "\r\nSubject: =?UTF-8?B?") != NULL);
        free(m);
    }
}

static void test_failed(void)
{
    v2m_notice n = {.username = "bob@example.com", .video_fid = VID,
                    .filename = "clip.avi", .error = "input has no audio stream",
                    .error_code = "noaudio"};
    char h[2048], *m = compose_read(&n, h, sizeof h);
    const char *sep;

    if (!m)
        return;
    CHECK(strstr(h, "\r\nSubject: MP3 Download: clip.avi could not be converted\r\n") != NULL);
    CHECK(strstr(h, "\r\nMessage-ID: <" VID ".failed.0@v2m>\r\n") != NULL);
    CHECK(strstr(m, "Your file \"clip.avi\" could not be converted to MP3.\r\n") != NULL);
    CHECK(strstr(m, "The video has no sound track") != NULL);
    CHECK(strstr(m, "\r\n  https://v2m.example/?job=" VID "\r\n") != NULL);
    /* The technical detail only below the separator. */
    sep = strstr(m, "\r\n----\r\n");
    CHECK(sep != NULL);
    if (sep) {
        CHECK(strstr(m, "input has no audio stream") > sep);
        CHECK(strstr(sep, "\r\nReason: input has no audio stream\r\n") != NULL);
        CHECK(strstr(sep, "\r\nCode: noaudio\r\n") != NULL);
        CHECK(strstr(sep, "\r\nVideo file_id: " VID "\r\n") != NULL);
        CHECK(strstr(m, "The video has no sound track") < sep);
    }
    CHECK(strstr(m, "download?fid=") == NULL && strstr(m, "/d/") == NULL);
    free(m);

    /* No reason given, no name, no code: the general advice. */
    n.error = NULL;
    n.filename = NULL;
    n.error_code = NULL;
    CHECK(compose(&n, 0, &m) == V2M_OK);
    CHECK(m && strstr(m, "\r\nReason: unknown\r\n") && !strstr(m, "\r\nCode: "));
    CHECK(m && strstr(m, "Your file could not be converted") && !strstr(m, "\"\""));
    CHECK(m && strstr(m, "\r\nSubject: MP3 Download: your file could not be converted\r\n"));
    CHECK(m && strstr(m, "Something went wrong while converting it."));
    free(m);
    n.error = "";
    CHECK(compose(&n, 0, &m) == V2M_OK);
    CHECK(m && strstr(m, "\r\nReason: unknown\r\n"));
    free(m);
}

/* Each code's plain words reach the mail; an unknown code gets the general ones. */
static void test_advice(void)
{
    static const struct {
        const char *code, *words;
    } want[] = {
        {"notmedia", "Try an MP4, MKV, WebM, MOV or AVI video, or an audio file"},
        {"unsupported", "Try an MP4, MKV, WebM, MOV or AVI video, or an audio file"},
        {"noaudio", "no sound track"},
        {"toolong", "longer than this service converts"},
        {"corrupt", "damaged or incomplete"},
        {"empty", "The file is empty."},
        {"codec", "cannot decode"},
        {"attempts", "never finished"},
        {"gone", "Upload it again."},
        {"options", "Upload it again with other options"},
        {"encode", "Something went wrong"},
        {"no-such-code", "Something went wrong"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        v2m_notice n = {.username = "a@example.com", .video_fid = VID, .filename = "v.mp4",
                        .error = "detail", .error_code = want[i].code};
        const char *what, *try_;
        char *m = NULL;
        CHECK(compose(&n, 0, &m) == V2M_OK);
        CHECKF(m && strstr(m, want[i].words), "%s: %s", want[i].code, m ? m : "");
        v2m_mail_advice(want[i].code, &what, &try_);
        CHECK(what && try_ && strchr(what, '\n') == NULL && strchr(try_, '\n') == NULL);
        free(m);
    }
}

/* n has a field pointing at big: composed with max bytes there it passes,
 * with max + 1 it is refused. */
static void check_longest(const v2m_notice *n, char *big, size_t max)
{
    char *m = NULL;

    memset(big, 'x', max + 1);
    big[max] = '\0';
    CHECK(compose(n, 0, &m) == V2M_OK);
    free(m);
    m = NULL;
    big[max] = 'x';
    big[max + 1] = '\0';
    CHECK(compose(n, 0, &m) == V2M_EINVAL);
    free(m);
}

static void test_refused(void)
{
    static const char *const bad_rcpt[] = {
        "",                    "alice",               "@example.com",
        "alice@",              "al ice@example.com",  "alice@example.com\r\nBcc: eve@evil.org",
        "alice@example.com\n", "<alice@example.com>", "alice@example.com,eve@evil.org",
        "alice@example.com;eve@evil.org", "\"alice\"@example.com", "alice@exa\tmple.com",
        "alice@example.com\x7f",
    };
    v2m_notice ok = {.username = "alice@example.com", .video_fid = VID, .mp3_fid = MP3,
                     .filename = "a.mp4", .error = "e"};
    v2m_notice n;
    char *m = NULL, big[600];

    for (size_t i = 0; i < sizeof bad_rcpt / sizeof bad_rcpt[0]; i++) {
        n = ok;
        n.username = bad_rcpt[i];
        if (compose(&n, 0, &m) != V2M_EINVAL)
            fprintf(stderr, "recipient '%s' was not refused\n", bad_rcpt[i]);
        CHECK(m == NULL);
        free(m);
        m = NULL;
    }
    n = ok;
    n.username = NULL;
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    /* Line breaks or control characters in any other field. */
    n = ok;
    n.filename = "a.mp4\r\nBcc: eve@evil.org";
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    n = ok;
    n.filename = "a\x01.mp4";
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    n = ok;
    n.error = "bad\nthing";
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    n = ok;
    n.mp3_fid = MP3 "\r\n";
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    n = ok;
    n.mp3_fid = NULL;
    n.error_code = "noaudio\r\nBcc: eve@evil.org";
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    n = ok;
    n.video_fid = NULL;
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    n = ok;
    n.video_fid = VID "\n";
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    /* Lengths: a 255-byte name passes, 256 does not; errors up to 512. */
    n = ok;
    n.filename = big;
    check_longest(&n, big, 255);
    n = ok;
    n.error = big;
    n.mp3_fid = NULL;
    check_longest(&n, big, 512);
    /* A 255-byte address passes, 256 does not. */
    memset(big, 'a', sizeof big);
    memcpy(big + 255 - 12, "@example.com", 13);
    n = ok;
    n.username = big;
    CHECK(compose(&n, 0, &m) == V2M_OK);
    free(m);
    m = NULL;
    memset(big, 'a', sizeof big);
    memcpy(big + 256 - 12, "@example.com", 13);
    CHECK(compose(&n, 0, &m) == V2M_EINVAL);
    /* UTF-8 in names and reasons is fine (8bit body). */
    n = ok;
    n.filename = "\xe6\x97\xa5\xe6\x9c\xac.mp4";
    n.error = "d\xc3\xa9" "cod\xc3\xa9";
    CHECK(compose(&n, 0, &m) == V2M_OK);
    free(m);
}

int main(void)
{
    snprintf(cfg.from, sizeof cfg.from, "v2m@example.com");
    snprintf(cfg.public_url, sizeof cfg.public_url, "https://v2m.example");
    if (v2m_links_init(&cfg.links, "a secret of the tests", 7 * 86400, NULL) != V2M_OK)
        FATAL("links");
    test_done();
    test_subjects();
    test_failed();
    test_advice();
    test_refused();
    return check_exit("test_mail");
}
