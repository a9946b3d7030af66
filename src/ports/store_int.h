/* store_int.h - the store port's backend interface.
 *
 * Internal to src/ports: only store.c and the store backends include it;
 * services use store.h. A backend is one file defining a v2m__store_ops
 * table, listed by URL scheme in store.c's backends[].
 */
#ifndef V2M_PORTS_STORE_INT_H
#define V2M_PORTS_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A backend. store.c checks arguments, keeps stream positions and hands the
 * backend validated, normalised ids; the backend does the I/O. */
typedef struct v2m__store_ops {
    v2m_err (*open)(const char *url, void **impl, v2m_error *err);
    void (*close)(void *impl);
    v2m_err (*ping)(void *impl, v2m_error *err);
    /* Start an upload of a new file described by meta (fid and created_ms set). */
    v2m_err (*up_open)(void *impl, v2m_store_ns ns, const v2m_store_meta *meta, void **up,
                       v2m_error *err);
    /* Store n bytes at off. store.c guarantees off <= bytes written so far and
     * that bytes at or beyond V2M_STORE_REWRITE_MAX are only ever appended. */
    v2m_err (*up_write)(void *up, int64_t off, const void *buf, size_t n, v2m_error *err);
    /* Make the file of length bytes visible; frees up, also on failure (after
     * removing what was written). */
    v2m_err (*up_finish)(void *up, int64_t length, v2m_error *err);
    /* Remove what was written and free up. */
    void (*up_abort)(void *up);
    /* Open a finished file; V2M_ENOTFOUND when there is none. */
    v2m_err (*rd_open)(void *impl, v2m_store_ns ns, const char *fid, void **rd,
                       v2m_store_meta *meta, v2m_error *err);
    /* Read up to n bytes at off (0 <= off < length, n > 0); *got >= 1. */
    v2m_err (*rd_pread)(void *rd, void *buf, size_t n, int64_t off, size_t *got,
                        v2m_error *err);
    void (*rd_close)(void *rd);
    v2m_err (*stat)(void *impl, v2m_store_ns ns, const char *fid, v2m_store_meta *meta,
                    v2m_error *err);
    /* V2M_ENOTFOUND when there is no such file. */
    v2m_err (*del)(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err);
    /* store.h's v2m_store_find. */
    v2m_err (*find)(void *impl, v2m_store_ns ns, const char *filename, v2m_store_found_fn fn, void *ud,
                    v2m_error *err);
    /* store.h's v2m_store_sweep; older_than_ms >= 0, *count set. */
    v2m_err (*sweep)(void *impl, int64_t older_than_ms, long *count, v2m_error *err);
    /* Resumable uploads (store.h's v2m_store_part_*), ids and arguments
     * checked by store.c; NULL when the backend has none. */
    v2m_err (*part_create)(void *impl, v2m_store_ns ns, const char *fid, const char *info,
                           v2m_error *err);
    v2m_err (*part_info)(void *impl, v2m_store_ns ns, const char *fid, char *info,
                         size_t infosz, int64_t *offset, v2m_error *err);
    v2m_err (*part_append)(void *impl, v2m_store_ns ns, const char *fid, int64_t off,
                           void **p, v2m_error *err);
    v2m_err (*part_write)(void *p, const void *buf, size_t n, v2m_error *err);
    v2m_err (*part_close)(void *p, int64_t *offset, v2m_error *err);
    v2m_err (*part_discard)(void *p, v2m_error *err);
    v2m_err (*part_pread)(void *impl, v2m_store_ns ns, const char *fid, void *buf, size_t n,
                          int64_t off, size_t *got, v2m_error *err);
    v2m_err (*part_finish)(void *impl, v2m_store_ns ns, const char *fid,
                           const v2m_store_meta *meta, v2m_store_meta *out, v2m_error *err);
    v2m_err (*part_abort)(void *impl, v2m_store_ns ns, const char *fid, v2m_error *err);
    v2m_err (*part_list)(void *impl, v2m_store_ns ns, v2m_store_part_fn fn, void *ud,
                         v2m_error *err);
} v2m__store_ops;

/* The backends, one file each; store.c lists them by URL scheme. */
extern const v2m__store_ops v2m__store_file;     /* store_file.c */
extern const v2m__store_ops v2m__store_gridfs;   /* store_gridfs.c */

#endif
