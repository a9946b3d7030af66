/* fuzz_media.c - the media engine (v2m_media_convert) on any bytes.
 *
 * Input: a media file (the corpus starts from small MP4, MKV, FLV, MP3 and
 * WAV files). It is read from memory through the engine's read/seek
 * callbacks and the MP3 goes to a sink that only counts (and accepts the
 * seeks back to the Xing frame). The conversion stops at 2 s of input so an
 * execution stays short whatever duration the mutated headers claim.
 * The input's size picks a variant, so the same file is not tried twice in
 * one way: size % 5 == 0 offers no seek callback (a pipe), size % 3 == 0
 * converts without trimming, so an MP3 is copied frame for frame.
 * Checks: the call returns one of the codes media.h and docs/MEDIA.md list
 * (V2M_EINVAL only when trimming), and on success
 * the statistics agree with what the sink received.
 * V2M_FUZZ_VERBOSE=1 prints one line per input (result and statistics). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fuzz.h"
#include "media/media.h"

typedef struct mem {
    const uint8_t *data;
    int64_t size, pos;
} mem;

typedef struct sink {
    int64_t pos, size;
} sink;

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    mem *m = opaque;
    int64_t n = m->size - m->pos;
    if (n <= 0)
        return 0;
    if (n > size)
        n = size;
    memcpy(buf, m->data + m->pos, (size_t)n);
    m->pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    mem *m = opaque;
    int64_t to;
    switch (whence) {
    case V2M_MEDIA_SEEK_SIZE: return m->size;
    case SEEK_SET: to = offset; break;
    case SEEK_CUR: to = m->pos + offset; break;
    case SEEK_END: to = m->size + offset; break;
    default: return -1;
    }
    if (to < 0)
        return -1;
    m->pos = to; /* beyond the end is allowed; reads there give 0 */
    return to;
}

static int sink_write(void *opaque, const uint8_t *buf, int size)
{
    sink *s = opaque;
    FUZZ_CHECK(size >= 0);
    if (size > 0) {
        /* Touch the first and last byte, so ASan checks the buffer's bounds. */
        volatile uint8_t x = buf[0];
        x = buf[size - 1];
        (void)x;
    }
    s->pos += size;
    if (s->pos > s->size)
        s->size = s->pos;
    return 0;
}

static int sink_seek(void *opaque, int64_t offset)
{
    sink *s = opaque;
    FUZZ_CHECK(offset >= 0 && offset <= s->size);
    FUZZ_CHECK(offset < V2M_MEDIA_SINK_HEAD_MAX || offset == s->size);
    s->pos = offset;
    return 0;
}

static int verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    verbose = getenv("V2M_FUZZ_VERBOSE") != NULL; /* one line per input */
    /* libav's messages go to V2M_LOG at debug level: keep the output quiet. */
    setenv("V2M_LOG_LEVEL", "error", 0);
    v2m_log_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mem m = {data, (int64_t)size, 0};
    sink s = {0, 0};
    v2m_media_io in = {&m, mem_read, size % 5 == 0 ? NULL : mem_seek};
    v2m_media_sink out = {&s, sink_write, sink_seek};
    v2m_media_opts o;
    v2m_media_stats st;
    v2m_error err = {0};
    v2m_err rc;

    v2m_media_opts_init(&o);
    o.filename = "fuzz.bin";
    if (size % 3 != 0)
        o.end = 2.0;
    memset(&st, 0, sizeof st);
    rc = v2m_media_convert(&in, &out, &o, &st, &err);
    if (verbose)
        fprintf(stderr, "media: %zu bytes seek=%d trim=%d -> %s (%s) in=%s/%s out=%dHz/%dch %.2fs %lld bytes\n",
                size, in.seek != NULL, o.end > 0, v2m_strerror(rc), rc ? v2m_error_msg(&err) : "",
                st.in_format, st.in_codec, st.sample_rate, st.channels, st.duration,
                (long long)st.bytes_out);
    switch (rc) {
    case V2M_OK:
        FUZZ_CHECK(st.bytes_out == s.size);
        FUZZ_CHECK(st.bytes_in <= (int64_t)size || in.seek);
        FUZZ_CHECK(st.channels == 1 || st.channels == 2);
        FUZZ_CHECK(st.sample_rate >= 8000 && st.sample_rate <= 48000);
        FUZZ_CHECK(st.samples >= 0);
        break;
    case V2M_EINVAL: /* the options are fine, so: nothing left after trimming */
        FUZZ_CHECK(o.end > 0);
        break;
    case V2M_EIO:
    case V2M_EMEDIA_EMPTY:
    case V2M_EMEDIA_NOTMEDIA:
    case V2M_EMEDIA_CORRUPT:
    case V2M_EMEDIA_NOAUDIO:
    case V2M_EMEDIA_CODEC:
    case V2M_EMEDIA_ENCODE:
    case V2M_EMEDIA_NOSEEK:
    case V2M_EMEDIA_UNSUPPORTED: /* a container off the allow-list */
    case V2M_ENOMEM:
        break;
    case V2M_EMEDIA_TOOLONG:
        FUZZ_CHECK(o.max_duration > 0);
        break;
    default:
        fprintf(stderr, "unexpected result %d: %s\n", (int)rc, v2m_error_msg(&err));
        FUZZ_CHECK(!"a result media.h does not list");
    }
    return 0;
}
