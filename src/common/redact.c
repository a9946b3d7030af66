/* redact.c - URLs without their passwords. */
#include "redact.h"

#include <stdio.h>
#include <string.h>

void v2m_url_redact(const char *url, char *out, size_t outsz)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;

    if (at && colon && colon < at)
        snprintf(out, outsz, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, outsz, "%s", url);
}
