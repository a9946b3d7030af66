/* ptest.h - helpers of the ports tests: required servers, reproducible data,
 * memory and time measurements, temporary directories. The checks are
 * check.h's. */
#ifndef V2M_TEST_PTEST_H
#define V2M_TEST_PTEST_H

#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
 * default) before reuse, which would show up as RSS growth in the bounded-
 * memory checks; keep it small. Ignored in builds without ASan. */
__attribute__((used, visibility("default"))) const char *__asan_default_options(void)
{
    return "quarantine_size_mb=4:thread_local_quarantine_size_kb=64";
}

/* The value of a variable a test needs, or skip saying which. */
static inline const char *need_env(const char *var, const char *what)
{
    const char *v = getenv(var);
    if (!v || !*v)
        SKIP("%s not set; run under tests/harness/services.sh or point it at %s", var, what);
    return v;
}

/* Reproducible bytes: byte i of stream `seed` is byte i%8 of
 * splitmix64(seed ^ (i/8)), so any range can be regenerated on its own. */
static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static inline void gen_bytes(uint64_t seed, int64_t off, uint8_t *buf, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int64_t pos = off + (int64_t)i;
        uint64_t w = splitmix64(seed ^ (uint64_t)(pos / 8));
        int k = (int)(pos % 8);
        for (; k < 8 && i < n; k++, i++)
            buf[i] = (uint8_t)(w >> (8 * k));
    }
}

/* Index of the first byte of buf that differs from the stream, or -1. */
static inline int64_t gen_diff(uint64_t seed, int64_t off, const uint8_t *buf, size_t n)
{
    uint8_t tmp[4096];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof tmp ? n - done : sizeof tmp;
        gen_bytes(seed, off + (int64_t)done, tmp, k);
        if (memcmp(tmp, buf + done, k) != 0)
            for (size_t i = 0; i < k; i++)
                if (tmp[i] != buf[done + i])
                    return (int64_t)(done + i);
        done += k;
    }
    return -1;
}

/* Peak resident set size of this process so far, in KiB (VmHWM). */
static inline long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it. */
static inline char *make_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/v2m-%s.XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(p))
        FATAL("mkdtemp %s failed", p);
    return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
