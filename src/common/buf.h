/* buf.h - the growable byte buffer: request bodies, answers, metrics text,
 * composed mail. Always NUL-terminated once anything was added, so text in
 * it is a C string. Not thread-safe: one owner at a time.
 */
#ifndef V2M_BUF_H
#define V2M_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct v2m_buf {
    char *p;        /* malloc'd, NULL while empty */
    size_t len;     /* bytes in p, not counting the NUL */
    size_t cap;     /* bytes allocated */
} v2m_buf;

/* Make room for n more bytes and the NUL. 0, or -1 when out of memory
 * (b unchanged). */
int v2m_buf_reserve(v2m_buf *b, size_t n);

/* Append n bytes. 0, or -1 when out of memory (b unchanged). */
int v2m_buf_add(v2m_buf *b, const void *data, size_t n);

/* Append formatted text. 0, or -1 when out of memory or on a bad format
 * (b unchanged). */
int v2m_buf_printf(v2m_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int v2m_buf_vprintf(v2m_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Free the bytes; b is empty again. */
void v2m_buf_free(v2m_buf *b);

#endif
