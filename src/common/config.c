/* config.c - configuration tables: loading, the typed parsers, --help's listing. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* n seconds as the largest whole unit: 86400 -> "1d", 90 -> "90s". */
static const char *fmt_duration(long long n, char *buf, size_t sz)
{
    if (n && n % 86400 == 0)
        snprintf(buf, sz, "%lldd", n / 86400);
    else if (n && n % 3600 == 0)
        snprintf(buf, sz, "%lldh", n / 3600);
    else if (n && n % 60 == 0)
        snprintf(buf, sz, "%lldm", n / 60);
    else
        snprintf(buf, sz, "%llds", n);
    return buf;
}

static const char *fmt_size(long long n, char *buf, size_t sz)
{
    static const char units[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        long long m = 1LL << (10 * (4 - i));
        if (n && n % m == 0) {
            snprintf(buf, sz, "%lld%c", n / m, units[i]);
            return buf;
        }
    }
    snprintf(buf, sz, "%lld", n);
    return buf;
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

v2m_err v2m_cfg_parse_text(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                           v2m_error *err)
{
    if (v->max > 0 && strlen(text) > (size_t)v->max)
        return v2m_fail(err, V2M_ECONFIG, "%s: expected at most %lld bytes", v->name, v->max);
    out->text = text;
    return V2M_OK;
}

v2m_err v2m_cfg_parse_int(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                          v2m_error *err)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(text, &end, 10);
    if (errno || end == text || *end || n < v->min || n > v->max)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected an integer in %lld..%lld", v->name,
                        text, v->min, v->max);
    out->num = n;
    return V2M_OK;
}

v2m_err v2m_cfg_parse_size(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                           v2m_error *err)
{
    uint64_t n;
    char lo[32], hi[32];

    if (v2m_parse_size(text, &n) != V2M_OK || n < (uint64_t)v->min || n > (uint64_t)v->max)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected a size from %s to %s, like 512M or 2G",
                        v->name, text, fmt_size(v->min, lo, sizeof lo),
                        fmt_size(v->max, hi, sizeof hi));
    out->num = (long long)n;
    return V2M_OK;
}

v2m_err v2m_cfg_parse_duration(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                               v2m_error *err)
{
    static const uint64_t mult[] = {1, 60, 3600, 86400};
    uint64_t n;
    char lo[32], hi[32];

    if (parse_scaled(text, "smhd", mult, &n) != V2M_OK || n < (uint64_t)v->min ||
        n > (uint64_t)v->max)
        return v2m_fail(err, V2M_ECONFIG,
                        "%s='%s': expected a duration from %s to %s, like 30, 90s, 15m, 24h or 7d",
                        v->name, text, fmt_duration(v->min, lo, sizeof lo),
                        fmt_duration(v->max, hi, sizeof hi));
    out->num = (long long)n;
    return V2M_OK;
}

v2m_err v2m_cfg_parse_duration_off(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                                   v2m_error *err)
{
    if (strcmp(text, "off") == 0) {
        out->num = 0;
        return V2M_OK;
    }
    return v2m_cfg_parse_duration(v, text, out, err);
}

v2m_err v2m_cfg_parse_onoff(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                            v2m_error *err)
{
    if (strcmp(text, "on") != 0 && strcmp(text, "off") != 0)
        return v2m_fail(err, V2M_ECONFIG, "%s='%.60s': expected on or off", v->name, text);
    out->num = strcmp(text, "on") == 0;
    out->text = text;
    return V2M_OK;
}

v2m_err v2m_cfg_parse_hostport(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                               v2m_error *err)
{
    if (v2m_parse_hostport(text, out->host, sizeof out->host, &out->port) != V2M_OK ||
        out->port < v->min || out->port > v->max)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected host:port, e.g. 0.0.0.0:8080",
                        v->name, text);
    out->text = text;
    return V2M_OK;
}

v2m_err v2m_cfg_parse_hostport_off(const v2m_cfg_var *v, const char *text, v2m_cfg_val *out,
                                   v2m_error *err)
{
    if (strcmp(text, "off") == 0) {
        out->host[0] = '\0';
        out->port = 0;
        return V2M_OK;
    }
    if (v2m_cfg_parse_hostport(v, text, out, err) != V2M_OK)
        return v2m_fail(err, V2M_ECONFIG, "%s='%s': expected host:port or off", v->name, text);
    return V2M_OK;
}

v2m_err v2m_cfg_load(v2m_cfg *c, const v2m_cfg_table *t, v2m_error *err)
{
    memset(c, 0, sizeof *c);
    c->table = t;
    if (t->n > V2M_CFG_MAX)
        return v2m_fail(err, V2M_ECONFIG, "%s settings: table too long", t->title);
    for (size_t i = 0; i < t->n; i++) {
        const v2m_cfg_var *v = &t->vars[i];
        v2m_cfg_val *out = &c->vals[i];
        const char *text = getenv(v->name);
        v2m_err rc;

        if (text && (*text || (v->flags & V2M_CFG_EMPTY_IS_SET)))
            out->set = 1;
        else
            text = v->def;
        out->text = text;
        if (text && (rc = v->parse(v, text, out, err)) != V2M_OK)
            return rc;
    }
    return V2M_OK;
}

const v2m_cfg_val *v2m_cfg_get(const v2m_cfg *c, const char *name)
{
    for (size_t i = 0; c->table && i < c->table->n; i++)
        if (strcmp(c->table->vars[i].name, name) == 0)
            return &c->vals[i];
    fprintf(stderr, "%s is not in the %s settings table\n", name,
            c->table ? c->table->title : "(unloaded)");
    abort();
}

const char *v2m_cfg_text(const v2m_cfg *c, const char *name) { return v2m_cfg_get(c, name)->text; }

long long v2m_cfg_num(const v2m_cfg *c, const char *name) { return v2m_cfg_get(c, name)->num; }

static const char *shown_default(const v2m_cfg_var *v)
{
    if (v->def && *v->def)
        return v->def;
    return v->shown ? v->shown : "none";
}

void v2m_cfg_print_help(FILE *f, const v2m_cfg_table *const *tables)
{
    fputs("Environment (name, default, meaning):\n", f);
    for (; *tables; tables++) {
        fprintf(f, " %s:\n", (*tables)->title);
        for (size_t i = 0; i < (*tables)->n; i++) {
            const v2m_cfg_var *v = &(*tables)->vars[i];
            fprintf(f, "  %-28s %-24s %s\n", v->name, shown_default(v), v->help);
        }
    }
}

static const char *kind(const v2m_cfg_var *v)
{
    if (v->parse == v2m_cfg_parse_int)
        return "int";
    if (v->parse == v2m_cfg_parse_size)
        return "size";
    if (v->parse == v2m_cfg_parse_duration || v->parse == v2m_cfg_parse_duration_off)
        return "duration";
    if (v->parse == v2m_cfg_parse_hostport || v->parse == v2m_cfg_parse_hostport_off)
        return "hostport";
    return v->parse == v2m_cfg_parse_text ? "text" : "other";
}

void v2m_cfg_print_rows(FILE *f, const v2m_cfg_table *const *tables)
{
    for (; *tables; tables++)
        for (size_t i = 0; i < (*tables)->n; i++) {
            const v2m_cfg_var *v = &(*tables)->vars[i];
            fprintf(f, "%s\t%s\t%s\t%lld\t%lld\t%s\n", v->name, kind(v), shown_default(v), v->min,
                    v->max, v->help);
        }
}
