/* store_util.c - clocks, URL paths, ObjectIds and MongoDB plumbing shared by
 * the port backends. */
#include "store_util.h"
#include "mongo_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t v2m__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t v2m__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int v2m__sleep_ms(int64_t ms, const atomic_int *stop)
{
    int64_t end = v2m__mono_ms() + ms;

    for (;;) {
        int64_t left = end - v2m__mono_ms();
        struct timespec ts;

        if (stop && atomic_load(stop))
            return 1;
        if (left <= 0)
            return 0;
        if (left > 50)
            left = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

v2m_err v2m__url_path(const char *url, const char *scheme, char *path, size_t pathsz,
                      v2m_error *err)
{
    size_t sl = strlen(scheme);
    const char *rest;
    CURLU *u;
    char *p = NULL;
    char *s = NULL;
    CURLUcode uc;

    if (strncmp(url, scheme, sl) != 0 || strncmp(url + sl, "://", 3) != 0)
        return v2m_fail(err, V2M_ECONFIG, "URL '%s' does not start with %s://", url, scheme);
    rest = url + sl + 3;
    if (strncmp(rest, "./", 2) == 0 || strncmp(rest, "../", 3) == 0) {
        /* Relative form (not a URL in the RFC sense): the rest is the path. */
        if (strlen(rest) >= pathsz)
            return v2m_fail(err, V2M_ECONFIG, "URL '%s': path too long", url);
        snprintf(path, pathsz, "%s", rest);
        return V2M_OK;
    }
    /* libcurl knows file:// paths; parse every scheme as file:// so that
     * `sqlite:///abs` and `file:///abs` follow the same rules. */
    u = curl_url();
    if (!u)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    s = malloc(strlen(rest) + sizeof "file://");
    if (!s) {
        curl_url_cleanup(u);
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    }
    sprintf(s, "file://%s", rest);
    uc = curl_url_set(u, CURLUPART_URL, s, 0);
    free(s);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_PATH, &p, CURLU_URLDECODE);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK) {
        return v2m_fail(err, V2M_ECONFIG,
                        "URL '%s': %s; expected %s:///absolute/path or %s://./relative/path", url,
                        curl_url_strerror(uc), scheme, scheme);
    }
    if (!p[0] || strcmp(p, "/") == 0 || strlen(p) >= pathsz) {
        int none = !p[0] || strcmp(p, "/") == 0;
        curl_free(p);
        return v2m_fail(err, V2M_ECONFIG, "URL '%s': %s path", url, none ? "no" : "too long a");
    }
    snprintf(path, pathsz, "%s", p);
    curl_free(p);
    return V2M_OK;
}

int v2m__mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void v2m__oid_new(char out[25])
{
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, out);
}

v2m_err v2m__oid_norm(const char *in, char out[25], v2m_error *err)
{
    bson_oid_t oid;

    if (!in || strlen(in) != 24 || !bson_oid_is_valid(in, 24))
        return v2m_fail(err, V2M_ENOTFOUND, "'%.40s' is not a file id (24 hex digits)",
                        in ? in : "(null)");
    bson_oid_init_from_string(&oid, in);
    bson_oid_to_string(&oid, out);
    return V2M_OK;
}

void v2m__strlcpy_utf8(char *dst, size_t dstsz, const char *src, size_t srclen)
{
    size_t n = srclen;

    if (dstsz == 0)
        return;
    if (n >= dstsz) {
        n = dstsz - 1;
        /* Back off continuation bytes so no character is cut in half. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

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

v2m_err v2m__mongo_ping(mongoc_client_pool_t *pool, v2m_error *err)
{
    mongoc_client_t *c = mongoc_client_pool_pop(pool);
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bson_error_t be;
    bool ok = mongoc_client_command_simple(c, "admin", cmd, NULL, NULL, &be);

    bson_destroy(cmd);
    mongoc_client_pool_push(pool, c);
    return ok ? V2M_OK : v2m__mongo_fail(err, &be, "ping");
}
