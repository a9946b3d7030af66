/* ncpu.c - the machine's core count. */
#include "ncpu.h"

#include <unistd.h>

int v2m_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
