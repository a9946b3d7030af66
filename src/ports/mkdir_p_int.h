/* mkdir_p_int.h - create a directory and its parents (mkdir -p).
 *
 * Internal to src/ports. Thread-safe.
 */
#ifndef V2M_PORTS_MKDIR_P_INT_H
#define V2M_PORTS_MKDIR_P_INT_H

/* mkdir -p with mode 0755; 0 or -1 with errno. */
int v2m__mkdir_p(const char *path);

#endif
