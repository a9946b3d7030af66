/* url_path.c - the local path of a file:// or sqlite:// URL. */
#include "url_path_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
