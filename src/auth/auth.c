/* auth.c - the auth service's configuration and credential parsing. */
#include "auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/ncpu.h"

static const v2m_cfg_var auth_vars[] = {
    {.name = "JWT_SECRET", .parse = v2m_cfg_parse_text, .shown = "required",
     .help = "HS256 secret that signs tokens"},
    {.name = "V2M_LISTEN", .def = "0.0.0.0:5000", .parse = v2m_cfg_parse_hostport,
     .max = 65535, .help = "host:port to listen on"},
    {.name = "V2M_TOKEN_TTL", .def = "24h", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 365 * 86400, .help = "token lifetime; tokens whose exp - iat is longer are refused"},
    {.name = "V2M_HTTP_THREADS", .parse = v2m_cfg_parse_int, .min = 1, .max = 256,
     .shown = "number of cores", .help = "server threads"},
    {.name = "V2M_LOGIN_FREE_FAILURES", .def = "5", .parse = v2m_cfg_parse_int, .min = 1,
     .max = 1000, .help = "failed logins per account and client address before delays start"},
    {.name = "V2M_LOGIN_DELAY", .def = "1s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 3600, .help = "first delay, doubled on each further failure"},
    {.name = "V2M_LOGIN_DELAY_MAX", .def = "60s", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 86400, .help = "longest delay; meanwhile /login answers 429 with Retry-After"},
    {.name = "V2M_LOGIN_FORGET", .def = "15m", .parse = v2m_cfg_parse_duration, .min = 1,
     .max = 7 * 86400, .help = "failures are forgotten this long after the last"},
    {.name = "V2M_TRUSTED_PROXIES", .def = V2M_TRUSTED_PROXIES_DEFAULT,
     .parse = v2m_cfg_parse_text, .flags = V2M_CFG_EMPTY_IS_SET,
     .help = "CIDRs whose X-Forwarded-For is believed (empty: none)"},
};
const v2m_cfg_table v2m_auth_table = V2M_CFG_TABLE("auth", auth_vars);

v2m_err v2m_auth_config_load(v2m_auth_config *c, v2m_error *err)
{
    const char *secret;
    const v2m_cfg_val *threads;
    long long delay, delay_max, forget;
    v2m_error perr = {0};
    v2m_cfg cfg;
    v2m_err rc;

    memset(c, 0, sizeof *c);
    if ((rc = v2m_cfg_load(&cfg, &v2m_auth_table, err)))
        return rc;
    secret = v2m_cfg_text(&cfg, "JWT_SECRET");
    if (!secret)
        return v2m_fail(err, V2M_ECONFIG, "JWT_SECRET is not set (the HS256 signing secret)");
    c->secret = strdup(secret);
    if (!c->secret)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if ((rc = v2m_users_url_from_env("sqlite://./var/users.db", c->users_url,
                                     sizeof c->users_url, err)))
        return rc;
    snprintf(c->host, sizeof c->host, "%s", v2m_cfg_get(&cfg, "V2M_LISTEN")->host);
    c->port = v2m_cfg_get(&cfg, "V2M_LISTEN")->port;
    c->token_ttl = (long)v2m_cfg_num(&cfg, "V2M_TOKEN_TTL");
    threads = v2m_cfg_get(&cfg, "V2M_HTTP_THREADS");
    c->threads = threads->text ? (long)threads->num : v2m_ncpu();
    c->throttle.free_failures = (long)v2m_cfg_num(&cfg, "V2M_LOGIN_FREE_FAILURES");
    delay = v2m_cfg_num(&cfg, "V2M_LOGIN_DELAY");
    delay_max = v2m_cfg_num(&cfg, "V2M_LOGIN_DELAY_MAX");
    forget = v2m_cfg_num(&cfg, "V2M_LOGIN_FORGET");
    if (delay_max < delay)
        return v2m_fail(err, V2M_ECONFIG, "V2M_LOGIN_DELAY_MAX (%lld s) is shorter than "
                        "V2M_LOGIN_DELAY (%lld s)", delay_max, delay);
    c->throttle.delay_ms = delay * 1000LL;
    c->throttle.max_delay_ms = delay_max * 1000LL;
    c->throttle.forget_ms = forget * 1000LL;
    /* Set but empty means: trust no proxy. */
    if (v2m_cidr_list_parse(v2m_cfg_text(&cfg, "V2M_TRUSTED_PROXIES"), &c->trusted,
                            &perr) != V2M_OK)
        return v2m_fail(err, V2M_ECONFIG, "V2M_TRUSTED_PROXIES: %s", v2m_error_msg(&perr));
    return V2M_OK;
}

void v2m_auth_config_free(v2m_auth_config *c)
{
    v2m_cidr_list_free(&c->trusted);
    if (c->secret) {
        explicit_bzero(c->secret, strlen(c->secret));
        free(c->secret);
        c->secret = NULL;
    }
}

v2m_err v2m_auth_parse_basic(const char *header, char *user, size_t usz, char *pass,
                             size_t psz)
{
    unsigned char raw[3 * 1024 + 4];
    size_t n, padding = 0;
    int len;
    char *colon;

    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return V2M_EINVAL;
    header += 6;
    while (*header == ' ')
        header++;
    n = strlen(header);
    while (n && header[n - 1] == ' ')
        n--;
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof raw - 1)
        return V2M_EINVAL;
    len = EVP_DecodeBlock(raw, (const unsigned char *)header, (int)n);
    if (len < 0)
        return V2M_EINVAL;
    if (header[n - 1] == '=')
        padding++;
    if (header[n - 2] == '=')
        padding++;
    len -= (int)padding;
    raw[len] = '\0';
    if (memchr(raw, '\0', (size_t)len))
        return V2M_EINVAL;
    colon = strchr((char *)raw, ':');
    if (!colon)
        return V2M_EINVAL;
    *colon = '\0';
    if (strlen((char *)raw) >= usz || strlen(colon + 1) >= psz)
        return V2M_EINVAL;
    strcpy(user, (char *)raw);
    strcpy(pass, colon + 1);
    explicit_bzero(raw, sizeof raw);
    return V2M_OK;
}

