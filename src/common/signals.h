/* signals.h - how the services stop: SIGINT and SIGTERM are blocked in every
 * thread and the main thread waits for one; SIGPIPE is ignored so that a
 * closed peer is a write error, not the end of the process. */
#ifndef V2M_SIGNALS_H
#define V2M_SIGNALS_H

/* Block SIGINT/SIGTERM in all threads and wait for one; returns the signal.
 * Call v2m_signals_block() first in main, before starting any thread. */
void v2m_signals_block(void);
int v2m_signals_wait(void);

#endif
