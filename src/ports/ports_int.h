/* ports_int.h - what the four port front files share: the backend picker.
 *
 * Internal to src/ports: services include store.h, jobs.h, queue.h and
 * users.h only.
 *
 * Each front file (store.c, jobs.c, queue.c, users.c) lists its backends in
 * one table, a row per URL scheme, and opens the row v2m__pick() returns:
 *
 *   static const v2m__backend backends[] = {
 *       {"file", &v2m__store_file},
 *       {"mongodb", &v2m__store_gridfs},
 *   };
 *   const v2m__backend *b = v2m__pick(backends, V2M__COUNT(backends), url, "store",
 *                                     "file:///dir or mongodb://host:port/", err);
 *
 * Adding a backend is its file plus one row here.
 */
#ifndef V2M_PORTS_PORTS_INT_H
#define V2M_PORTS_PORTS_INT_H

#include <stddef.h>

#include "common/err.h"

typedef struct v2m__backend {
    const char *scheme;   /* the URL's scheme, without "://" */
    const void *ops;      /* the port's table of operations (v2m__store_ops, ...) */
} v2m__backend;

#define V2M__COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The row of table (n rows) whose scheme is url's. NULL when url is NULL,
 * has no scheme or an unknown one, with V2M_ECONFIG and the message
 * "<port> URL '<url without password>': expected <expected>". */
const v2m__backend *v2m__pick(const v2m__backend *table, size_t n, const char *url,
                              const char *port, const char *expected, v2m_error *err);

#endif
