/* log.c - timestamped single-line logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int v2m_log_threshold = V2M_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int v2m_log_init(void) { return v2m_log_set_level(getenv("V2M_LOG_LEVEL")); }

int v2m_log_set_level(const char *v)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "silent"};
    if (!v || !*v)
        return 0;
    for (int i = 0; i < 5; i++) {
        if (strcmp(v, names[i]) == 0) {
            v2m_log_threshold = i;
            return 0;
        }
    }
    return -1;
}

void v2m_log_write(int level, const char *file, int line, const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    int n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s:%d ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000L,
                 level_names[level < 0 ? 0 : level > 3 ? 3 : level], file, line);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = 0;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    /* One write per line so lines from several threads never interleave. */
    fwrite(buf, 1, (size_t)n, stderr);
}
