/* err.c - codes to text, and attaching a cause to a failure. */
#include "err.h"

#include <stdio.h>
#include <string.h>

const char *v2m_strerror(v2m_err code)
{
    switch (code) {
    case V2M_OK: return "ok";
    case V2M_ENOMEM: return "out of memory";
    case V2M_EINVAL: return "invalid input";
    case V2M_EIO: return "i/o error";
    case V2M_ENOTFOUND: return "not found";
    case V2M_EEXIST: return "already exists";
    case V2M_EUNAVAIL: return "backend unavailable";
    case V2M_ETOOBIG: return "too large";
    case V2M_EAUTH: return "invalid credentials";
    case V2M_EDENIED: return "not authorized";
    case V2M_ETIMEOUT: return "timed out";
    case V2M_ECANCELLED: return "cancelled";
    case V2M_EPROTO: return "protocol error";
    case V2M_ECONFIG: return "bad configuration";
    case V2M_EINTERNAL: return "internal error";
    case V2M_ESTATE: return "not allowed in the current state";
    case V2M_ELIMIT: return "limit reached, try again later";
    case V2M_EMEDIA_EMPTY: return "input is empty";
    case V2M_EMEDIA_NOTMEDIA: return "input is not a media file";
    case V2M_EMEDIA_CORRUPT: return "input is truncated or corrupt";
    case V2M_EMEDIA_NOAUDIO: return "input has no audio stream";
    case V2M_EMEDIA_CODEC: return "unsupported audio codec";
    case V2M_EMEDIA_WRITE: return "output write failed";
    case V2M_EMEDIA_ENCODE: return "encoding failed";
    case V2M_EMEDIA_NOSEEK: return "input must be seekable";
    case V2M_EMEDIA_UNSUPPORTED: return "input is not a supported video or audio file";
    case V2M_EMEDIA_TOOLONG: return "input is too long";
    }
    return "unknown error";
}

const char *v2m_err_slug(v2m_err code)
{
    switch (code) {
    case V2M_OK: return "ok";
    case V2M_ENOMEM: return "nomem";
    case V2M_EINVAL: return "invalid";
    case V2M_EIO: return "io";
    case V2M_ENOTFOUND: return "notfound";
    case V2M_EEXIST: return "exists";
    case V2M_EUNAVAIL: return "unavailable";
    case V2M_ETOOBIG: return "toobig";
    case V2M_EAUTH: return "auth";
    case V2M_EDENIED: return "denied";
    case V2M_ETIMEOUT: return "timeout";
    case V2M_ECANCELLED: return "cancelled";
    case V2M_EPROTO: return "protocol";
    case V2M_ECONFIG: return "config";
    case V2M_EINTERNAL: return "internal";
    case V2M_ESTATE: return "state";
    case V2M_ELIMIT: return "limit";
    case V2M_EMEDIA_EMPTY: return "empty";
    case V2M_EMEDIA_NOTMEDIA: return "notmedia";
    case V2M_EMEDIA_CORRUPT: return "corrupt";
    case V2M_EMEDIA_NOAUDIO: return "noaudio";
    case V2M_EMEDIA_CODEC: return "codec";
    case V2M_EMEDIA_WRITE: return "write";
    case V2M_EMEDIA_ENCODE: return "encode";
    case V2M_EMEDIA_NOSEEK: return "noseek";
    case V2M_EMEDIA_UNSUPPORTED: return "unsupported";
    case V2M_EMEDIA_TOOLONG: return "toolong";
    }
    return "unknown";
}

v2m_err v2m_vfail(v2m_error *e, v2m_err code, const char *fmt, va_list ap)
{
    if (e) {
        e->code = code;
        if (fmt)
            vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        else
            snprintf(e->msg, sizeof e->msg, "%s", v2m_strerror(code));
    }
    return code;
}

v2m_err v2m_fail(v2m_error *e, v2m_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    v2m_vfail(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void v2m_error_clear(v2m_error *e)
{
    if (e) {
        e->code = V2M_OK;
        e->msg[0] = '\0';
    }
}

const char *v2m_error_msg(const v2m_error *e)
{
    if (!e)
        return "";
    return e->msg[0] ? e->msg : v2m_strerror(e->code);
}
