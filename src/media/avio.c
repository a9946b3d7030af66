/* avio.c - libavformat I/O over the caller's read/seek and write/seek callbacks.
 *
 * The wrappers translate between libavformat's conventions and media.h's:
 * AVERROR_EOF for the end of input, AVSEEK_FORCE bits, and SEEK_END/AVSEEK_SIZE
 * on the output side, which the sink never has to understand because the
 * engine knows how much it has written. Failures of the callbacks are
 * remembered in the job so the engine can report them as such (a read error
 * is not a corrupt file).
 */
#include "media/media_int.h"

#include <errno.h>
#include <stdio.h>

/* Large buffers: fewer callback round trips (a GridFS chunk is 255 KiB). */
#define IN_BUF_SIZE (256 * 1024)
#define OUT_BUF_SIZE (64 * 1024)

static int in_read(void *opaque, uint8_t *buf, int size)
{
    v2m__conv *j = opaque;
    int n = j->io->read(j->io->opaque, buf, size);
    if (n == 0)
        return AVERROR_EOF;
    if (n < 0 || n > size) {
        j->in_io_failed = 1;
        return AVERROR(EIO);
    }
    j->st->bytes_in += n;
    j->in_pos += n;
    return n;
}

static int64_t in_seek(void *opaque, int64_t offset, int whence)
{
    v2m__conv *j = opaque;
    whence &= ~AVSEEK_FORCE;
    if (!j->io->seek) {
        if (whence != AVSEEK_SIZE)
            j->in_seek_refused = 1;
        return AVERROR(ESPIPE);
    }
    if (whence == AVSEEK_SIZE)
        return j->in_size >= 0 ? j->in_size : AVERROR(ENOSYS);
    /* Reading MP4 samples one after the other asks for the position we are
     * at: no need to bother the input. */
    if (whence == SEEK_SET && offset == j->in_pos && j->in_pos >= 0)
        return offset;
    int64_t r = j->io->seek(j->io->opaque, offset, whence);
    j->in_pos = r;
    if (r < 0) {
        j->in_io_failed = 1;
        return AVERROR(EIO);
    }
    return r;
}

int v2m__input_open(v2m__conv *j)
{
    uint8_t *buf = av_malloc(IN_BUF_SIZE);
    if (!buf)
        return AVERROR(ENOMEM);
    j->in_pb = avio_alloc_context(buf, IN_BUF_SIZE, 0, j, in_read, NULL, in_seek);
    if (!j->in_pb) {
        av_free(buf);
        return AVERROR(ENOMEM);
    }
    j->in_size = -1;
    j->in_pos = 0;
    if (j->io->seek) {
        j->in_size = j->io->seek(j->io->opaque, 0, V2M_MEDIA_SEEK_SIZE);
        if (j->in_size < 0)
            j->in_size = -1;
    } else {
        j->in_pb->seekable = 0;
    }
    return 0;
}

void v2m__input_close(v2m__conv *j)
{
    if (j->in_pb) {
        av_freep(&j->in_pb->buffer);
        avio_context_free(&j->in_pb);
    }
}

static int out_write(void *opaque, uint8_t *buf, int size)
{
    v2m__conv *j = opaque;
    if (j->out_failed)
        return AVERROR(EIO);
    if (j->sink->write(j->sink->opaque, buf, size) < 0) {
        j->out_failed = 1;
        return AVERROR(EIO);
    }
    j->out_pos += size;
    if (j->out_pos > j->out_size)
        j->out_size = j->out_pos;
    return size;
}

static int64_t out_seek(void *opaque, int64_t offset, int whence)
{
    v2m__conv *j = opaque;
    int64_t target;

    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return j->out_size;
    case SEEK_SET: target = offset; break;
    case SEEK_CUR: target = j->out_pos + offset; break;
    case SEEK_END: target = j->out_size + offset; break;
    default: return AVERROR(EINVAL);
    }
    if (target < 0 || target > j->out_size)
        return AVERROR(EINVAL);
    if (target == j->out_pos)
        return target;
    if (j->out_failed || !j->sink->seek || j->sink->seek(j->sink->opaque, target) < 0) {
        j->out_failed = 1;
        return AVERROR(EIO);
    }
    j->out_pos = target;
    return target;
}

int v2m__output_open(v2m__conv *j)
{
    uint8_t *buf = av_malloc(OUT_BUF_SIZE);
    if (!buf)
        return AVERROR(ENOMEM);
    j->out_pb = avio_alloc_context(buf, OUT_BUF_SIZE, 1, j, NULL, out_write,
                                   j->sink->seek ? out_seek : NULL);
    if (!j->out_pb) {
        av_free(buf);
        return AVERROR(ENOMEM);
    }
    j->out_pb->seekable = j->sink->seek ? AVIO_SEEKABLE_NORMAL : 0;
    return 0;
}

void v2m__output_close(v2m__conv *j)
{
    if (j->out_pb) {
        av_freep(&j->out_pb->buffer);
        avio_context_free(&j->out_pb);
    }
}
