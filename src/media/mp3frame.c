/* mp3frame.c - MPEG audio Layer III header and side information (see
 * mp3frame.h for why this is not left to libavcodec). */
#include "media/mp3frame.h"

/* kbit/s by bitrate index, Layer III: MPEG-1, then MPEG-2/2.5. */
static const int bitrates[2][15] = {
    {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
    {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
};
static const int rates[3] = {44100, 48000, 32000};

/* Big-endian bit reader over the side information. */
typedef struct {
    const uint8_t *p;
    size_t bit, end;
} bits;

static unsigned get(bits *b, int n)
{
    unsigned v = 0;
    while (n-- > 0) {
        unsigned bit = 0;
        if (b->bit < b->end)
            bit = (b->p[b->bit >> 3] >> (7 - (b->bit & 7))) & 1;
        v = v << 1 | bit;
        b->bit++;
    }
    return v;
}

int v2m__mp3_size_for(const v2m__mp3hdr *h, int bitrate_index, int padding)
{
    int kbps = bitrates[h->lsf][bitrate_index];
    /* 1152 samples (MPEG-1) or 576 (MPEG-2/2.5) of 8-bit bytes */
    return (h->lsf ? 72000 : 144000) * kbps / h->sample_rate + padding;
}

void v2m__mp3_set_bitrate(uint8_t *p, int bitrate_index, int padding)
{
    p[2] = (uint8_t)((p[2] & 0x0D) | bitrate_index << 4 | (padding ? 0x02 : 0));
}

int v2m__mp3_parse(const uint8_t *p, size_t len, v2m__mp3hdr *h)
{
    if (len < 4 || p[0] != 0xFF || (p[1] & 0xE0) != 0xE0)
        return -1;
    int ver = (p[1] >> 3) & 3, layer = (p[1] >> 1) & 3;
    if (ver == 1 || layer != 1) /* reserved version; not Layer III */
        return -1;
    h->lsf = ver != 3;
    h->mpeg25 = ver == 0;
    h->crc = !(p[1] & 1);
    h->bitrate_index = p[2] >> 4;
    h->rate_index = (p[2] >> 2) & 3;
    h->padding = (p[2] >> 1) & 1;
    h->mono = (p[3] >> 6) == 3;
    if (h->bitrate_index == 0 || h->bitrate_index == 15 || h->rate_index == 3)
        return -1;
    h->sample_rate = rates[h->rate_index] >> (h->lsf + h->mpeg25);
    h->size = v2m__mp3_size_for(h, h->bitrate_index, h->padding);
    h->side = h->lsf ? (h->mono ? 9 : 17) : (h->mono ? 17 : 32);
    h->payload = 4 + (h->crc ? 2 : 0) + h->side;
    if ((size_t)h->size > len || h->payload > h->size)
        return -1;

    bits b = {p + 4 + (h->crc ? 2 : 0), 0, (size_t)h->side * 8};
    int nch = h->mono ? 1 : 2, ngr = h->lsf ? 1 : 2;
    h->main_data_begin = (int)get(&b, h->lsf ? 8 : 9);
    get(&b, h->lsf ? (h->mono ? 1 : 2) : (h->mono ? 5 : 3)); /* private bits */
    if (!h->lsf)
        get(&b, 4 * nch); /* scfsi */
    h->blocks = 0;
    for (int gr = 0; gr < ngr; gr++) {
        for (int ch = 0; ch < nch; ch++) {
            get(&b, 12 + 9 + 8);      /* part2_3_length, big_values, global_gain */
            get(&b, h->lsf ? 9 : 4);  /* scalefac_compress */
            unsigned ws = get(&b, 1), type = 0, mixed = 0;
            if (ws) {
                type = get(&b, 2);
                mixed = get(&b, 1);
                get(&b, 2 * 5 + 3 * 3); /* table_select, subblock_gain */
            } else {
                get(&b, 3 * 5 + 4 + 3); /* table_select, region counts */
            }
            get(&b, h->lsf ? 2 : 3); /* (preflag,) scalefac_scale, count1table_select */
            h->blocks = h->blocks << 4 | ws << 3 | type << 1 | mixed;
        }
    }
    return 0;
}
