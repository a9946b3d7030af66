/* oid.c - checking, normalising and making ObjectIds. */
#include "oid.h"

#include <bson/bson.h>
#include <ctype.h>
#include <string.h>

/* 1 when s is 24 hex digits, lower-case ones only when lower is set. */
static int hex24(const char *s, size_t n, int lower)
{
    if (n != 24)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isxdigit(ch) || (lower && isupper(ch)))
            return 0;
    }
    return 1;
}

int v2m_oid_valid(const char *s) { return s && hex24(s, strlen(s), 0); }

int v2m_oid_is_normal(const char *s, size_t n) { return s && hex24(s, n, 1); }

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
