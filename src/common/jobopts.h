/* jobopts.h - the conversion options a user may ask for with an upload.
 *
 *   v2m_jobopts o;  v2m_error err;
 *   v2m_jobopts_init(&o);
 *   if (v2m_jobopts_set(&o, "bitrate", "192k", &err))      // gateway: each field
 *       reply 400 with err.msg ("bitrate: must be 8 to 320 kbit/s, e.g. 192 or 192k")
 *   if (v2m_jobopts_check(&o, &err)) ...                   // once all are in
 *   v2m_jobopts_encode(&o, json, sizeof json, &err);       // into the record and message
 *   ...
 *   v2m_jobopts_decode(json, &o, &err);                    // converter
 *   v2m_jobopts_apply(&defaults, &o, &media_opts);         // over the server's defaults
 *
 * One parser for every place an option is written as text (upload fields,
 * query parameters, the converter's settings), so each refusal names the
 * option and its allowed values the same way. Options:
 *   quality   0..9 (LAME VBR, 0 best)        bitrate  8..320 kbit/s, "192" or "192k"
 *   rate      8000 11025 12000 16000 22050 24000 32000 44100 48000, also "44.1k"
 *   channels  1 or 2 (also "mono", "stereo")
 *   start, end  seconds ("2", "2.5") or [hh:]mm:ss[.mmm]; 0..30 days, end > start
 *   track     N (1..99, the Nth audio track) or a language code of 2 or 3 letters
 *   normalize on (-16 LUFS) | off | a target loudness from -70 to -5 LUFS
 *   cover     auto | none
 *   title, artist, album  1..200 bytes of UTF-8 text without control characters
 * quality and bitrate exclude each other. An empty value is refused like any
 * other bad value (an option is given with a value or not at all).
 *
 * The JSON form (the job record's and the queue message's "options") holds
 * only the options given: numbers for quality, bitrate, rate, channels,
 * track, start and end (seconds); "language" for a track chosen by language;
 * normalize as its LUFS number or "off"; strings for the rest. Decoding is
 * strict: an unknown key, a wrong type or a value out of range refuses the
 * whole object, so a converter never silently ignores an option a newer
 * gateway accepted.
 */
#ifndef V2M_JOBOPTS_H
#define V2M_JOBOPTS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Bits of v2m_jobopts.set: which options were given. */
enum {
    V2M_OPT_QUALITY = 1u << 0,
    V2M_OPT_BITRATE = 1u << 1,
    V2M_OPT_RATE = 1u << 2,
    V2M_OPT_CHANNELS = 1u << 3,
    V2M_OPT_START = 1u << 4,
    V2M_OPT_END = 1u << 5,
    V2M_OPT_TRACK = 1u << 6,
    V2M_OPT_LANGUAGE = 1u << 7,
    V2M_OPT_NORMALIZE = 1u << 8,
    V2M_OPT_COVER = 1u << 9,
    V2M_OPT_TITLE = 1u << 10,
    V2M_OPT_ARTIST = 1u << 11,
    V2M_OPT_ALBUM = 1u << 12,
};

#define V2M_OPT_TAG_MAX 200      /* bytes of a title, artist or album */
#define V2M_OPT_SECONDS_MAX (30 * 86400)
#define V2M_OPT_JSON_MAX 1024    /* the encoded object with its NUL (v2m_msg.options) */

typedef struct v2m_jobopts {
    unsigned set;            /* V2M_OPT_* of the options given */
    int quality;
    int bitrate;             /* kbit/s */
    int rate;                /* Hz */
    int channels;
    int64_t start_ms, end_ms;
    int track;               /* 1 = the first audio track */
    char language[4];        /* lower case, 2 or 3 letters */
    double normalize;        /* target LUFS (< 0), or 0 = off */
    int cover;               /* 1 auto, 0 none */
    char title[V2M_OPT_TAG_MAX + 1];
    char artist[V2M_OPT_TAG_MAX + 1];
    char album[V2M_OPT_TAG_MAX + 1];
} v2m_jobopts;

void v2m_jobopts_init(v2m_jobopts *o);

/* The option names, "quality, bitrate, ..., album", for messages. */
const char *v2m_jobopts_names(void);
/* 1 when name is an option's name. */
int v2m_jobopts_known(const char *name);

/* Parse one option given as text into o. V2M_EINVAL with a message naming
 * the option and what it accepts for a bad value, an unknown name, or an
 * option given before (o already has it, or its counterpart: quality and
 * bitrate, track by number and by language). */
v2m_err v2m_jobopts_set(v2m_jobopts *o, const char *name, const char *value, v2m_error *err);

/* The checks between options, once all are given: end after start. */
v2m_err v2m_jobopts_check(const v2m_jobopts *o, v2m_error *err);

/* The options given as a compact JSON object into out ("" when none given).
 * V2M_EINVAL when it does not fit in outsz bytes. */
v2m_err v2m_jobopts_encode(const v2m_jobopts *o, char *out, size_t outsz, v2m_error *err);

/* Back from JSON text ("" or NULL: none), strictly (see the top).
 * V2M_EINVAL naming what is wrong. */
v2m_err v2m_jobopts_decode(const char *json, v2m_jobopts *o, v2m_error *err);

/* Over defaults (may be NULL), the options given in job (may be NULL) win;
 * an option excludes its counterpart (quality a default bitrate, a track
 * number a default language). The result goes into m, a v2m_media_opts
 * (media/media.h) already initialised; its strings point into defaults and
 * job, which must outlive the conversion. */
struct v2m_media_opts;
void v2m_jobopts_apply(const v2m_jobopts *defaults, const v2m_jobopts *job,
                       struct v2m_media_opts *m);

#endif
