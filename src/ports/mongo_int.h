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
 * clients popped from it are used by one thread at a time. The URL's
 * options hold as libmongoc reads them (replicaSet, readPreference, w,
 * journal, wtimeoutMS, retryWrites, ...); serverSelectionTimeoutMS (5 s; a
 * replica set's 15 s, time to elect a primary) and connectTimeoutMS (5 s)
 * are set when the URL leaves them out, so an unreachable server is
 * reported within seconds. *durable (may be NULL) gets the write concern of
 * durable writes (see v2m__mongo), NULL when the URL names w itself. */
mongoc_client_pool_t *v2m__mongo_pool(const char *url, mongoc_write_concern_t **durable,
                                      v2m_error *err);

/* Turn a driver error into a v2m error: V2M_EUNAVAIL when the server could
 * not be reached or a write concern was not met in time, V2M_EEXIST for a
 * duplicate key, V2M_EIO otherwise. */
v2m_err v2m__mongo_fail(v2m_error *err, const bson_error_t *be, const char *what);

/* What a MongoDB backend's handle starts with: its client pool, and the
 * write concern of the writes that must outlive a failover of a replica set
 * (a finished file's files document, a deletion, upload records, job
 * records): w majority with the URL's journal and a wtimeout (the URL's
 * wtimeoutMS, else 15 s), so an acknowledged write cannot be rolled back
 * when the primary changes. A standalone server takes majority as w 1.
 * NULL when the URL names w: that holds for every write then. Other writes
 * (chunks) take the URL's write concern (w 1 by default); a durable write
 * after them on the same primary makes them durable too, as a majority
 * commit covers every earlier write of the primary's oplog. */
typedef struct v2m__mongo {
    mongoc_client_pool_t *pool;
    mongoc_write_concern_t *durable;
} v2m__mongo;

/* Give coll the durable write concern (when there is one). */
void v2m__mongo_durable(const v2m__mongo *h, mongoc_collection_t *coll);
/* mongoc_client_get_collection with the durable write concern. */
mongoc_collection_t *v2m__mongo_coll(const v2m__mongo *h, mongoc_client_t *c, const char *db,
                                     const char *name);

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
