/* log.h - the one logging macro.
 *
 *   V2M_LOG(V2M_INFO, "listening addr=%s threads=%d", addr, n);
 *
 * One line on stderr: `2026-11-28T20:30:00.123Z INFO auth/main.c:42 listening addr=...`.
 * The level is checked before anything is formatted. Messages use key=value
 * fields; never log a secret (passwords, tokens, JWT_SECRET).
 */
#ifndef V2M_LOG_H
#define V2M_LOG_H

enum v2m_log_level { V2M_DEBUG = 0, V2M_INFO = 1, V2M_WARN = 2, V2M_ERROR = 3, V2M_SILENT = 4 };

/* Set once at start (from V2M_LOG_LEVEL by v2m_log_init). */
extern int v2m_log_threshold;

/* Read V2M_LOG_LEVEL (debug|info|warn|error|silent); returns -1 on a bad value. */
int v2m_log_init(void);
/* Set the threshold from a level's name (NULL or "": unchanged); -1 on a bad name. */
int v2m_log_set_level(const char *name);

void v2m_log_write(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define V2M_LOG(level, ...)                                                  \
    do {                                                                     \
        if ((level) >= v2m_log_threshold)                                    \
            v2m_log_write((level), V2M_SRCFILE, __LINE__, __VA_ARGS__);      \
    } while (0)

/* Path relative to src/ (set per file by the build), else the full path. */
#ifndef V2M_SRCFILE
#define V2M_SRCFILE __FILE__
#endif

#endif
