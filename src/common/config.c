/* config.c - environment parsing with clear refusals. */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *v2m_cfg_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v && *v) ? v : def;
}

v2m_err v2m_cfg_long(const char *name, long def, long min, long max, long *out, v2m_error *err)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (!v || !*v) {
        *out = def;
        return V2M_OK;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected an integer in %ld..%ld", name, v,
                        min, max);
    *out = n;
    return V2M_OK;
}

static v2m_err parse_scaled(const char *s, const char *suffixes, const uint64_t *mult,
                            uint64_t *out)
{
    char *end;
    unsigned long long n;
    uint64_t m = 1;

    if (!s || *s < '0' || *s > '9')
        return V2M_EINVAL;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno)
        return V2M_EINVAL;
    if (*end) {
        const char *p = strchr(suffixes, *end);
        if (!p || end[1])
            return V2M_EINVAL;
        m = mult[p - suffixes];
    }
    if (n > UINT64_MAX / m)
        return V2M_EINVAL;
    *out = (uint64_t)n * m;
    return V2M_OK;
}

v2m_err v2m_parse_size(const char *s, uint64_t *out)
{
    static const uint64_t mult[] = {1024ULL, 1024ULL, 1048576ULL, 1048576ULL,
                                    1073741824ULL, 1073741824ULL, 1099511627776ULL,
                                    1099511627776ULL};
    return parse_scaled(s, "kKmMgGtT", mult, out);
}

v2m_err v2m_cfg_size(const char *name, uint64_t def, uint64_t *out, v2m_error *err)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return V2M_OK;
    }
    if (v2m_parse_size(v, out) != V2M_OK)
        return v2m_fail(err, V2M_ECONFIG,
                        "%s='%s': expected a size like 2147483648, 512M or 2G", name, v);
    return V2M_OK;
}

v2m_err v2m_cfg_seconds(const char *name, long def, long *out, v2m_error *err)
{
    static const uint64_t mult[] = {1, 60, 3600, 86400};
    const char *v = getenv(name);
    uint64_t n;

    if (!v || !*v) {
        *out = def;
        return V2M_OK;
    }
    if (parse_scaled(v, "smhd", mult, &n) != V2M_OK || n == 0 || n > 10ULL * 365 * 86400)
        return v2m_fail(err, V2M_ECONFIG,
                        "%s='%s': expected a positive duration like 3600, 90m, 24h or 7d", name, v);
    *out = (long)n;
    return V2M_OK;
}

v2m_err v2m_parse_hostport(const char *s, char *host, size_t hostsz, int *port)
{
    const char *colon, *h = s;
    size_t hlen;
    char *end;
    long p;

    if (!s)
        return V2M_EINVAL;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return V2M_EINVAL;
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return V2M_EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (hlen >= hostsz)
        return V2M_EINVAL;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
        return V2M_EINVAL;
    if (hlen == 0)
        snprintf(host, hostsz, "0.0.0.0");
    else {
        memcpy(host, h, hlen);
        host[hlen] = '\0';
    }
    *port = (int)p;
    return V2M_OK;
}

v2m_err v2m_cfg_hostport(const char *name, const char *def, char *host, size_t hostsz,
                         int *port, v2m_error *err)
{
    const char *v = v2m_cfg_str(name, def);
    if (v2m_parse_hostport(v, host, hostsz, port) != V2M_OK)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected host:port, e.g. 0.0.0.0:8080",
                        name, v);
    return V2M_OK;
}

int v2m_std_args(int argc, char **argv, const char *prog, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, V2M_VERSION);
            return 0;
        }
    }
    return -1;
}

int v2m_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void v2m_write_port_file(int port) { v2m_write_port_file2(port, 0); }

void v2m_write_port_file2(int port, int admin_port)
{
    const char *pf = v2m_cfg_str("V2M_PORT_FILE", NULL);
    char tmp[1100];
    FILE *f;

    if (!pf || strlen(pf) > 1000)
        return;
    /* Written under a temporary name and renamed, so readers never see it half-written. */
    snprintf(tmp, sizeof tmp, "%s.tmp", pf);
    f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%d\n", port);
    if (admin_port)
        fprintf(f, "%d\n", admin_port);
    if (fclose(f) == 0)
        rename(tmp, pf);
}

void v2m_url_redact(const char *url, char *out, size_t outsz)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;

    if (at && colon && colon < at)
        snprintf(out, outsz, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, outsz, "%s", url);
}

int v2m_service_args(int argc, char **argv, const char *prog, const char *usage)
{
    int rc = v2m_std_args(argc, argv, prog, usage);
    if (rc >= 0)
        return rc;
    if (argc > 1) {
        fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", prog, argv[1]);
        return 2;
    }
    if (v2m_log_init() != 0) {
        fprintf(stderr, "%s: V2M_LOG_LEVEL must be debug, info, warn, error or silent\n", prog);
        return 1;
    }
    /* Databases, stored files and mail are the users' own: nobody else on
     * the machine reads them (files 0600, folders 0700). */
    umask(077);
    return -1;
}
