/* config.h - configuration from the environment, read once at start.
 *
 * Each service reads its variables in one function at start-up with these
 * helpers; a bad value yields V2M_ECONFIG and a message naming the variable
 * and what was expected, and the service exits with that message. Nothing
 * reads the environment after start-up.
 */
#ifndef V2M_CONFIG_H
#define V2M_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The variable's value, or def when unset or empty. */
const char *v2m_cfg_str(const char *name, const char *def);

/* Decimal integer within [min, max]. */
v2m_err v2m_cfg_long(const char *name, long def, long min, long max, long *out, v2m_error *err);

/* Byte size: digits with an optional K, M, G or T suffix (powers of 1024). */
v2m_err v2m_cfg_size(const char *name, uint64_t def, uint64_t *out, v2m_error *err);
v2m_err v2m_parse_size(const char *s, uint64_t *out);

/* Duration: digits with an optional s, m, h or d suffix; seconds when bare. */
v2m_err v2m_cfg_seconds(const char *name, long def, long *out, v2m_error *err);

/* "host:port" (or ":port", or "[v6]:port"); port 0..65535. host gets "0.0.0.0"
 * when empty. */
v2m_err v2m_parse_hostport(const char *s, char *host, size_t hostsz, int *port);
v2m_err v2m_cfg_hostport(const char *name, const char *def, char *host, size_t hostsz,
                         int *port, v2m_error *err);

/* Standard options every binary answers. Returns -1 when the program should
 * go on, else the exit code after printing help or version. */
int v2m_std_args(int argc, char **argv, const char *prog, const char *usage);

/* Write port to the file named by V2M_PORT_FILE, when set (tests start
 * services on port 0 and read the bound port from there). */
void v2m_write_port_file(int port);
/* The same, with the admin (metrics) port on a second line when not 0. */
void v2m_write_port_file2(int port, int admin_port);

/* url with any password (scheme://user:PASSWORD@host) replaced by "***",
 * for logs and messages. */
void v2m_url_redact(const char *url, char *out, size_t outsz);

/* The start of every service's main: --help, --version, no other arguments,
 * V2M_LOG_LEVEL. Returns -1 when the service should go on, else the exit
 * code (after printing what was asked or why not). */
int v2m_service_args(int argc, char **argv, const char *prog, const char *usage);

/* Number of online cores (at least 1). */
int v2m_ncpu(void);

#endif
