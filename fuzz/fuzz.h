/* fuzz.h - what every fuzz target defines (libFuzzer's interface), and the
 * check that stops a run when an output breaks a function's promise. */
#ifndef V2M_FUZZ_H
#define V2M_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time set-up; the replay driver calls it when a target has it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: abort (a crash for libFuzzer, a
 * failed test for the replay driver) with the location when it does not hold. */
#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#endif
