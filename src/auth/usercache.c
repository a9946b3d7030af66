/* usercache.c - a sharded hash table of user states with a time to live. */
#include "usercache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARDS 32
#define SHARD_MAX 2048   /* entries per shard; a full shard drops expired ones, then all */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    long long fetched_ms;
    v2m_user_state st;
    char email[256];
} entry;

typedef struct shard {
    pthread_mutex_t mu;
    entry *buckets[64];
    size_t n;
} shard;

struct v2m_user_cache {
    long long ttl_ms;
    atomic_ulong hits, misses;
    shard shards[SHARDS];
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

v2m_user_cache *v2m_user_cache_new(long long ttl_ms)
{
    v2m_user_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ttl_ms = ttl_ms < 0 ? 0 : ttl_ms > V2M_USER_CACHE_MAX_MS ? V2M_USER_CACHE_MAX_MS : ttl_ms;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&c->shards[i].mu, NULL);
    return c;
}

static void shard_clear(shard *s, long long expired_before, int all)
{
    for (size_t b = 0; b < sizeof s->buckets / sizeof s->buckets[0]; b++) {
        entry **pp = &s->buckets[b];
        while (*pp) {
            entry *e = *pp;
            if (all || e->fetched_ms < expired_before) {
                *pp = e->next;
                free(e);
                s->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

void v2m_user_cache_free(v2m_user_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SHARDS; i++) {
        shard_clear(&c->shards[i], 0, 1);
        pthread_mutex_destroy(&c->shards[i].mu);
    }
    free(c);
}

static entry **find(shard *s, uint64_t h, const char *email)
{
    entry **pp = &s->buckets[(h >> 8) % (sizeof s->buckets / sizeof s->buckets[0])];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strcmp((*pp)->email, email) == 0)
            break;
    return pp;
}

v2m_err v2m_user_cache_get(v2m_user_cache *c, v2m_users *users, const char *email,
                           long long now_ms, long long max_age_ms, v2m_user_state *out,
                           v2m_error *err)
{
    char key[256];
    uint64_t h;
    shard *s;
    entry **pp, *e;
    v2m_user u;
    v2m_err rc;

    memset(out, 0, sizeof *out);
    if (strlen(email) > 255)
        return V2M_OK; /* no row can hold it */
    v2m_users_normalize_email(email, key, sizeof key);
    h = fnv1a(key);
    s = &c->shards[h % SHARDS];
    if (max_age_ms > c->ttl_ms)
        max_age_ms = c->ttl_ms;
    if (max_age_ms > 0) {
        pthread_mutex_lock(&s->mu);
        e = *find(s, h, key);
        if (e && now_ms - e->fetched_ms < max_age_ms && now_ms >= e->fetched_ms) {
            *out = e->st;
            pthread_mutex_unlock(&s->mu);
            atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
            return V2M_OK;
        }
        pthread_mutex_unlock(&s->mu);
    }
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
    out->read_at = (long long)time(NULL);
    rc = v2m_users_get(users, key, &u, err);
    if (rc == V2M_OK) {
        out->exists = 1;
        out->admin = u.admin;
        out->token_gen = u.token_gen;
        explicit_bzero(u.password, sizeof u.password);
    } else if (rc != V2M_ENOTFOUND) {
        return rc;
    }
    if (c->ttl_ms <= 0)
        return V2M_OK;
    pthread_mutex_lock(&s->mu);
    pp = find(s, h, key);
    if (!*pp) {
        if (s->n >= SHARD_MAX)
            shard_clear(s, now_ms - c->ttl_ms, 0);
        if (s->n >= SHARD_MAX)
            shard_clear(s, 0, 1);
        pp = find(s, h, key);
        *pp = calloc(1, sizeof **pp);
        if (*pp) {
            (*pp)->hash = h;
            memcpy((*pp)->email, key, strlen(key) + 1);
            s->n++;
        }
    }
    if (*pp && (*pp)->fetched_ms <= now_ms) {
        (*pp)->st = *out;
        (*pp)->fetched_ms = now_ms;
    }
    pthread_mutex_unlock(&s->mu);
    return V2M_OK;
}

void v2m_user_cache_counts(v2m_user_cache *c, unsigned long *hits, unsigned long *misses)
{
    *hits = atomic_load(&c->hits);
    *misses = atomic_load(&c->misses);
}
