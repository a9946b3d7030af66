/* ncpu.h - the machine's core count (default thread counts). */
#ifndef V2M_NCPU_H
#define V2M_NCPU_H

/* Number of online cores (at least 1). */
int v2m_ncpu(void);

#endif
