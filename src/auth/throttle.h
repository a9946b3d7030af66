/* throttle.h - login throttling per account and per client address.
 *
 * Every login attempt is counted under two keys, the account's and the
 * client address's, before the password is checked. Once a key has
 * free_failures counted attempts, each further one blocks the key for a
 * delay that doubles from delay_ms up to max_delay_ms; attempts on a blocked
 * key are refused unread (no password hash runs) and not counted. A
 * successful login clears both keys. Counts are forgotten forget_ms after the
 * last attempt. The counts live in the users database (the login_throttle
 * table), so every auth replica applies the same ones.
 */
#ifndef V2M_AUTH_THROTTLE_H
#define V2M_AUTH_THROTTLE_H

#include <stddef.h>

#include "common/err.h"
#include "ports/users.h"

typedef struct v2m_throttle_policy {
    long free_failures;       /* V2M_LOGIN_FREE_FAILURES, default 5 */
    long long delay_ms;       /* V2M_LOGIN_DELAY, default 1 s */
    long long max_delay_ms;   /* V2M_LOGIN_DELAY_MAX, default 60 s */
    long long forget_ms;      /* V2M_LOGIN_FORGET, default 15 min */
} v2m_throttle_policy;

/* The block after the n-th counted attempt (0 while n < free_failures). */
long long v2m_throttle_delay(const v2m_throttle_policy *p, long long n);

/* The keys of an attempt: "user:" + SHA-256 (hex) of the lower-cased email as
 * typed (the table never holds what people type in the name field, which is
 * sometimes a password), and "addr:" + the client key (netaddr.h). out holds
 * at least V2M_THROTTLE_KEY_MAX + 1 bytes. */
void v2m_throttle_user_key(const char *email, char *out, size_t outsz);
void v2m_throttle_addr_key(const char *client_key, char *out, size_t outsz);

/* Admit an attempt at now_ms: when one of keys is blocked, *retry_ms is the
 * longest wait left and nothing is counted; else *retry_ms is 0 and the
 * attempt is counted under every key (possibly blocking the next ones). */
v2m_err v2m_throttle_admit(v2m_users *u, const v2m_throttle_policy *p, const char *const *keys,
                           size_t nkeys, long long now_ms, long long *retry_ms, v2m_error *err);

/* A successful login: forget the keys' counts. */
v2m_err v2m_throttle_success(v2m_users *u, const char *const *keys, size_t nkeys,
                             v2m_error *err);

#endif
