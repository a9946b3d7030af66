/* mp3frame.h - just enough of an MPEG audio Layer III frame to join two
 * encoders' streams: the header (size, bitrate), where the main data
 * starts, the bit reservoir's back-pointer (main_data_begin) and the block
 * types of the granules.
 *
 * libavcodec parses these headers too, but only inside its decoder and its
 * parser (avpriv_mpegaudio_decode_header is not public API), and nothing in
 * libav* reads or rewrites the side information, which is what a join needs;
 * so the few fields are read here, from ISO/IEC 11172-3 2.4.1.7 and 13818-3.
 */
#ifndef V2M_MEDIA_MP3FRAME_H
#define V2M_MEDIA_MP3FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct v2m__mp3hdr {
    int lsf;            /* 0: MPEG-1; 1: MPEG-2 or 2.5 (one granule, 8-bit back-pointer) */
    int mpeg25;
    int crc;            /* 1: a 16-bit CRC follows the header */
    int bitrate_index;  /* 1..14 */
    int rate_index;     /* 0..2 */
    int padding;
    int mono;
    int sample_rate;
    int size;           /* whole frame, header included */
    int side;           /* bytes of side information */
    int payload;        /* offset of the main data area in the frame */
    int main_data_begin;
    uint32_t blocks;    /* window switching, block type and mixed flag of every
                           granule and channel, packed: equal for two frames
                           exactly when their window sequences agree */
} v2m__mp3hdr;

/* Parse the frame at p (len bytes). 0 on success, -1 when it is not a whole
 * Layer III frame with a fixed bitrate. */
int v2m__mp3_parse(const uint8_t *p, size_t len, v2m__mp3hdr *h);

/* Size of a frame of h's version and rate with another bitrate index and
 * padding bit. */
int v2m__mp3_size_for(const v2m__mp3hdr *h, int bitrate_index, int padding);

/* Largest bitrate index. */
#define V2M__MP3_MAX_BITRATE_INDEX 14

/* Write into the 4-byte header at p a new bitrate index and padding bit. */
void v2m__mp3_set_bitrate(uint8_t *p, int bitrate_index, int padding);

/* The largest back-pointer the version allows. */
static inline int v2m__mp3_max_back(const v2m__mp3hdr *h)
{
    return h->lsf ? 255 : 511;
}

#endif
