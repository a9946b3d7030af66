/* store.h - the store port: uploaded videos and the MP3s made from them.
 *
 *   v2m_store *st = v2m_store_open("file:///var/lib/v2m/store", &err);
 *   v2m_store_upload *up;
 *   v2m_store_upload_open(st, V2M_NS_VIDEOS, "clip.mp4", "video/mp4", "a@b.c", &up, &err);
 *   while ((n = next_chunk(buf)) > 0)
 *       if (v2m_store_upload_write(up, buf, n, &err)) { v2m_store_upload_abort(up); ... }
 *   v2m_store_upload_finish(up, &meta, &err);          // meta.fid is the new id
 *
 * Backends, one file each, picked by the URL's scheme:
 *   store_file.c    `file:///abs/dir` or `file://./rel/dir` (the embedded default)
 *   store_gridfs.c  `mongodb://host:port/` (+ any libmongoc URI option):
 *                   GridFS databases `videos` and `mp3s`, bucket `fs`
 *
 * Files live in two namespaces, videos and MP3s. A file id is an ObjectId in
 * its 24-hex-digit form in both backends; ids are made by the store.
 *
 * Guarantees (both backends):
 * - Visibility: an upload becomes visible (readable, listed by stat) only
 *   when v2m_store_upload_finish() returns V2M_OK; before that, and after an
 *   abort or a failed finish, nothing of it can be read. A process that dies
 *   mid-upload leaves at most invisible leftovers (file: temporary files;
 *   GridFS: chunks without a files document), which v2m_store_sweep()
 *   removes once they are old enough (the file backend's open also sweeps
 *   those an hour old).
 * - Durability: finish returns after the data is on disk (file: fsync of data,
 *   metadata and directory) or acknowledged by the server (GridFS, the URL's
 *   write concern).
 * - Memory: uploads and downloads stream; a handle holds at most a few
 *   chunks (GridFS: about 1.3 MiB per reader, 510 KiB per upload), whatever
 *   the file's size.
 * - Random access: readers read at any offset; GridFS fetches only the chunks
 *   that cover it (sequential reads are batched).
 *
 * Ownership and threads: a v2m_store handle is thread-safe (GridFS keeps a
 * client pool; the file backend has no shared state) and outlives every
 * upload and reader opened from it. An upload or reader belongs to the
 * caller, is used by one thread at a time, and ends with exactly one
 * finish/abort (uploads) or close (readers). Several processes may use the
 * same store at once.
 */
#ifndef V2M_PORTS_STORE_H
#define V2M_PORTS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define V2M_FID_LEN 24                   /* hex digits of an ObjectId */
#define V2M_STORE_CHUNK (255 * 1024)     /* GridFS chunk size, as the spec's default */
/* An upload may seek back and rewrite bytes below this offset (its first
 * GridFS chunk, held in memory until finish); beyond it, it only appends.
 * Comfortably above V2M_MEDIA_SINK_HEAD_MAX of the media engine. */
#define V2M_STORE_REWRITE_MAX V2M_STORE_CHUNK

typedef enum v2m_store_ns {
    V2M_NS_VIDEOS = 0,   /* GridFS database `videos`; file backend <dir>/videos */
    V2M_NS_MP3S = 1,     /* GridFS database `mp3s`;   file backend <dir>/mp3s */
    V2M_NS_SEGMENTS = 2, /* GridFS database `segments`; file backend <dir>/segments:
                            the MP3 frames of one segment of a long conversion
                            encoded by another converter, until joined */
} v2m_store_ns;
#define V2M_NS_COUNT 3

/* What the store knows about a file. Strings are NUL-terminated UTF-8, empty
 * when unknown (a file written by another GridFS client may lack them); longer
 * values read from GridFS are cut at a character boundary. */
typedef struct v2m_store_meta {
    char fid[V2M_FID_LEN + 1];
    char filename[256];      /* the uploader's file name */
    char content_type[128];  /* e.g. "video/mp4", "audio/mpeg" */
    char owner[256];         /* the uploading user's email */
    int64_t length;          /* bytes */
    int64_t created_ms;      /* upload time, ms since the epoch (GridFS uploadDate) */
} v2m_store_meta;

typedef struct v2m_store v2m_store;
typedef struct v2m_store_upload v2m_store_upload;
typedef struct v2m_store_reader v2m_store_reader;

/* Open by URL (see the top). Connecting to a server is lazy: open fails only
 * on a malformed URL or an unusable directory; v2m_store_ping() tells whether
 * the backend is reachable. */
v2m_store *v2m_store_open(const char *url, v2m_error *err);
void v2m_store_close(v2m_store *st);   /* safe on NULL; no stream may be open */
v2m_err v2m_store_ping(v2m_store *st, v2m_error *err);
const char *v2m_store_scheme(const v2m_store *st);   /* "file" or "mongodb" */
const char *v2m_store_ns_name(v2m_store_ns ns);      /* "videos", "mp3s" or "segments" */

/* Every finished file of ns named filename: fn(ud, meta) for each, in no
 * order, until it returns non-zero. For small namespaces (the file backend
 * reads every description of ns). */
typedef int (*v2m_store_found_fn)(void *ud, const v2m_store_meta *meta);
v2m_err v2m_store_find(v2m_store *st, v2m_store_ns ns, const char *filename, v2m_store_found_fn fn,
                       void *ud, v2m_error *err);

/* Uploads. filename, content_type and owner may be NULL (stored empty) and
 * must fit v2m_store_meta (V2M_EINVAL otherwise). The new file's id is known
 * at once (v2m_store_upload_fid) but the file is visible only after finish. */
v2m_err v2m_store_upload_open(v2m_store *st, v2m_store_ns ns, const char *filename,
                              const char *content_type, const char *owner,
                              v2m_store_upload **out, v2m_error *err);
const char *v2m_store_upload_fid(const v2m_store_upload *up);
int64_t v2m_store_upload_size(const v2m_store_upload *up);   /* bytes written so far */
/* Write at the current position and advance it. After a failed write the
 * upload only accepts abort (or finish, which then fails and cleans up). */
v2m_err v2m_store_upload_write(v2m_store_upload *up, const void *buf, size_t n,
                               v2m_error *err);
/* Move the write position to off: the end (v2m_store_upload_size) or below
 * V2M_STORE_REWRITE_MAX. Writes after such a seek overwrite; they may not
 * reach beyond V2M_STORE_REWRITE_MAX unless the file is still shorter. */
v2m_err v2m_store_upload_seek(v2m_store_upload *up, int64_t off, v2m_error *err);
/* Make the file visible. Always consumes up: on failure nothing is left.
 * meta (may be NULL) receives the stored file's description. */
v2m_err v2m_store_upload_finish(v2m_store_upload *up, v2m_store_meta *meta, v2m_error *err);
/* Discard the upload; nothing becomes visible. Safe on NULL. */
void v2m_store_upload_abort(v2m_store_upload *up);

/* Downloads with random access. fid is any 24-hex id (either case);
 * V2M_ENOTFOUND for an unknown or malformed id. */
v2m_err v2m_store_reader_open(v2m_store *st, v2m_store_ns ns, const char *fid,
                              v2m_store_reader **out, v2m_error *err);
const v2m_store_meta *v2m_store_reader_meta(const v2m_store_reader *r);
/* Read up to n bytes at the current position and advance it; *got == 0 only
 * at the end of the file. */
v2m_err v2m_store_read(v2m_store_reader *r, void *buf, size_t n, size_t *got,
                       v2m_error *err);
/* Read up to n bytes at off without moving the position; *got == 0 at or
 * beyond the end. */
v2m_err v2m_store_pread(v2m_store_reader *r, void *buf, size_t n, int64_t off, size_t *got,
                        v2m_error *err);
/* lseek(2) semantics: whence SEEK_SET, SEEK_CUR or SEEK_END; positions past
 * the end are allowed (reads there return 0 bytes); negative ones are not.
 * *pos (may be NULL) receives the new position. */
v2m_err v2m_store_seek(v2m_store_reader *r, int64_t off, int whence, int64_t *pos,
                       v2m_error *err);
int64_t v2m_store_tell(const v2m_store_reader *r);
void v2m_store_reader_close(v2m_store_reader *r);   /* safe on NULL */

/* Describe a finished file without opening it; V2M_ENOTFOUND when absent. */
v2m_err v2m_store_stat(v2m_store *st, v2m_store_ns ns, const char *fid, v2m_store_meta *meta,
                       v2m_error *err);
/* Delete a finished file (it disappears at once for new readers; readers
 * already open may fail). V2M_ENOTFOUND when absent; what an upload with this
 * id left behind without finishing (its process died) is removed as well, so
 * a caller that recorded the id of an upload it started can clean up after a
 * crash. Never call it for an upload that is still being written. */
v2m_err v2m_store_delete(v2m_store *st, v2m_store_ns ns, const char *fid, v2m_error *err);

/* Remove the leftovers of uploads whose process died, once nothing has been
 * written to them for older_than_ms: file backend, temporary files
 * (`<ns>/.tmp-*`) and data files without metadata, by modification time;
 * GridFS, chunks whose files_id has neither a files document nor a part
 * record (fs.uploads), when their files_id and every one of their chunks'
 * ObjectIds are older than that. Both namespaces; *count (may be NULL) =
 * files (file) or chunks (GridFS) removed. Resumable uploads (parts) are
 * never touched. An upload still being written keeps writing, so it is left
 * alone as long as older_than_ms is longer than any pause in its writes (the
 * GridFS head chunk waits in memory until finish, the others go out every
 * V2M_STORE_CHUNK bytes). Any number of processes may sweep at once: each
 * removes only what is past the age, and removing what another just removed
 * is no error. Finished files of the segments namespace older than
 * older_than_ms go too (a segment is read within minutes of its writing: an
 * old one was left by a joining converter that died before its cleanup;
 * each counts as one). */
v2m_err v2m_store_sweep(v2m_store *st, int64_t older_than_ms, long *count, v2m_error *err);

/* Resumable uploads ("parts"): an unfinished file written in several
 * sittings, possibly by several processes, that survives a restart. A part
 * carries an opaque info string (its owner's record: JSON, at most
 * V2M_STORE_INFO_MAX bytes) written once at creation, and its bytes so far;
 * its offset is how many bytes it holds. Nothing of a part is visible as a
 * file until v2m_store_part_finish publishes it under the same id.
 *
 *   v2m_store_part_create(st, V2M_NS_VIDEOS, "{...}", fid, &err);
 *   v2m_store_part_append(st, V2M_NS_VIDEOS, fid, offset, &p, &err);
 *   v2m_store_part_write(p, buf, n, &err) ...; v2m_store_part_close(p, &offset, &err);
 *   v2m_store_part_finish(st, V2M_NS_VIDEOS, fid, "clip.mp4", "video/mp4", owner, &meta, &err);
 *
 * File backend: <ns>/.tus-<fid> (bytes) and <ns>/.tus-<fid>.json (info),
 * never swept by open; GridFS: chunks in fs.chunks under the part's id, the
 * record in fs.uploads (docs/PORTS.md). */
#define V2M_STORE_INFO_MAX 4096
typedef struct v2m_store_part v2m_store_part;
/* A new empty part with info; its id into fid. */
v2m_err v2m_store_part_create(v2m_store *st, v2m_store_ns ns, const char *info,
                              char fid[V2M_FID_LEN + 1], v2m_error *err);
/* A part's info (into info, infosz >= V2M_STORE_INFO_MAX + 1) and offset;
 * V2M_ENOTFOUND when there is none. */
v2m_err v2m_store_part_info(v2m_store *st, v2m_store_ns ns, const char *fid, char *info,
                            size_t infosz, int64_t *offset, v2m_error *err);
/* Open the part for appending at off, which must be its offset
 * (V2M_ESTATE otherwise). One appender at a time per part is the caller's
 * business. */
v2m_err v2m_store_part_append(v2m_store *st, v2m_store_ns ns, const char *fid, int64_t off,
                              v2m_store_part **out, v2m_error *err);
v2m_err v2m_store_part_write(v2m_store_part *p, const void *buf, size_t n, v2m_error *err);
/* Make what was written durable and free p; *offset (may be NULL) = the
 * part's offset now. Safe on NULL. */
v2m_err v2m_store_part_close(v2m_store_part *p, int64_t *offset, v2m_error *err);
/* Drop what was written through p (the part's offset is again where the
 * append began) and free p. Safe on NULL. */
v2m_err v2m_store_part_discard(v2m_store_part *p, v2m_error *err);
/* Read up to n of the part's bytes at off; *got == 0 at its end. */
v2m_err v2m_store_part_pread(v2m_store *st, v2m_store_ns ns, const char *fid, void *buf,
                             size_t n, int64_t off, size_t *got, v2m_error *err);
/* Publish the part as a finished file of its offset's length (store_stat and
 * readers see it, the part is gone); meta (may be NULL) describes it. */
v2m_err v2m_store_part_finish(v2m_store *st, v2m_store_ns ns, const char *fid,
                              const char *filename, const char *content_type,
                              const char *owner, v2m_store_meta *meta, v2m_error *err);
/* Remove the part, bytes and info; V2M_ENOTFOUND when there is none. */
v2m_err v2m_store_part_abort(v2m_store *st, v2m_store_ns ns, const char *fid, v2m_error *err);
/* Each part: fn(ud, fid, info, offset); non-zero from fn stops the walk. */
typedef int (*v2m_store_part_fn)(void *ud, const char *fid, const char *info, int64_t offset);
v2m_err v2m_store_part_list(v2m_store *st, v2m_store_ns ns, v2m_store_part_fn fn, void *ud,
                            v2m_error *err);

#endif
