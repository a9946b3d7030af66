/* The user rows /validate relies on: cached for at most the ttl. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/usercache.h"
#include "check.h"

#define TTL 4000 /* asked for; each cache caps it at its own ttl */

int main(void)
{
    char dir[] = "/tmp/v2m-ucache-XXXXXX", url[300];
    v2m_users *u;
    v2m_user_cache *c, *off;
    v2m_user_state st;
    v2m_user row;
    v2m_error e = {0};
    unsigned long hits, misses;
    long long t = 1000000, gen;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof url, "sqlite://%s/users.db", dir);
    u = v2m_users_open(url, &e);
    CHECK(u != NULL);
    if (!u)
        return check_exit("test_auth_usercache");
    CHECK(v2m_users_add(u, "dana@example.com", "$y$h", 0, &e) == V2M_OK);
    CHECK(v2m_users_get(u, "dana@example.com", &row, &e) == V2M_OK);
    gen = row.token_gen;

    c = v2m_user_cache_new(2000);
    CHECK(v2m_user_cache_get(c, u, "Dana@Example.com", t, TTL, &st, &e) == V2M_OK);
    CHECK(st.exists && !st.admin && st.token_gen == gen);
    /* A change is not seen while the entry is young... */
    CHECK(v2m_users_set_password(u, "dana@example.com", "$y$h2", &e) == V2M_OK);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 1999, TTL, &st, &e) == V2M_OK);
    CHECK(st.token_gen == gen);
    /* ...and is once it is ttl old. */
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 2000, TTL, &st, &e) == V2M_OK);
    CHECK(st.token_gen == gen + 1);
    /* Deletion likewise; absence is cached too. */
    CHECK(v2m_users_del(u, "dana@example.com", &e) == V2M_OK);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 2001, TTL, &st, &e) == V2M_OK);
    CHECK(st.exists);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 4000, TTL, &st, &e) == V2M_OK);
    CHECK(!st.exists);
    CHECK(v2m_users_add(u, "dana@example.com", "$y$h", 1, &e) == V2M_OK);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 5999, TTL, &st, &e) == V2M_OK);
    CHECK(!st.exists);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 6000, TTL, &st, &e) == V2M_OK);
    CHECK(st.exists && st.admin);
    /* A caller may ask for a younger state: then it reads again. */
    CHECK(v2m_users_set_admin(u, "dana@example.com", 0, &e) == V2M_OK);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 6001, 2, &st, &e) == V2M_OK);
    CHECK(st.exists && st.admin); /* 1 ms old: young enough for 2 ms */
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 6001, 0, &st, &e) == V2M_OK);
    CHECK(st.exists && !st.admin);
    CHECK(st.read_at >= (long long)time(NULL) - 5 && st.read_at <= (long long)time(NULL));
    CHECK(v2m_users_set_admin(u, "dana@example.com", 1, &e) == V2M_OK);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 6002, TTL, &st, &e) == V2M_OK);
    CHECK(st.exists && !st.admin); /* the forced read renewed the entry */
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 6002, 0, &st, &e) == V2M_OK);
    CHECK(st.exists && st.admin);
    /* A time before the entry's is a miss, not a hit for ever. */
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t, TTL, &st, &e) == V2M_OK);
    CHECK(st.exists && st.admin);
    /* Names no row can hold are absent. */
    {
        char big[400];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        CHECK(v2m_user_cache_get(c, u, big, t, TTL, &st, &e) == V2M_OK && !st.exists);
    }
    v2m_user_cache_counts(c, &hits, &misses);
    CHECK(hits == 5 && misses == 7);
    /* Many users: the table stays bounded and right. */
    for (int i = 0; i < 5000; i++) {
        char email[64];
        snprintf(email, sizeof email, "nobody%d@example.com", i);
        CHECK(v2m_user_cache_get(c, u, email, t + 7000, TTL, &st, &e) == V2M_OK && !st.exists);
    }
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + 7000, TTL, &st, &e) == V2M_OK);
    CHECK(st.exists);
    v2m_user_cache_free(c);

    /* The ttl is capped at 4 s, so revocation lands within 5 s. */
    c = v2m_user_cache_new(60000);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t, TTL, &st, &e) == V2M_OK && st.exists);
    CHECK(v2m_users_del(u, "dana@example.com", &e) == V2M_OK);
    CHECK(v2m_user_cache_get(c, u, "dana@example.com", t + V2M_USER_CACHE_MAX_MS, TTL, &st, &e) ==
          V2M_OK);
    CHECK(!st.exists);
    v2m_user_cache_free(c);

    /* ttl 0: every lookup reads the database. */
    off = v2m_user_cache_new(0);
    CHECK(v2m_users_add(u, "erin@example.com", "$y$h", 0, &e) == V2M_OK);
    CHECK(v2m_user_cache_get(off, u, "erin@example.com", t, TTL, &st, &e) == V2M_OK && st.exists);
    CHECK(v2m_users_del(u, "erin@example.com", &e) == V2M_OK);
    CHECK(v2m_user_cache_get(off, u, "erin@example.com", t, TTL, &st, &e) == V2M_OK && !st.exists);
    v2m_user_cache_free(off);
    v2m_user_cache_free(NULL);

    v2m_users_close(u);
    check_rm_sqlite(dir, "users.db");
    return check_exit("test_auth_usercache");
}
