/* fdio.c - v2m_media_io / v2m_media_sink over a file descriptor.
 *
 * A seekable input is read with pread at the adapter's own position, so a
 * seek costs no system call: reading an MP4 sample by sample asks for tens of
 * thousands of them.
 */
#include "media/media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd_read(void *opaque, uint8_t *buf, int size)
{
    v2m_media_fd *f = opaque;
    for (;;) {
        ssize_t n = read(f->fd, buf, (size_t)size);
        if (n >= 0)
            return (int)n;
        if (errno != EINTR)
            return -1;
    }
}

static int fd_pread(void *opaque, uint8_t *buf, int size)
{
    v2m_media_fd *f = opaque;
    for (;;) {
        ssize_t n = pread(f->fd, buf, (size_t)size, f->base + f->pos);
        if (n >= 0) {
            f->pos += n;
            return (int)n;
        }
        if (errno != EINTR)
            return -1;
    }
}

static int64_t fd_size(const v2m_media_fd *f)
{
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < f->base)
        return -1;
    return sb.st_size - f->base;
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    v2m_media_fd *f = opaque;
    int64_t to;

    switch (whence) {
    case V2M_MEDIA_SEEK_SIZE: return fd_size(f);
    case SEEK_SET: to = offset; break;
    case SEEK_CUR: to = f->pos + offset; break;
    case SEEK_END:
        if ((to = fd_size(f)) < 0)
            return -1;
        to += offset;
        break;
    default: return -1;
    }
    if (to < 0)
        return -1;
    f->pos = to;
    return to;
}

static int fd_write(void *opaque, const uint8_t *buf, int size)
{
    v2m_media_fd *f = opaque;
    while (size > 0) {
        ssize_t n = write(f->fd, buf, (size_t)size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        size -= (int)n;
        f->pos += n;
    }
    return 0;
}

/* Only for the rare rewrite of the Xing frame: sequential writes keep the
 * descriptor's own offset right, for whoever writes after us. */
static int fd_sink_seek(void *opaque, int64_t offset)
{
    v2m_media_fd *f = opaque;
    if (lseek(f->fd, f->base + offset, SEEK_SET) < 0)
        return -1;
    f->pos = offset;
    return 0;
}

/* Seekable: a regular file (or block device) where lseek works. An append-
 * only descriptor is not: every write there goes to the end. */
static int fd_init(v2m_media_fd *f, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    f->fd = fd;
    f->pos = 0;
    f->base = lseek(fd, 0, SEEK_CUR);
    if (f->base < 0 || fl < 0 || (fl & O_APPEND)) {
        f->base = 0;
        return 0;
    }
    return 1;
}

void v2m_media_io_fd(v2m_media_io *io, v2m_media_fd *f, int fd)
{
    int seekable = fd_init(f, fd);
    io->opaque = f;
    io->read = seekable ? fd_pread : fd_read;
    io->seek = seekable ? fd_seek : NULL;
}

int v2m_media_fd_reopen(void *opaque, v2m_media_io *io)
{
    const v2m_media_fd *orig = opaque;
    v2m_media_fd *f = malloc(sizeof *f);
    if (!f)
        return -1;
    f->fd = orig->fd;
    f->base = orig->base;
    f->pos = 0;
    io->opaque = f;
    io->read = fd_pread;
    io->seek = fd_seek;
    return 0;
}

void v2m_media_fd_reclose(void *opaque, v2m_media_io *io)
{
    (void)opaque;
    free(io->opaque);
    io->opaque = NULL;
}

void v2m_media_sink_fd(v2m_media_sink *sink, v2m_media_fd *f, int fd)
{
    int seekable = fd_init(f, fd);
    sink->opaque = f;
    sink->write = fd_write;
    sink->seek = seekable ? fd_sink_seek : NULL;
}
