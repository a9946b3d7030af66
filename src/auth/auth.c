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
        (rc = v2m_cfg_long("V2M_HTTP_THREADS", v2m_ncpu(), 1, 256, &c->threads, err)))
        return rc;
    return V2M_OK;
}

void v2m_auth_config_free(v2m_auth_config *c)
{
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

