/* store_file.c - files in a local directory (the embedded default).
 *
 * Layout under the store directory:
 *   videos/<fid>        the bytes            videos/<fid>.json   the metadata
 *   mp3s/<fid>          ...                  mp3s/<fid>.json
 *   <ns>/.tmp-<fid>...  uploads in progress (never read)
 *
 * A file is visible when its metadata is: an upload writes the data to a
 * temporary name, fsyncs and renames it, then writes the metadata the same
 * way and fsyncs the directory. Data is renamed before metadata, so visible
 * metadata always has complete data beside it. Renames are atomic, so any
 * number of processes may read and write the same directory. Leftovers of
 * processes that died mid-upload (temporary files, data without metadata)
 * are removed by v2m_store_sweep once untouched for its age (the gateway's
 * janitor, V2M_SWEEP_GRACE), and by the next open once an hour old.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/oid.h"
#include "store_int.h"
#include "clock_int.h"
#include "url_path_int.h"
#include "mkdir_p_int.h"
#include "utf8_int.h"

#define SWEEP_AGE_S 3600
/* The longest name made under the store directory, "/videos/.tmp-<fid>.json"
 * (42 bytes): the directory may take what PATH_MAX leaves beside it. */
#define NAME_ROOM (sizeof "/videos/.tmp-" - 1 + V2M_FID_LEN + sizeof ".json" - 1)

typedef struct {
    char dir[PATH_MAX];
} fstore;

typedef struct {
    fstore *fs;
    v2m_store_ns ns;
    v2m_store_meta meta;
    int fd;
    int64_t flushed;     /* bytes whose writeback was started */
    char tmp[PATH_MAX];
} fup;

/* While an upload is written, its pages are handed to the disk every
 * WRITEBACK bytes (sync_file_range starts the writeback and does not wait),
 * so the fsync that makes the file durable at the end has little left to
 * write: that wait no longer grows with the file, and dirty pages do not
 * pile up in memory. */
#define WRITEBACK (8 << 20)

typedef struct {
    int fd;
    char fid[V2M_FID_LEN + 1];
} frd;

static v2m_err sys_fail(v2m_error *err, const char *what, const char *path)
{
    int e = errno;
    return v2m_fail(err, e == ENOMEM ? V2M_ENOMEM : V2M_EIO, "store %s %s: %s", what, path,
                    strerror(e));
}

/* <dir>/<ns>[/<name>] into out; -1 (out unusable) when it does not fit. */
static int ns_path(const fstore *fs, v2m_store_ns ns, const char *name, char *out, size_t outsz)
{
    const char *nsn = v2m_store_ns_name(ns);
    size_t d = strlen(fs->dir), k = strlen(nsn), m = name ? strlen(name) + 1 : 0;

    if (d + 1 + k + m >= outsz)
        return -1;
    memcpy(out, fs->dir, d);
    out[d] = '/';
    memcpy(out + d + 1, nsn, k);
    if (name) {
        out[d + 1 + k] = '/';
        memcpy(out + d + 2 + k, name, m - 1);
    }
    out[d + 1 + k + m] = '\0';
    return 0;
}

static v2m_err too_long(v2m_error *err)
{
    return v2m_fail(err, V2M_EINVAL, "store path too long");
}

static v2m_err fsync_dir(const char *dir, v2m_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sys_fail(err, "open directory", dir);
    if (fsync(fd) != 0) {
        v2m_err rc = sys_fail(err, "fsync directory", dir);
        close(fd);
        return rc;
    }
    close(fd);
    return V2M_OK;
}

static v2m_err f_del(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err);

/* 1 when name is a finished file's description, "<fid>.json", with its fid
 * copied into fid. */
static int meta_fid(const char *name, char fid[V2M_FID_LEN + 1])
{
    if (strlen(name) != V2M_FID_LEN + 5 || strcmp(name + V2M_FID_LEN, ".json") != 0 ||
        !v2m_oid_is_normal(name, V2M_FID_LEN))
        return 0;
    memcpy(fid, name, V2M_FID_LEN);
    fid[V2M_FID_LEN] = '\0';
    return 1;
}

/* Remove what died with its process: temporary files and data files whose
 * metadata never appeared, untouched since before cutoff_ms (ms since the
 * epoch); and in the segments namespace finished segments stored before
 * then (a segment is read within minutes of being written: an old one was
 * left by a joining converter that died before its cleanup, see store.h).
 * *count += files removed. V2M_EIO when the directory cannot be read. */
static v2m_err sweep(fstore *fs, v2m_store_ns ns, int64_t cutoff_ms, long *count,
                     v2m_error *err)
{
    char dir[PATH_MAX], fid[V2M_FID_LEN + 1];
    struct dirent *de;
    DIR *d;

    if (ns_path(fs, ns, NULL, dir, sizeof dir))
        return too_long(err);
    if (!(d = opendir(dir)))
        return sys_fail(err, "open directory", dir);
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        struct stat sb;
        int orphan = 0, finished = 0;

        if (strncmp(name, ".tmp-", 5) == 0) {
            orphan = 1;
        } else if (v2m_oid_is_normal(name, len)) {
            char meta[NAME_MAX + 8];
            snprintf(meta, sizeof meta, "%s.json", name);
            orphan = faccessat(dirfd(d), meta, F_OK, 0) != 0 && errno == ENOENT;
        } else if (ns == V2M_NS_SEGMENTS) {
            finished = meta_fid(name, fid);
        }
        if ((!orphan && !finished) || fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode) ||
            (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000 >= cutoff_ms)
            continue;
        /* Another sweeper may have been first: ENOENT is no error. */
        if (finished) {
            if (f_del(fs, ns, fid, NULL) != V2M_OK)
                continue;
            V2M_LOG(V2M_INFO, "store swept old segment fid=%s", fid);
        } else if (unlinkat(dirfd(d), name, 0) == 0) {
            V2M_LOG(V2M_INFO, "store swept leftover path=%s/%s", dir, name);
        } else {
            continue;
        }
        if (count)
            (*count)++;
    }
    closedir(d);
    return V2M_OK;
}

static v2m_err f_sweep(void *impl, int64_t older_than_ms, long *count, v2m_error *err)
{
    fstore *fs = impl;
    int64_t cutoff = v2m__now_ms() - older_than_ms;
    v2m_err rc = V2M_OK;

    for (int ns = V2M_NS_VIDEOS; ns < V2M_NS_COUNT && rc == V2M_OK; ns++)
        rc = sweep(fs, (v2m_store_ns)ns, cutoff, count, err);
    return rc;
}

static v2m_err f_open(const char *url, void **impl, v2m_error *err)
{
    fstore *fs = calloc(1, sizeof *fs);
    char sub[PATH_MAX];
    v2m_err rc;

    if (!fs)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    rc = v2m__url_path(url, "file", fs->dir, sizeof fs->dir - NAME_ROOM, err);
    if (rc)
        goto fail;
    for (int ns = V2M_NS_VIDEOS; ns < V2M_NS_COUNT; ns++) {
        if (ns_path(fs, (v2m_store_ns)ns, NULL, sub, sizeof sub)) {
            rc = too_long(err);
            goto fail;
        }
        if (v2m__mkdir_p(sub) != 0) {
            rc = v2m_fail(err, V2M_EUNAVAIL, "store directory %s: %s", sub, strerror(errno));
            goto fail;
        }
        sweep(fs, (v2m_store_ns)ns, v2m__now_ms() - (int64_t)SWEEP_AGE_S * 1000, NULL, NULL);
    }
    *impl = fs;
    return V2M_OK;
fail:
    free(fs);
    return rc;
}

static void f_close(void *impl) { free(impl); }

static v2m_err f_ping(void *impl, v2m_error *err)
{
    fstore *fs = impl;
    char sub[PATH_MAX];

    for (int ns = V2M_NS_VIDEOS; ns < V2M_NS_COUNT; ns++) {
        if (ns_path(fs, (v2m_store_ns)ns, NULL, sub, sizeof sub))
            return too_long(err);
        if (access(sub, R_OK | W_OK | X_OK) != 0)
            return v2m_fail(err, V2M_EUNAVAIL, "store directory %s: %s", sub, strerror(errno));
    }
    return V2M_OK;
}

static v2m_err f_up_open(void *impl, v2m_store_ns ns, const v2m_store_meta *meta, void **out,
                         v2m_error *err)
{
    fstore *fs = impl;
    fup *up = calloc(1, sizeof *up);
    char name[64];

    if (!up)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    up->fs = fs;
    up->ns = ns;
    up->meta = *meta;
    snprintf(name, sizeof name, ".tmp-%s", meta->fid);
    if (ns_path(fs, ns, name, up->tmp, sizeof up->tmp)) {
        free(up);
        return too_long(err);
    }
    up->fd = open(up->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (up->fd < 0) {
        v2m_err rc = sys_fail(err, "create", up->tmp);
        free(up);
        return rc;
    }
    *out = up;
    return V2M_OK;
}

static v2m_err f_up_write(void *impl, int64_t off, const void *buf, size_t n, v2m_error *err)
{
    fup *up = impl;
    const char *p = buf;

    while (n > 0) {
        ssize_t w = pwrite(up->fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sys_fail(err, "write", up->tmp);
        }
        p += w;
        off += w;
        n -= (size_t)w;
    }
    if (off - up->flushed >= WRITEBACK) {
        /* Only a hint: a failure shows in the fsync at the end. */
        (void)sync_file_range(up->fd, up->flushed, off - up->flushed, SYNC_FILE_RANGE_WRITE);
        up->flushed = off;
    }
    return V2M_OK;
}

static void f_up_abort(void *impl)
{
    fup *up = impl;

    if (!up)
        return;
    if (up->fd >= 0)
        close(up->fd);
    if (up->tmp[0] && unlink(up->tmp) != 0 && errno != ENOENT)
        V2M_LOG(V2M_WARN, "store cannot remove path=%s err=%s", up->tmp, strerror(errno));
    free(up);
}

static json_t *meta_json(const v2m_store_meta *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:I}", "_id", m->fid, "filename",
                     m->filename, "contentType", m->content_type, "owner", m->owner, "length",
                     (json_int_t)m->length, "chunkSize", V2M_STORE_CHUNK, "uploadDate",
                     (json_int_t)m->created_ms);
}

static v2m_err f_up_finish(void *impl, int64_t length, v2m_error *err)
{
    fup *up = impl;
    char data[PATH_MAX], meta[PATH_MAX], tmpmeta[PATH_MAX], name[64], tmpname[64];
    char dir[PATH_MAX];
    json_t *j = NULL;
    int mfd = -1;
    v2m_err rc = V2M_OK;

    up->meta.length = length;
    snprintf(name, sizeof name, "%s.json", up->meta.fid);
    snprintf(tmpname, sizeof tmpname, ".tmp-%s.json", up->meta.fid);
    if (ns_path(up->fs, up->ns, up->meta.fid, data, sizeof data) ||
        ns_path(up->fs, up->ns, name, meta, sizeof meta) ||
        ns_path(up->fs, up->ns, tmpname, tmpmeta, sizeof tmpmeta) ||
        ns_path(up->fs, up->ns, NULL, dir, sizeof dir)) {
        f_up_abort(up);
        return too_long(err);
    }

    /* 1. the data, complete and on disk, under its final name */
    if (ftruncate(up->fd, (off_t)length) != 0 || fsync(up->fd) != 0) {
        rc = sys_fail(err, "fsync", up->tmp);
        goto fail;
    }
    close(up->fd);
    up->fd = -1;
    if (rename(up->tmp, data) != 0) {
        rc = sys_fail(err, "rename", up->tmp);
        goto fail;
    }
    snprintf(up->tmp, sizeof up->tmp, "%s", data);   /* abort removes it from now on */

    /* 2. the metadata, written aside and renamed: this is the commit */
    j = meta_json(&up->meta);
    if (!j) {
        rc = v2m_fail(err, V2M_ENOMEM, "out of memory");
        goto fail;
    }
    mfd = open(tmpmeta, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (mfd < 0) {
        rc = sys_fail(err, "create", tmpmeta);
        goto fail;
    }
    if (json_dumpfd(j, mfd, JSON_COMPACT) != 0 || fsync(mfd) != 0) {
        rc = sys_fail(err, "write", tmpmeta);
        goto fail;
    }
    close(mfd);
    mfd = -1;
    if (rename(tmpmeta, meta) != 0) {
        rc = sys_fail(err, "rename", tmpmeta);
        goto fail;
    }
    json_decref(j);
    j = NULL;
    /* 3. the directory entries themselves */
    rc = fsync_dir(dir, err);
    if (rc) {
        /* Visible but maybe not durable: take it back rather than lie. */
        unlink(meta);
        goto fail;
    }
    free(up);
    return V2M_OK;
fail:
    if (mfd >= 0)
        close(mfd);
    unlink(tmpmeta);
    json_decref(j);
    f_up_abort(up);
    return rc;
}

static v2m_err read_meta(fstore *fs, v2m_store_ns ns, const char *fid, v2m_store_meta *m,
                         v2m_error *err)
{
    char path[PATH_MAX], name[64];
    json_error_t je;
    json_t *j;
    const char *id = NULL, *fn = "", *ct = "", *owner = "";
    json_int_t len = -1, date = 0;

    snprintf(name, sizeof name, "%s.json", fid);
    if (ns_path(fs, ns, name, path, sizeof path))
        return too_long(err);
    j = json_load_file(path, 0, &je);
    if (!j) {
        if (access(path, F_OK) != 0 && errno == ENOENT)
            return v2m_fail(err, V2M_ENOTFOUND, "no file %s in %s", fid, v2m_store_ns_name(ns));
        return v2m_fail(err, V2M_EIO, "store metadata %s: %s", path, je.text);
    }
    if (json_unpack_ex(j, &je, 0, "{s:s, s?s, s?s, s?s, s:I, s?I}", "_id", &id, "filename", &fn,
                       "contentType", &ct, "owner", &owner, "length", &len, "uploadDate",
                       &date) != 0 ||
        strcmp(id, fid) != 0 || len < 0) {
        json_decref(j);
        return v2m_fail(err, V2M_EIO, "store metadata %s is malformed", path);
    }
    memset(m, 0, sizeof *m);
    memcpy(m->fid, fid, V2M_FID_LEN + 1);
    v2m__strlcpy_utf8(m->filename, sizeof m->filename, fn, strlen(fn));
    v2m__strlcpy_utf8(m->content_type, sizeof m->content_type, ct, strlen(ct));
    v2m__strlcpy_utf8(m->owner, sizeof m->owner, owner, strlen(owner));
    m->length = len;
    m->created_ms = date;
    json_decref(j);
    return V2M_OK;
}

/* Every description of ns, compared by name. */
static v2m_err f_find(void *impl, v2m_store_ns ns, const char *filename, v2m_store_found_fn fn, void *ud,
                      v2m_error *err)
{
    fstore *fs = impl;
    char dir[PATH_MAX];
    struct dirent *de;
    DIR *d;

    if (ns_path(fs, ns, NULL, dir, sizeof dir))
        return too_long(err);
    if (!(d = opendir(dir)))
        return sys_fail(err, "open directory", dir);
    while ((de = readdir(d))) {
        v2m_store_meta m;
        char fid[V2M_FID_LEN + 1];
        if (!meta_fid(de->d_name, fid))
            continue;
        if (read_meta(fs, ns, fid, &m, NULL) == V2M_OK && strcmp(m.filename, filename) == 0 && fn(ud, &m))
            break;
    }
    closedir(d);
    return V2M_OK;
}

static v2m_err f_stat(void *impl, v2m_store_ns ns, const char *fid, v2m_store_meta *meta,
                      v2m_error *err)
{
    return read_meta(impl, ns, fid, meta, err);
}

static v2m_err f_rd_open(void *impl, v2m_store_ns ns, const char *fid, void **out,
                         v2m_store_meta *meta, v2m_error *err)
{
    fstore *fs = impl;
    char path[PATH_MAX];
    struct stat sb;
    frd *r;
    v2m_err rc = read_meta(fs, ns, fid, meta, err);

    if (rc)
        return rc;
    r = calloc(1, sizeof *r);
    if (!r)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    memcpy(r->fid, fid, sizeof r->fid);
    if (ns_path(fs, ns, fid, path, sizeof path)) {
        free(r);
        return too_long(err);
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        /* Deleted between the two opens. */
        rc = errno == ENOENT ? v2m_fail(err, V2M_ENOTFOUND, "no file %s in %s", fid,
                                        v2m_store_ns_name(ns))
                             : sys_fail(err, "open", path);
        free(r);
        return rc;
    }
    if (fstat(r->fd, &sb) != 0 || sb.st_size != meta->length) {
        close(r->fd);
        free(r);
        return v2m_fail(err, V2M_EIO, "store file %s: size does not match its metadata", path);
    }
    *out = r;
    return V2M_OK;
}

static v2m_err f_rd_pread(void *impl, void *buf, size_t n, int64_t off, size_t *got,
                          v2m_error *err)
{
    frd *r = impl;
    ssize_t k;

    do
        k = pread(r->fd, buf, n, (off_t)off);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return v2m_fail(err, V2M_EIO, "store read %s: %s", r->fid, strerror(errno));
    if (k == 0)
        return v2m_fail(err, V2M_EIO, "store read %s: file shorter than its metadata", r->fid);
    *got = (size_t)k;
    return V2M_OK;
}

static void f_rd_close(void *impl)
{
    frd *r = impl;
    if (!r)
        return;
    close(r->fd);
    free(r);
}

static v2m_err f_del(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    fstore *fs = impl;
    char path[PATH_MAX], name[64], dir[PATH_MAX];

    snprintf(name, sizeof name, "%s.json", fid);
    if (ns_path(fs, ns, name, path, sizeof path) || ns_path(fs, ns, NULL, dir, sizeof dir))
        return too_long(err);
    /* Metadata first: the file is gone for readers once it is. */
    if (unlink(path) != 0) {
        if (errno == ENOENT) {
            /* No finished file: remove what an upload of this id that never
             * finished left behind (its writer died), as GridFS does. */
            snprintf(name, sizeof name, ".tmp-%s", fid);
            if (ns_path(fs, ns, name, path, sizeof path) == 0)
                unlink(path);
            return v2m_fail(err, V2M_ENOTFOUND, "no file %s in %s", fid, v2m_store_ns_name(ns));
        }
        return sys_fail(err, "unlink", path);
    }
    if (ns_path(fs, ns, fid, path, sizeof path) == 0 && unlink(path) != 0 && errno != ENOENT)
        V2M_LOG(V2M_WARN, "store cannot remove path=%s err=%s", path, strerror(errno));
    return fsync_dir(dir, err);
}

/* Resumable uploads (store.h's parts): <ns>/.tus-<fid> holds the bytes so
 * far, <ns>/.tus-<fid>.json the caller's info; open's sweep leaves both
 * alone (the gateway's janitor removes expired ones). */
typedef struct {
    int fd;
    int64_t start, off;
    char path[PATH_MAX];
} fpart;

static int part_path(const fstore *fs, v2m_store_ns ns, const char *fid, int info, char *out,
                     size_t outsz)
{
    char name[64];
    snprintf(name, sizeof name, ".tus-%s%s", fid, info ? ".json" : "");
    return ns_path(fs, ns, name, out, outsz);
}

static v2m_err write_all(int fd, const void *buf, size_t n, const char *path, v2m_error *err)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sys_fail(err, "write", path);
        }
        p += w;
        n -= (size_t)w;
    }
    return V2M_OK;
}

static v2m_err f_part_create(void *impl, v2m_store_ns ns, const char *fid, const char *info,
                             v2m_error *err)
{
    fstore *fs = impl;
    char data[PATH_MAX], meta[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX], name[64];
    int fd;
    v2m_err rc;

    snprintf(name, sizeof name, ".tmp-%s.json", fid);
    if (part_path(fs, ns, fid, 0, data, sizeof data) ||
        part_path(fs, ns, fid, 1, meta, sizeof meta) || ns_path(fs, ns, name, tmp, sizeof tmp) ||
        ns_path(fs, ns, NULL, dir, sizeof dir))
        return too_long(err);
    fd = open(data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return sys_fail(err, "create", data);
    close(fd);
    /* The info last, written aside and renamed: a part exists once it does. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = sys_fail(err, "create", tmp);
        unlink(data);
        return rc;
    }
    rc = write_all(fd, info, strlen(info), tmp, err);
    if (!rc && fsync(fd) != 0)
        rc = sys_fail(err, "fsync", tmp);
    close(fd);
    if (!rc && rename(tmp, meta) != 0)
        rc = sys_fail(err, "rename", tmp);
    if (!rc)
        rc = fsync_dir(dir, err);
    if (rc) {
        unlink(tmp);
        unlink(meta);
        unlink(data);
    }
    return rc;
}

static v2m_err f_part_info(void *impl, v2m_store_ns ns, const char *fid, char *info,
                           size_t infosz, int64_t *offset, v2m_error *err)
{
    fstore *fs = impl;
    char data[PATH_MAX], meta[PATH_MAX];
    struct stat sb;
    ssize_t n;
    int fd;

    if (part_path(fs, ns, fid, 0, data, sizeof data) ||
        part_path(fs, ns, fid, 1, meta, sizeof meta))
        return too_long(err);
    fd = open(meta, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
        return sys_fail(err, "open", meta);
    }
    n = read(fd, info, infosz - 1);
    close(fd);
    if (n < 0)
        return sys_fail(err, "read", meta);
    info[n] = '\0';
    if (stat(data, &sb) != 0) {
        if (errno == ENOENT)
            return v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
        return sys_fail(err, "stat", data);
    }
    *offset = (int64_t)sb.st_size;
    return V2M_OK;
}

static v2m_err f_part_append(void *impl, v2m_store_ns ns, const char *fid, int64_t off,
                             void **out, v2m_error *err)
{
    fstore *fs = impl;
    fpart *p = calloc(1, sizeof *p);
    char meta[PATH_MAX];
    struct stat sb;

    if (!p)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (part_path(fs, ns, fid, 0, p->path, sizeof p->path) ||
        part_path(fs, ns, fid, 1, meta, sizeof meta)) {
        free(p);
        return too_long(err);
    }
    if (access(meta, F_OK) != 0 || (p->fd = open(p->path, O_WRONLY | O_CLOEXEC)) < 0) {
        free(p);
        return v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
    }
    if (fstat(p->fd, &sb) != 0 || (int64_t)sb.st_size != off) {
        v2m_err rc = v2m_fail(err, V2M_ESTATE, "upload %s holds %lld bytes, not %lld", fid,
                              (long long)sb.st_size, (long long)off);
        close(p->fd);
        free(p);
        return rc;
    }
    p->start = p->off = off;
    *out = p;
    return V2M_OK;
}

static v2m_err f_part_discard(void *impl, v2m_error *err)
{
    fpart *p = impl;
    v2m_err rc = V2M_OK;

    if (ftruncate(p->fd, (off_t)p->start) != 0 || fsync(p->fd) != 0)
        rc = sys_fail(err, "truncate", p->path);
    close(p->fd);
    free(p);
    return rc;
}

static v2m_err f_part_write(void *impl, const void *buf, size_t n, v2m_error *err)
{
    fpart *p = impl;
    const char *c = buf;

    while (n > 0) {
        ssize_t w = pwrite(p->fd, c, n, (off_t)p->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sys_fail(err, "write", p->path);
        }
        c += w;
        p->off += w;
        n -= (size_t)w;
    }
    return V2M_OK;
}

static v2m_err f_part_close(void *impl, int64_t *offset, v2m_error *err)
{
    fpart *p = impl;
    v2m_err rc = V2M_OK;

    if (fsync(p->fd) != 0)
        rc = sys_fail(err, "fsync", p->path);
    close(p->fd);
    if (offset)
        *offset = p->off;
    free(p);
    return rc;
}

static v2m_err f_part_pread(void *impl, v2m_store_ns ns, const char *fid, void *buf, size_t n,
                            int64_t off, size_t *got, v2m_error *err)
{
    fstore *fs = impl;
    char data[PATH_MAX];
    ssize_t r;
    int fd;

    if (part_path(fs, ns, fid, 0, data, sizeof data))
        return too_long(err);
    fd = open(data, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
    do
        r = pread(fd, buf, n, (off_t)off);
    while (r < 0 && errno == EINTR);
    close(fd);
    if (r < 0)
        return sys_fail(err, "read", data);
    *got = (size_t)r;
    return V2M_OK;
}

static v2m_err f_part_finish(void *impl, v2m_store_ns ns, const char *fid,
                             const v2m_store_meta *meta, v2m_store_meta *out, v2m_error *err)
{
    fstore *fs = impl;
    fup *up = calloc(1, sizeof *up);
    char info[PATH_MAX];
    struct stat sb;
    v2m_err rc;

    if (!up)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    up->fs = fs;
    up->ns = ns;
    up->meta = *meta;
    if (part_path(fs, ns, fid, 0, up->tmp, sizeof up->tmp) ||
        part_path(fs, ns, fid, 1, info, sizeof info)) {
        free(up);
        return too_long(err);
    }
    up->fd = open(up->tmp, O_WRONLY | O_CLOEXEC);
    if (up->fd < 0 || fstat(up->fd, &sb) != 0) {
        if (up->fd >= 0)
            close(up->fd);
        free(up);
        return v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
    }
    *out = *meta;
    out->length = (int64_t)sb.st_size;
    /* The data becomes the file (renamed, so the part has no bytes any more);
     * on failure finish removes them, and the info then goes too. */
    rc = f_up_finish(up, (int64_t)sb.st_size, err);
    unlink(info);
    return rc;
}

static v2m_err f_part_abort(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err)
{
    fstore *fs = impl;
    char data[PATH_MAX], meta[PATH_MAX];
    int had;

    if (part_path(fs, ns, fid, 0, data, sizeof data) ||
        part_path(fs, ns, fid, 1, meta, sizeof meta))
        return too_long(err);
    had = unlink(meta) == 0;
    had |= unlink(data) == 0;
    return had ? V2M_OK : v2m_fail(err, V2M_ENOTFOUND, "no upload %s", fid);
}

static v2m_err f_part_list(void *impl, v2m_store_ns ns, v2m_store_part_fn fn, void *ud,
                           v2m_error *err)
{
    fstore *fs = impl;
    char dir[PATH_MAX];
    struct dirent *de;
    DIR *d;
    char *info = malloc(V2M_STORE_INFO_MAX + 1);

    if (!info)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (ns_path(fs, ns, NULL, dir, sizeof dir) || !(d = opendir(dir))) {
        free(info);
        return v2m_fail(err, V2M_EUNAVAIL, "store directory %s: %s", dir, strerror(errno));
    }
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t n = strlen(name);
        char fid[V2M_FID_LEN + 1];
        int64_t off;

        /* .tus-<fid>.json */
        if (n != 5 + V2M_FID_LEN + 5 || strncmp(name, ".tus-", 5) != 0 ||
            strcmp(name + 5 + V2M_FID_LEN, ".json") != 0 ||
            !v2m_oid_is_normal(name + 5, V2M_FID_LEN))
            continue;
        memcpy(fid, name + 5, V2M_FID_LEN);
        fid[V2M_FID_LEN] = '\0';
        if (f_part_info(fs, ns, fid, info, V2M_STORE_INFO_MAX + 1, &off, NULL) != V2M_OK)
            continue;
        if (fn(ud, fid, info, off))
            break;
    }
    closedir(d);
    free(info);
    return V2M_OK;
}

const v2m__store_ops v2m__store_file = {
    .open = f_open,
    .close = f_close,
    .ping = f_ping,
    .up_open = f_up_open,
    .up_write = f_up_write,
    .up_finish = f_up_finish,
    .up_abort = f_up_abort,
    .rd_open = f_rd_open,
    .rd_pread = f_rd_pread,
    .rd_close = f_rd_close,
    .stat = f_stat,
    .find = f_find,
    .del = f_del,
    .sweep = f_sweep,
    .part_create = f_part_create,
    .part_info = f_part_info,
    .part_append = f_part_append,
    .part_write = f_part_write,
    .part_close = f_part_close,
    .part_discard = f_part_discard,
    .part_pread = f_part_pread,
    .part_finish = f_part_finish,
    .part_abort = f_part_abort,
    .part_list = f_part_list,
};
