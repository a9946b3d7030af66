/* buf.c - the growable byte buffer. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int v2m_buf_reserve(v2m_buf *b, size_t n)
{
    size_t need, cap;
    char *np;

    if (n > (size_t)-1 - b->len - 1)
        return -1;
    need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    np = realloc(b->p, cap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

int v2m_buf_add(v2m_buf *b, const void *data, size_t n)
{
    if (v2m_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int v2m_buf_vprintf(v2m_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || v2m_buf_reserve(b, (size_t)n) != 0)
        return -1;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int v2m_buf_printf(v2m_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = v2m_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void v2m_buf_free(v2m_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
