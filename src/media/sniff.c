/* sniff.c - the door's check that an upload is a video or audio file (see
 * sniff.h): libavformat's probe over the first bytes, limited to the
 * engine's containers.
 */
#include "media/sniff.h"

#include <stdio.h>
#include <string.h>

#include <libavformat/avformat.h>

/* The engine's allowed_demuxers[] (src/media/input.c), repeated rather than
 * shared so the door depends on no part of the engine; test_sniff compares
 * the two lists, so one cannot change without the other. */
const char *const v2m_sniff_demuxers[] = {
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "flv", "live_flv",
    "mpegts",
    "mpeg",
    "asf",
    "rm",
    "dv",
    "ogg",
    "wav", "w64",
    "aiff", "caf",
    "mp3",
    "aac",
    "flac",
    "ac3", "eac3", "dts",
    "amr",
    "wv", "ape",
    NULL,
};

static int allowed(const char *name)
{
    for (size_t i = 0; v2m_sniff_demuxers[i]; i++)
        if (strcmp(name, v2m_sniff_demuxers[i]) == 0)
            return 1;
    return 0;
}

/* An ID3v2 tag that runs past the bytes we hold: MP3s (and some AAC files)
 * carry their cover art there, often more than 64 KiB of it, so the probe
 * would see nothing but the tag. Such a tag is only ever put in front of
 * audio; the engine, which skips it, decides what follows. */
static int long_id3v2(const uint8_t *b, size_t len)
{
    uint64_t size;

    if (len < 10 || memcmp(b, "ID3", 3) != 0 || b[3] == 0xff || b[4] == 0xff ||
        ((b[6] | b[7] | b[8] | b[9]) & 0x80))
        return 0;
    size = 10 + ((uint64_t)b[6] << 21 | (uint64_t)b[7] << 14 | (uint64_t)b[8] << 7 | b[9]) +
           (b[5] & 0x10 ? 10 : 0);
    return size + 16 > len;
}

int v2m_sniff(const uint8_t *buf, size_t len, char *name, size_t namesz, int *score)
{
    AVProbeData pd = {0};
    const AVInputFormat *fmt;
    int s = 0;

    if (name && namesz)
        name[0] = 0;
    if (score)
        *score = 0;
    if (!len || len > V2M_SNIFF_BYTES)
        return 0;
    /* Only a full buffer: a whole file shorter than its own tag is broken. */
    if (len == V2M_SNIFF_BYTES && long_id3v2(buf, len)) {
        if (name && namesz)
            snprintf(name, namesz, "mp3 (ID3v2 tag over %d bytes)", V2M_SNIFF_BYTES);
        if (score)
            *score = V2M_SNIFF_MIN_SCORE;
        return 1;
    }
    pd.filename = "";
    pd.buf = (unsigned char *)buf;
    pd.buf_size = (int)len;
    /* is_opened = 1: only demuxers that read bytes, not those that open
     * their own URLs (devices, network protocols). */
    fmt = av_probe_input_format3(&pd, 1, &s);
    if (score)
        *score = s;
    if (!fmt)
        return 0;
    if (name && namesz)
        snprintf(name, namesz, "%s", fmt->name);
    return s >= V2M_SNIFF_MIN_SCORE && allowed(fmt->name);
}
