/* oid.h - ObjectIds, the ids of stored files and job records: 24 hex digits.
 *
 * Thread-safe.
 */
#ifndef V2M_OID_H
#define V2M_OID_H

#include <stddef.h>

#include "err.h"

/* 1 when s is 24 hex digits (either case), else 0 (also for NULL). */
int v2m_oid_valid(const char *s);

/* 1 when the n bytes at s are an ObjectId in normal form: 24 lower-case
 * hex digits (the names v2m_oid_new and v2m_oid_norm give), else 0. */
int v2m_oid_is_normal(const char *s, size_t n);

/* A fresh ObjectId as 24 lower-case hex digits plus NUL. */
void v2m_oid_new(char out[25]);

/* Normalise a file or job id: 24 hex digits (either case) into lower case.
 * V2M_ENOTFOUND for anything else, since no such object can exist. */
v2m_err v2m_oid_norm(const char *in, char out[25], v2m_error *err);

#endif
