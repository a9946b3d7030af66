/* mongo.c - the MongoDB client pool, its ping and its errors, shared by
 * the MongoDB backends (store_gridfs.c, jobs_mongo.c). */
#include "mongo_int.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/redact.h"

/* How long a durable write waits for a majority unless the URL says
 * (wtimeoutMS): past it the write fails (V2M_EUNAVAIL) rather than hang. */
#define DURABLE_WTIMEOUT_MS 15000

static pthread_once_t mongo_once = PTHREAD_ONCE_INIT;

/* libmongoc's shared-memory counters (/dev/shm/mongoc-<pid>) are unused
 * here; a file left by a killed process with a recycled pid makes
 * mongoc_init() print a warning on stderr, which CLI users would see. */
static void mongo_init_once(void)
{
    setenv("MONGOC_DISABLE_SHM", "1", 0);
    mongoc_init();
}

/* The write concern of durable writes for a URL's own: majority (with the
 * URL's journal and wtimeoutMS, else DURABLE_WTIMEOUT_MS), or NULL when the
 * URL names w itself, which then holds for every write. */
static mongoc_write_concern_t *durable_wc(const mongoc_uri_t *uri)
{
    const mongoc_write_concern_t *own = mongoc_uri_get_write_concern(uri);
    mongoc_write_concern_t *wc;
    int64_t wt = own ? mongoc_write_concern_get_wtimeout_int64(own) : 0;

    if (own && (mongoc_write_concern_get_w(own) != MONGOC_WRITE_CONCERN_W_DEFAULT ||
                mongoc_write_concern_get_wtag(own)))
        return NULL;
    wc = mongoc_write_concern_new();
    mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
    mongoc_write_concern_set_wtimeout_int64(wc, wt > 0 ? wt : DURABLE_WTIMEOUT_MS);
    if (own && mongoc_write_concern_journal_is_set(own))
        mongoc_write_concern_set_journal(wc, mongoc_write_concern_get_journal(own));
    return wc;
}

mongoc_client_pool_t *v2m__mongo_pool(const char *url, mongoc_write_concern_t **durable,
                                      v2m_error *err)
{
    bson_error_t be;
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    char safe[512];

    if (durable)
        *durable = NULL;
    pthread_once(&mongo_once, mongo_init_once);
    v2m_url_redact(url, safe, sizeof safe);
    uri = mongoc_uri_new_with_error(url, &be);
    if (!uri) {
        v2m_fail(err, V2M_ECONFIG, "store URL '%s': %s", safe, be.message);
        return NULL;
    }
    /* What the URL says holds (replicaSet, readPreference, w, journal,
     * retryWrites, ...); only what it leaves out is set here. A replica set
     * gets long enough to elect a new primary (about 12 s by default). */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       mongoc_uri_get_replica_set(uri) ? 15000 : 5000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 5000);
    if (!mongoc_uri_get_appname(uri))
        mongoc_uri_set_appname(uri, "v2m");
    pool = mongoc_client_pool_new_with_error(uri, &be);
    if (pool && durable)
        *durable = durable_wc(uri);
    mongoc_uri_destroy(uri);
    if (!pool) {
        v2m_fail(err, V2M_ECONFIG, "store URL '%s': %s", safe, be.message);
        return NULL;
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    return pool;
}

void v2m__mongo_durable(const v2m__mongo *h, mongoc_collection_t *coll)
{
    if (h->durable)
        mongoc_collection_set_write_concern(coll, h->durable);
}

mongoc_collection_t *v2m__mongo_coll(const v2m__mongo *h, mongoc_client_t *c, const char *db,
                                     const char *name)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(c, db, name);

    v2m__mongo_durable(h, coll);
    return coll;
}

v2m_err v2m__mongo_fail(v2m_error *err, const bson_error_t *be, const char *what)
{
    v2m_err code = V2M_EIO;

    /* A write concern error (majority not reached within its wtimeout):
     * the deployment cannot make writes durable now. */
    if (be->domain == MONGOC_ERROR_SERVER_SELECTION || be->domain == MONGOC_ERROR_STREAM ||
        be->domain == MONGOC_ERROR_WRITE_CONCERN ||
        (be->domain == MONGOC_ERROR_CLIENT && be->code == MONGOC_ERROR_CLIENT_AUTHENTICATE))
        code = V2M_EUNAVAIL;
    else if (be->code == MONGOC_ERROR_DUPLICATE_KEY)
        code = V2M_EEXIST;
    return v2m_fail(err, code, "mongodb: %s: %s", what, be->message);
}

v2m_err v2m__mongo_open(const char *url, size_t size, void **impl, v2m_error *err)
{
    v2m__mongo *h = calloc(1, size);

    if (!h)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    h->pool = v2m__mongo_pool(url, &h->durable, err);
    if (!h->pool) {
        free(h);
        return err ? err->code : V2M_ECONFIG;
    }
    *impl = h;
    return V2M_OK;
}

void v2m__mongo_close(void *impl)
{
    v2m__mongo *h = impl;
    if (!h)
        return;
    mongoc_client_pool_destroy(h->pool);
    mongoc_write_concern_destroy(h->durable);
    free(h);
}

v2m_err v2m__mongo_ping(void *impl, v2m_error *err)
{
    mongoc_client_pool_t *pool = ((v2m__mongo *)impl)->pool;
    mongoc_client_t *c = mongoc_client_pool_pop(pool);
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bson_error_t be;
    bool ok = mongoc_client_command_simple(c, "admin", cmd, NULL, NULL, &be);

    bson_destroy(cmd);
    mongoc_client_pool_push(pool, c);
    return ok ? V2M_OK : v2m__mongo_fail(err, &be, "ping");
}
