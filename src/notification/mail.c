/* mail.c - compose and deliver notification mail. */
#include "mail.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/redact.h"
#include "common/log.h"

static int has_crlf(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

static v2m_err copy_cfg(char *dst, size_t n, const char *name, const char *v, v2m_error *err)
{
    if (strlen(v) >= n || has_crlf(v))
        return v2m_fail(err, V2M_ECONFIG, "%s is too long or contains a line break", name);
    snprintf(dst, n, "%s", v);
    return V2M_OK;
}

static const v2m_cfg_var mail_vars[] = {
    {.name = "SMTP_URL", .parse = v2m_cfg_parse_text,
     .shown = "smtp://smtp.gmail.com:587 with GMAIL_ADDRESS, else none",
     .help = "smtp://host:587 (STARTTLS) or smtps://host:465; none: mail goes to V2M_OUTBOX"},
    {.name = "SMTP_USER", .parse = v2m_cfg_parse_text, .shown = "GMAIL_ADDRESS, else none",
     .help = "SMTP login; none: no authentication"},
    {.name = "SMTP_PASSWORD", .parse = v2m_cfg_parse_text, .shown = "GMAIL_PASSWORD",
     .help = "SMTP password"},
    {.name = "MAIL_FROM", .parse = v2m_cfg_parse_text,
     .shown = "GMAIL_ADDRESS, else SMTP_USER if an address, else v2m@localhost",
     .help = "sender address"},
    {.name = "GMAIL_ADDRESS", .parse = v2m_cfg_parse_text,
     .help = "the original's setting: Gmail's SMTP with this login and sender"},
    {.name = "GMAIL_PASSWORD", .parse = v2m_cfg_parse_text,
     .help = "the original's setting: the Gmail password"},
    {.name = "V2M_OUTBOX", .def = "./var/outbox", .parse = v2m_cfg_parse_text,
     .help = "folder for .eml files when no SMTP is set"},
    {.name = "V2M_PUBLIC_URL", .def = "http://localhost:8080", .parse = v2m_cfg_parse_text,
     .help = "the gateway's address as users reach it: base of the links in mails"},
    {.name = "V2M_SMTP_TIMEOUT", .def = "30s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 3600, .help = "longest time one mail's SMTP exchange may take"},
};
const v2m_cfg_table v2m_mail_table = V2M_CFG_TABLE("mail", mail_vars);

v2m_err v2m_mail_config_load(v2m_mail_config *c, v2m_error *err)
{
    v2m_cfg cfg;
    const char *gaddr, *url, *user, *pw, *from;
    v2m_err rc;

    memset(c, 0, sizeof *c);
    if ((rc = v2m_cfg_load(&cfg, &v2m_mail_table, err)))
        return rc;
    gaddr = v2m_cfg_text(&cfg, "GMAIL_ADDRESS");
    url = v2m_cfg_text(&cfg, "SMTP_URL");
    url = url ? url : gaddr ? "smtp://smtp.gmail.com:587" : "";
    user = v2m_cfg_text(&cfg, "SMTP_USER");
    user = user ? user : gaddr ? gaddr : "";
    pw = v2m_cfg_text(&cfg, "SMTP_PASSWORD");
    pw = pw ? pw : v2m_cfg_text(&cfg, "GMAIL_PASSWORD");
    pw = pw ? pw : "";
    from = v2m_cfg_text(&cfg, "MAIL_FROM");
    from = from ? from : gaddr ? gaddr : (*user && strchr(user, '@') ? user : "v2m@localhost");
    if ((rc = copy_cfg(c->smtp_url, sizeof c->smtp_url, "SMTP_URL", url, err)) ||
        (rc = copy_cfg(c->user, sizeof c->user, "SMTP_USER", user, err)) ||
        (rc = copy_cfg(c->from, sizeof c->from, "MAIL_FROM", from, err)) ||
        (rc = copy_cfg(c->outbox, sizeof c->outbox, "V2M_OUTBOX",
                       v2m_cfg_text(&cfg, "V2M_OUTBOX"), err)) ||
        (rc = copy_cfg(c->public_url, sizeof c->public_url, "V2M_PUBLIC_URL",
                       v2m_cfg_text(&cfg, "V2M_PUBLIC_URL"), err)))
        return rc;
    c->timeout_s = (long)v2m_cfg_num(&cfg, "V2M_SMTP_TIMEOUT");
    v2m_url_redact(c->smtp_url, c->smtp_safe, sizeof c->smtp_safe);
    if (c->smtp_url[0] && strncmp(c->smtp_url, "smtp://", 7) != 0 &&
        strncmp(c->smtp_url, "smtps://", 8) != 0)
        return v2m_fail(err, V2M_ECONFIG, "SMTP_URL='%s': expected smtp://host:port or smtps://host:port",
                        c->smtp_safe);
    if (!strchr(c->from, '@'))
        return v2m_fail(err, V2M_ECONFIG, "MAIL_FROM='%s' is not an address", c->from);
    {
        size_t n = strlen(c->public_url);
        while (n && c->public_url[n - 1] == '/')
            c->public_url[--n] = '\0';
    }
    if ((rc = v2m_links_load(&c->links, err)))
        return rc;
    c->password = strdup(pw);
    if (!c->password)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    return V2M_OK;
}

void v2m_mail_config_free(v2m_mail_config *c)
{
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
        c->password = NULL;
    }
}

/* The message being composed; oom once an append failed. */
typedef struct {
    v2m_buf text;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;

    if (b->oom)
        return;
    va_start(ap, fmt);
    if (v2m_buf_vprintf(&b->text, fmt, ap) != 0)
        b->oom = 1;
    va_end(ap);
}

/* Printable without line breaks, and short enough for one header line. */
static int safe_field(const char *s, size_t max)
{
    if (!s)
        return 1;
    if (strlen(s) > max)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* The plain words of a failure, by its code. The codes are the converter's
 * (v2m_err_slug() and its own "attempts", "gone"); an unknown or missing
 * code gets the last row's. "options": the conversion options asked for do
 * not fit the file (a start past its end, a track it does not have). */
static const struct advice {
    const char *code, *what, *try_;
} advice[] = {
    {"notmedia", "This file is not a video or audio file v2m can read.",
     "Try an MP4, MKV, WebM, MOV or AVI video, or an audio file (MP3, M4A, WAV, FLAC, Ogg)."},
    {"unsupported", "This file is not a video or audio file v2m can read (playlists, "
                    "stream descriptions, images and subtitles are not converted).",
     "Try an MP4, MKV, WebM, MOV or AVI video, or an audio file (MP3, M4A, WAV, FLAC, Ogg)."},
    {"empty", "The file is empty.", "Check the file on your side and upload it again."},
    {"noaudio", "The video has no sound track, so there is nothing to turn into an MP3.",
     "Check that it plays with sound; if it does, export it again with its audio."},
    {"toolong", "The recording is longer than this service converts (the limit is in the "
                "details below).",
     "Trim it, or split it into parts, and upload them one by one."},
    {"corrupt", "The file is damaged or incomplete.",
     "Upload it again; if that fails too, export or download it again first."},
    {"codec", "Its sound is in a format v2m cannot decode.",
     "Convert it to a common format (for example MP4 with AAC sound) and upload it again."},
    {"attempts", "The conversion was started several times and never finished.",
     "Retry it later from the job page; if it fails again, the file may be damaged."},
    {"gone", "The uploaded video was no longer stored when its turn came.",
     "Upload it again."},
    {"options", "An option given with the upload cannot be applied to this file (the details "
                "below say which).",
     "Upload it again with other options, or with none."},
    {NULL, "Something went wrong while converting it.",
     "Retry it later from the job page; the details below help the administrator."},
};

void v2m_mail_advice(const char *code, const char **what, const char **try_)
{
    const struct advice *a = advice;
    while (a->code && !(code && strcmp(a->code, code) == 0))
        a++;
    *what = a->what;
    *try_ = a->try_;
}

/* Bytes of the UTF-8 sequence starting with c (1 for anything unexpected,
 * so a cut never lands inside a well-formed character). */
static size_t seq_len(unsigned char c)
{
    return c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
}

/* The Subject header. Plain when it is short printable ASCII; otherwise
 * RFC 2047 encoded-words (UTF-8, base64) of at most 42 bytes of text each,
 * cut between characters, on folded lines: a name in any script, of any
 * length the notice allows, gives valid header lines of under 78 bytes. */
static void put_subject(sbuf *b, const char *subj)
{
    size_t n = strlen(subj), i = 0;
    int plain = n <= 68;

    for (const unsigned char *p = (const unsigned char *)subj; *p && plain; p++)
        plain = *p >= 0x20 && *p < 0x7f;
    /* "=?" could start what a reader takes for an encoded-word. */
    if (plain && !strstr(subj, "=?")) {
        sb_printf(b, "Subject: %s\r\n", subj);
        return;
    }
    sb_printf(b, "Subject:");
    while (i < n) {
        size_t take = 0;
        char b64[64];
        while (i + take < n) {
            size_t l = seq_len((unsigned char)subj[i + take]);
            if (take + l > 42)
                break;
            take += l;
        }
        if (!take) /* cannot happen: a sequence is at most 4 bytes */
            take = 1;
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)subj + i, (int)take);
        sb_printf(b, " =?UTF-8?B?%s?=%s", b64, i + take < n ? "\r\n" : "");
        i += take;
    }
    sb_printf(b, "\r\n");
}

/* The MP3's name for the video's: its last extension becomes .mp3. */
static void mp3_name(const char *video, char *out, size_t n)
{
    const char *dot = strrchr(video, '.');
    int len = dot && dot != video ? (int)(dot - video) : (int)strlen(video);
    snprintf(out, n, "%.*s.mp3", len, video);
}

static void put_ready(sbuf *b, const v2m_mail_config *c, const v2m_notice *n, long long now)
{
    char link[V2M_LINK_MAX], until[64];
    const char *e;

    sb_printf(b, "mp3 file_id: %s is now ready!\r\n\r\n", n->mp3_fid);
    if (n->filename && *n->filename)
        sb_printf(b, "It is the audio of %s.\r\n\r\n", n->filename);
    if (v2m_link_make(&c->links, n->mp3_fid, now, link, sizeof link) == 0 &&
        (e = strstr(link, "?e="))) {
        time_t t = (time_t)strtoll(e + 3, NULL, 10);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(until, sizeof until, "%d %b %Y, %H:%M UTC", &tm);
        sb_printf(b, "Download it (no login needed; the link works until %s):\r\n\r\n"
                     "  %s%s\r\n\r\n", until, c->public_url, link);
        sb_printf(b, "Or see it on the web page:\r\n\r\n  %s/?job=%s\r\n", c->public_url,
                  n->video_fid);
    } else {
        sb_printf(b, "Log in to download it:\r\n\r\n  %s/?job=%s\r\n", c->public_url,
                  n->video_fid);
    }
    sb_printf(b, "\r\nFor API users: GET /download?fid=%s with your token (see the API "
                 "documentation).\r\n", n->mp3_fid);
}

static void put_failed(sbuf *b, const v2m_mail_config *c, const v2m_notice *n)
{
    const char *what, *try_;
    int named = n->filename && *n->filename;

    v2m_mail_advice(n->error_code, &what, &try_);
    sb_printf(b, "Your file %s%s%scould not be converted to MP3.\r\n\r\n", named ? "\"" : "",
              named ? n->filename : "", named ? "\" " : "");
    sb_printf(b, "%s\r\n%s\r\n\r\n", what, try_);
    sb_printf(b, "The job on the web page:\r\n\r\n  %s/?job=%s\r\n\r\n", c->public_url,
              n->video_fid);
    sb_printf(b, "----\r\nDetails for the administrator:\r\n");
    sb_printf(b, "Reason: %s\r\n", n->error && *n->error ? n->error : "unknown");
    if (n->error_code && *n->error_code)
        sb_printf(b, "Code: %s\r\n", n->error_code);
    sb_printf(b, "Video file_id: %s\r\n", n->video_fid);
}

v2m_err v2m_mail_compose(const v2m_mail_config *c, const v2m_notice *n, long long now,
                         char **out, size_t *len, v2m_error *err)
{
    sbuf b = {0};
    char date[64], subj[400], name[300];
    time_t t = (time_t)now;
    struct tm tm;
    const char *at = n->username ? strchr(n->username, '@') : NULL;

    *out = NULL;
    if (!n->username || !at || at == n->username || !at[1] || strchr(n->username, ' ') ||
        strpbrk(n->username, "<>,;\"") || !safe_field(n->username, 255))
        return v2m_fail(err, V2M_EINVAL, "recipient is not a plain address");
    if (!safe_field(n->video_fid, 64) || !safe_field(n->mp3_fid, 64) ||
        !safe_field(n->filename, 255) || !safe_field(n->error, 512) ||
        !safe_field(n->error_code, 31) || !n->video_fid)
        return v2m_fail(err, V2M_EINVAL, "notice has a field with control characters");
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    sb_printf(&b, "Date: %s\r\nFrom: v2m <%s>\r\nTo: <%s>\r\n", date, c->from, n->username);
    if (n->mp3_fid) {
        if (n->filename && *n->filename)
            mp3_name(n->filename, name, sizeof name);
        snprintf(subj, sizeof subj, "MP3 Download: %s is ready",
                 n->filename && *n->filename ? name : "your MP3");
    } else {
        snprintf(subj, sizeof subj, "MP3 Download: %s could not be converted",
                 n->filename && *n->filename ? n->filename : "your file");
    }
    put_subject(&b, subj);
    sb_printf(&b, "Message-ID: <%s.%s.%lld@v2m>\r\n", n->video_fid, n->mp3_fid ? "done" : "failed",
              now);
    sb_printf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n");
    if (n->mp3_fid)
        put_ready(&b, c, n, now);
    else
        put_failed(&b, c, n);
    if (b.oom) {
        v2m_buf_free(&b.text);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    *out = b.text.p;
    *len = b.text.len;
    return V2M_OK;
}

/* ---- delivery ---- */

static v2m_err write_outbox(const v2m_mail_config *c, const char *id, const char *msg,
                            size_t len, v2m_error *err)
{
    char tmp[1200], path[1200];
    int fd;
    size_t off = 0;

    /* The id names the file, so a redelivered notice overwrites its mail. */
    snprintf(path, sizeof path, "%s/%s.eml", c->outbox, id);
    snprintf(tmp, sizeof tmp, "%s/.%s.eml.tmp", c->outbox, id);
    if (mkdir(c->outbox, 0750) != 0 && errno != EEXIST)
        return v2m_fail(err, V2M_EIO, "outbox %s: %s", c->outbox, strerror(errno));
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return v2m_fail(err, V2M_EIO, "outbox %s: %s", tmp, strerror(errno));
    while (off < len) {
        ssize_t w = write(fd, msg + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            v2m_fail(err, V2M_EIO, "outbox %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return V2M_EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return v2m_fail(err, V2M_EIO, "outbox %s: %s", path, strerror(errno));
    }
    return V2M_OK;
}

typedef struct {
    const char *p;
    size_t left;
} reader;

static size_t feed(char *buf, size_t size, size_t nmemb, void *ud)
{
    reader *r = ud;
    size_t n = size * nmemb;
    if (n > r->left)
        n = r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

v2m_err v2m_mail_send(const v2m_mail_config *c, const char *rcpt, const char *id,
                      const char *msg, size_t len, v2m_error *err)
{
    CURL *curl;
    struct curl_slist *to = NULL;
    char from[300], rcptbuf[300], ebuf[CURL_ERROR_SIZE] = "";
    reader r = {msg, len};
    CURLcode rc;
    long resp = 0;

    if (!c->smtp_url[0])
        return write_outbox(c, id, msg, len, err);
    curl = curl_easy_init();
    if (!curl)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    snprintf(from, sizeof from, "<%s>", c->from);
    snprintf(rcptbuf, sizeof rcptbuf, "<%s>", rcpt);
    to = curl_slist_append(NULL, rcptbuf);
    curl_easy_setopt(curl, CURLOPT_URL, c->smtp_url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, feed);
    curl_easy_setopt(curl, CURLOPT_READDATA, &r);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ebuf);
    /* STARTTLS when the server offers it; required once a password travels. */
    curl_easy_setopt(curl, CURLOPT_USE_SSL, c->user[0] ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    if (c->user[0]) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, c->password);
    }
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp);
    curl_slist_free_all(to);
    curl_easy_cleanup(curl);
    if (rc == CURLE_OK)
        return V2M_OK;
    if (rc == CURLE_LOGIN_DENIED || (rc == CURLE_SEND_ERROR && resp >= 500) ||
        (rc == CURLE_RECV_ERROR && resp >= 500) || (resp >= 500 && resp < 600))
        return v2m_fail(err, V2M_EINVAL, "smtp refused (code %ld): %s", resp,
                        ebuf[0] ? ebuf : curl_easy_strerror(rc));
    return v2m_fail(err, V2M_EUNAVAIL, "smtp %s: %s", c->smtp_safe,
                    ebuf[0] ? ebuf : curl_easy_strerror(rc));
}
