/* users.c - pick the users backend from the URL; shared checks. */
#include "users_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/config.h"
#include "ports_int.h"

struct v2m_users {
    const v2m__users_ops *ops;
    void *impl;
};

/* The backends by URL scheme: a new one is its file and a row here. */
static const v2m__backend backends[] = {
    {"sqlite", &v2m__users_sqlite},
    {"mysql", &v2m__users_mysql},
};

static const v2m_cfg_var users_vars[] = {
    {.name = "V2M_USERS", .parse = v2m_cfg_parse_text, .max = V2M_USERS_URL_MAX - 1,
     .shown = "MYSQL_* when MYSQL_HOST is set, else sqlite://./var/users.db",
     .help = "sqlite:///path.db or mysql://user:pass@host:port/db"},
    {.name = "MYSQL_HOST", .parse = v2m_cfg_parse_text,
     .help = "the original's setting: the MySQL host (used when V2M_USERS is unset)"},
    {.name = "MYSQL_PORT", .def = "3306", .parse = v2m_cfg_parse_int, .min = 1, .max = 65535,
     .help = "the original's setting: the MySQL port"},
    {.name = "MYSQL_USER", .def = "auth_user", .parse = v2m_cfg_parse_text,
     .help = "the original's setting: the MySQL user"},
    {.name = "MYSQL_PASSWORD", .parse = v2m_cfg_parse_text,
     .help = "the original's setting: the MySQL password"},
    {.name = "MYSQL_DB", .def = "auth", .parse = v2m_cfg_parse_text,
     .help = "the original's setting: the MySQL database"},
};
const v2m_cfg_table v2m_users_table = V2M_CFG_TABLE("users", users_vars);

v2m_err v2m_users_url_from_env(const char *def, char *url, size_t urlsz, v2m_error *err)
{
    v2m_cfg c;
    const char *v, *host;
    CURLU *u;
    char port[16];
    char *s = NULL;
    v2m_err rc;

    if ((rc = v2m_cfg_load(&c, &v2m_users_table, err)))
        return rc;
    v = v2m_cfg_text(&c, "V2M_USERS");
    host = v2m_cfg_text(&c, "MYSQL_HOST");
    if (v) {
        if (strlen(v) >= urlsz)
            return v2m_fail(err, V2M_ECONFIG, "V2M_USERS is too long");
        snprintf(url, urlsz, "%s", v);
        return V2M_OK;
    }
    if (!host) {
        snprintf(url, urlsz, "%s", def);
        return V2M_OK;
    }
    /* Build the URL with libcurl so user and password are percent-encoded. */
    snprintf(port, sizeof port, "%lld", v2m_cfg_num(&c, "MYSQL_PORT"));
    u = curl_url();
    if (!u)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_SCHEME, "mysql", CURLU_NON_SUPPORT_SCHEME) ||
        curl_url_set(u, CURLUPART_HOST, host, 0) ||
        curl_url_set(u, CURLUPART_PORT, port, 0) ||
        curl_url_set(u, CURLUPART_USER, v2m_cfg_text(&c, "MYSQL_USER"), CURLU_URLENCODE) ||
        curl_url_set(u, CURLUPART_PASSWORD, v2m_cfg_text(&c, "MYSQL_PASSWORD") ? v2m_cfg_text(&c, "MYSQL_PASSWORD") : "", CURLU_URLENCODE) ||
        curl_url_set(u, CURLUPART_PATH, v2m_cfg_text(&c, "MYSQL_DB"), CURLU_URLENCODE) ||
        curl_url_get(u, CURLUPART_URL, &s, CURLU_NON_SUPPORT_SCHEME)) {
        curl_url_cleanup(u);
        return v2m_fail(err, V2M_ECONFIG, "MYSQL_HOST='%s': cannot form a database URL", host);
    }
    curl_url_cleanup(u);
    if (strlen(s) >= urlsz) {
        curl_free(s);
        return v2m_fail(err, V2M_ECONFIG, "MYSQL_* settings are too long");
    }
    snprintf(url, urlsz, "%s", s);
    curl_free(s);
    return V2M_OK;
}

v2m_users *v2m_users_open(const char *url, v2m_error *err)
{
    const v2m__backend *b =
        v2m__pick(backends, V2M__COUNT(backends), url, "users",
                  "sqlite:///path.db or mysql://user:pass@host:port/db", err);
    v2m_users *u;

    if (!b)
        return NULL;
    u = calloc(1, sizeof *u);
    if (!u) {
        v2m_fail(err, V2M_ENOMEM, "out of memory");
        return NULL;
    }
    u->ops = b->ops;
    if (u->ops->open(url, &u->impl, err) != V2M_OK) {
        free(u);
        return NULL;
    }
    return u;
}

void v2m_users_close(v2m_users *u)
{
    if (!u)
        return;
    u->ops->close(u->impl);
    free(u);
}

v2m_err v2m_users_check_email(const char *email, v2m_error *err)
{
    size_t n = strlen(email);
    const char *at = strchr(email, '@');

    if (n == 0)
        return v2m_fail(err, V2M_EINVAL, "email is empty");
    if (n > 255)
        return v2m_fail(err, V2M_EINVAL, "email longer than 255 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)email[i] < 0x21 || email[i] == 0x7f)
            return v2m_fail(err, V2M_EINVAL, "email contains a space or control character");
    if (!at || at == email || !at[1] || strchr(at + 1, '@'))
        return v2m_fail(err, V2M_EINVAL, "email must look like name@domain");
    return V2M_OK;
}

void v2m_users_normalize_email(const char *email, char *out, size_t outsz)
{
    size_t i = 0;
    if (!outsz)
        return;
    for (; email[i] && i + 1 < outsz; i++)
        out[i] = email[i] >= 'A' && email[i] <= 'Z' ? (char)(email[i] - 'A' + 'a') : email[i];
    out[i] = '\0';
}

/* The lower-cased email, or a refusal for one no row can hold. */
static v2m_err norm(const char *email, char out[256], v2m_err toolong, v2m_error *err)
{
    if (strlen(email) > 255)
        return v2m_fail(err, toolong, toolong == V2M_ENOTFOUND ? "no such user"
                                                               : "email longer than 255 bytes");
    v2m_users_normalize_email(email, out, 256);
    return V2M_OK;
}

v2m_err v2m_users_ping(v2m_users *u, v2m_error *err) { return u->ops->ping(u->impl, err); }

v2m_err v2m_users_get(v2m_users *u, const char *email, v2m_user *out, v2m_error *err)
{
    char e[256];
    v2m_err rc = norm(email, e, V2M_ENOTFOUND, err);
    return rc ? rc : u->ops->get(u->impl, e, out, err);
}

v2m_err v2m_users_add(v2m_users *u, const char *email, const char *password, int admin,
                      v2m_error *err)
{
    char e[256];
    unsigned int r = 0;
    v2m_user old;
    v2m_error gerr = {0};
    v2m_err rc = v2m_users_check_email(email, err);

    if (rc || (rc = norm(email, e, V2M_EINVAL, err)))
        return rc;
    rc = u->ops->get(u->impl, e, &old, &gerr);
    if (rc == V2M_OK) {
        explicit_bzero(old.password, sizeof old.password);
        if (strcmp(old.email, e) == 0)
            return v2m_fail(err, V2M_EEXIST, "user %s already exists", e);
        return v2m_fail(err, V2M_EEXIST, "user %s already exists (as %s)", e, old.email);
    }
    if (rc != V2M_ENOTFOUND) {
        if (err)
            *err = gerr;
        return rc;
    }
    /* A fresh random generation: tokens of an earlier user with this email
     * (deleted, then added again) name another one and stay refused. */
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        return v2m_fail(err, V2M_EINTERNAL, "getrandom failed");
    r = (r & 0x7fffffffu) | 1u;
    return u->ops->add(u->impl, e, password, admin, (long long)r, err);
}

v2m_err v2m_users_set_password(v2m_users *u, const char *email, const char *password,
                               v2m_error *err)
{
    char e[256];
    v2m_err rc = norm(email, e, V2M_ENOTFOUND, err);
    return rc ? rc : u->ops->set_password(u->impl, e, password, err);
}

v2m_err v2m_users_set_admin(v2m_users *u, const char *email, int admin, v2m_error *err)
{
    char e[256];
    v2m_err rc = norm(email, e, V2M_ENOTFOUND, err);
    return rc ? rc : u->ops->set_admin(u->impl, e, admin != 0, err);
}

v2m_err v2m_users_rehash(v2m_users *u, long long id, const char *old, const char *hash,
                         v2m_error *err)
{
    return u->ops->rehash(u->impl, id, old, hash, err);
}

v2m_err v2m_users_del(v2m_users *u, const char *email, v2m_error *err)
{
    char e[256];
    v2m_err rc = norm(email, e, V2M_ENOTFOUND, err);
    return rc ? rc : u->ops->del(u->impl, e, err);
}

v2m_err v2m_users_list(v2m_users *u, v2m_users_each fn, void *ud, v2m_error *err)
{
    return u->ops->list(u->impl, fn, ud, err);
}

/* A new secret: V2M_WEBHOOK_SECRET_LEN / 2 random bytes as hex. */
static v2m_err secret_new(char *out, size_t outsz, v2m_error *err)
{
    unsigned char raw[V2M_WEBHOOK_SECRET_LEN / 2];
    static const char hex[] = "0123456789abcdef";

    if (outsz < V2M_WEBHOOK_SECRET_LEN + 1)
        return v2m_fail(err, V2M_EINVAL, "webhook secret buffer too small");
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return v2m_fail(err, V2M_EINTERNAL, "getrandom failed");
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[V2M_WEBHOOK_SECRET_LEN] = '\0';
    explicit_bzero(raw, sizeof raw);
    return V2M_OK;
}

v2m_err v2m_users_webhook_secret_rotate(v2m_users *u, const char *email, char *out,
                                        size_t outsz, v2m_error *err)
{
    char e[256];
    v2m_err rc = norm(email, e, V2M_ENOTFOUND, err);

    if (rc || (rc = secret_new(out, outsz, err)))
        return rc;
    rc = u->ops->secret_set(u->impl, e, out, 0, err);
    if (rc)
        explicit_bzero(out, outsz);
    return rc;
}

v2m_err v2m_users_webhook_secret(v2m_users *u, const char *email, int create, char *out,
                                 size_t outsz, v2m_error *err)
{
    char e[256], fresh[V2M_WEBHOOK_SECRET_LEN + 1];
    v2m_err rc = norm(email, e, V2M_ENOTFOUND, err);

    if (rc || (rc = u->ops->secret_get(u->impl, e, out, outsz, err)))
        return rc;
    if (out[0] || !create)
        return V2M_OK;
    /* None yet: make one, unless someone else just did; then read the winner. */
    if ((rc = secret_new(fresh, sizeof fresh, err)))
        return rc;
    rc = u->ops->secret_set(u->impl, e, fresh, 1, NULL);
    explicit_bzero(fresh, sizeof fresh);
    if (rc != V2M_OK && rc != V2M_ESTATE)
        return v2m_fail(err, rc, "cannot store a webhook secret");
    rc = u->ops->secret_get(u->impl, e, out, outsz, err);
    if (rc == V2M_OK && !out[0])
        return v2m_fail(err, V2M_ENOTFOUND, "no such user");
    return rc;
}

static v2m_err check_key(const char *key, v2m_error *err)
{
    if (!*key || strlen(key) > V2M_THROTTLE_KEY_MAX)
        return v2m_fail(err, V2M_EINVAL, "throttle key of %zu bytes", strlen(key));
    return V2M_OK;
}

v2m_err v2m_users_throttle_get(v2m_users *u, const char *key, v2m_throttle *out,
                               v2m_error *err)
{
    v2m_err rc = check_key(key, err);
    memset(out, 0, sizeof *out);
    return rc ? rc : u->ops->throttle_get(u->impl, key, out, err);
}

v2m_err v2m_users_throttle_set(v2m_users *u, const char *key, const v2m_throttle *prev,
                               const v2m_throttle *next, v2m_error *err)
{
    v2m_err rc = check_key(key, err);
    return rc ? rc : u->ops->throttle_set(u->impl, key, prev, next, err);
}

v2m_err v2m_users_throttle_clear(v2m_users *u, const char *key, v2m_error *err)
{
    v2m_err rc = check_key(key, err);
    return rc ? rc : u->ops->throttle_clear(u->impl, key, err);
}

v2m_err v2m_users_throttle_prune(v2m_users *u, long long before_ms, v2m_error *err)
{
    return u->ops->throttle_prune(u->impl, before_ms, err);
}
