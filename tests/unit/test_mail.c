/* Composing the notification mail (notification/mail.c): the headers and
 * body of a done and of a failed conversion, CRLF everywhere, and every
 * field that could add a header or a recipient refused with V2M_EINVAL. */
#include <stdlib.h>
#include <string.h>

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

static void test_done(void)
{
    v2m_notice n = {.username = "alice@example.com", .video_fid = VID, .mp3_fid = MP3,
                    .filename = "Caf\xc3\xa9.mp4"};
    char h[2048], *m = compose_read(&n, h, sizeof h);

    if (!m)
        return;
    CHECK(strncmp(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n", 39) == 0);
    CHECK(strstr(h, "\r\nFrom: v2m <v2m@example.com>\r\n") != NULL);
    CHECK(strstr(h, "\r\nTo: <alice@example.com>\r\n") != NULL);
    CHECK(strstr(h, "\r\nSubject: MP3 Download\r\n") != NULL);
    CHECK(strstr(h, "\r\nMessage-ID: <" VID ".done.0@v2m>\r\n") != NULL);
    CHECK(strstr(h, "\r\nContent-Type: text/plain; charset=utf-8\r\n") != NULL);
    CHECK(strstr(h, "\r\nMIME-Version: 1.0\r\n") != NULL);
    /* The body: the mp3's id, the video's name, the download link. */
    CHECK(strstr(m, "\r\n\r\nmp3 file_id: " MP3 " is now ready!\r\n") != NULL);
    CHECK(strstr(m, "It is the audio of Caf\xc3\xa9.mp4.\r\n") != NULL);
    CHECK(strstr(m, "\"https://v2m.example/download?fid=" MP3 "\"") != NULL);
    free(m);

    /* Without a file name: no sentence about it. A later time: its date. */
    n.filename = NULL;
    CHECK(compose(&n, 1700000000LL, &m) == V2M_OK);
    CHECK(m && !strstr(m, "It is the audio"));
    CHECK(m && strncmp(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 39) == 0);
    CHECK(m && strstr(m, "Message-ID: <" VID ".done.1700000000@v2m>\r\n"));
    free(m);
    n.filename = "";
    CHECK(compose(&n, 0, &m) == V2M_OK);
    CHECK(m && !strstr(m, "It is the audio"));
    free(m);
}

static void test_failed(void)
{
    v2m_notice n = {.username = "bob@example.com", .video_fid = VID,
                    .filename = "clip.avi", .error = "input has no audio stream"};
    char h[2048], *m = compose_read(&n, h, sizeof h);

    if (!m)
        return;
    CHECK(strstr(h, "\r\nSubject: MP3 Download failed\r\n") != NULL);
    CHECK(strstr(h, "\r\nMessage-ID: <" VID ".failed.0@v2m>\r\n") != NULL);
    CHECK(strstr(m, "Your video \"clip.avi\" (file_id " VID ") could not be converted") != NULL);
    CHECK(strstr(m, "\r\nReason: input has no audio stream\r\n") != NULL);
    CHECK(strstr(m, "\r\nStatus: https://v2m.example/jobs/" VID "\r\n") != NULL);
    CHECK(strstr(m, "download?fid=") == NULL);
    free(m);

    /* No reason given, no name. */
    n.error = NULL;
    n.filename = NULL;
    CHECK(compose(&n, 0, &m) == V2M_OK);
    CHECK(m && strstr(m, "\r\nReason: unknown\r\n"));
    CHECK(m && strstr(m, "(file_id " VID ")") && !strstr(m, "\"\""));
    free(m);
    n.error = "";
    CHECK(compose(&n, 0, &m) == V2M_OK);
    CHECK(m && strstr(m, "\r\nReason: unknown\r\n"));
    free(m);
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
    test_done();
    test_failed();
    test_refused();
    return check_exit("test_mail");
}
