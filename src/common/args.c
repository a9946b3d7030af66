/* args.c - --help, --version, --config-table, and the start every service shares. */
#include "args.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "portfile.h"

static v2m_err parse_level(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                           v2m_error *err)
{
    int was = v2m_log_threshold, bad = v2m_log_set_level(text);

    v2m_log_threshold = was; /* only checked here; set once the table is loaded */
    if (bad)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected debug, info, warn, error or silent",
                        v->name, text);
    out->text = text;
    return V2M_OK;
}

static const v2m_cfg_var service_vars[] = {
    {.name = "V2M_LOG_LEVEL", .def = "info", .parse = parse_level,
     .help = "debug, info, warn, error or silent"},
    {.name = "V2M_PORT_FILE", .parse = v2m_cfg_parse_text, .max = 1000,
     .help = "write the bound port(s) here once listening (for port 0)"},
};
const v2m_cfg_table v2m_service_table = V2M_CFG_TABLE("every service", service_vars);

int v2m_std_args(int argc, char **argv, const char *prog, const char *usage,
                 const v2m_cfg_table *const *tables)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            if (tables)
                v2m_cfg_print_help(stdout, tables);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, V2M_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--config-table") == 0) {
            if (tables)
                v2m_cfg_print_rows(stdout, tables);
            return 0;
        }
    }
    return -1;
}

int v2m_service_args(int argc, char **argv, const char *prog, const char *usage,
                     const v2m_cfg_table *const *tables)
{
    v2m_error err = {0};
    v2m_cfg c;
    int rc = v2m_std_args(argc, argv, prog, usage, tables);

    if (rc >= 0)
        return rc;
    if (argc > 1) {
        fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", prog, argv[1]);
        return 2;
    }
    if (v2m_cfg_load(&c, &v2m_service_table, &err) != V2M_OK) {
        fprintf(stderr, "%s: %s\n", prog, v2m_error_msg(&err));
        return 1;
    }
    v2m_log_set_level(v2m_cfg_text(&c, "V2M_LOG_LEVEL"));
    v2m_port_file_set(v2m_cfg_text(&c, "V2M_PORT_FILE"));
    /* Databases, stored files and mail are the users' own: nobody else on
     * the machine reads them (files 0600, folders 0700). */
    umask(077);
    return -1;
}
