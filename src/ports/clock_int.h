/* clock_int.h - the clocks and the interruptible sleep of the port backends.
 *
 * Internal to src/ports. Thread-safe.
 */
#ifndef V2M_PORTS_CLOCK_INT_H
#define V2M_PORTS_CLOCK_INT_H

#include <stdatomic.h>
#include <stdint.h>

/* Wall clock in milliseconds since the epoch (timestamps that are stored),
 * and a monotonic clock in milliseconds (deadlines and intervals). */
int64_t v2m__now_ms(void);
int64_t v2m__mono_ms(void);

/* Sleep ms milliseconds, in slices of at most 50 ms, returning early with 1
 * when *stop (may be NULL) becomes non-zero; 0 after the full sleep. */
int v2m__sleep_ms(int64_t ms, const atomic_int *stop);

#endif
