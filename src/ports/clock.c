/* clock.c - wall and monotonic clocks in milliseconds, interruptible sleep. */
#include "clock_int.h"

#include <time.h>

int64_t v2m__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t v2m__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int v2m__sleep_ms(int64_t ms, const atomic_int *stop)
{
    int64_t end = v2m__mono_ms() + ms;

    for (;;) {
        int64_t left = end - v2m__mono_ms();
        struct timespec ts;

        if (stop && atomic_load(stop))
            return 1;
        if (left <= 0)
            return 0;
        if (left > 50)
            left = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}
