/* store.c - pick the store backend by URL; argument checks and stream
 * positions shared by every backend. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports_int.h"
#include "clock_int.h"
#include "common/oid.h"

struct v2m_store {
    const v2m__store_ops *ops;
    const char *scheme;
    void *impl;
};

struct v2m_store_upload {
    const v2m__store_ops *ops;
    void *impl;              /* the backend's upload */
    char fid[V2M_FID_LEN + 1];
    v2m_store_meta meta;
    int64_t pos;             /* next write goes here */
    int64_t length;          /* bytes written so far (highest offset reached) */
    v2m_error failed;        /* sticky: the first write failure */
};

struct v2m_store_reader {
    const v2m__store_ops *ops;
    void *impl;
    v2m_store_meta meta;
    int64_t pos;
};

/* The backends by URL scheme: a new one is its file and a row here. */
static const v2m__backend backends[] = {
    {"file", &v2m__store_file},
    {"mongodb", &v2m__store_gridfs},
};

v2m_store *v2m_store_open(const char *url, v2m_error *err)
{
    const v2m__backend *b = v2m__pick(backends, V2M__COUNT(backends), url, "store",
                                      "file:///dir or mongodb://host:port/", err);
    v2m_store *st;

    if (!b)
        return NULL;
    st = calloc(1, sizeof *st);
    if (!st) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    st->ops = b->ops;
    st->scheme = b->scheme;
    if (st->ops->open(url, &st->impl, err) != V2M_OK) {
        free(st);
        return NULL;
    }
    return st;
}

void v2m_store_close(v2m_store *st)
{
    if (!st)
        return;
    st->ops->close(st->impl);
    free(st);
}

v2m_err v2m_store_ping(v2m_store *st, v2m_error *err) { return st->ops->ping(st->impl, err); }

const char *v2m_store_scheme(const v2m_store *st) { return st->scheme; }

const char *v2m_store_ns_name(v2m_store_ns ns)
{
    return ns == V2M_NS_MP3S ? "mp3s" : ns == V2M_NS_SEGMENTS ? "segments" : "videos";
}

static v2m_err check_ns(v2m_store_ns ns, v2m_error *err)
{
    if (ns != V2M_NS_VIDEOS && ns != V2M_NS_MP3S && ns != V2M_NS_SEGMENTS)
        return v2m_fail(err, V2M_EINVAL, "store: unknown namespace %d", (int)ns);
    return V2M_OK;
}

v2m_err v2m_store_find(v2m_store *st, v2m_store_ns ns, const char *filename, v2m_store_found_fn fn,
                       void *ud, v2m_error *err)
{
    v2m_err rc;
    if ((rc = check_ns(ns, err)))
        return rc;
    if (!filename || !fn)
        return v2m_fail(err, V2M_EINVAL, "store: find needs a name and a callback");
    return st->ops->find(st->impl, ns, filename, fn, ud, err);
}

static v2m_err set_field(char *dst, size_t dstsz, const char *src, const char *what,
                         v2m_error *err)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= dstsz)
        return v2m_fail(err, V2M_EINVAL, "store: %s longer than %zu bytes", what, dstsz - 1);
    memcpy(dst, src ? src : "", n + 1);
    return V2M_OK;
}

v2m_err v2m_store_upload_open(v2m_store *st, v2m_store_ns ns, const char *filename,
                              const char *content_type, const char *owner,
                              v2m_store_upload **out, v2m_error *err)
{
    v2m_store_upload *up;
    v2m_err rc;

    *out = NULL;
    if ((rc = check_ns(ns, err)))
        return rc;
    up = calloc(1, sizeof *up);
    if (!up)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if ((rc = set_field(up->meta.filename, sizeof up->meta.filename, filename, "filename", err)) ||
        (rc = set_field(up->meta.content_type, sizeof up->meta.content_type, content_type,
                        "content type", err)) ||
        (rc = set_field(up->meta.owner, sizeof up->meta.owner, owner, "owner", err))) {
        free(up);
        return rc;
    }
    v2m_oid_new(up->fid);
    memcpy(up->meta.fid, up->fid, sizeof up->fid);
    up->meta.created_ms = v2m__now_ms();
    up->ops = st->ops;
    rc = st->ops->up_open(st->impl, ns, &up->meta, &up->impl, err);
    if (rc) {
        free(up);
        return rc;
    }
    *out = up;
    return V2M_OK;
}

const char *v2m_store_upload_fid(const v2m_store_upload *up) { return up->fid; }

int64_t v2m_store_upload_size(const v2m_store_upload *up) { return up->length; }

v2m_err v2m_store_upload_write(v2m_store_upload *up, const void *buf, size_t n, v2m_error *err)
{
    const int64_t R = V2M_STORE_REWRITE_MAX;
    int64_t end = up->pos + (int64_t)n;
    v2m_err rc;

    if (up->failed.code)
        return v2m_fail(err, up->failed.code, "%s", up->failed.msg);
    if (n == 0)
        return V2M_OK;
    /* Bytes at or beyond R must start exactly at the current end. */
    if (end > R && (up->pos > R ? up->pos : R) != (up->length > R ? up->length : R))
        return v2m_fail(err, V2M_EINVAL,
                        "store: an upload rewrites only its first %lld bytes (write at %lld "
                        "of %lld)",
                        (long long)R, (long long)up->pos, (long long)up->length);
    rc = up->ops->up_write(up->impl, up->pos, buf, n, &up->failed);
    if (rc) {
        up->failed.code = rc;
        return v2m_fail(err, rc, "%s", up->failed.msg);
    }
    up->pos = end;
    if (end > up->length)
        up->length = end;
    return V2M_OK;
}

v2m_err v2m_store_upload_seek(v2m_store_upload *up, int64_t off, v2m_error *err)
{
    if (off < 0 || off > up->length || (off != up->length && off >= V2M_STORE_REWRITE_MAX))
        return v2m_fail(err, V2M_EINVAL,
                        "store: upload seek to %lld: only the end (%lld) or below %d",
                        (long long)off, (long long)up->length, V2M_STORE_REWRITE_MAX);
    up->pos = off;
    return V2M_OK;
}

v2m_err v2m_store_upload_finish(v2m_store_upload *up, v2m_store_meta *meta, v2m_error *err)
{
    v2m_err rc;

    if (up->failed.code) {
        rc = v2m_fail(err, up->failed.code, "%s", up->failed.msg);
        up->ops->up_abort(up->impl);
        free(up);
        return rc;
    }
    rc = up->ops->up_finish(up->impl, up->length, err);
    if (rc == V2M_OK && meta) {
        *meta = up->meta;
        meta->length = up->length;
    }
    free(up);
    return rc;
}

void v2m_store_upload_abort(v2m_store_upload *up)
{
    if (!up)
        return;
    up->ops->up_abort(up->impl);
    free(up);
}

v2m_err v2m_store_reader_open(v2m_store *st, v2m_store_ns ns, const char *fid,
                              v2m_store_reader **out, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_store_reader *r;
    v2m_err rc;

    *out = NULL;
    if ((rc = check_ns(ns, err)) || (rc = v2m_oid_norm(fid, id, err)))
        return rc;
    r = calloc(1, sizeof *r);
    if (!r)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    r->ops = st->ops;
    rc = st->ops->rd_open(st->impl, ns, id, &r->impl, &r->meta, err);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return V2M_OK;
}

const v2m_store_meta *v2m_store_reader_meta(const v2m_store_reader *r) { return &r->meta; }

v2m_err v2m_store_pread(v2m_store_reader *r, void *buf, size_t n, int64_t off, size_t *got,
                        v2m_error *err)
{
    *got = 0;
    if (off < 0)
        return v2m_fail(err, V2M_EINVAL, "store: negative read offset");
    if (n == 0 || off >= r->meta.length)
        return V2M_OK;
    return r->ops->rd_pread(r->impl, buf, n, off, got, err);
}

v2m_err v2m_store_read(v2m_store_reader *r, void *buf, size_t n, size_t *got, v2m_error *err)
{
    v2m_err rc = v2m_store_pread(r, buf, n, r->pos, got, err);
    if (rc == V2M_OK)
        r->pos += (int64_t)*got;
    return rc;
}

v2m_err v2m_store_seek(v2m_store_reader *r, int64_t off, int whence, int64_t *pos,
                       v2m_error *err)
{
    int64_t base;

    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = r->pos; break;
    case SEEK_END: base = r->meta.length; break;
    default: return v2m_fail(err, V2M_EINVAL, "store: bad whence %d", whence);
    }
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
        return v2m_fail(err, V2M_EINVAL, "store: seek to a negative or huge offset");
    r->pos = base + off;
    if (pos)
        *pos = r->pos;
    return V2M_OK;
}

int64_t v2m_store_tell(const v2m_store_reader *r) { return r->pos; }

void v2m_store_reader_close(v2m_store_reader *r)
{
    if (!r)
        return;
    r->ops->rd_close(r->impl);
    free(r);
}

v2m_err v2m_store_stat(v2m_store *st, v2m_store_ns ns, const char *fid, v2m_store_meta *meta,
                       v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_err rc;

    if ((rc = check_ns(ns, err)) || (rc = v2m_oid_norm(fid, id, err)))
        return rc;
    return st->ops->stat(st->impl, ns, id, meta, err);
}

v2m_err v2m_store_sweep(v2m_store *st, int64_t older_than_ms, long *count, v2m_error *err)
{
    long n = 0;
    v2m_err rc;

    if (older_than_ms < 0)
        return v2m_fail(err, V2M_EINVAL, "store sweep: negative age");
    rc = st->ops->sweep(st->impl, older_than_ms, &n, err);
    if (count)
        *count = n;
    return rc;
}

v2m_err v2m_store_delete(v2m_store *st, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_err rc;

    if ((rc = check_ns(ns, err)) || (rc = v2m_oid_norm(fid, id, err)))
        return rc;
    return st->ops->del(st->impl, ns, id, err);
}

/* Resumable uploads: argument checks, then the backend. */
struct v2m_store_part {
    const v2m__store_ops *ops;
    void *impl;
};

static v2m_err part_check(v2m_store *st, v2m_store_ns ns, const char *fid, char *norm,
                          v2m_error *err)
{
    v2m_err rc = check_ns(ns, err);
    if (rc)
        return rc;
    if (!st->ops->part_create)
        return v2m_fail(err, V2M_EUNAVAIL, "store %s: no resumable uploads", st->scheme);
    return fid ? v2m_oid_norm(fid, norm, err) : V2M_OK;
}

v2m_err v2m_store_part_create(v2m_store *st, v2m_store_ns ns, const char *info,
                              char fid[V2M_FID_LEN + 1], v2m_error *err)
{
    v2m_err rc = part_check(st, ns, NULL, NULL, err);
    if (rc)
        return rc;
    if (!info || strlen(info) > V2M_STORE_INFO_MAX)
        return v2m_fail(err, V2M_EINVAL, "store: part info longer than %d bytes",
                        V2M_STORE_INFO_MAX);
    v2m_oid_new(fid);
    return st->ops->part_create(st->impl, ns, fid, info, err);
}

v2m_err v2m_store_part_info(v2m_store *st, v2m_store_ns ns, const char *fid, char *info,
                            size_t infosz, int64_t *offset, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_err rc = part_check(st, ns, fid, id, err);
    return rc ? rc : st->ops->part_info(st->impl, ns, id, info, infosz, offset, err);
}

v2m_err v2m_store_part_append(v2m_store *st, v2m_store_ns ns, const char *fid, int64_t off,
                              v2m_store_part **out, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_store_part *p;
    v2m_err rc = part_check(st, ns, fid, id, err);

    *out = NULL;
    if (rc)
        return rc;
    p = calloc(1, sizeof *p);
    if (!p)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    p->ops = st->ops;
    rc = st->ops->part_append(st->impl, ns, id, off, &p->impl, err);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return V2M_OK;
}

v2m_err v2m_store_part_write(v2m_store_part *p, const void *buf, size_t n, v2m_error *err)
{
    return n ? p->ops->part_write(p->impl, buf, n, err) : V2M_OK;
}

v2m_err v2m_store_part_close(v2m_store_part *p, int64_t *offset, v2m_error *err)
{
    v2m_err rc;
    if (!p)
        return V2M_OK;
    rc = p->ops->part_close(p->impl, offset, err);
    free(p);
    return rc;
}

v2m_err v2m_store_part_discard(v2m_store_part *p, v2m_error *err)
{
    v2m_err rc;
    if (!p)
        return V2M_OK;
    rc = p->ops->part_discard(p->impl, err);
    free(p);
    return rc;
}

v2m_err v2m_store_part_pread(v2m_store *st, v2m_store_ns ns, const char *fid, void *buf,
                             size_t n, int64_t off, size_t *got, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_err rc = part_check(st, ns, fid, id, err);
    *got = 0;
    if (rc)
        return rc;
    if (off < 0)
        return v2m_fail(err, V2M_EINVAL, "store: negative offset");
    return st->ops->part_pread(st->impl, ns, id, buf, n, off, got, err);
}

v2m_err v2m_store_part_finish(v2m_store *st, v2m_store_ns ns, const char *fid,
                              const char *filename, const char *content_type,
                              const char *owner, v2m_store_meta *meta, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_store_meta m, out;
    v2m_err rc = part_check(st, ns, fid, id, err);

    if (rc)
        return rc;
    memset(&m, 0, sizeof m);
    if ((rc = set_field(m.filename, sizeof m.filename, filename, "filename", err)) ||
        (rc = set_field(m.content_type, sizeof m.content_type, content_type, "content type",
                        err)) ||
        (rc = set_field(m.owner, sizeof m.owner, owner, "owner", err)))
        return rc;
    memcpy(m.fid, id, sizeof id);
    m.created_ms = v2m__now_ms();
    rc = st->ops->part_finish(st->impl, ns, id, &m, &out, err);
    if (rc == V2M_OK && meta)
        *meta = out;
    return rc;
}

v2m_err v2m_store_part_abort(v2m_store *st, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    char id[V2M_FID_LEN + 1];
    v2m_err rc = part_check(st, ns, fid, id, err);
    return rc ? rc : st->ops->part_abort(st->impl, ns, id, err);
}

v2m_err v2m_store_part_list(v2m_store *st, v2m_store_ns ns, v2m_store_part_fn fn, void *ud,
                            v2m_error *err)
{
    v2m_err rc = part_check(st, ns, NULL, NULL, err);
    return rc ? rc : st->ops->part_list(st->impl, ns, fn, ud, err);
}
