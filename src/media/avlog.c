/* avlog.c - libav's own messages go through V2M_LOG, at debug level.
 *
 * The engine reports what matters itself (skipped packets, the cause of a
 * failure) with key=value fields; libav's lines ("Invalid data found when
 * processing input", "Could not find codec parameters for stream 0 ...")
 * would otherwise land on stderr unformatted, so they are kept for debugging.
 * The callback is process-wide, installed once; it keeps no state.
 */
#include "media/media_int.h"

#include <pthread.h>
#include <string.h>

#include "common/log.h"

static void avlog_callback(void *avcl, int level, const char *fmt, va_list vl)
{
    int ours = level <= AV_LOG_FATAL ? V2M_WARN : V2M_DEBUG;
    char line[1024];
    int print_prefix = 1;

    if (level > AV_LOG_WARNING || ours < v2m_log_threshold)
        return;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n > 0)
        V2M_LOG(ours, "libav msg=\"%s\"", line);
}

static pthread_once_t avlog_once = PTHREAD_ONCE_INIT;

static void avlog_init(void)
{
    av_log_set_callback(avlog_callback);
}

void v2m__avlog_install(void)
{
    pthread_once(&avlog_once, avlog_init);
}
