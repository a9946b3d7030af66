/* passwd.h - password hashes in crypt(3) format (libxcrypt, yescrypt "$y$"). */
#ifndef V2M_AUTH_PASSWD_H
#define V2M_AUTH_PASSWD_H

#include <stddef.h>

#include "common/err.h"

#define V2M_HASH_MAX 256    /* fits the user table's VARCHAR(255) */
#define V2M_PASSWORD_MAX 1024
#define V2M_PASSWORD_MIN 8      /* characters (UTF-8 code points) of a new password */

/* Hash password with a fresh random salt into out (>= V2M_HASH_MAX bytes). */
v2m_err v2m_passwd_hash(const char *password, char *out, size_t outsz, v2m_error *err);

/* 1 when password matches stored, else 0. stored is a crypt(3) hash, or a
 * legacy plaintext password (the original system stored those): then
 * *legacy is set to 1 so the caller replaces it with a hash. Comparisons take
 * the same time whatever the inputs' common prefix. stored == NULL runs a
 * dummy hash so unknown users cost as much time as known ones. */
int v2m_passwd_verify(const char *password, const char *stored, int *legacy);

/* Accept a new password for storage: at least V2M_PASSWORD_MIN characters,
 * at most V2M_PASSWORD_MAX bytes, no line break. Existing shorter passwords
 * still log in; only new ones are held to this. */
v2m_err v2m_passwd_check_new(const char *password, v2m_error *err);

#endif
