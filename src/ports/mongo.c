/* mongo.c - the MongoDB client pool, its ping and its errors, shared by
 * the MongoDB backends (store_gridfs.c, jobs_mongo.c). */
#include "mongo_int.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/redact.h"

static pthread_once_t mongo_once = PTHREAD_ONCE_INIT;

static void mongo_init_once(void) { mongoc_init(); }

mongoc_client_pool_t *v2m__mongo_pool(const char *url, v2m_error *err)
{
    bson_error_t be;
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    char safe[512];

    pthread_once(&mongo_once, mongo_init_once);
    v2m_url_redact(url, safe, sizeof safe);
    uri = mongoc_uri_new_with_error(url, &be);
    if (!uri) {
        v2m_fail(err, V2M_ECONFIG, "store URL '%s': %s", safe, be.message);
        return NULL;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 5000);
    if (!mongoc_uri_get_appname(uri))
        mongoc_uri_set_appname(uri, "v2m");
    pool = mongoc_client_pool_new_with_error(uri, &be);
    mongoc_uri_destroy(uri);
    if (!pool) {
        v2m_fail(err, V2M_ECONFIG, "store URL '%s': %s", safe, be.message);
        return NULL;
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    return pool;
}

v2m_err v2m__mongo_fail(v2m_error *err, const bson_error_t *be, const char *what)
{
    v2m_err code = V2M_EIO;

    if (be->domain == MONGOC_ERROR_SERVER_SELECTION || be->domain == MONGOC_ERROR_STREAM ||
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
    h->pool = v2m__mongo_pool(url, err);
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
