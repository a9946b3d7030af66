/* token.h - HS256 JSON Web Tokens with the claims of the original system.
 *
 * Claims: username (string), exp and iat (integers, seconds), admin (bool),
 * and v2m's gen (integer): the user's token generation when the token was
 * issued (see docs/API.md, revocation). Tokens without gen (the original
 * system's) count as generation 0.
 *
 * Verification refuses anything but a well-formed HS256 token signed with the
 * secret, unexpired, carrying the four claims with the right types, and:
 * - a header with a "crit" member (we understand no extensions);
 * - a duplicate member name in the header or the claims;
 * - iat more than V2M_TOKEN_LEEWAY seconds in the future, or negative;
 * - a lifetime exp - iat longer than the ttl the verifier is given
 *   (which also refuses exp = 2^63-1 and other tokens that never expire);
 * - a gen claim that is not a non-negative integer.
 */
#ifndef V2M_AUTH_TOKEN_H
#define V2M_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"

#define V2M_TOKEN_MAX 4096      /* longer bearer tokens are refused unread */
#define V2M_EMAIL_MAX 255       /* the user table's VARCHAR(255) */
#define V2M_TOKEN_LEEWAY 60     /* seconds of clock skew allowed for iat */

typedef struct v2m_claims {
    char username[V2M_EMAIL_MAX + 1];
    long long exp;
    long long iat;
    int admin;
    long long gen;              /* 0 when the token has no gen claim */
} v2m_claims;

/* Issue a token valid from now for ttl seconds, for the user's token
 * generation gen. *out is malloc'd. */
v2m_err v2m_token_issue(const char *secret, const char *username, int admin, long long gen,
                        long ttl, time_t now, char **out, v2m_error *err);

/* Verify token at time now; max_ttl is the longest lifetime (exp - iat)
 * accepted. On success fills c and, when claims is non-NULL, sets *claims to
 * a new reference to the JSON claims object. Every refusal is V2M_EDENIED
 * with the reason in err (for logs; clients only see "not authorized"). */
v2m_err v2m_token_verify(const char *secret, const char *token, time_t now, long max_ttl,
                         v2m_claims *c, json_t **claims, v2m_error *err);

/* The token of an "Authorization: Bearer <token>" header value: the scheme
 * is case-insensitive and may be followed by any run of spaces or tabs;
 * trailing ones are dropped. Copies it into out (outsz bytes); -1 when the
 * header is not a Bearer one, the token is empty or does not fit. */
int v2m_token_from_bearer(const char *header, char *out, size_t outsz);

#endif
