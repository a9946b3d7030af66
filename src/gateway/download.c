/* download.c - GET /download?fid=: the MP3, streamed from the store, with
 * Range support. Only the owner (or an admin) may fetch a file; anyone else
 * gets the same 404 as for a file that does not exist.
 * GET /d/<fid>?e=&s=: the same file for whoever holds a signed link
 * (common/link.h), no token needed: a link from a mail works in a browser. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/link.h"
#include "common/log.h"
#include "common/message.h"
#include "common/oid.h"
#include "disposition.h"
#include "gateway.h"
#include "range.h"

typedef struct dl {
    v2m_store_reader *r;
    int64_t start;
} dl;

static ssize_t dl_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    dl *d = cls;
    size_t got = 0;
    v2m_error err = {0};

    if (v2m_store_pread(d->r, buf, max, d->start + (int64_t)pos, &got, &err) != V2M_OK) {
        V2M_LOG(V2M_ERROR, "download read failed: %s", v2m_error_msg(&err));
        return V2M_HTTP_STREAM_ERROR;
    }
    return got ? (ssize_t)got : V2M_HTTP_STREAM_END;
}

static void dl_free(void *cls)
{
    dl *d = cls;
    v2m_store_reader_close(d->r);
    free(d);
}

/* Stream the MP3 fid, to user's eyes only when user is not NULL. */
static void serve_mp3(gw_app *a, v2m_http_req *req, v2m_http_resp *resp, const char *fid,
                      const gw_user *u)
{
    v2m_store_reader *r = NULL;
    const v2m_store_meta *m;
    v2m_error err = {0};
    v2m_err rc;
    int64_t s = 0, e = 0;
    int ranged;
    char hdr[GW_DISPOSITION_MAX];
    dl *d;

    rc = v2m_store_reader_open(a->store, V2M_NS_MP3S, fid, &r, &err);
    if (rc == V2M_ENOTFOUND) {
        v2m_http_reply_text(resp, 404, "no such file: %s", fid);
        return;
    }
    if (rc) {
        V2M_LOG(V2M_ERROR, "download fid=%s: %s", fid, v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "file store unavailable, try again later");
        return;
    }
    m = v2m_store_reader_meta(r);
    if (u && !u->admin && strcmp(m->owner, u->username) != 0) {
        v2m_store_reader_close(r);
        v2m_http_reply_text(resp, 404, "no such file: %s", fid);
        return;
    }
    ranged = gw_parse_range(v2m_http_header(req, "Range"), m->length, &s, &e);
    if (ranged < 0) {
        snprintf(hdr, sizeof hdr, "bytes */%" PRId64, m->length);
        v2m_store_reader_close(r);
        v2m_http_reply_text(resp, 416, "range not satisfiable");
        v2m_http_add_header(resp, "Content-Range", hdr);
        return;
    }
    d = malloc(sizeof *d);
    if (!d) {
        v2m_store_reader_close(r);
        v2m_http_reply_text(resp, 500, "out of memory");
        return;
    }
    d->r = r;
    d->start = ranged ? s : 0;
    resp->status = ranged ? 206 : 200;
    resp->content_type = "audio/mpeg";
    resp->stream_size = ranged ? (uint64_t)(e - s + 1) : (uint64_t)m->length;
    resp->stream_read = dl_read;
    resp->stream_free = dl_free;
    resp->stream_cls = d;
    /* Saved as the video's name with .mp3; a file of the original system,
     * stored without a name, as <fid>.mp3 as it was. */
    gw_content_disposition(m->filename[0] ? m->filename : m->fid, hdr, sizeof hdr);
    v2m_http_add_header(resp, "Content-Disposition", hdr);
    v2m_http_add_header(resp, "Accept-Ranges", "bytes");
    if (ranged) {
        snprintf(hdr, sizeof hdr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, s, e, m->length);
        v2m_http_add_header(resp, "Content-Range", hdr);
    }
    atomic_fetch_add(&a->downloads, 1);
}

void gw_download(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    gw_user u;
    const char *fid = v2m_http_query(req, "fid");

    if (gw_authenticate(a, req, resp, &u))
        return;
    if (!fid || !*fid) {
        v2m_http_reply_text(resp, 400, "fid is required");
        return;
    }
    if (!v2m_oid_valid(fid)) {
        v2m_http_reply_text(resp, 404, "no such file: %.64s", fid);
        return;
    }
    serve_mp3(a, req, resp, fid, &u);
}

void gw_link_download(void *app, v2m_http_req *req, v2m_http_resp *resp)
{
    gw_app *a = app;
    const char *fid = v2m_http_path(req) + strlen("/d/");

    if (!a->links.on) {
        v2m_http_reply_text(resp, 404, "signed links are not enabled");
        return;
    }
    switch (v2m_link_check(&a->links, fid, v2m_http_query(req, "e"), v2m_http_query(req, "s"),
                           (int64_t)time(NULL))) {
    case V2M_LINK_OK:
        break;
    case V2M_LINK_EXPIRED:
        v2m_http_reply_text(resp, 410, "link expired");
        return;
    case V2M_LINK_BAD:
    default:
        v2m_http_reply_text(resp, 403, "invalid link");
        return;
    }
    serve_mp3(a, req, resp, fid, NULL);
}
