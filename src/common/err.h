/* err.h - the one error convention of v2m.
 *
 * Every fallible function returns a v2m_err (V2M_OK == 0, failures > 0) and,
 * when the caller passes a non-NULL v2m_error *, fills it with the code and a
 * human message naming the cause ("mysql: Can't connect to server on ...").
 * The message travels up unchanged to the log line and to the HTTP body.
 * Codes are never renumbered or reused; v2m_strerror() has a text for each.
 */
#ifndef V2M_ERR_H
#define V2M_ERR_H

#include <stdarg.h>

typedef enum v2m_err {
    V2M_OK = 0,
    V2M_ENOMEM = 1,       /* out of memory */
    V2M_EINVAL = 2,       /* bad argument or malformed input */
    V2M_EIO = 3,          /* local I/O failure */
    V2M_ENOTFOUND = 4,    /* no such user / file / job */
    V2M_EEXIST = 5,       /* already exists */
    V2M_EUNAVAIL = 6,     /* a backend (database, broker, store) is unreachable */
    V2M_ETOOBIG = 7,      /* input over a configured limit */
    V2M_EAUTH = 8,        /* bad credentials or token */
    V2M_EDENIED = 9,      /* authenticated but not allowed */
    V2M_ETIMEOUT = 10,    /* an operation ran out of time */
    V2M_ECANCELLED = 11,  /* the caller asked to stop */
    V2M_EPROTO = 12,      /* a peer answered something we cannot use */
    V2M_ECONFIG = 13,     /* bad configuration value */
    V2M_EINTERNAL = 14,   /* broken invariant inside v2m */
    V2M_ESTATE = 15,      /* the record's state does not allow the change (job already done) */
    V2M_ELIMIT = 16,      /* a per-user limit is reached for now (active jobs); retry later */

    /* media engine */
    V2M_EMEDIA_EMPTY = 100,    /* input has zero bytes */
    V2M_EMEDIA_NOTMEDIA = 101, /* input is not a media file any demuxer knows */
    V2M_EMEDIA_CORRUPT = 102,  /* truncated or corrupt beyond recovery */
    V2M_EMEDIA_NOAUDIO = 103,  /* no audio stream */
    V2M_EMEDIA_CODEC = 104,    /* audio codec cannot be decoded */
    V2M_EMEDIA_WRITE = 105,    /* the output sink refused data */
    V2M_EMEDIA_ENCODE = 106,   /* encoder/resampler failure */
    V2M_EMEDIA_NOSEEK = 107,   /* input needs seeking (index at the end) but cannot seek */
    V2M_EMEDIA_UNSUPPORTED = 108, /* a format refused: playlist, stream description,
                                     image, subtitles, or a file that refers to others */
    V2M_EMEDIA_TOOLONG = 109,  /* the audio lasts longer than the configured limit */
} v2m_err;

#define V2M_ERRMSG_MAX 256

typedef struct v2m_error {
    v2m_err code;                /* V2M_OK when nothing failed */
    char msg[V2M_ERRMSG_MAX];    /* cause, for logs and response bodies */
} v2m_error;

/* Static text for a code ("backend unavailable"); never NULL. */
const char *v2m_strerror(v2m_err code);

/* A short stable code for a code, for records, messages and APIs
 * ("notmedia", "noaudio", "toolong", "unavailable"...); never NULL. */
const char *v2m_err_slug(v2m_err code);

/* Record a failure in e (may be NULL) and return code, so call sites read
 * `return v2m_fail(err, V2M_EINVAL, "bad port '%s'", s);`. */
v2m_err v2m_fail(v2m_error *e, v2m_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
v2m_err v2m_vfail(v2m_error *e, v2m_err code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Reset e to V2M_OK with an empty message (e may be NULL). */
void v2m_error_clear(v2m_error *e);

/* The message of e, or the code's text when none was set. */
const char *v2m_error_msg(const v2m_error *e);

#endif
