/* ports.c - the backend picker every port's front file uses. */
#include "ports_int.h"

#include <string.h>

#include "common/redact.h"

const v2m__backend *v2m__pick(const v2m__backend *table, size_t n, const char *url,
                              const char *port, const char *expected, v2m_error *err)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    char safe[1024];

    for (size_t i = 0; sep && i < n; i++)
        if (strlen(table[i].scheme) == (size_t)(sep - url) &&
            strncmp(url, table[i].scheme, (size_t)(sep - url)) == 0)
            return &table[i];
    v2m_url_redact(url ? url : "", safe, sizeof safe);
    v2m_fail(err, V2M_ECONFIG, "%s URL '%s': expected %s", port, safe, expected);
    return NULL;
}
