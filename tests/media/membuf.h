/* membuf.h - an MP3 sink in memory for the media engine's tests: grows as
 * the engine writes, seekable or not, and can be made to refuse writes past
 * a size (fail_after). Header-only: each test program includes it once. */
#ifndef V2M_TEST_MEMBUF_H
#define V2M_TEST_MEMBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"

typedef struct membuf {
    uint8_t *data;
    size_t len, cap, pos;
    long fail_after; /* refuse writes past this many bytes; < 0: never */
} membuf;

static int mem_write(void *opaque, const uint8_t *buf, int size)
{
    membuf *m = opaque;
    if (m->fail_after >= 0 && m->pos + (size_t)size > (size_t)m->fail_after)
        return -1;
    if (m->pos + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->pos + (size_t)size)
            cap *= 2;
        uint8_t *d = realloc(m->data, cap);
        if (!d)
            return -1;
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->pos, buf, (size_t)size);
    m->pos += (size_t)size;
    if (m->pos > m->len)
        m->len = m->pos;
    return 0;
}

static int mem_seek(void *opaque, int64_t offset)
{
    membuf *m = opaque;
    if (offset < 0 || (size_t)offset > m->len)
        return -1;
    /* the engine promises to seek only into the head, or back to the end */
    if (offset >= V2M_MEDIA_SINK_HEAD_MAX && (size_t)offset != m->len)
        return -1;
    m->pos = (size_t)offset;
    return 0;
}

static v2m_media_sink mem_sink(membuf *m, int seekable)
{
    memset(m, 0, sizeof *m);
    m->fail_after = -1;
    v2m_media_sink s = {m, mem_write, seekable ? mem_seek : NULL};
    return s;
}

#endif
