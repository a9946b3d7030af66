/* v2m.c - the client of a running v2m: convert, log in, upload, watch, download.
 *
 *   v2m convert FILE... [-o DIR] [--force] [--timeout SECONDS] [--json] [--OPTION VALUE]...
 *                                        upload, wait, and save NAME.mp3 next to
 *                                        each video (or in DIR)
 *   v2m login EMAIL [--password-stdin] [--print-token]
 *   v2m logout                           forget the saved token
 *   v2m upload FILE [--wait] [--timeout SECONDS] [--OPTION VALUE]...
 *                                        prints the video id (and the MP3 id);
 *                                        the options are the server's per-job
 *                                        options (docs/API.md), sent as fields
 *   v2m status [VIDEO_FID] [--json]      a table of your jobs (or one), or their JSON
 *   v2m download FID [-o FILE|DIR] [--force]
 *                                        the MP3 of a video id, or an MP3 id
 *   v2m delete VIDEO_FID                 the video, its MP3 and the job
 *   v2m retry VIDEO_FID                  convert a failed job again
 *   v2m webhook-secret                   a new secret for your webhooks'
 *                                        signatures, printed once
 *
 * The server is V2M_URL (default http://localhost:8080, a trailing slash and
 * a path prefix allowed); the token comes from V2M_TOKEN, else from the file
 * `v2m login` wrote ($XDG_CONFIG_HOME/v2m/token or ~/.config/v2m/token, mode
 * 0600).
 *
 * Videos go up with tus 1.0 at /files/, in pieces of UPLOAD_CHUNK bytes; an
 * upload cut short (lost connection, Ctrl-C, a crash) is remembered in
 * $XDG_STATE_HOME/v2m/uploads (beside the token when XDG_STATE_HOME is unset,
 * mode 0600), keyed by server, user, absolute path, size and mtime, and the
 * next run for the same file carries it on from the offset the server holds.
 * A server without /files/ gets the file by POST /upload, as before.
 *
 * Exit codes: 0 done, 1 a job failed or the server refused, 2 usage,
 * 3 server not reachable, 4 not logged in / session expired / wrong password,
 * 5 timed out waiting for a conversion.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/args.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/message.h"
#include "common/oid.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_UNREACHABLE = 3, EX_AUTH = 4, EX_TIMEOUT = 5 };

#define DEFAULT_TIMEOUT 3600 /* seconds a conversion is waited for */
#define UPLOAD_CHUNK (8 << 20) /* bytes per PATCH: a lost connection costs at most this */
#define UPLOAD_RETRIES 5     /* tries of a piece the connection or the server dropped */
#define STATE_MAX 200        /* uploads remembered at most */

static const char usage[] =
    "usage: v2m convert FILE... [-o DIR] [--force] [--timeout SECONDS] [--json] [--OPTION VALUE]...\n"
    "       v2m login EMAIL [--password-stdin] [--print-token]\n"
    "       v2m logout\n"
    "       v2m upload FILE [--wait] [--timeout SECONDS] [--OPTION VALUE]...\n"
    "       v2m status [VIDEO_FID] [--json]\n"
    "       v2m download FID [-o FILE|DIR] [--force]\n"
    "       v2m delete VIDEO_FID\n"
    "       v2m retry VIDEO_FID\n"
    "       v2m webhook-secret   (a new secret for your webhooks' signatures, shown once)\n"
    "convert uploads each FILE, waits for it and saves NAME.mp3 next to it (or in DIR);\n"
    "  an existing file is never overwritten without --force. --timeout (default 3600)\n"
    "  bounds each wait for a conversion; --json prints the results as JSON.\n"
    "download takes a video id (its MP3, named after the video) or an MP3 id.\n"
    "Upload options (the server checks them): --quality 0-9 | --bitrate 8-320,\n"
    "  --rate HZ, --channels 1|2, --start T, --end T ([hh:]mm:ss[.mmm] or seconds),\n"
    "  --track N|LANGUAGE, --normalize on|off|LUFS, --cover auto|none,\n"
    "  --title T, --artist A, --album A, --callback-url URL\n"
    "The token is V2M_TOKEN, else the one `v2m login` saved in\n"
    "$XDG_CONFIG_HOME/v2m/token (~/.config/v2m/token).\n"
    "An upload cut short resumes when the same command runs again (unfinished\n"
    "  uploads are kept in $XDG_STATE_HOME/v2m/uploads, else beside the token).\n"
    "Exit codes: 0 ok, 1 a job failed or the server refused, 2 usage, 3 server not\n"
    "  reachable, 4 not logged in, session expired or wrong password, 5 timed out.\n";

static const v2m_cfg_var cli_vars[] = {
    {.name = "V2M_URL", .def = "http://localhost:8080", .parse = v2m_cfg_parse_text, .max = 900,
     .help = "the gateway's base URL"},
    {.name = "V2M_TOKEN", .parse = v2m_cfg_parse_text, .shown = "the saved one",
     .help = "bearer token to send instead of the saved one"},
    {.name = "V2M_UPLOAD_RATE", .def = "0", .parse = v2m_cfg_parse_size, .max = 1LL << 40,
     .help = "upload at most this many bytes a second (K, M, G suffixes; 0: no limit)"},
};
static const v2m_cfg_table cli_table = V2M_CFG_TABLE("v2m", cli_vars);
static const v2m_cfg_table *const tables[] = {&cli_table, NULL};
static v2m_cfg cli_cfg; /* loaded once at start */
static char base_url[1024];   /* V2M_URL without trailing slashes */
static int tty;               /* stderr is a terminal: progress bars */

typedef v2m_buf buf;

static const char *server_url(void) { return v2m_cfg_text(&cli_cfg, "V2M_URL"); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t to_buf(char *d, size_t s, size_t m, void *ud)
{
    buf *b = ud;
    size_t n = s * m;
    if (b->len + n > (1u << 20))
        return 0; /* answers of this API are small */
    return v2m_buf_add(b, d, n) == 0 ? n : 0;
}

static void human(double n, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (n >= 1024 && u < 4) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%.0f %s", n, units[u]);
    else
        snprintf(out, len, "%.1f %s", n, units[u]);
}

static void duration(double s, char *out, size_t len)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

/* ---- progress: one line redrawn in place on a terminal ---- */

typedef struct prog {
    const char *name;  /* the file's base name */
    const char *phase; /* "upload", "convert", "download" */
    double t0, last;   /* phase start; last redraw */
    double t_conv;     /* when the conversion was first seen running */
    double frac;       /* the fraction last drawn */
    double size;       /* tus: the whole file (0: the request's own total) */
    double base;       /* tus: bytes the server held before this request */
    double from;       /* tus: bytes it held when this phase began */
} prog;

/* The temporary file being written, removed if the user interrupts. */
static char partial[1200];

static void interrupted(int sig)
{
    static const char msg[] = "\nv2m: interrupted\n";
    if (partial[0])
        unlink(partial);
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to say */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void prog_draw(prog *p, double frac, const char *detail)
{
    char bar[21], line[512];
    int fill, cols = 80;
    struct winsize ws;
    if (!tty || !p)
        return;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        cols = ws.ws_col;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[20] = '\0';
    snprintf(line, sizeof line, "%-24.24s %-8s [%s] %3d%% %s", p->name, p->phase, bar,
             (int)(frac * 100), detail);
    if (cols > 1 && (size_t)cols - 1 < sizeof line)
        line[cols - 1] = '\0'; /* a wrapped line could not be redrawn in place */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->last = now();
    p->frac = frac;
}

static void prog_phase(prog *p, const char *phase)
{
    if (!p)
        return;
    p->phase = phase;
    p->t0 = now();
    p->last = 0;
    p->frac = -1;
}

/* The end of a file's line: "done -> x" or a failure, on its own line. */
static void prog_clear(void)
{
    if (tty) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* libcurl's transfer callback: upload or download bytes, rate and ETA. */
static int xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    prog *p = ud;
    int up = strcmp(p->phase, "upload") == 0, whole = up && p->size > 0;
    double total = whole ? p->size : (double)(up ? ultotal : dltotal);
    double done = whole ? p->base + (double)ulnow : (double)(up ? ulnow : dlnow);
    double el = now() - p->t0, rate = el > 0 ? (done - (whole ? p->from : 0)) / el : 0;
    char a[32], b[32], r[32], eta[32], detail[160];

    if (total > 0 && done >= total ? p->frac >= 1 : now() - p->last < 0.1)
        return 0; /* redrawn at most 10 times a second, and once at the end */
    human(done, a, sizeof a);
    human(total, b, sizeof b);
    human(rate, r, sizeof r);
    if (rate > 0 && total > done)
        duration((total - done) / rate, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "0:00");
    snprintf(detail, sizeof detail, "%s/%s %s/s ETA %s", a, total > 0 ? b : "?", r, eta);
    prog_draw(p, total > 0 ? done / total : 0, detail);
    return 0;
}

/* ---- HTTP ---- */

typedef struct req {
    const char *method, *path, *auth;
    curl_mime *mime;
    buf *out;         /* the answer's body (bounded), when not saved in file */
    FILE *file;       /* a 200 answer's body goes here */
    buf *headers;     /* the answer's headers, when wanted */
    prog *progress;
    const char *const *extra; /* more request headers, NULL-ended */
    FILE *body;       /* upload body_len bytes from here (at its position) */
    curl_off_t body_len;
    int nobody;       /* HEAD: no body in the answer */
    int quiet;        /* an unreachable server is not said (the caller retries) */
} req;

typedef struct src {
    FILE *f;
    curl_off_t left;
} src;

static size_t from_src(char *d, size_t s, size_t m, void *ud)
{
    src *b = ud;
    size_t want = s * m, got;
    if ((curl_off_t)want > b->left)
        want = (size_t)b->left;
    if (want == 0)
        return 0;
    got = fread(d, 1, want, b->f);
    if (got == 0)
        return CURL_READFUNC_ABORT; /* the file shrank or cannot be read */
    b->left -= (curl_off_t)got;
    return got;
}

typedef struct sink {
    CURL *c;
    req *r;
} sink;

static size_t to_sink(char *d, size_t s, size_t m, void *ud)
{
    sink *k = ud;
    long code = 0;
    curl_easy_getinfo(k->c, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 && k->r->file)
        return fwrite(d, s, m, k->r->file) == m ? s * m : 0;
    if (!k->r->out)
        return s * m; /* an error page nobody asked for */
    return to_buf(d, s, m, k->r->out);
}

/* One request; returns the HTTP status, 0 when the server was not reached
 * (said on stderr, with the URL). */
static long http(req *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[2048], hdr[8300], ebuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc;
    sink k = {c, r};
    src body = {r->body, r->body_len};

    if (!c)
        return 0;
    if (strstr(r->path, "://"))
        snprintf(url, sizeof url, "%s", r->path); /* an upload's URL as the server gave it */
    else
        snprintf(url, sizeof url, "%s%s", base_url, r->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    if (r->auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", r->auth);
        h = curl_slist_append(h, hdr);
    }
    for (int i = 0; r->extra && r->extra[i]; i++)
        h = curl_slist_append(h, r->extra[i]);
    if (h)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (r->mime)
        curl_easy_setopt(c, CURLOPT_MIMEPOST, r->mime);
    if (r->body) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, from_src);
        curl_easy_setopt(c, CURLOPT_READDATA, &body);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, r->body_len);
        /* A connection that stalls for a minute is given up (and resumed). */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    }
    if ((r->body || r->mime) && v2m_cfg_num(&cli_cfg, "V2M_UPLOAD_RATE") > 0)
        curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE,
                         (curl_off_t)v2m_cfg_num(&cli_cfg, "V2M_UPLOAD_RATE"));
    if (r->nobody)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    if (r->headers) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, to_buf);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r->headers);
    }
    if (r->progress && tty) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, r->progress);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && status == 0 && r->quiet) {
        /* the caller says what it does about it */
    } else if (rc != CURLE_OK && status == 0) {
        prog_clear();
        fprintf(stderr, "v2m: cannot reach the server at %s: %s\n", base_url,
                ebuf[0] ? ebuf : curl_easy_strerror(rc));
    } else if (rc != CURLE_OK && status == 200) {
        prog_clear();
        fprintf(stderr, "v2m: %s: %s\n", url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
        status = -1; /* the answer was cut short */
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static long call(const char *method, const char *path, const char *auth, buf *out)
{
    req r = {.method = method, .path = path, .auth = auth, .out = out};
    return http(&r);
}

/* Explain a status that is not a success; the exit code it means. */
static int fail_answer(long st, const buf *b)
{
    prog_clear();
    if (st == 0)
        return EX_UNREACHABLE; /* http() said so */
    if (st == 401 || st == 403) {
        fprintf(stderr, "v2m: your session has expired or was revoked: run `v2m login EMAIL`\n");
        return EX_AUTH;
    }
    if (st > 0) {
        const char *t = b && b->p ? b->p : "";
        size_t n = strlen(t);
        fprintf(stderr, "v2m: server answered %ld: %s%s", st, t, n && t[n - 1] == '\n' ? "" : "\n");
    }
    return EX_FAIL;
}

/* ---- the token ---- */

static void token_path(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/v2m/token", xdg);
    else
        snprintf(out, n, "%s/.config/v2m/token", getenv("HOME") ? getenv("HOME") : ".");
}

static int load_token(char *tok, size_t n)
{
    const char *env = v2m_cfg_text(&cli_cfg, "V2M_TOKEN");
    char path[1024];
    FILE *f;
    if (env && *env) {
        snprintf(tok, n, "%s", env);
        return 0;
    }
    token_path(path, sizeof path);
    f = fopen(path, "r");
    if (!f || !fgets(tok, (int)n, f) || tok[0] == '\n') {
        if (f)
            fclose(f);
        fprintf(stderr, "v2m: not logged in: run `v2m login EMAIL` (or set V2M_TOKEN)\n");
        return -1;
    }
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    return 0;
}

/* The password, from the terminal without echo or from stdin. */
static void read_password(int from_stdin, char *pw, size_t n)
{
    if (!from_stdin && isatty(STDIN_FILENO)) {
        struct termios old, quiet;
        fprintf(stderr, "Password: ");
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        if (!fgets(pw, (int)n, stdin))
            pw[0] = '\0';
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    } else if (!fgets(pw, (int)n, stdin)) {
        pw[0] = '\0';
    }
    pw[strcspn(pw, "\r\n")] = '\0';
}

/* POST /login with Basic credentials; the HTTP status (0 when no answer),
 * the body in *b. */
static long post_login(const char *email, const char *pw, buf *b)
{
    /* libcurl's CURLOPT_USERPWD builds the Basic header. */
    CURL *c = curl_easy_init();
    char url[2048], ebuf[CURL_ERROR_SIZE] = "", cred[1400];
    long st = 0;

    snprintf(url, sizeof url, "%s/login", base_url);
    snprintf(cred, sizeof cred, "%s:%s", email, pw);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_USERPWD, cred);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    else
        fprintf(stderr, "v2m: cannot reach the server at %s: %s\n", base_url, ebuf);
    curl_easy_cleanup(c);
    explicit_bzero(cred, sizeof cred);
    return st;
}

/* Keep the token for later commands, in a directory only the user reads;
 * a failure is reported, not fatal. */
static void save_token(const char *token)
{
    char tokpath[1024], dir[1024], parent[1024];
    char *slash;
    FILE *f;
    int saved;

    token_path(tokpath, sizeof tokpath);
    snprintf(dir, sizeof dir, "%s", tokpath);
    *strrchr(dir, '/') = '\0';
    snprintf(parent, sizeof parent, "%s", dir);
    slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        mkdir(parent, 0700);
    }
    mkdir(dir, 0700);
    umask(077);
    f = fopen(tokpath, "w");
    saved = f != NULL;
    if (f) {
        saved = fprintf(f, "%s\n", token) >= 0;
        saved = fclose(f) == 0 && saved;   /* closed whether or not the write failed */
    }
    if (!saved)
        fprintf(stderr, "v2m: could not save the token in %s: %s\n", tokpath, strerror(errno));
}

static int cmd_login(int argc, char **argv)
{
    char pw[1100] = "";
    const char *email = NULL;
    int from_stdin = 0, print = 0, rc;
    buf b = {0};
    long st;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--password-stdin") == 0)
            from_stdin = 1;
        else if (strcmp(argv[i], "--print-token") == 0)
            print = 1;
        else if (!email && argv[i][0] != '-')
            email = argv[i];
        else
            return fprintf(stderr, "%s", usage), EX_USAGE;
    }
    if (!email)
        return fprintf(stderr, "%s", usage), EX_USAGE;
    read_password(from_stdin, pw, sizeof pw);
    st = post_login(email, pw, &b);
    explicit_bzero(pw, sizeof pw);
    if (st == 401) {
        fprintf(stderr, "v2m: login refused: wrong email or password (%s)\n",
                b.p ? b.p : "invalid credentials");
        rc = EX_AUTH;
    } else if (st != 200 || !b.p) {
        rc = st == 0 ? EX_UNREACHABLE : EX_FAIL;
        if (st)
            fprintf(stderr, "v2m: server answered %ld: %s\n", st, b.p ? b.p : "");
    } else {
        b.p[strcspn(b.p, "\r\n")] = '\0';
        save_token(b.p);
        if (print)
            puts(b.p);
        else
            printf("Logged in as %s\n", email);
        rc = EX_OK;
    }
    if (b.p)
        explicit_bzero(b.p, b.len);
    free(b.p);
    return rc;
}

static int cmd_logout(int argc)
{
    char path[1024];
    if (argc != 2)
        return fprintf(stderr, "%s", usage), EX_USAGE;
    token_path(path, sizeof path);
    if (unlink(path) == 0) {
        printf("Logged out\n");
        return EX_OK;
    }
    if (errno == ENOENT) {
        printf("Not logged in\n");
        return EX_OK;
    }
    fprintf(stderr, "v2m: %s: %s\n", path, strerror(errno));
    return EX_FAIL;
}

/* GET /jobs/<fid>: the job, or NULL with *rc the exit code (the reason said
 * unless quiet404 and the answer is 404). */
static json_t *get_job(const char *auth, const char *fid, int quiet404, long *st, int *rc)
{
    char path[128];
    buf b = {0};
    json_t *j = NULL;
    snprintf(path, sizeof path, "/jobs/%s", fid);
    *st = call("GET", path, auth, &b);
    if (*st == 200 && (j = json_loadb(b.p ? b.p : "", b.len, 0, NULL)) != NULL)
        *rc = EX_OK;
    else if (*st == 404 && quiet404)
        *rc = EX_FAIL;
    else
        *rc = fail_answer(*st, &b);
    free(b.p);
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- upload ---- */

/* The per-job options the client passes on as form fields: the server
 * checks the values (and names a bad one), so the client only knows names. */
static const char *const upload_options[] = {
    "quality", "bitrate", "rate", "channels", "start", "end", "track", "normalize",
    "cover", "title", "artist", "album", "callback-url",
};

static const char *option_name(const char *arg)
{
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof upload_options / sizeof upload_options[0]; i++)
        if (strcmp(arg + 2, upload_options[i]) == 0)
            return upload_options[i];
    return NULL;
}

/* An upload's options, as name/value pairs from the command line. */
typedef struct opts {
    const char *name[32], *value[32];
    int n;
} opts;

/* POST /upload (multipart): the video with its options, in one request;
 * the new job's video id in fid. Returns an exit code. */
static int send_form(const char *auth, const char *file, const opts *o, prog *p, char *fid,
                      size_t fidlen)
{
    CURL *tmp = curl_easy_init();
    curl_mime *mime = curl_mime_init(tmp);
    curl_mimepart *part;
    buf b = {0};
    json_t *j = NULL;
    const char *v;
    long st;
    int rc;

    /* Options first: the server can refuse a bad one before the file. */
    for (int i = 0; i < o->n; i++) {
        part = curl_mime_addpart(mime);
        curl_mime_name(part, strcmp(o->name[i], "callback-url") == 0 ? "callback_url" : o->name[i]);
        curl_mime_data(part, o->value[i], CURL_ZERO_TERMINATED);
    }
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_filedata(part, file);
    prog_phase(p, "upload");
    {
        req r = {.method = "POST", .path = "/upload", .auth = auth, .mime = mime, .out = &b,
                 .progress = p};
        st = http(&r);
    }
    curl_mime_free(mime);
    curl_easy_cleanup(tmp);
    if (st == 200 && (j = json_loadb(b.p ? b.p : "", b.len, 0, NULL)) != NULL &&
        (v = jstr(j, "video_fid")) != NULL) {
        snprintf(fid, fidlen, "%s", v);
        rc = EX_OK;
    } else {
        rc = fail_answer(st == 200 ? 500 : st, &b);
    }
    json_decref(j);
    free(b.p);
    return rc;
}

/* ---- unfinished uploads: the state file ---- */

static void state_path(char *out, size_t n)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    char tok[1024], *slash;
    if (xdg && *xdg) {
        snprintf(out, n, "%s/v2m/uploads", xdg);
        return;
    }
    token_path(tok, sizeof tok);
    slash = strrchr(tok, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, n, "%s/uploads", tok);
}

/* The state file open and locked (made with its directories, for the user
 * alone); -1 when it cannot be (said once: resuming is then not possible). */
static int state_open(int create)
{
    static int said;
    char path[1100], dir[1100];
    int fd;

    state_path(path, sizeof path);
    if (create) {
        snprintf(dir, sizeof dir, "%s", path);
        for (char *q = dir + 1; *q; q++) {
            if (*q != '/')
                continue;
            *q = '\0';
            mkdir(dir, 0700);
            *q = '/';
        }
    }
    fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        if (create && !said++)
            fprintf(stderr, "v2m: %s: %s (an interrupted upload will not resume)\n", path,
                    strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The remembered uploads: an array (empty when the file is or is not
 * readable JSON). */
static json_t *state_read(int fd)
{
    json_t *j = fd >= 0 ? json_loadfd(fd, 0, NULL) : NULL;
    if (!json_is_array(j)) {
        json_decref(j);
        j = json_array();
    }
    return j;
}

static void state_write(int fd, json_t *all)
{
    char *s = json_dumps(all, JSON_INDENT(1));
    size_t len = s ? strlen(s) : 0, off = 0;

    if (s && lseek(fd, 0, SEEK_SET) == 0 && ftruncate(fd, 0) == 0) {
        while (off < len) {
            ssize_t w = write(fd, s + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    free(s);
}

/* An entry is the same file on the same server for the same user. */
static int state_same(json_t *e, json_t *key)
{
    const char *k;
    json_t *v;
    json_object_foreach(key, k, v)
        if (!json_equal(json_object_get(e, k), v))
            return 0;
    return 1;
}

/* The saved upload URL of key into url; 1 when there is one. */
static int state_find(json_t *key, char *url, size_t n)
{
    int fd = state_open(0), found = 0;
    json_t *all = state_read(fd), *e;
    size_t i;

    json_array_foreach(all, i, e) {
        const char *u = json_string_value(json_object_get(e, "url"));
        if (u && state_same(e, key)) {
            snprintf(url, n, "%s", u);
            found = 1;
        }
    }
    json_decref(all);
    if (fd >= 0)
        close(fd);
    return found;
}

/* Forget key's upload, and remember url for it when url is not NULL; the
 * expired entries go too. */
static void state_put(json_t *key, const char *url, long long expires)
{
    int fd = state_open(url != NULL);
    json_t *all, *keep, *e;
    size_t i;
    long long t = (long long)time(NULL);

    if (fd < 0)
        return;
    all = state_read(fd);
    keep = json_array();
    json_array_foreach(all, i, e) {
        json_t *x = json_object_get(e, "expires");
        if (!state_same(e, key) && !(json_is_integer(x) && json_integer_value(x) < t))
            json_array_append(keep, e);
    }
    while (json_array_size(keep) >= STATE_MAX)
        json_array_remove(keep, 0);   /* the oldest */
    if (url) {
        e = json_deep_copy(key);
        json_object_set_new(e, "url", json_string(url));
        if (expires > 0)
            json_object_set_new(e, "expires", json_integer(expires));
        json_array_append_new(keep, e);
    }
    state_write(fd, keep);
    json_decref(keep);
    json_decref(all);
    close(fd);
}

/* Take out the entries of an older version of key's file (same server,
 * user and path; another size or mtime): their URLs, for the caller to
 * terminate. */
static json_t *state_take_older(json_t *key)
{
    int fd = state_open(0);
    json_t *all, *keep, *old = json_array(), *e;
    size_t i;

    if (fd < 0)
        return old;
    all = state_read(fd);
    keep = json_array();
    json_array_foreach(all, i, e) {
        const char *u = json_string_value(json_object_get(e, "url"));
        int older = u && !state_same(e, key);
        for (const char *const *k = (const char *const[]){"server", "user", "path", NULL};
             older && *k; k++)
            older = json_equal(json_object_get(e, *k), json_object_get(key, *k));
        json_array_append(older ? old : keep, older ? json_object_get(e, "url") : e);
    }
    if (json_array_size(old))
        state_write(fd, keep);
    json_decref(keep);
    json_decref(all);
    close(fd);
    return old;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 of s, padded; NUL-terminated. 0, or -1 when out is too
 * small. */
static int b64_encode(const char *s, char *out, size_t n)
{
    size_t len = strlen(s), o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)s[i + 2];
        if (o + 5 > n)
            return -1;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? b64chars[v & 63] : '=';
    }
    if (o >= n)
        return -1;
    out[o] = '\0';
    return 0;
}

/* The user a bearer token names (its "username" claim), "" when it names
 * none that can be read: only the state file's key, the server checks. */
static void token_user(const char *auth, char *out, size_t n)
{
    const char *p = strchr(auth, '.'), *end;
    char dec[2048];
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    json_t *j;

    out[0] = '\0';
    end = p ? strchr(p + 1, '.') : NULL;
    if (!end)
        return;
    for (p++; p < end && o + 1 < sizeof dec; p++) {
        const char *c = strchr(b64chars, *p == '-' ? '+' : *p == '_' ? '/' : *p);
        if (!c || !*p)
            return;
        acc = acc << 6 | (unsigned)(c - b64chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[o++] = (char)(acc >> bits & 0xff);
        }
    }
    dec[o] = '\0';
    j = json_loads(dec, 0, NULL);
    if (jstr(j, "username"))
        snprintf(out, n, "%s", jstr(j, "username"));
    json_decref(j);
}

/* The value of the last header name in an answer's headers; 1 when found. */
static int header_value(const buf *h, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = h->p, *found = NULL;
    if (!p)
        return 0;
    for (const char *q = p; q; q = strchr(q, '\n')) {
        q += *q == '\n';
        if (strncasecmp(q, name, nl) == 0 && q[nl] == ':')
            found = q + nl + 1;
    }
    if (!found)
        return 0;
    while (*found == ' ' || *found == '\t')
        found++;
    snprintf(out, n, "%.*s", (int)strcspn(found, "\r\n"), found);
    return 1;
}

static long long header_num(const buf *h, const char *name)
{
    char v[64], *end;
    long long x;
    if (!header_value(h, name, v, sizeof v) || !*v)
        return -1;
    errno = 0;
    x = strtoll(v, &end, 10);
    return *end || errno || x < 0 ? -1 : x;
}

/* The Location of a new upload as a URL to use: an absolute one as given;
 * a path under this server's base URL (which may have a prefix the gateway
 * does not know about), from its /files/ on. */
static int upload_url(const buf *h, char *out, size_t n)
{
    char loc[1024];
    const char *f;
    if (!header_value(h, "Location", loc, sizeof loc) || !*loc)
        return 0;
    if (strstr(loc, "://"))
        snprintf(out, n, "%s", loc);
    else if ((f = strstr(loc, "/files/")) != NULL)
        snprintf(out, n, "%s%s", base_url, f);
    else
        return 0;
    return 1;
}

/* Upload-Expires (an HTTP date) as seconds since the epoch; 0 if none. */
static long long expires_at(const buf *h)
{
    char v[128];
    struct tm tm = {0};
    if (!header_value(h, "Upload-Expires", v, sizeof v) ||
        !strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        return 0;
    return (long long)timegm(&tm);
}

static const char *const tus_version = "Tus-Resumable: 1.0.0";

/* HEAD the upload: its status; *offset and *length (-1 when not said). */
static long tus_head(const char *auth, const char *url, long long *offset, long long *length)
{
    const char *extra[] = {tus_version, NULL};
    buf h = {0};
    req r = {.method = "HEAD", .path = url, .auth = auth, .headers = &h, .extra = extra,
             .nobody = 1, .quiet = 1};
    long st = http(&r);
    *offset = header_num(&h, "Upload-Offset");
    *length = header_num(&h, "Upload-Length");
    free(h.p);
    return st;
}

/* DELETE an upload that will not be carried on (termination), so that it
 * does not count against the user's room until it expires. */
static void tus_delete(const char *auth, const char *url)
{
    const char *extra[] = {tus_version, NULL};
    req r = {.method = "DELETE", .path = url, .auth = auth, .extra = extra, .quiet = 1};
    http(&r);
}

/* "a.mp4: resuming upload at 52% (53.0 MiB of 101.0 MiB)" */
static void say_progress(const char *file, const char *what, long long done, long long size,
                         double rate)
{
    char a[32], b[32], r[32] = "";
    human((double)done, a, sizeof a);
    human((double)size, b, sizeof b);
    if (rate >= 0)
        human(rate, r, sizeof r);
    prog_clear();
    fprintf(stderr, "%s: %s %d%% (%s of %s)%s%s%s\n", file, what,
            (int)((double)done * 100 / (double)size), a, b, *r ? ", " : "", r, *r ? "/s" : "");
}

#define NO_TUS (-1) /* the server has no /files/: send_video uses /upload */

/* POST /files/: a new upload of size bytes with the file's name and the
 * options as its metadata; its URL in url. The HTTP status. */
static long tus_create(const char *auth, const char *file, const opts *o, long long size,
                       char *url, size_t urlsz, long long *expires, buf *b)
{
    char len[64], meta[4096], v[2800], *dup = strdup(file);
    const char *extra[] = {tus_version, len, meta, "Content-Length: 0", NULL};
    buf h = {0};
    long st;
    int bad;

    if (!dup)
        return 0;
    snprintf(len, sizeof len, "Upload-Length: %lld", size);
    bad = b64_encode(basename(dup), v, sizeof v);
    snprintf(meta, sizeof meta, "Upload-Metadata: filename %s", v);
    free(dup);
    for (int i = 0; i < o->n && !bad; i++) {
        size_t used = strlen(meta);
        bad = b64_encode(o->value[i], v, sizeof v);
        if (!bad && snprintf(meta + used, sizeof meta - used, ",%s %s",
                             strcmp(o->name[i], "callback-url") == 0 ? "callback_url"
                                                                     : o->name[i],
                             v) >= (int)(sizeof meta - used))
            bad = 1;
    }
    if (bad) {
        prog_clear();
        fprintf(stderr, "v2m: %s: the file name and options are too long to send\n", file);
        return -2;
    }
    {
        req r = {.method = "POST", .path = "/files/", .auth = auth, .out = b, .headers = &h,
                 .extra = extra};
        st = http(&r);
    }
    if (st == 201 && !upload_url(&h, url, urlsz))
        st = 502; /* a creation that names no upload */
    *expires = expires_at(&h);
    free(h.p);
    return st;
}

/* Send the file with tus: a new upload, or the one the state file
 * remembers for it, carried on piece by piece. An exit code, or NO_TUS. */
static int tus_send(const char *auth, const char *file, const opts *o, prog *p, char *fid,
                    size_t fidlen)
{
    char abs[4096], user[512], url[2048] = "", mtime[64];
    long long size, offset = -1, length, expires = 0;
    int rc = EX_FAIL, tries = 0, fresh = 0;
    struct stat sb;
    json_t *key;
    buf b = {0};
    FILE *f;
    long st;

    f = fopen(file, "rb");
    if (!f || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0 ||
        !realpath(file, abs)) {
        if (f)
            fclose(f);
        return NO_TUS; /* a pipe, a device or an empty file: /upload says what it makes of it */
    }
    size = (long long)sb.st_size;
    token_user(auth, user, sizeof user);
    snprintf(mtime, sizeof mtime, "%lld.%09ld", (long long)sb.st_mtim.tv_sec,
             (long)sb.st_mtim.tv_nsec);
    /* Files sent in one request are not remembered: starting one again
     * costs no more than a piece. */
    key = size <= UPLOAD_CHUNK ? NULL
        : json_pack("{s:s, s:s, s:s, s:I, s:s}", "server", base_url, "user", user, "path", abs,
                    "size", (json_int_t)size, "mtime", mtime);
    if (key) {
        /* Uploads of the file as it was before it changed go. */
        json_t *old = state_take_older(key), *u;
        size_t i;
        json_array_foreach(old, i, u)
            tus_delete(auth, json_string_value(u));
        json_decref(old);
    }

    /* An upload of this file cut short before: where the server has it. */
    if (key && state_find(key, url, sizeof url)) {
        st = tus_head(auth, url, &offset, &length);
        if (st == 200 && length == size && offset >= 0 && offset <= size) {
            say_progress(file, "resuming upload at", offset, size, -1);
        } else if (st == 0 || st == 401) {
            rc = st ? fail_answer(st, NULL) : EX_UNREACHABLE;
            if (!st)
                fprintf(stderr, "v2m: cannot reach the server at %s\n", base_url);
            goto out;
        } else {
            if (st == 200)
                tus_delete(auth, url); /* another length: not this file's */
            offset = -1; /* gone, expired, another length: a new one */
            state_put(key, NULL, 0);
        }
    }
    prog_phase(p, "upload");
    p->from = offset > 0 ? (double)offset : 0;
    for (;;) {
        long long len;
        buf h = {0};
        char off[64], got[64];
        const char *extra[] = {tus_version, off, "Content-Type: application/offset+octet-stream",
                               "Expect:", NULL};

        if (offset < 0) {
            free(b.p);
            b = (buf){0};
            st = tus_create(auth, file, o, size, url, sizeof url, &expires, &b);
            if (st == 404 || st == 405 || st == 412 || st == 501) {
                rc = NO_TUS;
                goto out;
            }
            if (st != 201) {
                rc = st == -2 ? EX_FAIL : fail_answer(st, &b);
                goto out;
            }
            if (key)
                state_put(key, url, expires);
            offset = 0;
            fresh = 1;
        }
        len = size - offset < UPLOAD_CHUNK ? size - offset : UPLOAD_CHUNK;
        snprintf(off, sizeof off, "Upload-Offset: %lld", offset);
        if (fseeko(f, (off_t)offset, SEEK_SET) != 0) {
            prog_clear();
            fprintf(stderr, "v2m: %s: %s\n", file, strerror(errno));
            goto out;
        }
        p->size = (double)size;
        p->base = (double)offset;
        free(b.p);
        b = (buf){0};
        {
            req r = {.method = "PATCH", .path = url, .auth = auth, .out = &b, .headers = &h,
                     .progress = p, .extra = extra, .body = f, .body_len = len, .quiet = 1};
            st = http(&r);
        }
        if (st == 204 || st == 200 || st == 201) {
            long long now_at = header_num(&h, "Upload-Offset");
            int done = header_value(&h, "V2M-Video-Fid", got, sizeof got);
            free(h.p);
            if (done) {
                if (key)
                    state_put(key, NULL, 0);
                snprintf(fid, fidlen, "%s", got);
                rc = EX_OK;
                goto out;
            }
            offset = now_at >= 0 ? now_at : offset + len;
            tries = 0;
            if (offset >= size) {
                prog_clear();
                fprintf(stderr, "v2m: %s: the server took the whole file but named no video\n",
                        file);
                goto out;
            }
            if (!tty) {
                double el = now() - p->t0;
                say_progress(file, "uploaded", offset, size,
                             el > 0 ? ((double)offset - p->from) / el : 0);
            }
            continue;
        }
        free(h.p);
        if ((st == 404 || st == 410) && !fresh) {
            /* Gone meanwhile (expired, removed): once more from the start. */
            if (key)
                state_put(key, NULL, 0);
            offset = -1;
            fresh = 1;
            continue;
        }
        if (st == 0 || st == 409 || st == 423 || st == 460 || st >= 500) {
            /* The connection dropped, or the server is not ready for this
             * piece: ask it where the upload stands and go on from there. */
            if (++tries > UPLOAD_RETRIES) {
                prog_clear();
                fprintf(stderr, "v2m: %s: the upload stopped at %d%%%s\n", file,
                        (int)((double)offset * 100 / (double)size),
                        key ? ": run the same command again to resume it" : "");
                rc = st ? fail_answer(st, &b) : EX_UNREACHABLE;
                if (!st)
                    fprintf(stderr, "v2m: cannot reach the server at %s\n", base_url);
                goto out;
            }
            usleep(st == 409 ? 200 * 1000 : (useconds_t)(500 * 1000) << (tries - 1));
            st = tus_head(auth, url, &offset, &length);
            if (st == 200 && length == size && offset >= 0 && offset <= size)
                continue;
            if (st == 0) {
                while (st == 0 && ++tries <= UPLOAD_RETRIES) {
                    usleep((useconds_t)(500 * 1000) << (tries - 1));
                    st = tus_head(auth, url, &offset, &length);
                }
                if (st == 200 && length == size && offset >= 0 && offset <= size)
                    continue;
                if (st == 0) {
                    prog_clear();
                    fprintf(stderr, "v2m: cannot reach the server at %s%s\n", base_url,
                            key ? ": run the same command again to resume the upload" : "");
                    rc = EX_UNREACHABLE;
                    goto out;
                }
            }
            if (st == 404 || st == 410) {
                if (key)
                    state_put(key, NULL, 0);
                offset = -1;
                if (!fresh++)
                    continue;
            }
            rc = fail_answer(st == 200 ? 502 : st, NULL);
            goto out;
        }
        /* Refused for good (not media, too large, a bad option...): the
         * server kept nothing of it, except for a session to renew. */
        if (key && st != 401 && st != 403 && st != 429)
            state_put(key, NULL, 0);
        rc = fail_answer(st, &b);
        goto out;
    }
out:
    p->size = p->base = p->from = 0;
    json_decref(key);
    free(b.p);
    fclose(f);
    return rc;
}

/* Send the video with its options; the new job's video id in fid: tus at
 * /files/, else (an older server) POST /upload. Returns an exit code. */
static int send_video(const char *auth, const char *file, const opts *o, prog *p, char *fid,
                      size_t fidlen)
{
    int rc = tus_send(auth, file, o, p, fid, fidlen);
    return rc == NO_TUS ? send_form(auth, file, o, p, fid, fidlen) : rc;
}

/* Poll the job until it is done or failed, or timeout seconds passed
 * (0: no limit). The job in *out (the caller frees it). Returns an exit
 * code; the failure explained. */
static int wait_job(const char *auth, const char *fid, double timeout, prog *p, json_t **out)
{
    double t0 = now();
    char eta[32], detail[128];
    long st;
    int rc;

    *out = NULL;
    prog_phase(p, "convert");
    p->t_conv = 0;
    for (;;) {
        json_t *job = get_job(auth, fid, 0, &st, &rc);
        const char *s = job ? jstr(job, "status") : NULL;
        double prg = job ? json_number_value(json_object_get(job, "progress")) : 0;
        if (!job)
            return rc;
        if (!s) {
            json_decref(job);
            prog_clear();
            fprintf(stderr, "v2m: the server's job %s has no status\n", fid);
            return EX_FAIL;
        }
        if (strcmp(s, "done") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "expired") == 0) {
            *out = job;
            if (strcmp(s, "done") == 0) {
                prog_draw(p, 1, "");
                return EX_OK;
            }
            return EX_FAIL;
        }
        if (strcmp(s, "converting") == 0 && p->t_conv == 0)
            p->t_conv = now();
        if (p->t_conv > 0 && prg > 0.01) {
            duration((now() - p->t_conv) * (1 - prg) / prg, eta, sizeof eta);
            snprintf(detail, sizeof detail, "%s ETA %s", s, eta);
        } else {
            snprintf(detail, sizeof detail, "%s", s);
        }
        prog_draw(p, prg, detail);
        if (timeout > 0 && now() - t0 >= timeout) {
            char d[32];
            duration(timeout, d, sizeof d);
            prog_clear();
            fprintf(stderr,
                    "v2m: timed out after %s waiting for job %s (still %s); "
                    "see `v2m status %s` later\n", d, fid, s, fid);
            json_decref(job);
            return EX_TIMEOUT;
        }
        json_decref(job);
        usleep(300 * 1000);
    }
}

/* The reason a finished job did not give an MP3. */
static void say_job_failed(const char *what, json_t *job)
{
    const char *s = jstr(job, "status"), *e = jstr(job, "error");
    prog_clear();
    if (s && strcmp(s, "expired") == 0)
        fprintf(stderr, "v2m: %s: the job has expired (its files were deleted)\n", what);
    else
        fprintf(stderr, "v2m: %s: conversion failed: %s\n", what, e ? e : "no reason given");
}

/* Parse upload options and --timeout at argv[*i]; 1 when taken, 0 when not
 * an option of these, -1 on a usage error (said). */
static int take_option(int argc, char **argv, int *i, opts *o, double *timeout)
{
    const char *name = option_name(argv[*i]);
    if (strcmp(argv[*i], "--timeout") == 0) {
        char *end;
        double t;
        if (*i + 1 >= argc)
            return fprintf(stderr, "v2m: --timeout needs a value\n"), -1;
        t = strtod(argv[++*i], &end);
        if (*end || t < 0 || end == argv[*i])
            return fprintf(stderr, "v2m: --timeout: '%s' is not a number of seconds\n", argv[*i]), -1;
        *timeout = t;
        return 1;
    }
    if (!name)
        return 0;
    if (*i + 1 >= argc)
        return fprintf(stderr, "v2m: %s needs a value\n", argv[*i]), -1;
    if (o->n >= 32)
        return fprintf(stderr, "v2m: too many options\n"), -1;
    o->name[o->n] = name;
    o->value[o->n++] = argv[++*i];
    return 1;
}

static int cmd_upload(int argc, char **argv, const char *auth)
{
    const char *file = NULL;
    int wait = 0, rc;
    double timeout = DEFAULT_TIMEOUT;
    opts o = {0};
    char fid[64];
    json_t *job = NULL;
    char *dup;
    prog p = {0};

    for (int i = 2; i < argc; i++) {
        int t = take_option(argc, argv, &i, &o, &timeout);
        if (t < 0)
            return EX_USAGE;
        if (t)
            continue;
        if (strcmp(argv[i], "--wait") == 0)
            wait = 1;
        else if (strncmp(argv[i], "--", 2) == 0)
            return fprintf(stderr, "v2m: unknown upload option '%s'\n%s", argv[i], usage), EX_USAGE;
        else if (!file)
            file = argv[i];
        else
            return fprintf(stderr, "%s", usage), EX_USAGE;
    }
    if (!file)
        return fprintf(stderr, "%s", usage), EX_USAGE;
    if (access(file, R_OK) != 0)
        return fprintf(stderr, "v2m: %s: %s\n", file, strerror(errno)), EX_FAIL;
    dup = strdup(file);
    p.name = dup ? basename(dup) : file;
    rc = send_video(auth, file, &o, &p, fid, sizeof fid);
    if (rc == EX_OK) {
        prog_clear();
        printf("video_fid %s\n", fid);
        fflush(stdout);
        if (wait) {
            rc = wait_job(auth, fid, timeout, &p, &job);
            prog_clear();
            if (rc == EX_OK)
                printf("mp3_fid %s\n", jstr(job, "mp3_fid") ? jstr(job, "mp3_fid") : "?");
            else if (job)
                say_job_failed(p.name, job);
        }
    }
    json_decref(job);
    free(dup);
    return rc;
}

/* ---- download ---- */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A file name safe to create here: no directories, not empty, not a dot name. */
static int safe_name(char *s)
{
    for (char *q = s; *q; q++)
        if (*q == '/' || *q == '\\' || (unsigned char)*q < 0x20)
            *q = '_';
    return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* The file name a Content-Disposition header gives: filename* (UTF-8,
 * percent-encoded) first, then filename. 1 when found. */
static int disposition_name(const char *headers, char *out, size_t n)
{
    const char *h = headers ? strcasestr(headers, "\ncontent-disposition:") : NULL;
    const char *end, *p;
    size_t k = 0;
    if (!h)
        return 0;
    end = strchr(h + 1, '\n');
    if (!end)
        end = h + strlen(h);
    p = strcasestr(h, "filename*=");
    if (p && p < end) {
        p += 10;
        if (strncasecmp(p, "UTF-8''", 7) == 0) {
            p += 7;
            while (p < end && *p != ';' && *p != '\r' && *p != ' ' && k + 1 < n) {
                if (*p == '%' && p + 2 < end && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                    out[k++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                    p += 3;
                } else {
                    out[k++] = *p++;
                }
            }
            out[k] = '\0';
            if (safe_name(out))
                return 1;
        }
    }
    k = 0;
    p = strcasestr(h, "filename=");
    if (p && p < end) {
        p += 9;
        if (*p == '"') {
            p++;
            while (p < end && *p != '"' && k + 1 < n)
                out[k++] = *p++;
        } else {
            while (p < end && *p != ';' && *p != '\r' && k + 1 < n)
                out[k++] = *p++;
        }
        out[k] = '\0';
        return safe_name(out);
    }
    return 0;
}

/* "dir/name.mp4" -> "name.mp3" */
static void mp3_name(const char *video, char *out, size_t n)
{
    const char *b = strrchr(video, '/');
    const char *dot;
    size_t len;
    b = b ? b + 1 : video;
    dot = strrchr(b, '.');
    len = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    snprintf(out, n, "%.*s.mp3", (int)len, b);
    if (!safe_name(out))
        snprintf(out, n, "audio.mp3");
}

/* Put tmp in place as target: never over an existing file unless force. */
static int place(const char *tmp, const char *target, int force)
{
    if (force) {
        if (rename(tmp, target) == 0)
            return EX_OK;
    } else if (link(tmp, target) == 0) {
        unlink(tmp);
        return EX_OK;
    } else if (errno == EEXIST) {
        unlink(tmp);
        fprintf(stderr, "v2m: %s already exists (use --force to overwrite it)\n", target);
        return EX_FAIL;
    } else if (rename(tmp, target) == 0) { /* a file system without links: checked before */
        return EX_OK;
    }
    fprintf(stderr, "v2m: %s: %s\n", target, strerror(errno));
    unlink(tmp);
    return EX_FAIL;
}

/* GET /download?fid=<mp3_fid> into a temporary file in dir, then to target
 * (NULL: the name from Content-Disposition, else fallback). Returns an exit
 * code; the saved path in saved. */
static int fetch_mp3(const char *auth, const char *mp3, const char *dir, const char *target,
                     const char *fallback, int force, prog *p, char *saved, size_t savedlen)
{
    char tmp[1100], path[128], name[512];
    buf hdr = {0}, body = {0};
    FILE *f;
    int fd, rc;
    long st;

    snprintf(tmp, sizeof tmp, "%s/.v2m-XXXXXX", dir);
    fd = mkstemp(tmp);
    if (fd < 0 || !(f = fdopen(fd, "wb"))) {
        if (fd >= 0)
            close(fd);
        prog_clear();
        return fprintf(stderr, "v2m: %s: %s\n", dir, strerror(errno)), EX_FAIL;
    }
    snprintf(partial, sizeof partial, "%s", tmp);
    snprintf(path, sizeof path, "/download?fid=%s", mp3);
    prog_phase(p, "download");
    {
        req r = {.method = "GET", .path = path, .auth = auth, .out = &body, .file = f,
                 .headers = &hdr, .progress = p};
        st = http(&r);
    }
    if (fclose(f) != 0 && st == 200) {
        prog_clear();
        fprintf(stderr, "v2m: %s: %s\n", tmp, strerror(errno));
        st = -1;
    }
    if (st != 200) {
        unlink(tmp);
        rc = st < 0 ? EX_FAIL : fail_answer(st, &body);
        goto out;
    }
    if (!target) {
        if (!disposition_name(hdr.p, name, sizeof name))
            snprintf(name, sizeof name, "%s", fallback);
        snprintf(saved, savedlen, "%s/%s", dir, name);
        if (strcmp(dir, ".") == 0)
            snprintf(saved, savedlen, "%s", name);
    } else {
        snprintf(saved, savedlen, "%s", target);
    }
    prog_clear();
    rc = place(tmp, saved, force);
out:
    partial[0] = '\0';
    free(hdr.p);
    free(body.p);
    return rc;
}

static int cmd_download(int argc, char **argv, const char *auth)
{
    const char *fid = NULL, *out = NULL, *outdir = NULL;
    char saved[1200], fallback[600], dirbuf[1100], check[1800], *dir;
    json_t *job;
    int force = 0, rc;
    long st;
    prog p = {0};
    const char *mp3;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            force = 1;
        else if (!fid)
            fid = argv[i];
        else
            return fprintf(stderr, "%s", usage), EX_USAGE;
    }
    if (!fid || !v2m_oid_valid(fid))
        return fprintf(stderr, "%s", usage), EX_USAGE;
    {
        struct stat sb;
        if (out && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            outdir = out; /* -o DIR: the usual name, in DIR */
            out = NULL;
        }
    }
    if (out && !force && access(out, F_OK) == 0)
        return fprintf(stderr, "v2m: %s already exists (use --force to overwrite it)\n", out),
               EX_FAIL;
    snprintf(fallback, sizeof fallback, "%s.mp3", fid);
    mp3 = fid;
    /* A video id: its job names the MP3. */
    job = get_job(auth, fid, 1, &st, &rc);
    if (!job && st != 404)
        return rc;
    if (job) {
        const char *s = jstr(job, "status");
        if (!s || strcmp(s, "done") != 0) {
            if (s && (strcmp(s, "failed") == 0 || strcmp(s, "expired") == 0))
                say_job_failed(fid, job);
            else
                fprintf(stderr, "v2m: job %s is not done yet (%s); try again later, or "
                        "`v2m status %s`\n", fid, s ? s : "?", fid);
            json_decref(job);
            return EX_FAIL;
        }
        mp3 = jstr(job, "mp3_fid");
        if (jstr(job, "filename"))
            mp3_name(jstr(job, "filename"), fallback, sizeof fallback);
        snprintf(check, sizeof check, "%s/%s", outdir ? outdir : ".", fallback);
        if (!out && !force && access(check, F_OK) == 0) {
            fprintf(stderr, "v2m: %s already exists (use --force to overwrite it)\n",
                    outdir ? check : fallback);
            json_decref(job);
            return EX_FAIL;
        }
    }
    p.name = fid;
    if (out) {
        snprintf(dirbuf, sizeof dirbuf, "%s", out);
        dir = dirname(dirbuf);
    } else {
        dir = (char *)(outdir ? outdir : ".");
    }
    if (!out && job)
        snprintf(check, sizeof check, "%s/%s", dir, fallback);
    rc = mp3 ? fetch_mp3(auth, mp3, dir, out ? out : job ? (outdir ? check : fallback) : NULL,
                         fallback, force, &p, saved, sizeof saved)
             : (fprintf(stderr, "v2m: job %s has no MP3\n", fid), EX_FAIL);
    json_decref(job);
    if (rc == EX_OK)
        fprintf(stderr, "saved %s\n", saved);
    return rc;
}

/* ---- convert ---- */

static int cmd_convert(int argc, char **argv, const char *auth)
{
    const char *outdir = NULL;
    int force = 0, as_json = 0, worst = EX_OK, nfiles = 0;
    double timeout = DEFAULT_TIMEOUT;
    opts o = {0};
    json_t *results = json_array();

    for (int i = 2; i < argc; i++) {
        int t = take_option(argc, argv, &i, &o, &timeout);
        if (t < 0) {
            json_decref(results);
            return EX_USAGE;
        }
        if (t)
            continue;
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            outdir = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            force = 1;
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            json_decref(results);
            return fprintf(stderr, "v2m: unknown convert option '%s'\n%s", argv[i], usage), EX_USAGE;
        } else
            nfiles++;
    }
    if (!nfiles) {
        json_decref(results);
        return fprintf(stderr, "%s", usage), EX_USAGE;
    }
    if (outdir) {
        struct stat sb;
        if (stat(outdir, &sb) != 0 && mkdir(outdir, 0777) != 0) {
            json_decref(results);
            return fprintf(stderr, "v2m: %s: %s\n", outdir, strerror(errno)), EX_FAIL;
        }
    }
    for (int i = 2; i < argc; i++) {
        char name[600], target[1800], dirbuf[1200], fid[64] = "", saved[1900] = "";
        const char *file = argv[i], *dir, *reason = NULL;
        char *dup;
        json_t *job = NULL, *res;
        prog p = {0};
        int rc;

        if (option_name(argv[i]) || strcmp(argv[i], "--timeout") == 0 ||
            strcmp(argv[i], "-o") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        dup = strdup(file);
        p.name = dup ? basename(dup) : file;
        mp3_name(file, name, sizeof name);
        snprintf(dirbuf, sizeof dirbuf, "%s", file);
        dir = outdir ? outdir : dirname(dirbuf);
        snprintf(target, sizeof target, "%s/%s", dir, name);
        if (access(file, R_OK) != 0) {
            fprintf(stderr, "v2m: %s: %s\n", file, strerror(errno));
            reason = "cannot read the file";
            rc = EX_FAIL;
        } else if (!force && access(target, F_OK) == 0) {
            fprintf(stderr, "v2m: %s: %s already exists (use --force to overwrite it); "
                    "not uploaded\n", file, target);
            reason = "the MP3 exists";
            rc = EX_FAIL;
        } else {
            if (!tty)
                fprintf(stderr, "%s: uploading\n", file);
            rc = send_video(auth, file, &o, &p, fid, sizeof fid);
            if (rc == EX_OK)
                rc = wait_job(auth, fid, timeout, &p, &job);
            if (rc == EX_FAIL && job) {
                say_job_failed(file, job);
                reason = jstr(job, "error") ? jstr(job, "error") : jstr(job, "status");
            }
            if (rc == EX_OK && !jstr(job, "mp3_fid")) {
                prog_clear();
                fprintf(stderr, "v2m: %s: the job is done but names no MP3\n", file);
                rc = EX_FAIL;
            }
            if (rc == EX_OK)
                rc = fetch_mp3(auth, jstr(job, "mp3_fid"), dir, target, NULL, force, &p, saved,
                               sizeof saved);
            prog_clear();
            if (rc == EX_OK)
                fprintf(stderr, "%s: done -> %s\n", file, saved);
            else
                fprintf(stderr, "%s: failed\n", file);
        }
        res = json_pack("{s:s, s:s}", "file", file, "status", rc == EX_OK ? "done" : "failed");
        if (fid[0])
            json_object_set_new(res, "video_fid", json_string(fid));
        if (rc == EX_OK) {
            json_object_set_new(res, "mp3_fid", json_string(jstr(job, "mp3_fid")));
            json_object_set_new(res, "output", json_string(saved));
        } else {
            json_object_set_new(res, "exit", json_integer(rc));
            if (reason)
                json_object_set_new(res, "error", json_string(reason));
        }
        json_array_append_new(results, res);
        json_decref(job);
        free(dup);
        if (rc > worst)
            worst = rc;
        if (rc == EX_UNREACHABLE || rc == EX_AUTH)
            break; /* the next files would fail the same way */
    }
    if (as_json) {
        char *s = json_dumps(results, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    }
    json_decref(results);
    return worst;
}

/* ---- status ---- */

static void when(const char *iso, char *out, size_t n)
{
    struct tm tm = {0}, lt;
    time_t t, age;
    char ago[32];
    if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(out, n, "-");
        return;
    }
    t = timegm(&tm);
    localtime_r(&t, &lt);
    age = time(NULL) - t;
    if (age < 0)
        age = 0;
    if (age < 60)
        snprintf(ago, sizeof ago, "%lds ago", (long)age);
    else if (age < 3600)
        snprintf(ago, sizeof ago, "%ldm ago", (long)age / 60);
    else if (age < 86400)
        snprintf(ago, sizeof ago, "%ldh ago", (long)age / 3600);
    else
        snprintf(ago, sizeof ago, "%ldd ago", (long)age / 86400);
    strftime(out, n, "%Y-%m-%d %H:%M", &lt);
    snprintf(out + strlen(out), n - strlen(out), " (%s)", ago);
}

static void print_row(json_t *j)
{
    char size[32] = "-", pct[8] = "-", at[64];
    const char *f = jstr(j, "filename"), *s = jstr(j, "status");
    json_t *sz = json_object_get(j, "size"), *pr = json_object_get(j, "progress");
    if (json_is_number(sz))
        human(json_number_value(sz), size, sizeof size);
    if (json_is_number(pr))
        snprintf(pct, sizeof pct, "%d%%", (int)(json_number_value(pr) * 100 + 0.5));
    when(jstr(j, "created_at"), at, sizeof at);
    printf("%-24s  %-28.28s  %-10s  %5s  %10s  %s\n", jstr(j, "video_fid") ? jstr(j, "video_fid") : "?",
           f ? f : "-", s ? s : "?", pct, size, at);
}

static int cmd_status(int argc, char **argv, const char *auth)
{
    const char *fid = NULL;
    int as_json = 0, rc;
    buf b = {0};
    json_t *j;
    long st;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (!fid)
            fid = argv[i];
        else
            return fprintf(stderr, "%s", usage), EX_USAGE;
    }
    if (fid) {
        char path[128];
        if (!v2m_oid_valid(fid))
            return fprintf(stderr, "v2m: '%s' is not a 24-hex-digit id\n", fid), EX_USAGE;
        snprintf(path, sizeof path, "/jobs/%s", fid);
        st = call("GET", path, auth, &b);
    } else {
        st = call("GET", "/jobs", auth, &b);
    }
    if (st != 200) {
        rc = fail_answer(st, &b);
        free(b.p);
        return rc;
    }
    j = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
    if (as_json || !j) {
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        puts(s ? s : b.p ? b.p : "");
        free(s);
    } else {
        printf("%-24s  %-28s  %-10s  %5s  %10s  %s\n", "ID", "FILE", "STATUS", "DONE", "SIZE",
               "CREATED");
        if (json_is_array(j)) {
            size_t i;
            json_t *e;
            json_array_foreach(j, i, e)
                print_row(e);
            if (json_array_size(j) == 0)
                printf("(no jobs)\n");
        } else {
            print_row(j);
            if (jstr(j, "mp3_fid"))
                printf("mp3: %s\n", jstr(j, "mp3_fid"));
            if (jstr(j, "error"))
                printf("error: %s\n", jstr(j, "error"));
        }
    }
    json_decref(j);
    free(b.p);
    return EX_OK;
}

/* DELETE /jobs/<fid> or POST /jobs/<fid>/retry. */
static int cmd_job_action(int argc, char **argv, const char *auth)
{
    int del = strcmp(argv[1], "delete") == 0, rc;
    char path[128];
    buf b = {0};
    long st;

    if (argc != 3 || !v2m_oid_valid(argv[2]))
        return fprintf(stderr, "%s", usage), EX_USAGE;
    snprintf(path, sizeof path, del ? "/jobs/%s" : "/jobs/%s/retry", argv[2]);
    st = call(del ? "DELETE" : "POST", path, auth, &b);
    if (st < 200 || st > 299) {
        rc = fail_answer(st, &b);
        free(b.p);
        return rc;
    }
    fprintf(stderr, del ? "deleted %s\n" : "queued %s again\n", argv[2]);
    free(b.p);
    return EX_OK;
}

/* POST /webhook-secret: the new secret on stdout. */
static int cmd_webhook_secret(int argc, const char *auth)
{
    buf b = {0};
    json_t *o = NULL;
    const char *s;
    long st;
    int rc = EX_FAIL;

    if (argc != 2)
        return fprintf(stderr, "%s", usage), EX_USAGE;
    st = call("POST", "/webhook-secret", auth, &b);
    if (st < 200 || st > 299) {
        rc = fail_answer(st, &b);
        free(b.p);
        return rc;
    }
    o = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
    s = json_string_value(json_object_get(o, "secret"));
    if (s) {
        printf("%s\n", s);
        rc = EX_OK;
    } else {
        fprintf(stderr, "v2m: the server answered no secret\n");
    }
    json_decref(o);
    if (b.p)
        explicit_bzero(b.p, b.len);
    free(b.p);
    return rc;
}

int main(int argc, char **argv)
{
    static const char *const authed[] = {"convert", "upload", "status", "download",
                                         "delete", "retry", "webhook-secret"};
    char tok[8192], auth[8300];
    v2m_error err = {0};
    int rc = v2m_std_args(argc, argv, "v2m", usage, tables), known = 0;
    size_t n;
    if (rc >= 0)
        return rc;
    if (v2m_cfg_load(&cli_cfg, &cli_table, &err) != V2M_OK)
        return fprintf(stderr, "v2m: %s\n", v2m_error_msg(&err)), EX_USAGE;
    if (argc < 2)
        return fprintf(stderr, "%s", usage), EX_USAGE;
    snprintf(base_url, sizeof base_url, "%s", server_url());
    n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        base_url[--n] = '\0';
    tty = isatty(STDERR_FILENO);
    signal(SIGINT, interrupted);
    signal(SIGTERM, interrupted);
    for (size_t i = 0; i < sizeof authed / sizeof authed[0]; i++)
        known |= strcmp(argv[1], authed[i]) == 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "login") == 0) {
        rc = cmd_login(argc, argv);
    } else if (strcmp(argv[1], "logout") == 0) {
        rc = cmd_logout(argc);
    } else if (!known) {
        fprintf(stderr, "v2m: unknown command '%s'\n%s", argv[1], usage);
        rc = EX_USAGE;
    } else if (load_token(tok, sizeof tok) != 0) {
        rc = EX_AUTH;
    } else {
        snprintf(auth, sizeof auth, "Bearer %s", tok);
        rc = strcmp(argv[1], "convert") == 0    ? cmd_convert(argc, argv, auth)
             : strcmp(argv[1], "upload") == 0   ? cmd_upload(argc, argv, auth)
             : strcmp(argv[1], "status") == 0   ? cmd_status(argc, argv, auth)
             : strcmp(argv[1], "download") == 0 ? cmd_download(argc, argv, auth)
             : strcmp(argv[1], "webhook-secret") == 0 ? cmd_webhook_secret(argc, auth)
                                                      : cmd_job_action(argc, argv, auth);
        explicit_bzero(auth, sizeof auth);
    }
    explicit_bzero(tok, sizeof tok);
    curl_global_cleanup();
    return rc;
}
