/* fdio.c - v2m_media_io / v2m_media_sink over a file descriptor. */
#include "media/media.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_OF(opaque) ((int)(intptr_t)(opaque))

static int fd_read(void *opaque, uint8_t *buf, int size)
{
    for (;;) {
        ssize_t n = read(FD_OF(opaque), buf, (size_t)size);
        if (n >= 0)
            return (int)n;
        if (errno != EINTR)
            return -1;
    }
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    int fd = FD_OF(opaque);
    if (whence == V2M_MEDIA_SEEK_SIZE) {
        struct stat sb;
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
            return -1;
        return sb.st_size;
    }
    return lseek(fd, offset, whence);
}

static int fd_write(void *opaque, const uint8_t *buf, int size)
{
    int fd = FD_OF(opaque);
    while (size > 0) {
        ssize_t n = write(fd, buf, (size_t)size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        size -= (int)n;
    }
    return 0;
}

static int fd_sink_seek(void *opaque, int64_t offset)
{
    return lseek(FD_OF(opaque), offset, SEEK_SET) < 0 ? -1 : 0;
}

static int fd_seekable(int fd)
{
    return lseek(fd, 0, SEEK_CUR) >= 0;
}

void v2m_media_io_fd(v2m_media_io *io, int fd)
{
    io->opaque = (void *)(intptr_t)fd;
    io->read = fd_read;
    io->seek = fd_seekable(fd) ? fd_seek : NULL;
}

void v2m_media_sink_fd(v2m_media_sink *sink, int fd)
{
    sink->opaque = (void *)(intptr_t)fd;
    sink->write = fd_write;
    sink->seek = fd_seekable(fd) ? fd_sink_seek : NULL;
}
