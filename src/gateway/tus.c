/* tus.c - resumable uploads, tus 1.0 at /files/.
 *
 * Core protocol (HEAD, PATCH with Upload-Offset) and the extensions
 * creation, creation-with-upload, termination, expiration and checksum
 * (sha1: the bytes of a request whose digest differs are dropped, 460). An upload is
 * a store part (ports/store.h): its bytes at their offsets in the store, and
 * beside them an info record written once at creation (owner, length, file
 * name, options, callback URL, expiry, the raw Upload-Metadata), so an
 * upload survives a gateway restart and any replica can carry it on. PATCH
 * bodies stream into the part as they arrive; the part is made durable when
 * the request ends, however it ends (a cut connection keeps what arrived).
 *
 * When the last byte is in, the door's checks apply as for /upload (the
 * first 64 KiB probed: 415 and the upload removed), the part is published as
 * the video and the job made by gw_job_make; the answer names the video in
 * V2M-Video-Fid. Every request needs the bearer token; an upload is seen
 * only by its creator (404 for anyone else).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jobopts.h"
#include "common/log.h"
#include "common/oid.h"
#include "common/webhook_url.h"
#include "filename.h"
#include "gateway.h"
#include "media/sniff.h"

#define TUS_VERSION "1.0.0"
#define META_MAX 2048        /* Upload-Metadata header bytes */
#define CALLBACK_MAX (sizeof ((v2m_msg *)0)->callback_url - 1)
#define BUSY_MAX 1024        /* uploads being written at once by this process */
#define SWEEP_MAX 1000       /* expired uploads removed per janitor sweep */

/* The uploads a request of this process is writing: a second PATCH on one
 * of them gets 409 instead of interleaving its bytes. */
static pthread_mutex_t busy_mu = PTHREAD_MUTEX_INITIALIZER;
static char busy[BUSY_MAX][V2M_FID_LEN + 1];

static int busy_take(const char *fid)
{
    int free_slot = -1, rc = 0;
    pthread_mutex_lock(&busy_mu);
    for (int i = 0; i < BUSY_MAX; i++) {
        if (busy[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(busy[i], fid) == 0) {
            rc = -1;
        }
    }
    if (rc == 0 && free_slot < 0)
        rc = -2;
    if (rc == 0)
        snprintf(busy[free_slot], sizeof busy[free_slot], "%s", fid);
    pthread_mutex_unlock(&busy_mu);
    return rc;
}

static void busy_drop(const char *fid)
{
    pthread_mutex_lock(&busy_mu);
    for (int i = 0; i < BUSY_MAX; i++)
        if (strcmp(busy[i], fid) == 0)
            busy[i][0] = '\0';
    pthread_mutex_unlock(&busy_mu);
}

typedef struct tus {
    gw_app *a;
    gw_user user;
    int status;              /* a refusal decided before or while streaming */
    char msg[300];
    int post;                /* creation (POST) rather than PATCH */
    int locked;              /* fid is in busy[] */
    int body;                /* the request carries upload bytes */
    int answered;            /* the refusal is written into resp already */
    char fid[V2M_FID_LEN + 1];
    int64_t offset;          /* the part's bytes so far */
    int64_t length;          /* Upload-Length */
    int64_t expires_ms;
    v2m_store_part *part;
    json_t *rec;             /* the info record */
    EVP_MD_CTX *md;          /* Upload-Checksum given: SHA-1 of this request's bytes */
    unsigned char want[20];  /* ... and the digest it must have */
} tus;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void http_date(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void add_num(v2m_http_resp *resp, const char *name, int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, v);
    v2m_http_add_header(resp, name, s);
}

static void add_expires(v2m_http_resp *resp, int64_t ms)
{
    char d[64];
    http_date(ms, d, sizeof d);
    v2m_http_add_header(resp, "Upload-Expires", d);
}

/* Answers carry Tus-Resumable; reply_* replaces the headers, so it is
 * added after the status and body are set. */
static void reply(v2m_http_resp *resp, int status, const char *msg)
{
    if (msg)
        v2m_http_reply_text(resp, status, "%s", msg);
    else
        v2m_http_reply_raw(resp, status, "text/plain", "", 0);
    v2m_http_add_header(resp, "Tus-Resumable", TUS_VERSION);
}

static void refuse(tus *t, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(tus *t, int status, const char *fmt, ...)
{
    va_list ap;
    if (t->status)
        return;
    t->status = status;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
}

/* Tus-Resumable must name the version spoken (412 otherwise). */
static int check_version(v2m_http_req *req, v2m_http_resp *resp)
{
    const char *v = v2m_http_header(req, "Tus-Resumable");
    if (v && strcmp(v, TUS_VERSION) == 0)
        return 0;
    reply(resp, 412, "Tus-Resumable: 1.0.0 required");
    v2m_http_add_header(resp, "Tus-Version", TUS_VERSION);
    return -1;
}

/* A decimal header value: 0..INT64_MAX, digits only; -1 when absent or bad. */
static int64_t header_num(v2m_http_req *req, const char *name)
{
    const char *s = v2m_http_header(req, name);
    int64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* The upload's id from /files/<id>; NULL for anything else. */
static const char *path_fid(v2m_http_req *req)
{
    const char *p = v2m_http_path(req);
    if (strncmp(p, "/files/", 7) != 0 || !v2m_oid_valid(p + 7))
        return NULL;
    return p + 7;
}

static int64_t rec_int(json_t *rec, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(rec, key));
}

static const char *rec_str(json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? s : "";
}

/* The upload at path for user: 0 with its record and offset, or -1 with the
 * answer written (404 also for another user's upload and an expired one). */
static int load(gw_app *a, const gw_user *user, const char *fid, json_t **rec, int64_t *offset,
                v2m_http_resp *resp)
{
    char *info = malloc(V2M_STORE_INFO_MAX + 1);
    v2m_error err = {0};
    v2m_err rc;

    *rec = NULL;
    if (!info) {
        reply(resp, 503, "out of memory, try again later");
        return -1;
    }
    rc = fid ? v2m_store_part_info(a->store, V2M_NS_VIDEOS, fid, info, V2M_STORE_INFO_MAX + 1,
                                   offset, &err)
             : V2M_ENOTFOUND;
    if (rc == V2M_OK)
        *rec = json_loads(info, 0, NULL);
    free(info);
    if (rc && rc != V2M_ENOTFOUND) {
        V2M_LOG(V2M_ERROR, "tus info fid=%s: %s", fid, v2m_error_msg(&err));
        reply(resp, 503, "file store unavailable, try again later");
        return -1;
    }
    if (!*rec || strcmp(rec_str(*rec, "owner"), user->username) != 0 ||
        rec_int(*rec, "expires") <= now_ms()) {
        json_decref(*rec);
        *rec = NULL;
        reply(resp, 404, "no such upload");
        return -1;
    }
    return 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Base64 (padding optional) of n bytes at in into out (*got bytes); -1
 * when malformed or too long. */
static int b64_decode_bin(const char *in, size_t n, char *out, size_t outsz, size_t *got)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    while (n && in[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *got = o;
    return 0;
}

/* Base64 text: as b64_decode_bin, NUL-terminated; -1 also when it holds a
 * NUL. */
static int b64_decode(const char *in, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    while (n && in[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outsz)
                return -1;
            out[o] = (char)((acc >> bits) & 0xff);
            if (out[o] == '\0')
                return -1;
            o++;
        }
    }
    out[o] = '\0';
    return 0;
}

/* Upload-Metadata: "key base64,key base64,...": filename and filetype, the
 * job options (common/jobopts.h) and callback_url. */
static int parse_metadata(tus *t, const char *hdr, v2m_jobopts *opts, char *filename,
                          size_t fnsz, char *ctype, size_t ctsz, char *callback, size_t cbsz)
{
    char value[CALLBACK_MAX + 1], why[200];
    v2m_error err = {0};
    const char *p = hdr;

    while (p && *p) {
        const char *end = strchr(p, ','), *sp;
        char key[64];
        size_t klen, len;

        if (!end)
            end = p + strlen(p);
        while (*p == ' ')
            p++;
        sp = memchr(p, ' ', (size_t)(end - p));
        klen = (size_t)((sp ? sp : end) - p);
        if (klen == 0 || klen >= sizeof key) {
            refuse(t, 400, "Upload-Metadata: malformed key");
            return -1;
        }
        memcpy(key, p, klen);
        key[klen] = '\0';
        value[0] = '\0';
        if (sp) {
            len = (size_t)(end - sp - 1);
            while (len && sp[len] == ' ')
                len--;
            if (b64_decode(sp + 1, len, value, sizeof value)) {
                refuse(t, 400, "Upload-Metadata: %s: value not base64 text or too long", key);
                return -1;
            }
        }
        if (strcmp(key, "filename") == 0) {
            gw_clean_filename(value, filename, fnsz);
        } else if (strcmp(key, "filetype") == 0) {
            size_t i = 0;
            for (; value[i]; i++)
                if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
                    break;
            if (!value[i] && i > 0 && i < ctsz)
                snprintf(ctype, ctsz, "%s", value);
        } else if (strcmp(key, "callback_url") == 0) {
            if (v2m_callback_url_check(value, &t->a->cfg.webhook_allow, why, sizeof why)) {
                refuse(t, 400, "callback_url: %s", why);
                return -1;
            }
            snprintf(callback, cbsz, "%s", value);
        } else if (v2m_jobopts_known(key)) {
            if (v2m_jobopts_set(opts, key, value, &err) != V2M_OK) {
                refuse(t, 400, "%s", v2m_error_msg(&err));
                return -1;
            }
        } else {
            refuse(t, 400, "unknown option '%.40s': the metadata keys are filename, filetype, %s, "
                   "callback_url", key, v2m_jobopts_names());
            return -1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Unfinished uploads: the user's (limits) or the expired ones (janitor). */
typedef struct walk {
    const char *user;
    int64_t now;
    uint64_t bytes;
    long count;
    int nexpired;
    char (*expired)[V2M_FID_LEN + 1];
} walk;

static int on_part(void *ud, const char *fid, const char *info, int64_t offset)
{
    walk *w = ud;
    json_t *rec = json_loads(info, 0, NULL);
    (void)offset;

    if (!rec)
        return 0;
    if (w->expired) {
        if (rec_int(rec, "expires") <= w->now && w->nexpired < SWEEP_MAX)
            snprintf(w->expired[w->nexpired++], V2M_FID_LEN + 1, "%s", fid);
    } else if (strcmp(rec_str(rec, "owner"), w->user) == 0 && rec_int(rec, "expires") > w->now) {
        w->bytes += (uint64_t)rec_int(rec, "length");
        w->count++;
    }
    json_decref(rec);
    return w->expired && w->nexpired >= SWEEP_MAX;
}

v2m_err gw_tus_usage(gw_app *a, const char *user, uint64_t *bytes, long *count, v2m_error *err)
{
    walk w = {.user = user, .now = now_ms()};
    v2m_err rc;

    *bytes = 0;
    *count = 0;
    rc = v2m_store_part_list(a->store, V2M_NS_VIDEOS, on_part, &w, err);
    *bytes = w.bytes;
    *count = w.count;
    return rc;
}

long gw_tus_sweep(gw_app *a)
{
    walk w = {.now = now_ms()};
    v2m_error err = {0};
    long n = 0;

    w.expired = calloc(SWEEP_MAX, sizeof *w.expired);
    if (!w.expired)
        return 0;
    if (v2m_store_part_list(a->store, V2M_NS_VIDEOS, on_part, &w, &err) == V2M_OK) {
        for (int i = 0; i < w.nexpired; i++) {
            /* One being written right now waits for the next sweep. */
            if (busy_take(w.expired[i]))
                continue;
            if (v2m_store_part_abort(a->store, V2M_NS_VIDEOS, w.expired[i], NULL) == V2M_OK) {
                V2M_LOG(V2M_INFO, "janitor removed expired upload id=%s", w.expired[i]);
                n++;
            }
            busy_drop(w.expired[i]);
        }
    }
    free(w.expired);
    return n;
}

void gw_tus_options(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    gw_user user;

    if (gw_authenticate(a, req, resp, &user))
        return;
    reply(resp, 204, NULL);
    v2m_http_add_header(resp, "Tus-Version", TUS_VERSION);
    v2m_http_add_header(resp, "Tus-Extension",
                        "creation,creation-with-upload,termination,expiration,checksum");
    v2m_http_add_header(resp, "Tus-Checksum-Algorithm", "sha1");
    add_num(resp, "Tus-Max-Size", (int64_t)a->cfg.max_upload);
}

void gw_tus_head(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    gw_user user;
    json_t *rec;
    int64_t offset;
    const char *md;

    if (gw_authenticate(a, req, resp, &user) || check_version(req, resp) ||
        load(a, &user, path_fid(req), &rec, &offset, resp))
        return;
    reply(resp, 200, NULL);
    add_num(resp, "Upload-Offset", offset);
    add_num(resp, "Upload-Length", rec_int(rec, "length"));
    add_expires(resp, rec_int(rec, "expires"));
    md = rec_str(rec, "metadata");
    if (*md && strlen(md) < sizeof resp->headers[0].value)
        v2m_http_add_header(resp, "Upload-Metadata", md);
    json_decref(rec);
}

void gw_tus_delete(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    gw_user user;
    json_t *rec;
    int64_t offset;
    const char *fid = path_fid(req);
    v2m_error err = {0};
    v2m_err rc;

    if (gw_authenticate(a, req, resp, &user) || check_version(req, resp) ||
        load(a, &user, fid, &rec, &offset, resp))
        return;
    json_decref(rec);
    if (busy_take(fid)) {
        reply(resp, 409, "the upload is being written; try again when that request ends");
        return;
    }
    rc = v2m_store_part_abort(a->store, V2M_NS_VIDEOS, fid, &err);
    busy_drop(fid);
    if (rc && rc != V2M_ENOTFOUND) {
        V2M_LOG(V2M_ERROR, "tus delete fid=%s: %s", fid, v2m_error_msg(&err));
        reply(resp, 503, "file store unavailable, try again later");
        return;
    }
    V2M_LOG(V2M_INFO, "tus upload terminated id=%s", fid);
    reply(resp, 204, NULL);
}

/* POST: check everything, make the part and its record. */
static void create(tus *t, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = t->a;
    v2m_jobopts opts;
    v2m_error err = {0};
    char filename[256] = "", ctype[128] = "application/octet-stream";
    char callback[CALLBACK_MAX + 1] = "", options[V2M_OPT_JSON_MAX] = "";
    const char *md = v2m_http_header(req, "Upload-Metadata");
    char *info;
    uint64_t room;

    if (v2m_http_header(req, "Upload-Defer-Length")) {
        refuse(t, 400, "Upload-Defer-Length is not supported: give Upload-Length");
        return;
    }
    t->length = header_num(req, "Upload-Length");
    if (t->length < 0) {
        refuse(t, 400, "Upload-Length required (a number of bytes)");
        return;
    }
    if ((uint64_t)t->length > a->cfg.max_upload) {
        refuse(t, 413, "file larger than the upload limit of %llu bytes",
               (unsigned long long)a->cfg.max_upload);
        return;
    }
    if (t->length == 0) {
        refuse(t, 400, "the file is empty");
        return;
    }
    if (md && strlen(md) > META_MAX) {
        refuse(t, 400, "Upload-Metadata longer than %d bytes", META_MAX);
        return;
    }
    v2m_jobopts_init(&opts);
    if (parse_metadata(t, md, &opts, filename, sizeof filename, ctype, sizeof ctype, callback,
                       sizeof callback))
        return;
    if (v2m_jobopts_check(&opts, &err) ||
        v2m_jobopts_encode(&opts, options, sizeof options, &err)) {
        refuse(t, 400, "%s", v2m_error_msg(&err));
        return;
    }
    if (gw_limits_check(a, &t->user, (uint64_t)t->length, &room, resp)) {
        t->status = resp->status;   /* answered, with Retry-After for a 429 */
        t->answered = 1;
        return;
    }
    t->expires_ms = now_ms() + (int64_t)a->cfg.upload_expiry * 1000;
    t->rec = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:s}", "owner", t->user.username,
                       "length", (json_int_t)t->length, "filename", filename, "content_type",
                       ctype, "options", options, "callback_url", callback, "expires",
                       (json_int_t)t->expires_ms, "metadata", md ? md : "");
    info = t->rec ? json_dumps(t->rec, JSON_COMPACT) : NULL;
    if (!info) {
        refuse(t, 503, "out of memory, try again later");
        return;
    }
    if (v2m_store_part_create(a->store, V2M_NS_VIDEOS, info, t->fid, &err) != V2M_OK) {
        free(info);
        V2M_LOG(V2M_ERROR, "tus create: %s", v2m_error_msg(&err));
        refuse(t, 503, "file store unavailable, try again later");
        return;
    }
    free(info);
    busy_take(t->fid);
    t->locked = 1;
    V2M_LOG(V2M_INFO, "tus upload created id=%s length=%" PRId64, t->fid, t->length);
}

/* Done with the part: what arrived is kept, durably, but bytes that came
 * with a checksum and were not checked are dropped; the upload is free for
 * the next request. Before the answer goes out, so a client's next request
 * never finds it still taken. */
static void release(tus *t)
{
    v2m_error err = {0};

    if (t->part) {
        v2m_err rc = t->md ? v2m_store_part_discard(t->part, &err)
                           : v2m_store_part_close(t->part, NULL, &err);
        t->part = NULL;
        if (rc)
            V2M_LOG(V2M_ERROR, "tus close fid=%s: %s", t->fid, v2m_error_msg(&err));
    }
    if (t->locked) {
        busy_drop(t->fid);
        t->locked = 0;
    }
}

/* Upload-Checksum: only sha1; a malformed header is 400. */
static void start_checksum(tus *t, const char *h)
{
    char dig[64];
    size_t n = 0;

    if (strncmp(h, "sha1 ", 5) != 0) {
        refuse(t, 400, "Upload-Checksum: the algorithm supported is sha1");
        return;
    }
    if (b64_decode_bin(h + 5, strlen(h + 5), dig, sizeof dig, &n) || n != sizeof t->want) {
        refuse(t, 400, "Upload-Checksum: sha1 takes the base64 of a 20-byte digest");
        return;
    }
    memcpy(t->want, dig, sizeof t->want);
    t->md = EVP_MD_CTX_new();
    if (!t->md || EVP_DigestInit_ex(t->md, EVP_sha1(), NULL) != 1)
        refuse(t, 503, "out of memory, try again later");
}

static void begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream, int post)
{
    gw_app *a = app;
    const char *ct = v2m_http_header(req, "Content-Type");
    v2m_error err = {0};
    tus *t = calloc(1, sizeof *t);

    *stream = t;
    if (!t) {
        v2m_http_reply_text(resp, 500, "out of memory");
        return;
    }
    t->a = a;
    t->post = post;
    if (gw_authenticate(a, req, resp, &t->user) || check_version(req, resp)) {
        t->status = resp->status;
        return;
    }
    t->body = ct && strncmp(ct, "application/offset+octet-stream", 31) == 0;
    if (t->post) {
        const char *p = v2m_http_path(req);
        if (strcmp(p, "/files/") != 0 && strcmp(p, "/files") != 0)
            refuse(t, 404, "no such upload");
        else
            create(t, req, resp);
        if (!t->status && t->body &&
            v2m_store_part_append(a->store, V2M_NS_VIDEOS, t->fid, 0, &t->part, &err) != V2M_OK)
            refuse(t, 503, "file store unavailable, try again later");
    } else {
        int64_t want = header_num(req, "Upload-Offset");
        v2m_err rc;
        int b;

        if (!t->body) {
            reply(resp, 415, "Content-Type: application/offset+octet-stream required");
            t->status = 415;
            return;
        }
        if (load(a, &t->user, path_fid(req), &t->rec, &t->offset, resp)) {
            t->status = resp->status;
            return;
        }
        snprintf(t->fid, sizeof t->fid, "%s", path_fid(req));
        for (char *c = t->fid; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c + 32);
        t->length = rec_int(t->rec, "length");
        t->expires_ms = rec_int(t->rec, "expires");
        if (want < 0) {
            refuse(t, 400, "Upload-Offset required (a number of bytes)");
        } else if (want != t->offset) {
            refuse(t, 409, "Upload-Offset %" PRId64 " but the upload holds %" PRId64 " bytes",
                   want, t->offset);
        } else if ((b = busy_take(t->fid)) != 0) {
            refuse(t, b == -1 ? 409 : 503,
                   b == -1 ? "the upload is being written by another request"
                           : "too many uploads at once, try again later");
        } else {
            t->locked = 1;
            rc = v2m_store_part_append(a->store, V2M_NS_VIDEOS, t->fid, t->offset, &t->part, &err);
            if (rc == V2M_ESTATE)
                refuse(t, 409, "%s", v2m_error_msg(&err));
            else if (rc == V2M_ENOTFOUND)
                refuse(t, 404, "no such upload");
            else if (rc)
                refuse(t, 503, "file store unavailable, try again later");
        }
    }
    /* checksum extension: "Upload-Checksum: sha1 <base64 of the digest>" */
    if (!t->status && t->body && v2m_http_header(req, "Upload-Checksum"))
        start_checksum(t, v2m_http_header(req, "Upload-Checksum"));
    /* A body announced longer than what is left is refused before it is read. */
    if (!t->status && t->body) {
        int64_t cl = header_num(req, "Content-Length");
        if (cl > t->length - t->offset)
            refuse(t, 413, "more bytes than Upload-Length (%" PRId64 ") leaves", t->length);
    }
    if (t->status && !t->post) {
        release(t);
        reply(resp, t->status, t->msg);
    } else if (t->status) {
        /* Nothing made by a refused creation stays. */
        release(t);
        if (t->fid[0])
            v2m_store_part_abort(a->store, V2M_NS_VIDEOS, t->fid, NULL);
        t->fid[0] = '\0';
        if (t->answered)
            v2m_http_add_header(resp, "Tus-Resumable", TUS_VERSION);
        else
            reply(resp, t->status, t->msg);
    }
}

void gw_tus_post_begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream)
{
    begin(app, req, resp, stream, 1);
}

void gw_tus_patch_begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream)
{
    begin(app, req, resp, stream, 0);
}

int gw_tus_data(void *app, v2m_http_req *req, v2m_http_resp *resp, void *stream,
                const char *data, size_t len)
{
    tus *t = stream;
    v2m_error err = {0};
    (void)app;
    (void)req;

    if (!t->status && !t->part)
        refuse(t, 400, "no body expected here");
    if (!t->status && (int64_t)len > t->length - t->offset)
        refuse(t, 413, "more bytes than Upload-Length (%" PRId64 ")", t->length);
    if (!t->status && t->md && EVP_DigestUpdate(t->md, data, len) != 1)
        refuse(t, 503, "checksum failed, try again later");
    if (!t->status && v2m_store_part_write(t->part, data, len, &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "tus write fid=%s: %s", t->fid, v2m_error_msg(&err));
        refuse(t, 503, "file store failed while writing, try again later");
    }
    if (t->status) {
        release(t);
        if (t->post && t->fid[0])   /* nothing of a refused creation stays */
            v2m_store_part_abort(t->a->store, V2M_NS_VIDEOS, t->fid, NULL);
        reply(resp, t->status, t->msg);
        return 1;
    }
    t->offset += (int64_t)len;
    return 0;
}

void gw_tus_end(void *app, void *stream)
{
    tus *t = stream;
    (void)app;

    if (!t)
        return;
    release(t);   /* a request cut off: what arrived is kept */
    EVP_MD_CTX_free(t->md);
    json_decref(t->rec);
    free(t);
}

/* The last byte is in: the door's probe, then the file and its job. */
static void complete(tus *t, v2m_http_resp *resp)
{
    gw_app *a = t->a;
    uint8_t *head = calloc(1, V2M_SNIFF_BYTES + V2M_SNIFF_PAD);
    v2m_store_meta meta;
    v2m_error err = {0};
    size_t got = 0;
    char fmt[64];
    int score;

    if (!head || v2m_store_part_pread(a->store, V2M_NS_VIDEOS, t->fid, head, V2M_SNIFF_BYTES, 0,
                                      &got, &err) != V2M_OK) {
        free(head);
        reply(resp, 503, "file store unavailable, try again later");
        return;
    }
    if (!v2m_sniff(head, got, fmt, sizeof fmt, &score)) {
        free(head);
        V2M_LOG(V2M_INFO, "tus upload refused: not media id=%s best=\"%s\" score=%d", t->fid,
                fmt, score);
        v2m_store_part_abort(a->store, V2M_NS_VIDEOS, t->fid, NULL);
        atomic_fetch_add(&a->uploads_failed, 1);
        reply(resp, 415, "not a video or audio file");
        return;
    }
    free(head);
    if (v2m_store_part_finish(a->store, V2M_NS_VIDEOS, t->fid, rec_str(t->rec, "filename"),
                              rec_str(t->rec, "content_type"), t->user.username, &meta,
                              &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "tus finish fid=%s: %s", t->fid, v2m_error_msg(&err));
        atomic_fetch_add(&a->uploads_failed, 1);
        reply(resp, 503, "file store failed, try again later");
        return;
    }
    if (gw_job_make(a, &t->user, &meta, rec_str(t->rec, "options"),
                    rec_str(t->rec, "callback_url"), resp)) {
        v2m_http_add_header(resp, "Tus-Resumable", TUS_VERSION);
        return;
    }
    reply(resp, t->post ? 201 : 204, NULL);
    add_num(resp, "Upload-Offset", t->offset);
    v2m_http_add_header(resp, "V2M-Video-Fid", meta.fid);
}

static void answer(tus *t, v2m_http_resp *resp)
{
    v2m_error err = {0};
    char loc[64];

    if (t->part && t->md) {
        unsigned char got[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(t->md, got, &n) != 1 || n != sizeof t->want ||
            memcmp(got, t->want, sizeof t->want) != 0) {
            v2m_err rc = v2m_store_part_discard(t->part, &err);
            t->part = NULL;
            if (rc)
                V2M_LOG(V2M_ERROR, "tus discard fid=%s: %s", t->fid, v2m_error_msg(&err));
            if (t->post)  /* nothing of a refused creation stays */
                v2m_store_part_abort(t->a->store, V2M_NS_VIDEOS, t->fid, NULL);
            reply(resp, rc ? 503 : 460, rc ? "file store failed, try again later"
                                           : "checksum mismatch: the bytes were not kept");
            return;
        }
    }
    if (t->part) {
        v2m_err rc = v2m_store_part_close(t->part, NULL, &err);
        t->part = NULL;
        if (rc) {
            V2M_LOG(V2M_ERROR, "tus close fid=%s: %s", t->fid, v2m_error_msg(&err));
            reply(resp, 503, "file store failed, try again later");
            return;
        }
    }
    if (t->offset == t->length)
        complete(t, resp);
    else
        reply(resp, t->post ? 201 : 204, NULL);
    if (resp->status >= 300)
        return;
    if (t->post) {
        snprintf(loc, sizeof loc, "/files/%s", t->fid);
        v2m_http_add_header(resp, "Location", loc);
    }
    if (t->offset < t->length) {
        add_num(resp, "Upload-Offset", t->offset);
        add_expires(resp, t->expires_ms);
    }
}

void gw_tus_post(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    tus *t = v2m_http_stream(req);
    (void)app;
    if (!t || t->status) {
        reply(resp, t ? t->status : 500, t ? t->msg : "internal error");
        return;
    }
    answer(t, resp);
    release(t);
}

void gw_tus_patch(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_tus_post(app, req, resp);
}
