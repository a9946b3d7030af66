/* message.c - encode and check the JSON queue messages. */
#include "message.h"
#include "oid.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_str(json_t *o, const char *key, char *dst, size_t n, int required)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return required ? -1 : 0;
    if (!json_is_string(v) || json_string_length(v) >= n)
        return -1;
    snprintf(dst, n, "%s", json_string_value(v));
    return 0;
}

/* An optional JSON object, kept as its compact text. */
static int get_obj(json_t *o, const char *key, char *dst, size_t n)
{
    json_t *v = json_object_get(o, key);
    char *txt;
    int rc = 0;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return -1;
    txt = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (!txt || strlen(txt) >= n)
        rc = -1;
    else
        snprintf(dst, n, "%s", txt);
    free(txt);
    return rc;
}

v2m_err v2m_msg_parse(const char *body, size_t len, v2m_msg *m, v2m_error *err)
{
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    v2m_err rc = V2M_OK;

    memset(m, 0, sizeof *m);
    if (!o || !json_is_object(o)) {
        rc = v2m_fail(err, V2M_EINVAL, "message is not a JSON object: %s", o ? "" : je.text);
        goto done;
    }
    if (get_str(o, "video_fid", m->video_fid, sizeof m->video_fid, 1) ||
        !v2m_oid_valid(m->video_fid)) {
        rc = v2m_fail(err, V2M_EINVAL, "message has no valid video_fid");
        goto done;
    }
    if (get_str(o, "mp3_fid", m->mp3_fid, sizeof m->mp3_fid, 0) ||
        (m->mp3_fid[0] && !v2m_oid_valid(m->mp3_fid))) {
        rc = v2m_fail(err, V2M_EINVAL, "message has an invalid mp3_fid");
        goto done;
    }
    if (get_str(o, "username", m->username, sizeof m->username, 1) || !m->username[0]) {
        rc = v2m_fail(err, V2M_EINVAL, "message has no username");
        goto done;
    }
    if (get_str(o, "status", m->status, sizeof m->status, 0) ||
        get_str(o, "error", m->error, sizeof m->error, 0) ||
        get_str(o, "filename", m->filename, sizeof m->filename, 0) ||
        get_str(o, "error_code", m->error_code, sizeof m->error_code, 0) ||
        get_str(o, "callback_url", m->callback_url, sizeof m->callback_url, 0)) {
        rc = v2m_fail(err, V2M_EINVAL, "message has a malformed optional field");
        goto done;
    }
    if (get_obj(o, "options", m->options, sizeof m->options)) {
        rc = v2m_fail(err, V2M_EINVAL, "message has malformed options");
        goto done;
    }
done:
    json_decref(o);
    return rc;
}

char *v2m_msg_encode(const v2m_msg *m)
{
    json_t *o = json_object();
    char *s;
    if (!o)
        return NULL;
    json_object_set_new(o, "video_fid", json_string(m->video_fid));
    json_object_set_new(o, "mp3_fid", m->mp3_fid[0] ? json_string(m->mp3_fid) : json_null());
    json_object_set_new(o, "username", json_string(m->username));
    if (m->status[0])
        json_object_set_new(o, "status", json_string(m->status));
    if (m->error[0])
        json_object_set_new(o, "error", json_string(m->error));
    if (m->filename[0])
        json_object_set_new(o, "filename", json_string(m->filename));
    if (m->error_code[0])
        json_object_set_new(o, "error_code", json_string(m->error_code));
    if (m->callback_url[0])
        json_object_set_new(o, "callback_url", json_string(m->callback_url));
    if (m->options[0]) {
        json_t *opts = json_loads(m->options, 0, NULL);
        if (!json_is_object(opts)) {
            json_decref(opts);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "options", opts);
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
