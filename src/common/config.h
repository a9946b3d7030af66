/* config.h - configuration from the environment, read once at start from a table.
 *
 * Each service describes its settings in tables (redis config.c's
 * standardConfig shape): one row per variable with its name, its default, a
 * parser with the value's range, and one line of help. Loading a table reads
 * every row's variable once; a value the parser refuses yields V2M_ECONFIG and
 * a message naming the variable and what was expected, and the service exits
 * with that message. `--help` prints the tables (see args.h), so the help
 * cannot disagree with what is read. Nothing reads the environment after
 * start-up.
 */
#ifndef V2M_CONFIG_H
#define V2M_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* One variable's value after loading. */
typedef struct v2m_cfg_val {
    int set;            /* 1: taken from the environment; 0: the default (or none) */
    const char *text;   /* the text parsed: the environment's or the default; NULL when
                         * unset without a default */
    long long num;      /* integer; size in bytes; duration in seconds */
    char host[256];     /* host:port: the host ("0.0.0.0" when empty; "" for "off") */
    int port;
} v2m_cfg_val;

typedef struct v2m_cfg_var v2m_cfg_var;

/* Parse text (never NULL) for row v into out; on a refusal, the message names
 * v->name and what was expected. */
typedef v2m_err (*v2m_cfg_parse_fn)(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                                    v2m_error *err);

struct v2m_cfg_var {
    const char *name;
    const char *def;        /* parsed like a set value when the variable is unset or empty;
                             * NULL: no default (the service derives one, or requires it) */
    v2m_cfg_parse_fn parse;
    long long min, max;     /* the parsed value's range (text: at most max bytes, 0 = any) */
    const char *help;       /* one line */
    const char *shown;      /* the default as --help tells it, when def is NULL */
    int flags;              /* V2M_CFG_* below */
};

/* A set but empty value is a value ("" for text), not the default. */
#define V2M_CFG_EMPTY_IS_SET 1

/* The parsers. */
v2m_err v2m_cfg_parse_text(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                           v2m_error *err);
v2m_err v2m_cfg_parse_int(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                          v2m_error *err);
/* Digits with an optional K, M, G or T suffix (powers of 1024). */
v2m_err v2m_cfg_parse_size(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                           v2m_error *err);
/* Digits with an optional s, m, h or d suffix; seconds when bare. */
v2m_err v2m_cfg_parse_duration(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                               v2m_error *err);
/* The same, or "off" (0): for settings where 0 means "never". */
v2m_err v2m_cfg_parse_duration_off(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                                   v2m_error *err);
/* host:port (see v2m_parse_hostport); port within min..max. */
/* "on" or "off": num 1 or 0. */
v2m_err v2m_cfg_parse_onoff(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                            v2m_error *err);
v2m_err v2m_cfg_parse_hostport(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                               v2m_error *err);
/* The same, or "off" (host "", port 0). */
v2m_err v2m_cfg_parse_hostport_off(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                                   v2m_error *err);

/* A table: rows read together by one module. A program's configuration is a
 * NULL-ended list of tables (its own, and those of the modules it runs). */
typedef struct v2m_cfg_table {
    const char *title;      /* "gateway", "HTTP server", ... */
    const v2m_cfg_var *vars;
    size_t n;
} v2m_cfg_table;

#define V2M_CFG_TABLE(title, rows) {(title), (rows), sizeof(rows) / sizeof((rows)[0])}

/* A loaded table. */
#define V2M_CFG_MAX 32
typedef struct v2m_cfg {
    const v2m_cfg_table *table;
    v2m_cfg_val vals[V2M_CFG_MAX];
} v2m_cfg;

/* Read and parse every row of t, in order; the first refusal is returned. */
v2m_err v2m_cfg_load(v2m_cfg *c, const v2m_cfg_table *t, v2m_error *err);

/* A loaded row by name. A name not in the table is a programming error: the
 * process aborts naming it (so every variable read is in a table). */
const v2m_cfg_val *v2m_cfg_get(const v2m_cfg *c, const char *name);
/* Its text (NULL when unset without a default) and its number. */
const char *v2m_cfg_text(const v2m_cfg *c, const char *name);
long long v2m_cfg_num(const v2m_cfg *c, const char *name);

/* The tables as --help shows them: name, default, help; and, for tools and
 * tests, one row a line: name TAB kind TAB default TAB min TAB max TAB help, kind
 * being int, size, duration, hostport, text or other. */
void v2m_cfg_print_help(FILE *f, const v2m_cfg_table *const *tables);
void v2m_cfg_print_rows(FILE *f, const v2m_cfg_table *const *tables);

/* The typed parsers' cores, for values that do not come from the environment. */
v2m_err v2m_parse_size(const char *s, uint64_t *out);
/* "host:port" (or ":port", or "[v6]:port"); port 0..65535. host gets "0.0.0.0"
 * when empty. */
v2m_err v2m_parse_hostport(const char *s, char *host, size_t hostsz, int *port);

#endif
