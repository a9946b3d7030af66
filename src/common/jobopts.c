/* jobopts.c - the conversion options: text in, JSON through the queue,
 * media engine options out (see jobopts.h).
 *
 * Every value is checked here, where the user can still be told, so that
 * what reaches the converter is known to be within the engine's ranges.
 */
#include "jobopts.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"

/* The rates LAME encodes (media.h's v2m_media_rates, which lives in the
 * media library; the gateway checks without it). */
static const int mp3_rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};

#define NORMALIZE_ON (-16.0)

typedef v2m_err (*parse_fn)(v2m_jobopts *o, const char *v, v2m_error *err);

typedef struct opt_row opt_row;

/* A decimal number with at most `decimals` digits after the point, as
 * thousandths (so "2.5" is 2500); -1 for anything else or too large. */
static int64_t milli(const char *s, int decimals)
{
    int64_t n = 0, frac = 0;
    int digits = 0, fd = 0;

    for (; isdigit((unsigned char)*s); s++, digits++) {
        if (n > INT64_C(1000000000))
            return -1;
        n = n * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++, fd++) {
            if (fd >= decimals || fd >= 3)
                return -1;
            frac = frac * 10 + (*s - '0');
        }
        if (!fd)
            return -1;
    }
    if (*s || !digits)
        return -1;
    for (int i = fd; i < 3; i++)
        frac *= 10;
    return n * 1000 + frac;
}

/* A whole number in [lo, hi], nothing else; -1 otherwise (lo >= 0). */
static long whole(const char *s, long lo, long hi)
{
    char *end;
    long n;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    n = strtol(s, &end, 10);
    return errno || *end || n < lo || n > hi ? -1 : n;
}

static v2m_err p_quality(v2m_jobopts *o, const char *v, v2m_error *err)
{
    long n = whole(v, 0, 9);
    if (n < 0)
        return v2m_fail(err, V2M_EINVAL, "quality: must be a whole number from 0 (best) to 9 "
                        "(smallest), e.g. 2");
    o->quality = (int)n;
    return V2M_OK;
}

static v2m_err p_bitrate(v2m_jobopts *o, const char *v, v2m_error *err)
{
    char num[8];
    size_t len = strlen(v);
    long n;

    if (len && (v[len - 1] == 'k' || v[len - 1] == 'K'))
        len--;
    n = len && len < sizeof num ? (memcpy(num, v, len), num[len] = 0, whole(num, 8, 320)) : -1;
    if (n < 0)
        return v2m_fail(err, V2M_EINVAL, "bitrate: must be 8 to 320 kbit/s, e.g. 192 or 192k");
    o->bitrate = (int)n;
    return V2M_OK;
}

static v2m_err p_rate(v2m_jobopts *o, const char *v, v2m_error *err)
{
    size_t len = strlen(v);
    int64_t hz = -1;
    char num[16];

    if (len && len < sizeof num && (v[len - 1] == 'k' || v[len - 1] == 'K')) {
        memcpy(num, v, len - 1);
        num[len - 1] = 0;
        hz = milli(num, 3);        /* "44.1" thousandths are hertz */
    } else if (len < sizeof num) {
        hz = whole(v, 1, 1000000);
    }
    for (size_t i = 0; i < sizeof mp3_rates / sizeof mp3_rates[0]; i++)
        if (hz == mp3_rates[i]) {
            o->rate = (int)hz;
            return V2M_OK;
        }
    return v2m_fail(err, V2M_EINVAL, "rate: must be one of 8000, 11025, 12000, 16000, 22050, "
                    "24000, 32000, 44100, 48000 Hz (or 44.1k, 48k, ...)");
}

static v2m_err p_channels(v2m_jobopts *o, const char *v, v2m_error *err)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "mono") == 0)
        o->channels = 1;
    else if (strcmp(v, "2") == 0 || strcmp(v, "stereo") == 0)
        o->channels = 2;
    else
        return v2m_fail(err, V2M_EINVAL, "channels: must be 1 (mono) or 2 (stereo)");
    return V2M_OK;
}

/* Seconds ("90", "2.5") or [hh:]mm:ss[.mmm] ("1:30", "01:02:03.5"). */
static int64_t time_ms(const char *v)
{
    const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    long h = 0, m;
    int64_t s;
    char part[8];

    if (!c1)
        return milli(v, 3);
    if (c2) {
        if (c1 - v > 3 || c2 - c1 != 3 || strchr(c2 + 1, ':'))
            return -1;
        memcpy(part, v, (size_t)(c1 - v));
        part[c1 - v] = 0;
        h = whole(part, 0, 720);
        v = c1 + 1;
        c1 = c2;
    }
    if (c1 - v < 1 || c1 - v > 2 || h < 0)
        return -1;
    memcpy(part, v, (size_t)(c1 - v));
    part[c1 - v] = 0;
    m = whole(part, 0, 59);
    /* Seconds as two digits: "1:5" is more likely a typo than 1:05. */
    s = isdigit((unsigned char)c1[1]) && isdigit((unsigned char)c1[2]) ? milli(c1 + 1, 3) : -1;
    if (m < 0 || s < 0 || s >= 60000)
        return -1;
    return ((int64_t)h * 3600 + m * 60) * 1000 + s;
}

static v2m_err p_time(const char *name, int64_t *out, const char *v, v2m_error *err)
{
    int64_t ms = time_ms(v);
    if (ms < 0 || ms > (int64_t)V2M_OPT_SECONDS_MAX * 1000)
        return v2m_fail(err, V2M_EINVAL, "%s: must be a time from 0 to 30 days, in seconds "
                        "(e.g. 90 or 2.5) or as [hh:]mm:ss[.mmm] (e.g. 1:30 or 01:02:03.5)", name);
    *out = ms;
    return V2M_OK;
}

static v2m_err p_start(v2m_jobopts *o, const char *v, v2m_error *err)
{
    return p_time("start", &o->start_ms, v, err);
}

static v2m_err p_end(v2m_jobopts *o, const char *v, v2m_error *err)
{
    v2m_err rc = p_time("end", &o->end_ms, v, err);
    if (!rc && o->end_ms == 0)
        return v2m_fail(err, V2M_EINVAL, "end: must be after the start, more than 0 seconds");
    return rc;
}

static int language_code(char *out, const char *v)
{
    size_t n = strlen(v);
    if (n < 2 || n > 3)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isalpha((unsigned char)v[i]) || (unsigned char)v[i] > 0x7f)
            return -1;
        out[i] = (char)tolower((unsigned char)v[i]);
    }
    out[n] = 0;
    return 0;
}

static v2m_err p_track(v2m_jobopts *o, const char *v, v2m_error *err)
{
    long n = whole(v, 1, 99);

    if (n > 0) {
        o->track = (int)n;
        o->set |= V2M_OPT_TRACK;
        return V2M_OK;
    }
    if (language_code(o->language, v) == 0) {
        o->set |= V2M_OPT_LANGUAGE;
        return V2M_OK;
    }
    return v2m_fail(err, V2M_EINVAL, "track: must be the audio track's number from 1 to 99, "
                    "or a language code of 2 or 3 letters (e.g. 2, en or fre)");
}

static v2m_err p_language(v2m_jobopts *o, const char *v, v2m_error *err)
{
    if (language_code(o->language, v) != 0)
        return v2m_fail(err, V2M_EINVAL, "language: must be a language code of 2 or 3 letters");
    return V2M_OK;
}

static v2m_err p_normalize(v2m_jobopts *o, const char *v, v2m_error *err)
{
    int64_t m;

    if (strcmp(v, "on") == 0) {
        o->normalize = NORMALIZE_ON;
        return V2M_OK;
    }
    if (strcmp(v, "off") == 0) {
        o->normalize = 0;
        return V2M_OK;
    }
    m = v[0] == '-' ? milli(v + 1, 1) : -1;
    if (m < 5000 || m > 70000)
        return v2m_fail(err, V2M_EINVAL, "normalize: must be on (-16 LUFS), off, or a target "
                        "loudness from -70 to -5 LUFS (e.g. -23)");
    o->normalize = -(double)m / 1000.0;
    return V2M_OK;
}

static v2m_err p_cover(v2m_jobopts *o, const char *v, v2m_error *err)
{
    if (strcmp(v, "auto") == 0)
        o->cover = 1;
    else if (strcmp(v, "none") == 0)
        o->cover = 0;
    else
        return v2m_fail(err, V2M_EINVAL, "cover: must be auto (the source's picture, else a "
                        "frame of the video) or none");
    return V2M_OK;
}

/* Valid UTF-8 (shortest forms, no surrogates), no C0/C1 control or DEL. */
static int tag_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], cp, len;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (!len || c > 0xf4 || i + len > n)
            return 0;
        cp = c & (0x7f >> len);
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

static v2m_err p_tag(const char *name, char *out, const char *v, v2m_error *err)
{
    size_t n = strlen(v);
    if (n < 1 || n > V2M_OPT_TAG_MAX || !tag_ok((const unsigned char *)v, n))
        return v2m_fail(err, V2M_EINVAL, "%s: must be 1 to %d bytes of UTF-8 text without "
                        "control characters", name, V2M_OPT_TAG_MAX);
    memcpy(out, v, n + 1);
    return V2M_OK;
}

static v2m_err p_title(v2m_jobopts *o, const char *v, v2m_error *err)
{
    return p_tag("title", o->title, v, err);
}

static v2m_err p_artist(v2m_jobopts *o, const char *v, v2m_error *err)
{
    return p_tag("artist", o->artist, v, err);
}

static v2m_err p_album(v2m_jobopts *o, const char *v, v2m_error *err)
{
    return p_tag("album", o->album, v, err);
}

/* How an option looks in the JSON form. */
typedef enum kind { K_INT, K_REAL, K_WORD, K_LUFS } kind;

/* The names users write; "language" only appears in the JSON form. `own`
 * are the bits of the option itself (track has two forms), `excl` those of
 * options it excludes. */
static const struct opt_row {
    const char *name;
    unsigned own, excl;
    kind k;
    parse_fn parse;
} rows[] = {
    {"quality", V2M_OPT_QUALITY, V2M_OPT_BITRATE, K_INT, p_quality},
    {"bitrate", V2M_OPT_BITRATE, V2M_OPT_QUALITY, K_INT, p_bitrate},
    {"rate", V2M_OPT_RATE, 0, K_INT, p_rate},
    {"channels", V2M_OPT_CHANNELS, 0, K_INT, p_channels},
    {"start", V2M_OPT_START, 0, K_REAL, p_start},
    {"end", V2M_OPT_END, 0, K_REAL, p_end},
    {"track", V2M_OPT_TRACK | V2M_OPT_LANGUAGE, 0, K_INT, p_track},
    {"normalize", V2M_OPT_NORMALIZE, 0, K_LUFS, p_normalize},
    {"cover", V2M_OPT_COVER, 0, K_WORD, p_cover},
    {"title", V2M_OPT_TITLE, 0, K_WORD, p_title},
    {"artist", V2M_OPT_ARTIST, 0, K_WORD, p_artist},
    {"album", V2M_OPT_ALBUM, 0, K_WORD, p_album},
    {"language", V2M_OPT_TRACK | V2M_OPT_LANGUAGE, 0, K_WORD, p_language},
};
/* Users name all but the last. */
#define NROWS (sizeof rows / sizeof rows[0] - 1)
#define LANGUAGE_ROW (&rows[NROWS])

void v2m_jobopts_init(v2m_jobopts *o)
{
    memset(o, 0, sizeof *o);
    o->cover = 1;
}

const char *v2m_jobopts_names(void)
{
    return "quality, bitrate, rate, channels, start, end, track, normalize, cover, title, "
           "artist, album";
}

static const opt_row *find(const char *name)
{
    for (size_t i = 0; i < NROWS; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

int v2m_jobopts_known(const char *name)
{
    return name && find(name) != NULL;
}

static v2m_err set_row(v2m_jobopts *o, const opt_row *r, const char *value, v2m_error *err)
{
    v2m_err rc;

    if (o->set & r->excl)
        return v2m_fail(err, V2M_EINVAL, "quality and bitrate exclude each other: give one "
                        "(quality for VBR, bitrate for a constant bitrate)");
    if (o->set & r->own)
        return v2m_fail(err, V2M_EINVAL, "%s: given more than once", r->name);
    if ((rc = r->parse(o, value, err)))
        return rc;
    if (r->parse == p_language)
        o->set |= V2M_OPT_LANGUAGE;
    else if (r->parse != p_track)    /* which of its two bits it sets */
        o->set |= r->own;
    return V2M_OK;
}

v2m_err v2m_jobopts_set(v2m_jobopts *o, const char *name, const char *value, v2m_error *err)
{
    const opt_row *r = name ? find(name) : NULL;

    if (!r)
        return v2m_fail(err, V2M_EINVAL, "unknown option '%.40s': the options are %s",
                        name ? name : "", v2m_jobopts_names());
    return set_row(o, r, value ? value : "", err);
}

v2m_err v2m_jobopts_check(const v2m_jobopts *o, v2m_error *err)
{
    if ((o->set & V2M_OPT_START) && (o->set & V2M_OPT_END) && o->end_ms <= o->start_ms)
        return v2m_fail(err, V2M_EINVAL, "end: must be after the start (%lld.%03d s)",
                        (long long)(o->start_ms / 1000), (int)(o->start_ms % 1000));
    return V2M_OK;
}

static void fmt_num(char *buf, size_t n, double v)
{
    snprintf(buf, n, "%.15g", v);
}

v2m_err v2m_jobopts_encode(const v2m_jobopts *o, char *out, size_t outsz, v2m_error *err)
{
    json_t *j;
    char *s;
    size_t len;

    if (outsz)
        out[0] = 0;
    if (!o->set)
        return V2M_OK;
    j = json_object();
    if (!j)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (o->set & V2M_OPT_QUALITY)
        json_object_set_new(j, "quality", json_integer(o->quality));
    if (o->set & V2M_OPT_BITRATE)
        json_object_set_new(j, "bitrate", json_integer(o->bitrate));
    if (o->set & V2M_OPT_RATE)
        json_object_set_new(j, "rate", json_integer(o->rate));
    if (o->set & V2M_OPT_CHANNELS)
        json_object_set_new(j, "channels", json_integer(o->channels));
    if (o->set & V2M_OPT_START)
        json_object_set_new(j, "start", json_real((double)o->start_ms / 1000.0));
    if (o->set & V2M_OPT_END)
        json_object_set_new(j, "end", json_real((double)o->end_ms / 1000.0));
    if (o->set & V2M_OPT_TRACK)
        json_object_set_new(j, "track", json_integer(o->track));
    if (o->set & V2M_OPT_LANGUAGE)
        json_object_set_new(j, "language", json_string(o->language));
    if (o->set & V2M_OPT_NORMALIZE)
        json_object_set_new(j, "normalize", o->normalize < 0 ? json_real(o->normalize)
                                                             : json_string("off"));
    if (o->set & V2M_OPT_COVER)
        json_object_set_new(j, "cover", json_string(o->cover ? "auto" : "none"));
    if (o->set & V2M_OPT_TITLE)
        json_object_set_new(j, "title", json_string(o->title));
    if (o->set & V2M_OPT_ARTIST)
        json_object_set_new(j, "artist", json_string(o->artist));
    if (o->set & V2M_OPT_ALBUM)
        json_object_set_new(j, "album", json_string(o->album));
    /* Keys in a fixed order, shortest form of each number. */
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!s)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    len = strlen(s);
    if (len >= outsz) {
        free(s);
        return v2m_fail(err, V2M_EINVAL, "options: too long all together (at most %zu bytes "
                        "as JSON); shorten the title, artist or album", outsz ? outsz - 1 : 0);
    }
    memcpy(out, s, len + 1);
    free(s);
    return V2M_OK;
}

/* One key of the JSON form back through its text parser, with the type
 * the encoder gives it. */
static v2m_err decode_one(v2m_jobopts *o, const char *key, json_t *v, v2m_error *err)
{
    const opt_row *r = strcmp(key, "language") == 0 ? LANGUAGE_ROW : find(key);
    char text[32];

    if (!r)
        return v2m_fail(err, V2M_EINVAL, "options: unknown key '%.40s'", key);
    if (json_is_string(v) &&
        (r->k == K_WORD || (r->k == K_LUFS && strcmp(json_string_value(v), "off") == 0)))
        return set_row(o, r, json_string_value(v), err);
    if (json_is_integer(v) && r->k == K_INT && json_integer_value(v) >= 0)
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v) && (r->k == K_REAL || r->k == K_LUFS))
        fmt_num(text, sizeof text, json_number_value(v));
    else
        return v2m_fail(err, V2M_EINVAL, "options: %s has the wrong type or sign", key);
    return set_row(o, r, text, err);
}

v2m_err v2m_jobopts_decode(const char *json, v2m_jobopts *o, v2m_error *err)
{
    json_t *j, *v;
    const char *key;
    json_error_t je;
    v2m_err rc = V2M_OK;

    v2m_jobopts_init(o);
    if (!json || !json[0])
        return V2M_OK;
    j = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return v2m_fail(err, V2M_EINVAL, "options: not a JSON object");
    }
    json_object_foreach(j, key, v) {
        if ((rc = decode_one(o, key, v, err)))
            break;
    }
    json_decref(j);
    if (!rc)
        rc = v2m_jobopts_check(o, err);
    return rc;
}

void v2m_jobopts_apply(const v2m_jobopts *defaults, const v2m_jobopts *job, v2m_media_opts *m)
{
    const v2m_jobopts *layers[2] = {defaults, job};

    for (int i = 0; i < 2; i++) {
        const v2m_jobopts *o = layers[i];
        if (!o)
            continue;
        if (o->set & V2M_OPT_QUALITY) {
            m->quality = o->quality;
            m->bitrate_kbps = 0;
        }
        if (o->set & V2M_OPT_BITRATE)
            m->bitrate_kbps = o->bitrate;
        if (o->set & V2M_OPT_RATE)
            m->sample_rate = o->rate;
        if (o->set & V2M_OPT_CHANNELS)
            m->channels = o->channels;
        if (o->set & V2M_OPT_START)
            m->start = (double)o->start_ms / 1000.0;
        if (o->set & V2M_OPT_END)
            m->end = (double)o->end_ms / 1000.0;
        if (o->set & V2M_OPT_TRACK) {
            m->track = o->track;
            m->language = NULL;
        }
        if (o->set & V2M_OPT_LANGUAGE) {
            m->language = o->language;
            m->track = 0;
        }
        if (o->set & V2M_OPT_NORMALIZE)
            m->normalize = o->normalize;
        if (o->set & V2M_OPT_COVER)
            m->cover = o->cover;
        if (o->set & V2M_OPT_TITLE)
            m->title = o->title;
        if (o->set & V2M_OPT_ARTIST)
            m->artist = o->artist;
        if (o->set & V2M_OPT_ALBUM)
            m->album = o->album;
    }
}
