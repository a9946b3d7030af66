/* auth.c - the auth service's configuration and credential parsing. */
#include "auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"

v2m_err v2m_auth_config_load(v2m_auth_config *c, v2m_error *err)
{
    const char *secret = v2m_cfg_str("JWT_SECRET", NULL);
    const char *proxies = getenv("V2M_TRUSTED_PROXIES");
    long delay, delay_max, forget;
    v2m_error perr = {0};
    v2m_err rc;

    memset(c, 0, sizeof *c);
    if (!secret)
        return v2m_fail(err, V2M_ECONFIG, "JWT_SECRET is not set (the HS256 signing secret)");
    c->secret = strdup(secret);
    if (!c->secret)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if ((rc = v2m_cfg_hostport("V2M_LISTEN", "0.0.0.0:5000", c->host, sizeof c->host, &c->port,
                               err)) ||
        (rc = v2m_users_url_from_env("sqlite://./var/users.db", c->users_url,
                                     sizeof c->users_url, err)) ||
        (rc = v2m_cfg_seconds("V2M_TOKEN_TTL", 86400, &c->token_ttl, err)) ||
        (rc = v2m_cfg_long("V2M_HTTP_THREADS", v2m_ncpu(), 1, 256, &c->threads, err)) ||
        (rc = v2m_cfg_long("V2M_LOGIN_FREE_FAILURES", 5, 1, 1000, &c->throttle.free_failures,
                           err)) ||
        (rc = v2m_cfg_seconds("V2M_LOGIN_DELAY", 1, &delay, err)) ||
        (rc = v2m_cfg_seconds("V2M_LOGIN_DELAY_MAX", 60, &delay_max, err)) ||
        (rc = v2m_cfg_seconds("V2M_LOGIN_FORGET", 15 * 60, &forget, err)))
        return rc;
    if (delay_max < delay)
        return v2m_fail(err, V2M_ECONFIG, "V2M_LOGIN_DELAY_MAX (%ld s) is shorter than "
                        "V2M_LOGIN_DELAY (%ld s)", delay_max, delay);
    c->throttle.delay_ms = delay * 1000LL;
    c->throttle.max_delay_ms = delay_max * 1000LL;
    c->throttle.forget_ms = forget * 1000LL;
    /* Set but empty means: trust no proxy. */
    if (v2m_cidr_list_parse(proxies ? proxies : V2M_TRUSTED_PROXIES_DEFAULT, &c->trusted,
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

