/* args.h - the command-line options every program answers, and a service's start. */
#ifndef V2M_ARGS_H
#define V2M_ARGS_H

#include "config.h"

/* The settings every service reads: V2M_LOG_LEVEL, V2M_PORT_FILE. */
extern const v2m_cfg_table v2m_service_table;

/* --help (usage, then the settings tables: NULL-ended, may be NULL),
 * --version, and --config-table (the tables' rows, one a line, see
 * v2m_cfg_print_rows). Returns -1 when the program should go on, else the
 * exit code after printing what was asked. */
int v2m_std_args(int argc, char **argv, const char *prog, const char *usage,
                 const v2m_cfg_table *const *tables);

/* The start of every service's main: the options above, no other arguments,
 * then v2m_service_table (log level, port file). Returns -1 when the service
 * should go on, else the exit code (after printing what was asked or why
 * not). */
int v2m_service_args(int argc, char **argv, const char *prog, const char *usage,
                     const v2m_cfg_table *const *tables);

#endif
