/* url_path_int.h - the local path a file-backed backend's URL names.
 *
 * Internal to src/ports. Thread-safe.
 */
#ifndef V2M_PORTS_URL_PATH_INT_H
#define V2M_PORTS_URL_PATH_INT_H

#include <stddef.h>

#include "common/err.h"

/* The local path of a `scheme://...` URL: `scheme:///abs/path` (parsed with
 * libcurl's URL API, percent-decoded; `scheme://localhost/abs` also works) or
 * the relative form `scheme://./rel/path` / `scheme://../rel` taken as is.
 * V2M_ECONFIG when the URL has another scheme or no path. */
v2m_err v2m__url_path(const char *url, const char *scheme, char *path, size_t pathsz,
                      v2m_error *err);

#endif
