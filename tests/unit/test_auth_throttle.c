/* Login throttling over the SQLite users backend, with a made-up clock. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "check.h"

static const v2m_throttle_policy pol = {
    .free_failures = 5, .delay_ms = 1000, .max_delay_ms = 60000, .forget_ms = 900000};

static long long admit(v2m_users *u, const char *k1, const char *k2, long long now)
{
    const char *keys[2] = {k1, k2};
    long long retry = -1;
    v2m_error e = {0};
    if (v2m_throttle_admit(u, &pol, keys, k2 ? 2 : 1, now, &retry, &e) != V2M_OK) {
        fprintf(stderr, "admit: %s\n", e.msg);
        return -1;
    }
    return retry;
}

static long long failures(v2m_users *u, const char *key)
{
    v2m_throttle t;
    return v2m_users_throttle_get(u, key, &t, NULL) == V2M_OK ? t.failures : 0;
}

int main(void)
{
    char dir[] = "/tmp/v2m-throttle-XXXXXX", url[256], path[200];
    char k1[V2M_THROTTLE_KEY_MAX + 1], k2[V2M_THROTTLE_KEY_MAX + 1];
    char a1[V2M_THROTTLE_KEY_MAX + 1], a2[V2M_THROTTLE_KEY_MAX + 1];
    v2m_error e = {0};
    v2m_users *u;
    long long t0 = 1800000000000LL;

    /* The delays: none for the first 4, then 1 s doubling up to 60 s. */
    CHECK(v2m_throttle_delay(&pol, 0) == 0);
    CHECK(v2m_throttle_delay(&pol, 4) == 0);
    CHECK(v2m_throttle_delay(&pol, 5) == 1000);
    CHECK(v2m_throttle_delay(&pol, 6) == 2000);
    CHECK(v2m_throttle_delay(&pol, 7) == 4000);
    CHECK(v2m_throttle_delay(&pol, 10) == 32000);
    CHECK(v2m_throttle_delay(&pol, 11) == 60000);
    CHECK(v2m_throttle_delay(&pol, 1000000000LL) == 60000); /* no overflow */

    /* Keys: the account's is a hash of the lower-cased email. */
    v2m_throttle_user_key("Alice@Example.COM", k1, sizeof k1);
    v2m_throttle_user_key("alice@example.com", k2, sizeof k2);
    CHECK_STR(k1, k2);
    CHECK(strncmp(k1, "user:", 5) == 0 && strlen(k1) == 5 + 64);
    CHECK(strstr(k1, "alice") == NULL);
    v2m_throttle_user_key("bob@example.com", k2, sizeof k2);
    CHECK(strcmp(k1, k2) != 0);
    {
        char big[2000], kb[V2M_THROTTLE_KEY_MAX + 1];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        v2m_throttle_user_key(big, kb, sizeof kb);
        CHECK(strlen(kb) == 5 + 64);
    }
    v2m_throttle_addr_key("192.0.2.1", a1, sizeof a1);
    CHECK_STR(a1, "addr:192.0.2.1");
    v2m_throttle_addr_key("2001:db8:1:2::/64", a2, sizeof a2);
    CHECK_STR(a2, "addr:2001:db8:1:2::/64");

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/users.db", dir);
    snprintf(url, sizeof url, "sqlite://%s", path);
    u = v2m_users_open(url, &e);
    CHECK(u != NULL);
    if (!u)
        return check_exit("test_auth_throttle");

    /* Five attempts go through, counted under both keys. */
    for (int i = 0; i < 5; i++)
        CHECK(admit(u, k1, a1, t0 + i) == 0);
    CHECK(failures(u, k1) == 5 && failures(u, a1) == 5);
    /* The sixth within the second is refused, and not counted. */
    CHECK(admit(u, k1, a1, t0 + 10) == 994);
    CHECK(admit(u, k1, a1, t0 + 500) == 504);
    CHECK(failures(u, k1) == 5 && failures(u, a1) == 5);
    /* After the delay: admitted, counted, and the next delay is 2 s. */
    CHECK(admit(u, k1, a1, t0 + 1004) == 0);
    CHECK(failures(u, k1) == 6);
    CHECK(admit(u, k1, a1, t0 + 1005) == 1999);
    /* The blocked address holds back other accounts too... */
    CHECK(admit(u, k2, a1, t0 + 1006) == 1998);
    CHECK(failures(u, k2) == 0); /* ...without counting against them */
    /* ...and the blocked account other addresses. */
    CHECK(admit(u, k1, a2, t0 + 1007) == 1997);
    CHECK(failures(u, a2) == 0);
    /* A success clears both keys. */
    {
        const char *keys[2] = {k1, a1};
        CHECK(v2m_throttle_success(u, keys, 2, &e) == V2M_OK);
    }
    CHECK(failures(u, k1) == 0 && failures(u, a1) == 0);
    CHECK(admit(u, k1, a1, t0 + 1008) == 0);

    /* One address, many accounts: blocked after five. */
    for (int i = 0; i < 5; i++) {
        char k[V2M_THROTTLE_KEY_MAX + 1], email[64];
        snprintf(email, sizeof email, "user%d@example.com", i);
        v2m_throttle_user_key(email, k, sizeof k);
        CHECK(admit(u, k, a2, t0 + 2000 + i) == 0);
    }
    CHECK(admit(u, k2, a2, t0 + 2010) > 0);

    /* Counts are forgotten forget_ms after the last attempt. */
    {
        char k[V2M_THROTTLE_KEY_MAX + 1];
        v2m_throttle_user_key("forget@example.com", k, sizeof k);
        for (int i = 0; i < 4; i++)
            CHECK(admit(u, k, NULL, t0 + i) == 0);
        CHECK(failures(u, k) == 4);
        CHECK(admit(u, k, NULL, t0 + 3 + pol.forget_ms) == 0);
        CHECK(failures(u, k) == 1);
    }

    /* The delay keeps growing to the cap. */
    {
        char k[V2M_THROTTLE_KEY_MAX + 1];
        long long now = t0;
        v2m_throttle_user_key("slow@example.com", k, sizeof k);
        for (int i = 0; i < 12; i++) {
            CHECK(admit(u, k, NULL, now) == 0);
            now += v2m_throttle_delay(&pol, i + 1);
        }
        CHECK(admit(u, k, NULL, now - 1) == 1);
        CHECK(failures(u, k) == 12);
    }

    /* Compare and set: a writer with a stale view loses. */
    {
        v2m_throttle prev, next = {.failures = 9, .blocked_until = 0, .updated_at = t0};
        CHECK(v2m_users_throttle_get(u, k2, &prev, &e) == V2M_ENOTFOUND);
        CHECK(v2m_users_throttle_set(u, k2, NULL, &next, &e) == V2M_OK);
        CHECK(v2m_users_throttle_set(u, k2, NULL, &next, &e) == V2M_ESTATE);
        CHECK(v2m_users_throttle_get(u, k2, &prev, &e) == V2M_OK && prev.failures == 9);
        next.failures = 10;
        CHECK(v2m_users_throttle_set(u, k2, &prev, &next, &e) == V2M_OK);
        next.failures = 11;
        CHECK(v2m_users_throttle_set(u, k2, &prev, &next, &e) == V2M_ESTATE);
        CHECK(failures(u, k2) == 10);
    }
    /* Keys are bounded. */
    {
        char big[V2M_THROTTLE_KEY_MAX + 2];
        v2m_throttle t;
        memset(big, 'k', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        CHECK(v2m_users_throttle_get(u, big, &t, &e) == V2M_EINVAL);
    }
    /* Pruning drops rows idle since before the cut and not blocked after it. */
    CHECK(v2m_users_throttle_prune(u, t0 + 1500, &e) == V2M_OK);
    CHECK(failures(u, a2) == 5);         /* counted at t0+2000.. */
    CHECK(failures(u, k2) == 0);         /* last written at t0 */
    CHECK(v2m_users_throttle_prune(u, t0 + 10000000, &e) == V2M_OK);
    CHECK(failures(u, a2) == 0 && failures(u, k1) == 0);

    v2m_users_close(u);
    check_rm_sqlite(dir, "users.db");
    return check_exit("test_auth_throttle");
}
