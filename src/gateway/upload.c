/* upload.c - POST /upload: a multipart body streamed straight into the store.
 *
 * libmicrohttpd's post processor splits the multipart body; each piece of the
 * one file part goes to a store upload as it arrives, so memory stays at a
 * few buffers whatever the file's size and nothing touches a temporary file.
 * Then a confirmed publish to the video queue, then the job record; when the
 * publish fails, the stored file is removed and the client hears why.
 *
 * Conversion options come as plain fields, before or after the file part,
 * or as query parameters (/upload?bitrate=192); each is checked as it
 * arrives (common/jobopts.h), and a bad one refuses the whole upload. The
 * file's first 64 KiB are held and probed as soon as they are in
 * (media/sniff.h): what is plainly no video or audio file is refused with
 * 415 while the rest is still on its way, before the converter ever sees it.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jobopts.h"
#include "common/log.h"
#include "common/message.h"
#include "common/webhook_url.h"
#include "filename.h"
#include "gateway.h"
#include "media/sniff.h"
#include "ports/jobs.h"

/* The longest value of a plain field: a callback URL's room in the record. */
#define FIELD_MAX (sizeof ((v2m_msg *)0)->callback_url - 1)

typedef struct upload {
    gw_app *a;
    gw_user user;
    struct MHD_PostProcessor *pp;
    v2m_store_upload *up;
    int nfiles;              /* file parts seen */
    int in_file;             /* the current part is the file being stored */
    char part_key[128];      /* to tell a new part from the next piece of one */
    char filename[256];
    uint64_t bytes;
    uint64_t room;           /* what the user's storage quota leaves */
    int status;              /* a refusal decided while streaming */
    char msg[300];
    uint8_t *head;           /* the file's first bytes, V2M_SNIFF_PAD zeros after */
    size_t headlen;
    int sniffed;             /* head was probed (and found to be media) */
    int in_field;            /* the current part is a plain field being read */
    int field_long;          /* ... whose value went over FIELD_MAX */
    char field[64];          /* its name ("" for a name too long to be an option) */
    char value[FIELD_MAX + 1];
    size_t vlen;
    v2m_jobopts opts;        /* the options given so far */
    int has_callback;
    char callback_url[FIELD_MAX + 1];
} upload;

static const char one_file[] =
    "exactly 1 file required (multipart/form-data, e.g. curl -F 'file=@video.mp4')";

/* The part's Content-Type as the store keeps it: printable ASCII that fits
 * its metadata field, else application/octet-stream (it is only a label;
 * the converter looks at the bytes). */
static const char *part_type(const char *ct)
{
    static const char generic[] = "application/octet-stream";
    size_t n = 0;

    if (!ct)
        return generic;
    for (; ct[n]; n++)
        if ((unsigned char)ct[n] < 0x20 || (unsigned char)ct[n] > 0x7e)
            return generic;
    return n > 0 && n < sizeof ((v2m_store_meta *)0)->content_type ? ct : generic;
}

static void refuse(upload *u, int status, const char *msg)
{
    if (u->status)
        return;
    u->status = status;
    snprintf(u->msg, sizeof u->msg, "%s", msg);
    if (u->up) {
        v2m_store_upload_abort(u->up);
        u->up = NULL;
    }
}

static void refuse_err(upload *u, int status, const v2m_error *err)
{
    refuse(u, status, v2m_error_msg(err));
}

/* One option or the callback URL, from a field or a query parameter. */
static int take_option(upload *u, const char *name, const char *value)
{
    v2m_error err = {0};
    char why[200];

    if (strcmp(name, "callback_url") == 0) {
        /* The URL's form is checked here (http or https, a host, no
         * credentials, not a refused address written as a number); the
         * addresses a host name resolves to are checked when it is called. */
        if (u->has_callback)
            v2m_fail(&err, V2M_EINVAL, "callback_url: given more than once");
        else if (strlen(value) > FIELD_MAX)
            v2m_fail(&err, V2M_EINVAL, "callback_url: value too long (at most %zu bytes)",
                     FIELD_MAX);
        else if (v2m_callback_url_check(value, &u->a->cfg.webhook_allow, why, sizeof why))
            v2m_fail(&err, V2M_EINVAL, "callback_url: %s", why);
        if (err.code) {
            refuse_err(u, 400, &err);
            return -1;
        }
        u->has_callback = 1;
        snprintf(u->callback_url, sizeof u->callback_url, "%s", value);
        return 0;
    }
    if (v2m_jobopts_set(&u->opts, name, value, &err) != V2M_OK) {
        refuse_err(u, 400, &err);
        return -1;
    }
    return 0;
}

/* The plain field read so far is complete. A plain field named "file" is
 * someone's file typed without curl's @: left for the "exactly 1 file"
 * answer. */
static int end_field(upload *u)
{
    if (!u->in_field)
        return 0;
    u->in_field = 0;
    if (strcmp(u->field, "file") == 0)
        return 0;
    if (u->field_long && (v2m_jobopts_known(u->field) || strcmp(u->field, "callback_url") == 0)) {
        char m[120];
        snprintf(m, sizeof m, "%s: value too long (at most %zu bytes)", u->field, FIELD_MAX);
        refuse(u, 400, m);
        return -1;
    }
    u->value[u->vlen] = 0;
    return take_option(u, u->field, u->value);
}

/* The file's first bytes: once V2M_SNIFF_BYTES are in (or, for a shorter
 * file, at its end) they must look like a video or audio file. */
static int sniff_head(upload *u, const char *data, size_t size)
{
    char fmt[64];
    int score;
    size_t take = V2M_SNIFF_BYTES - u->headlen;

    if (u->sniffed)
        return 0;
    if (take > size)
        take = size;
    if (take)
        memcpy(u->head + u->headlen, data, take);
    u->headlen += take;
    if (data && u->headlen < V2M_SNIFF_BYTES)
        return 0;
    u->sniffed = 1;
    if (v2m_sniff(u->head, u->headlen, fmt, sizeof fmt, &score)) {
        free(u->head); /* decided: the rest streams with no more held */
        u->head = NULL;
        return 0;
    }
    V2M_LOG(V2M_INFO, "upload refused: not media bytes=%zu best=\"%s\" score=%d", u->headlen,
            fmt, score);
    refuse(u, 415, "not a video or audio file");
    return -1;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    upload *u = cls;
    v2m_error err = {0};

    if (u->status)
        return MHD_NO;
    if (off == 0 && (!(u->in_file || u->in_field) || strcmp(key ? key : "", u->part_key) != 0 ||
                     size)) {
        /* A new part starts (off 0): the field before it is complete. */
        u->in_file = 0;
        snprintf(u->part_key, sizeof u->part_key, "%s", key ? key : "");
        if (end_field(u))
            return MHD_NO;
        if (!filename) {
            u->in_field = 1;
            u->field_long = 0;
            u->vlen = 0;
            snprintf(u->field, sizeof u->field, "%s",
                     key && strlen(key) < sizeof u->field ? key : "");
            if (!strcmp(u->field, "file") || !strcmp(u->field, "callback_url") ||
                v2m_jobopts_known(u->field))
                goto field_data;
            {
                char m[300];
                snprintf(m, sizeof m, "unknown option '%.40s': the options are %s, callback_url",
                         key ? key : "", v2m_jobopts_names());
                refuse(u, 400, m);
            }
            return MHD_NO;
        }
        if (++u->nfiles > 1) {
            refuse(u, 400, one_file);
            return MHD_NO;
        }
        u->in_file = 1;
        u->head = calloc(1, V2M_SNIFF_BYTES + V2M_SNIFF_PAD);
        if (!u->head) {
            refuse(u, 503, "out of memory, try again later");
            return MHD_NO;
        }
        gw_clean_filename(filename, u->filename, sizeof u->filename);
        if (v2m_store_upload_open(u->a->store, V2M_NS_VIDEOS, u->filename,
                                  part_type(content_type),
                                  u->user.username, &u->up, &err) != V2M_OK) {
            V2M_LOG(V2M_ERROR, "upload open: %s", v2m_error_msg(&err));
            refuse(u, 503, "file store unavailable, try again later");
            return MHD_NO;
        }
    } else if (u->in_field) {
        goto field_data;
    } else if (!u->in_file) {
        return MHD_YES;
    }
    if (!size)
        return MHD_YES;
    u->bytes += size;
    if (u->bytes > u->a->cfg.max_upload) {
        char m[200];
        snprintf(m, sizeof m, "file larger than the upload limit of %llu bytes",
                 (unsigned long long)u->a->cfg.max_upload);
        refuse(u, 413, m);
        return MHD_NO;
    }
    if (u->bytes > u->room) {
        char m[200];
        snprintf(m, sizeof m, "storage quota exceeded: this file is larger than the %llu bytes "
                 "left of the quota of %llu", (unsigned long long)u->room,
                 (unsigned long long)u->a->cfg.quota);
        refuse(u, 413, m);
        return MHD_NO;
    }
    if (sniff_head(u, data, size))
        return MHD_NO;
    if (v2m_store_upload_write(u->up, data, size, &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "upload write: %s", v2m_error_msg(&err));
        refuse(u, 503, "file store failed while writing, try again later");
        return MHD_NO;
    }
    return MHD_YES;
field_data:
    if (size > FIELD_MAX - u->vlen) {
        u->field_long = 1;
        return MHD_YES;
    }
    if (size)
        memcpy(u->value + u->vlen, data, size);
    u->vlen += size;
    return MHD_YES;
}

/* The query's options, read before the body. */
static enum MHD_Result on_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    upload *u = cls;
    (void)kind;
    if (u->status)
        return MHD_NO;
    if (strcmp(key, "callback_url") != 0 && !v2m_jobopts_known(key)) {
        char m[300];
        snprintf(m, sizeof m, "unknown option '%.40s': the options are %s, callback_url", key,
                 v2m_jobopts_names());
        refuse(u, 400, m);
        return MHD_NO;
    }
    return take_option(u, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void gw_upload_begin(void *app, v2m_http_req *req, v2m_http_resp *resp, void **stream)
{
    gw_app *a = app;
    upload *u;
    const char *cl = v2m_http_header(req, "Content-Length");
    uint64_t announced;

    *stream = NULL;
    u = calloc(1, sizeof *u);
    if (!u) {
        v2m_http_reply_text(resp, 500, "out of memory");
        return;
    }
    u->a = a;
    u->room = UINT64_MAX;
    v2m_jobopts_init(&u->opts);
    *stream = u;
    if (gw_authenticate(a, req, resp, &u->user))
        return;
    MHD_get_connection_values(v2m_http_conn(req), MHD_GET_ARGUMENT_KIND, on_query, u);
    if (u->status) {
        atomic_fetch_add(&a->uploads_failed, 1);
        v2m_http_reply_text(resp, u->status, "%s", u->msg);
        return;
    }
    /* A body that announces more than the limit is refused before a byte of it
     * is read (curl then does not even send it). The multipart framing adds a
     * few hundred bytes; the exact check is on the file's bytes below. */
    announced = cl ? strtoull(cl, NULL, 10) : 0;
    if (announced > a->cfg.max_upload + 64 * 1024) {
        v2m_http_reply_text(resp, 413, "file larger than the upload limit of %llu bytes",
                            (unsigned long long)a->cfg.max_upload);
        return;
    }
    /* Framing counts against the quota here; the file alone does below. */
    if (gw_limits_check(a, &u->user, announced > 64 * 1024 ? announced - 64 * 1024 : 0,
                        &u->room, resp))
        return;
    u->pp = MHD_create_post_processor(v2m_http_conn(req), 256 * 1024, on_part, u);
    if (!u->pp)
        v2m_http_reply_text(resp, 400, "%s", one_file);
}

int gw_upload_data(void *app, v2m_http_req *req, v2m_http_resp *resp, void *stream,
                   const char *data, size_t len)
{
    upload *u = stream;
    if (MHD_post_process(u->pp, data, len) != MHD_YES && !u->status)
        refuse(u, 400, "malformed multipart body");
    if (u->status) {
        atomic_fetch_add(&u->a->uploads_failed, 1);
        v2m_http_reply_text(resp, u->status, "%s", u->msg);
        return 1;
    }
    return 0;
}

void gw_upload_end(void *app, void *stream)
{
    upload *u = stream;
    if (!u)
        return;
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    v2m_store_upload_abort(u->up); /* when still open: nothing stays behind */
    free(u->head);
    free(u);
}

void gw_upload(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    upload *u;
    v2m_store_meta meta;
    v2m_error err = {0};
    json_t *out;
    v2m_err rc;
    char options[V2M_OPT_JSON_MAX] = "";

    u = v2m_http_stream(req);
    if (!u || u->status) {
        v2m_http_reply_text(resp, u ? u->status : 500, "%s", u ? u->msg : "internal error");
        return;
    }
    /* Destroying the post processor tells whether the body ended properly
     * (closing boundary seen): a cut-off multipart body is no upload. */
    if (u->pp) {
        enum MHD_Result done = MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
        if (done != MHD_YES && !u->status)
            refuse(u, 400, "malformed or incomplete multipart body");
    }
    /* What only the end tells: the last field, an empty or short file, the
     * options together. Each refusal aborts the store upload. */
    if (!u->status && !end_field(u) && u->nfiles == 1 && u->up) {
        if (u->bytes == 0)
            refuse(u, 400, "the file is empty");
        else if (!sniff_head(u, NULL, 0) &&
                 (v2m_jobopts_check(&u->opts, &err) ||
                  v2m_jobopts_encode(&u->opts, options, sizeof options, &err)))
            refuse_err(u, 400, &err);
    }
    if (u->status || u->nfiles != 1 || !u->up) {
        atomic_fetch_add(&a->uploads_failed, 1);
        v2m_http_reply_text(resp, u->status ? u->status : 400, "%s",
                            u->status ? u->msg : one_file);
        return;
    }
    rc = v2m_store_upload_finish(u->up, &meta, &err);
    u->up = NULL;
    if (rc) {
        V2M_LOG(V2M_ERROR, "upload finish: %s", v2m_error_msg(&err));
        atomic_fetch_add(&a->uploads_failed, 1);
        v2m_http_reply_text(resp, 503, "file store failed, try again later");
        return;
    }
    if (gw_job_make(a, &u->user, &meta, options, u->callback_url, resp))
        return;
    out = json_pack("{s:s, s:s}", "video_fid", meta.fid, "status", "queued");
    v2m_http_reply_json(resp, 200, out);
}

/* What both doors share once the file is finished in the store. */
int gw_job_make(gw_app *a, const gw_user *user, const v2m_store_meta *meta,
                const char *options, const char *callback_url, v2m_http_resp *resp)
{
    v2m_error err = {0};
    v2m_msg msg;
    v2m_err rc;
    uint64_t room;

    /* Again now that the file is whole: other uploads may have finished
     * meanwhile. A refusal keeps nothing. */
    if (gw_limits_check(a, user, (uint64_t)meta->length, &room, resp)) {
        v2m_store_delete(a->store, V2M_NS_VIDEOS, meta->fid, NULL);
        atomic_fetch_add(&a->uploads_failed, 1);
        return -1;
    }
    /* The message first, then the record: a gateway that dies between the
     * two leaves a message whose converter makes the record from the stored
     * video (task.c, begin_unrecorded), where a record without its message
     * would stay queued forever. A converter quicker than us made the record
     * already (V2M_EEXIST); if the records are unreachable the converter makes
     * it too, so the upload stands either way. */
    memset(&msg, 0, sizeof msg);
    snprintf(msg.video_fid, sizeof msg.video_fid, "%s", meta->fid);
    snprintf(msg.username, sizeof msg.username, "%s", user->username);
    snprintf(msg.filename, sizeof msg.filename, "%s", meta->filename);
    snprintf(msg.options, sizeof msg.options, "%s", options);
    snprintf(msg.callback_url, sizeof msg.callback_url, "%s", callback_url);
    if (gw_publish(a, &msg, &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "upload publish fid=%s: %s", meta->fid, v2m_error_msg(&err));
        goto undo_file;
    }
    rc = v2m_jobs_create(a->jobs, meta->fid, user->username, meta->filename, meta->length,
                         options, callback_url, &err);
    if (rc != V2M_OK && rc != V2M_EEXIST)
        V2M_LOG(V2M_ERROR, "upload job record fid=%s (the converter makes it): %s", meta->fid,
                v2m_error_msg(&err));
    atomic_fetch_add(&a->uploads_ok, 1);
    atomic_fetch_add(&a->upload_bytes, (unsigned long)meta->length);
    V2M_LOG(V2M_INFO, "upload queued video_fid=%s bytes=%lld", meta->fid,
            (long long)meta->length);
    return 0;
undo_file:
    v2m_store_delete(a->store, V2M_NS_VIDEOS, meta->fid, NULL);
    atomic_fetch_add(&a->uploads_failed, 1);
    v2m_http_reply_text(resp, 503, "could not queue the conversion, nothing was kept; try again later");
    return -1;
}
