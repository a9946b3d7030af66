/* check.h - the one assertion convention of v2m's C tests.
 *
 *   CHECK(cond)              record a failure (file, line, condition), go on
 *   CHECK_STR(a, b)          the same for two strings, showing both
 *   CHECKF(cond, fmt, ...)   the same with a message about the values
 *   REQUIRE(cond, fmt, ...)  CHECKF, then return from the (void) function:
 *                            for checks the rest of a scenario depends on
 *   FATAL(fmt, ...)          the test cannot go on at all: exit 1
 *   SKIP(fmt, ...)           an external server or tool is absent: say so,
 *                            exit 77 (CTest's SKIP_RETURN_CODE)
 *
 * check_scenario names the scenario running (set it before its checks); a
 * failure message shows it. main returns check_exit(name).
 */
#ifndef V2M_TEST_CHECK_H
#define V2M_TEST_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Atomic: tests check from several threads at once. */
static atomic_int check_failures;
static atomic_int check_count;
static const char *check_scenario = "";

#define CHECK_SKIP_CODE 77

static inline void check_where_(const char *file, int line)
{
    fprintf(stderr, "%s:%d: CHECK failed", file, line);
    if (check_scenario[0])
        fprintf(stderr, " [%s]", check_scenario);
    fputs(": ", stderr);
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            check_where_(__FILE__, __LINE__);                                        \
            fprintf(stderr, "%s\n", #cond);                                          \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                              \
    do {                                                                             \
        const char *a_ = (a), *b_ = (b);                                             \
        check_count++;                                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                     \
            check_where_(__FILE__, __LINE__);                                        \
            fprintf(stderr, "%s == %s (\"%s\" vs \"%s\")\n", #a, #b,                 \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

/* The message arguments are evaluated only when cond is false. */
#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            check_where_(__FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define REQUIRE(cond, ...)                                                           \
    do {                                                                             \
        int ok_ = !!(cond);                                                          \
        CHECKF(ok_, __VA_ARGS__);                                                    \
        if (!ok_)                                                                    \
            return;                                                                  \
    } while (0)

#define FATAL(...)                                                                   \
    do {                                                                             \
        fprintf(stderr, "%s:%d: FATAL: ", __FILE__, __LINE__);                       \
        fprintf(stderr, __VA_ARGS__);                                                \
        fputc('\n', stderr);                                                         \
        exit(1);                                                                     \
    } while (0)

#define SKIP(...)                                                                    \
    do {                                                                             \
        fprintf(stderr, "SKIP: ");                                                   \
        fprintf(stderr, __VA_ARGS__);                                                \
        fputc('\n', stderr);                                                         \
        exit(CHECK_SKIP_CODE);                                                       \
    } while (0)

static inline int check_exit(const char *name)
{
    int n = atomic_load(&check_count), failed = atomic_load(&check_failures);
    fprintf(stderr, "%s: %d checks, %d failed\n", name, n, failed);
    return failed ? 1 : 0;
}

/* Remove the SQLite database dir/name a test made, with its -wal and -shm
 * files, then dir. */
static inline void check_rm_sqlite(const char *dir, const char *name)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char path[4096];

    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
