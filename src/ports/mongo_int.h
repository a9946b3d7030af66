/* mongo_int.h - the MongoDB connection shared by the MongoDB backends
 * (store_gridfs.c, jobs_mongo.c); implemented in mongo.c.
 *
 * Internal to src/ports, and kept in its own header so that the file
 * and SQLite backends do not see libmongoc.
 */
#ifndef V2M_PORTS_MONGO_INT_H
#define V2M_PORTS_MONGO_INT_H

#include <mongoc/mongoc.h>

#include "common/err.h"

/* MongoDB: one client pool per opened handle. The pool is thread-safe;
 * clients popped from it are used by one thread at a time. Sets
 * serverSelectionTimeoutMS and connectTimeoutMS to 5 s unless the URL names
 * them, so an unreachable server is reported within seconds. */
mongoc_client_pool_t *v2m__mongo_pool(const char *url, v2m_error *err);

/* Turn a driver error into a v2m error: V2M_EUNAVAIL when the server could
 * not be reached, V2M_EEXIST for a duplicate key, V2M_EIO otherwise. */
v2m_err v2m__mongo_fail(v2m_error *err, const bson_error_t *be, const char *what);

/* What a MongoDB backend's handle starts with: its client pool. */
typedef struct v2m__mongo {
    mongoc_client_pool_t *pool;
} v2m__mongo;

/* A backend's open: a zeroed handle of size bytes (a struct whose first
 * member is a v2m__mongo) with its pool opened on url, in *impl. */
v2m_err v2m__mongo_open(const char *url, size_t size, void **impl, v2m_error *err);

/* A backend's close: destroy the pool of a handle from v2m__mongo_open and
 * free the handle; NULL is ignored. */
void v2m__mongo_close(void *impl);

/* A backend's ping: run `ping` against the server of a handle from
 * v2m__mongo_open. */
v2m_err v2m__mongo_ping(void *impl, v2m_error *err);

#endif
