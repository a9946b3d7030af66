/* portfile.c - the bound port, written where V2M_PORT_FILE says. */
#include "portfile.h"

#include <stdio.h>
#include <string.h>

static char port_file[1001];

void v2m_port_file_set(const char *path)
{
    snprintf(port_file, sizeof port_file, "%s", path && strlen(path) < sizeof port_file ? path : "");
}

void v2m_write_port_file(int port) { v2m_write_port_file2(port, 0); }

void v2m_write_port_file2(int port, int admin_port)
{
    char tmp[sizeof port_file + 8];
    FILE *f;

    if (!port_file[0])
        return;
    /* Written under a temporary name and renamed, so readers never see it half-written. */
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%d\n", port);
    if (admin_port)
        fprintf(f, "%d\n", admin_port);
    if (fclose(f) == 0)
        rename(tmp, port_file);
}
