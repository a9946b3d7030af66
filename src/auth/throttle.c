/* throttle.c - login throttling per account and per client address. */
#include "throttle.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

/* Compare-and-set rounds before an attempt that keeps losing races to other
 * attempts on the same key is refused (it would otherwise go uncounted). */
#define CAS_ROUNDS 8

long long v2m_throttle_delay(const v2m_throttle_policy *p, long long n)
{
    long long d = p->delay_ms;
    if (n < p->free_failures)
        return 0;
    for (long long k = n - p->free_failures; k > 0 && d < p->max_delay_ms; k--)
        d *= 2;
    return d < p->max_delay_ms ? d : p->max_delay_ms;
}

void v2m_throttle_user_key(const char *email, char *out, size_t outsz)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char norm[1100], hex[2 * SHA256_DIGEST_LENGTH + 1];

    v2m_users_normalize_email(email, norm, sizeof norm);
    SHA256((const unsigned char *)norm, strlen(norm), md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outsz, "user:%s", hex);
}

void v2m_throttle_addr_key(const char *client_key, char *out, size_t outsz)
{
    snprintf(out, outsz, "addr:%s", client_key);
}

static long long wait_left(const v2m_throttle *t, long long now_ms)
{
    return t->blocked_until > now_ms ? t->blocked_until - now_ms : 0;
}

/* Count one attempt under key; *retry_ms > 0 when it turned out blocked. */
static v2m_err count_one(v2m_users *u, const v2m_throttle_policy *p, const char *key,
                         long long now_ms, long long *retry_ms, v2m_error *err)
{
    for (int round = 0; round < CAS_ROUNDS; round++) {
        v2m_throttle prev, next;
        v2m_error gerr = {0};
        v2m_err rc = v2m_users_throttle_get(u, key, &prev, &gerr);
        long long n, d;
        int have = rc == V2M_OK;

        if (rc != V2M_OK && rc != V2M_ENOTFOUND) {
            if (err)
                *err = gerr;
            return rc;
        }
        if (have && (*retry_ms = wait_left(&prev, now_ms)) > 0)
            return V2M_OK;
        n = have && prev.updated_at + p->forget_ms > now_ms ? prev.failures : 0;
        n++;
        d = v2m_throttle_delay(p, n);
        next.failures = n;
        next.blocked_until = d ? now_ms + d : 0;
        next.updated_at = now_ms;
        rc = v2m_users_throttle_set(u, key, have ? &prev : NULL, &next, &gerr);
        if (rc == V2M_OK)
            return V2M_OK;
        if (rc != V2M_ESTATE) {
            if (err)
                *err = gerr;
            return rc;
        }
    }
    /* Others keep counting on this key at this very moment: an attack. */
    *retry_ms = p->delay_ms;
    return V2M_OK;
}

v2m_err v2m_throttle_admit(v2m_users *u, const v2m_throttle_policy *p, const char *const *keys,
                           size_t nkeys, long long now_ms, long long *retry_ms, v2m_error *err)
{
    long long worst = 0;
    v2m_err rc;

    *retry_ms = 0;
    /* Look first, so that a refused attempt counts under none of the keys. */
    for (size_t i = 0; i < nkeys; i++) {
        v2m_throttle t;
        v2m_error gerr = {0};
        rc = v2m_users_throttle_get(u, keys[i], &t, &gerr);
        if (rc == V2M_OK) {
            long long w = wait_left(&t, now_ms);
            if (w > worst)
                worst = w;
        } else if (rc != V2M_ENOTFOUND) {
            if (err)
                *err = gerr;
            return rc;
        }
    }
    if (worst > 0) {
        *retry_ms = worst;
        return V2M_OK;
    }
    for (size_t i = 0; i < nkeys; i++) {
        long long w = 0;
        if ((rc = count_one(u, p, keys[i], now_ms, &w, err)) != V2M_OK)
            return rc;
        if (w > worst)
            worst = w;
    }
    *retry_ms = worst;
    return V2M_OK;
}

v2m_err v2m_throttle_success(v2m_users *u, const char *const *keys, size_t nkeys,
                             v2m_error *err)
{
    v2m_err rc = V2M_OK, r;
    for (size_t i = 0; i < nkeys; i++)
        if ((r = v2m_users_throttle_clear(u, keys[i], err)) != V2M_OK)
            rc = r;
    return rc;
}
