/* token.h - HS256 JSON Web Tokens with the claims of the original system.
 *
 * Claims: username (string), exp and iat (integers, seconds), admin (bool).
 * Verification refuses anything but a well-formed HS256 token signed with
 * the secret, unexpired, carrying all four claims of the right types.
 */
#ifndef V2M_AUTH_TOKEN_H
#define V2M_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"

#define V2M_TOKEN_MAX 4096      /* longer bearer tokens are refused unread */
#define V2M_EMAIL_MAX 255       /* the user table's VARCHAR(255) */

typedef struct v2m_claims {
    char username[V2M_EMAIL_MAX + 1];
    long long exp;
    long long iat;
    int admin;
} v2m_claims;

/* Issue a token valid from now for ttl seconds. *out is malloc'd. */
v2m_err v2m_token_issue(const char *secret, const char *username, int admin, long ttl,
                        time_t now, char **out, v2m_error *err);

/* Verify token at time now. On success fills c and, when claims is non-NULL,
 * sets *claims to a new reference to the JSON claims object. Every refusal is
 * V2M_EDENIED with the reason in err (for logs; clients only see "not
 * authorized"). */
v2m_err v2m_token_verify(const char *secret, const char *token, time_t now, v2m_claims *c,
                         json_t **claims, v2m_error *err);

#endif
