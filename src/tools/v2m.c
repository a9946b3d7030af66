/* v2m.c - the client of a running v2m: log in, upload, watch, download.
 *
 *   v2m login EMAIL [--password-stdin]   prints the token and keeps it
 *   v2m upload FILE [--wait] [--OPTION VALUE]...
 *                                        prints the video id (and the MP3 id);
 *                                        the options are the server's per-job
 *                                        options (docs/API.md), sent as fields
 *   v2m status [VIDEO_FID]               a job, or all of yours
 *   v2m download MP3_FID [-o FILE]       the MP3 (default <fid>.mp3)
 *   v2m delete VIDEO_FID                 the video, its MP3 and the job
 *   v2m retry VIDEO_FID                  convert a failed job again
 *   v2m webhook-secret                   a new secret for your webhooks'
 *                                        signatures, printed once
 *
 * The server is V2M_URL (default http://localhost:8080); the token comes from
 * V2M_TOKEN, else from the file `v2m login` wrote ($XDG_CONFIG_HOME/v2m/token
 * or ~/.config/v2m/token, mode 0600).
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/args.h"
#include "common/config.h"
#include "common/buf.h"
#include "common/message.h"
#include "common/oid.h"

static const char usage[] =
    "usage: v2m login EMAIL [--password-stdin]\n"
    "       v2m upload FILE [--wait] [--OPTION VALUE]...\n"
    "       v2m status [VIDEO_FID]\n"
    "       v2m download MP3_FID [-o FILE]\n"
    "       v2m delete VIDEO_FID\n"
    "       v2m retry VIDEO_FID\n"
    "       v2m webhook-secret   (a new secret for your webhooks' signatures, shown once)\n"
    "Upload options (the server checks them): --quality 0-9 | --bitrate 8-320,\n"
    "  --rate HZ, --channels 1|2, --start T, --end T ([hh:]mm:ss[.mmm] or seconds),\n"
    "  --track N|LANGUAGE, --normalize on|off|LUFS, --cover auto|none,\n"
    "  --title T, --artist A, --album A, --callback-url URL\n"
    "The token is V2M_TOKEN, else the one `v2m login` saved in\n"
    "$XDG_CONFIG_HOME/v2m/token (~/.config/v2m/token).\n";

static const v2m_cfg_var cli_vars[] = {
    {.name = "V2M_URL", .def = "http://localhost:8080", .parse = v2m_cfg_parse_text, .max = 900,
     .help = "the gateway's base URL"},
    {.name = "V2M_TOKEN", .parse = v2m_cfg_parse_text, .shown = "the saved one",
     .help = "bearer token to send instead of the saved one"},
};
static const v2m_cfg_table cli_table = V2M_CFG_TABLE("v2m", cli_vars);
static const v2m_cfg_table *const tables[] = {&cli_table, NULL};
static v2m_cfg cli_cfg; /* loaded once at start */

typedef v2m_buf buf;

static size_t to_buf(char *d, size_t s, size_t m, void *ud)
{
    buf *b = ud;
    size_t n = s * m;
    if (b->len + n > (1u << 20))
        return 0; /* answers of this API are small */
    return v2m_buf_add(b, d, n) == 0 ? n : 0;
}

static const char *server(void) { return v2m_cfg_text(&cli_cfg, "V2M_URL"); }

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
    if (!f || !fgets(tok, (int)n, f)) {
        if (f)
            fclose(f);
        fprintf(stderr, "v2m: no token; run `v2m login EMAIL` or set V2M_TOKEN\n");
        return -1;
    }
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    return 0;
}

/* One request; returns the HTTP status (0 when the server was not reached). */
static long call(const char *method, const char *path, const char *auth, curl_mime *mime,
                 FILE *sink, buf *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[2048], hdr[8300], ebuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc;

    snprintf(url, sizeof url, "%s%s", server(), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        h = curl_slist_append(h, hdr);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    if (mime)
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    if (sink) {
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && status == 0)
        fprintf(stderr, "v2m: %s: %s\n", url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static int fail_answer(long st, const buf *b)
{
    if (st)
        fprintf(stderr, "v2m: server answered %ld: %s", st, b->p ? b->p : "\n");
    return 1;
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

    snprintf(url, sizeof url, "%s/login", server());
    snprintf(cred, sizeof cred, "%s:%s", email, pw);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_USERPWD, cred);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    else
        fprintf(stderr, "v2m: %s: %s\n", url, ebuf);
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
    int from_stdin = 0;
    buf b = {0};
    long st;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--password-stdin") == 0)
            from_stdin = 1;
        else if (!email)
            email = argv[i];
        else
            return fprintf(stderr, "%s", usage), 2;
    }
    if (!email)
        return fprintf(stderr, "%s", usage), 2;
    read_password(from_stdin, pw, sizeof pw);
    st = post_login(email, pw, &b);
    explicit_bzero(pw, sizeof pw);
    if (st != 200) {
        int rc = fail_answer(st, &b);
        free(b.p);
        return rc;
    }
    save_token(b.p);
    puts(b.p);
    free(b.p);
    return 0;
}

static json_t *get_job(const char *auth, const char *fid, long *st)
{
    char path[128];
    buf b = {0};
    json_t *j = NULL;
    snprintf(path, sizeof path, "/jobs/%s", fid);
    *st = call("GET", path, auth, NULL, NULL, &b);
    if (*st == 200)
        j = json_loads(b.p, 0, NULL);
    else
        fail_answer(*st, &b);
    free(b.p);
    return j;
}

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

static int cmd_upload(int argc, char **argv, const char *auth)
{
    const char *file = NULL;
    int wait = 0, rc = 1;
    curl_mime *mime;
    curl_mimepart *part;
    buf b = {0};
    json_t *j = NULL;
    long st;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--wait") == 0) {
            wait = 1;
        } else if (option_name(argv[i])) {
            if (++i >= argc)
                return fprintf(stderr, "v2m: %s needs a value\n", argv[i - 1]), 2;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            return fprintf(stderr, "v2m: unknown upload option '%s'\n%s", argv[i], usage), 2;
        } else if (!file) {
            file = argv[i];
        } else {
            return fprintf(stderr, "%s", usage), 2;
        }
    }
    if (!file)
        return fprintf(stderr, "%s", usage), 2;
    if (access(file, R_OK) != 0)
        return fprintf(stderr, "v2m: %s: %s\n", file, strerror(errno)), 1;
    {
        CURL *tmp = curl_easy_init();
        mime = curl_mime_init(tmp);
        /* Options first: the server can refuse a bad one before the file. */
        for (int i = 2; i < argc; i++) {
            const char *name = option_name(argv[i]);
            if (!name)
                continue;
            part = curl_mime_addpart(mime);
            curl_mime_name(part, strcmp(name, "callback-url") == 0 ? "callback_url" : name);
            curl_mime_data(part, argv[++i], CURL_ZERO_TERMINATED);
        }
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "file");
        curl_mime_filedata(part, file);
        st = call("POST", "/upload", auth, mime, NULL, &b);
        curl_mime_free(mime);
        curl_easy_cleanup(tmp);
    }
    if (st != 200 || !(j = json_loads(b.p, 0, NULL))) {
        fail_answer(st, &b);
        goto out;
    }
    {
        const char *fid = json_string_value(json_object_get(j, "video_fid"));
        printf("video_fid %s\n", fid ? fid : "?");
        fflush(stdout);
        if (!wait || !fid) {
            rc = fid ? 0 : 1;
            goto out;
        }
        for (;;) {
            json_t *job = get_job(auth, fid, &st);
            const char *s = job ? json_string_value(json_object_get(job, "status")) : NULL;
            if (!s) {
                json_decref(job);
                goto out;
            }
            if (strcmp(s, "done") == 0) {
                printf("mp3_fid %s\n", json_string_value(json_object_get(job, "mp3_fid")));
                json_decref(job);
                rc = 0;
                goto out;
            }
            if (strcmp(s, "failed") == 0 || strcmp(s, "expired") == 0) {
                fprintf(stderr, "v2m: conversion failed: %s\n",
                        json_string_value(json_object_get(job, "error")));
                json_decref(job);
                goto out;
            }
            json_decref(job);
            usleep(250 * 1000);
        }
    }
out:
    json_decref(j);
    free(b.p);
    return rc;
}

static int cmd_status(int argc, char **argv, const char *auth)
{
    buf b = {0};
    long st;
    int rc;
    if (argc > 3)
        return fprintf(stderr, "%s", usage), 2;
    if (argc == 3) {
        char path[128];
        if (!v2m_oid_valid(argv[2]))
            return fprintf(stderr, "v2m: '%s' is not a 24-hex-digit id\n", argv[2]), 2;
        snprintf(path, sizeof path, "/jobs/%s", argv[2]);
        st = call("GET", path, auth, NULL, NULL, &b);
    } else {
        st = call("GET", "/jobs", auth, NULL, NULL, &b);
    }
    if (st == 200) {
        json_t *j = json_loads(b.p, 0, NULL);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        puts(s ? s : b.p);
        free(s);
        json_decref(j);
        rc = 0;
    } else {
        rc = fail_answer(st, &b);
    }
    free(b.p);
    return rc;
}

static int cmd_download(int argc, char **argv, const char *auth)
{
    const char *fid = NULL, *out = NULL;
    char def[64], tmp[1100], path[128];
    FILE *f;
    long st;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (!fid)
            fid = argv[i];
        else
            return fprintf(stderr, "%s", usage), 2;
    }
    if (!fid || !v2m_oid_valid(fid))
        return fprintf(stderr, "%s", usage), 2;
    if (!out) {
        snprintf(def, sizeof def, "%s.mp3", fid);
        out = def;
    }
    snprintf(tmp, sizeof tmp, "%s.part", out);
    f = fopen(tmp, "wb");
    if (!f)
        return fprintf(stderr, "v2m: %s: %s\n", tmp, strerror(errno)), 1;
    snprintf(path, sizeof path, "/download?fid=%s", fid);
    st = call("GET", path, auth, NULL, f, NULL);
    if (fclose(f) != 0 || st != 200) {
        unlink(tmp);
        if (st)
            fprintf(stderr, "v2m: server answered %ld for %s\n", st, fid);
        return 1;
    }
    if (rename(tmp, out) != 0)
        return fprintf(stderr, "v2m: %s: %s\n", out, strerror(errno)), 1;
    fprintf(stderr, "saved %s\n", out);
    return 0;
}

/* DELETE /jobs/<fid> or POST /jobs/<fid>/retry. */
static int cmd_job_action(int argc, char **argv, const char *auth)
{
    int del = strcmp(argv[1], "delete") == 0;
    char path[128];
    buf b = {0};
    long st;

    if (argc != 3 || !v2m_oid_valid(argv[2]))
        return fprintf(stderr, "%s", usage), 2;
    snprintf(path, sizeof path, del ? "/jobs/%s" : "/jobs/%s/retry", argv[2]);
    st = call(del ? "DELETE" : "POST", path, auth, NULL, NULL, &b);
    if (st < 200 || st > 299) {
        fail_answer(st, &b);
        free(b.p);
        return 1;
    }
    fprintf(stderr, del ? "deleted %s\n" : "queued %s again\n", argv[2]);
    free(b.p);
    return 0;
}

/* POST /webhook-secret: the new secret on stdout. */
static int cmd_webhook_secret(int argc, const char *auth)
{
    buf b = {0};
    json_t *o = NULL;
    const char *s;
    long st;
    int rc = 1;

    if (argc != 2)
        return fprintf(stderr, "%s", usage), 2;
    st = call("POST", "/webhook-secret", auth, NULL, NULL, &b);
    if (st < 200 || st > 299) {
        fail_answer(st, &b);
        free(b.p);
        return 1;
    }
    o = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
    s = json_string_value(json_object_get(o, "secret"));
    if (s) {
        printf("%s\n", s);
        rc = 0;
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
    char tok[8192], auth[8300];
    v2m_error err = {0};
    int rc = v2m_std_args(argc, argv, "v2m", usage, tables);
    if (rc >= 0)
        return rc;
    if (v2m_cfg_load(&cli_cfg, &cli_table, &err) != V2M_OK)
        return fprintf(stderr, "v2m: %s\n", v2m_error_msg(&err)), 1;
    if (argc < 2)
        return fprintf(stderr, "%s", usage), 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "login") == 0) {
        rc = cmd_login(argc, argv);
    } else if (strcmp(argv[1], "upload") && strcmp(argv[1], "status") &&
               strcmp(argv[1], "download") && strcmp(argv[1], "delete") &&
               strcmp(argv[1], "retry") && strcmp(argv[1], "webhook-secret")) {
        fprintf(stderr, "v2m: unknown command '%s'\n%s", argv[1], usage);
        rc = 2;
    } else if (load_token(tok, sizeof tok) != 0) {
        rc = 1;
    } else {
        snprintf(auth, sizeof auth, "Bearer %s", tok);
        rc = strcmp(argv[1], "upload") == 0   ? cmd_upload(argc, argv, auth)
             : strcmp(argv[1], "status") == 0 ? cmd_status(argc, argv, auth)
             : strcmp(argv[1], "download") == 0 ? cmd_download(argc, argv, auth)
             : strcmp(argv[1], "webhook-secret") == 0 ? cmd_webhook_secret(argc, auth)
                                                : cmd_job_action(argc, argv, auth);
    }
    curl_global_cleanup();
    return rc;
}
