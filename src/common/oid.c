/* oid.c - checking, normalising and making ObjectIds. */
#include "oid.h"

#include <bson/bson.h>
#include <ctype.h>
#include <string.h>

int v2m_oid_valid(const char *s)
{
    if (!s || strlen(s) != 24)
        return 0;
    for (int i = 0; i < 24; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

void v2m_oid_new(char out[25])
{
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, out);
}

v2m_err v2m_oid_norm(const char *in, char out[25], v2m_error *err)
{
    if (!v2m_oid_valid(in))
        return v2m_fail(err, V2M_ENOTFOUND, "'%.40s' is not a file id (24 hex digits)",
                        in ? in : "(null)");
    for (int i = 0; i < 24; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[24] = '\0';
    return V2M_OK;
}
