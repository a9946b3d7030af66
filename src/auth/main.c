/* main.c - v2m-auth: POST /login and POST /validate (see docs/API.md). */
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "common/config.h"
#include "common/httpd.h"
#include "common/log.h"
#include "passwd.h"
#include "token.h"

typedef struct app {
    v2m_auth_config cfg;
    v2m_users *users;
    atomic_ulong logins_ok, logins_failed, validations_ok, validations_failed;
} app;

static const char usage[] =
    "usage: v2m-auth [--help] [--version]\n"
    "The credentials service: POST /login (HTTP Basic -> JWT), POST /validate (Bearer -> claims).\n"
    "Environment:\n"
    "  JWT_SECRET        HS256 secret (required)\n"
    "  V2M_LISTEN        host:port to listen on (default 0.0.0.0:5000)\n"
    "  V2M_USERS         sqlite:///path.db or mysql://user:pass@host:port/db\n"
    "                    (default: MYSQL_HOST/MYSQL_USER/MYSQL_PASSWORD/MYSQL_DB/MYSQL_PORT\n"
    "                    when MYSQL_HOST is set, else sqlite://./var/users.db)\n"
    "  V2M_TOKEN_TTL     token lifetime, e.g. 24h (default), 90m, 3600\n"
    "  V2M_HTTP_THREADS  server threads (default: number of cores)\n"
    V2M_HTTPD_ENV_HELP
    "  V2M_PORT_FILE     write the bound port to this file (useful with port 0)\n"
    "  V2M_LOG_LEVEL     debug|info|warn|error (default info)\n";

static void on_login(void *ud, v2m_http_req *req, v2m_http_resp *resp)
{
    app *a = ud;
    char user[1025], pass[1025];
    v2m_user u;
    v2m_error err = {0};
    int legacy = 0, ok;
    char *token = NULL;
    v2m_err rc;

    if (v2m_auth_parse_basic(v2m_http_header(req, "Authorization"), user, sizeof user, pass,
                             sizeof pass) != V2M_OK ||
        !user[0] || !pass[0]) {
        v2m_http_reply_text(resp, 401, "missing credentials");
        v2m_http_add_header(resp, "WWW-Authenticate", "Basic realm=\"v2m\"");
        goto out;
    }
    rc = v2m_users_get(a->users, user, &u, &err);
    if (rc == V2M_ENOTFOUND) {
        v2m_passwd_verify(pass, NULL, NULL); /* same cost as a known user */
        V2M_LOG(V2M_INFO, "login refused reason=unknown-user");
        goto invalid;
    }
    if (rc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "login failed: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "user database unavailable, try again later");
        goto out;
    }
    ok = v2m_passwd_verify(pass, u.password, &legacy);
    if (!ok) {
        V2M_LOG(V2M_INFO, "login refused reason=wrong-password user_id=%lld", u.id);
        goto invalid;
    }
    if (legacy) {
        char hash[V2M_HASH_MAX];
        if (v2m_passwd_hash(pass, hash, sizeof hash, &err) == V2M_OK &&
            v2m_users_set_password(a->users, u.email, hash, &err) == V2M_OK)
            V2M_LOG(V2M_INFO, "replaced legacy plaintext password with a hash user_id=%lld", u.id);
        else
            V2M_LOG(V2M_WARN, "could not rehash legacy password user_id=%lld: %s", u.id,
                    v2m_error_msg(&err));
    }
    if (v2m_token_issue(a->cfg.secret, u.email, u.admin, a->cfg.token_ttl, time(NULL), &token,
                        &err) != V2M_OK) {
        v2m_http_reply_error(resp, &err);
        goto out;
    }
    atomic_fetch_add(&a->logins_ok, 1);
    v2m_http_reply_raw(resp, 200, "text/plain; charset=utf-8", token, strlen(token));
    free(token);
    goto out;
invalid:
    atomic_fetch_add(&a->logins_failed, 1);
    v2m_http_reply_text(resp, 401, "invalid credentials");
    v2m_http_add_header(resp, "WWW-Authenticate", "Basic realm=\"v2m\"");
out:
    explicit_bzero(pass, sizeof pass);
}

static void on_validate(void *ud, v2m_http_req *req, v2m_http_resp *resp)
{
    app *a = ud;
    const char *h = v2m_http_header(req, "Authorization");
    v2m_error err = {0};
    v2m_claims c;
    json_t *claims = NULL;

    if (!h || !*h) {
        v2m_http_reply_text(resp, 401, "missing credentials");
        return;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0 ||
        v2m_token_verify(a->cfg.secret, h + 7, time(NULL), &c, &claims, &err) != V2M_OK) {
        atomic_fetch_add(&a->validations_failed, 1);
        V2M_LOG(V2M_DEBUG, "token refused reason=\"%s\"",
                err.code ? v2m_error_msg(&err) : "not a Bearer header");
        v2m_http_reply_text(resp, 403, "not authorized");
        return;
    }
    atomic_fetch_add(&a->validations_ok, 1);
    v2m_http_reply_json(resp, 200, claims);
}

static int on_ready(void *ud, char *msg, size_t msgsz)
{
    app *a = ud;
    v2m_error err = {0};
    if (v2m_users_ping(a->users, &err) != V2M_OK) {
        snprintf(msg, msgsz, "%s", v2m_error_msg(&err));
        return -1;
    }
    return 0;
}

static void on_metrics(void *ud, char **buf, size_t *len)
{
    app *a = ud;
    v2m_buf_printf(buf, len,
                   "# TYPE v2m_auth_logins_total counter\n"
                   "v2m_auth_logins_total{result=\"ok\"} %lu\n"
                   "v2m_auth_logins_total{result=\"refused\"} %lu\n"
                   "# TYPE v2m_auth_validations_total counter\n"
                   "v2m_auth_validations_total{result=\"ok\"} %lu\n"
                   "v2m_auth_validations_total{result=\"refused\"} %lu\n",
                   atomic_load(&a->logins_ok), atomic_load(&a->logins_failed),
                   atomic_load(&a->validations_ok), atomic_load(&a->validations_failed));
}

static const v2m_http_route routes[] = {
    /* Password hashing runs on the offload pool: /validate never waits. */
    {.method = "POST", .path = "/login", .handler = on_login, .offload = 1},
    {.method = "POST", .path = "/validate", .handler = on_validate},
};

int main(int argc, char **argv)
{
    app a;
    v2m_error err = {0};
    v2m_httpd *srv = NULL;
    v2m_httpd_opts hopts;
    char safe[V2M_USERS_URL_MAX];
    int rc = v2m_service_args(argc, argv, "v2m-auth", usage);

    if (rc >= 0)
        return rc;
    memset(&a, 0, sizeof a);
    if (v2m_auth_config_load(&a.cfg, &err) != V2M_OK) {
        fprintf(stderr, "v2m-auth: %s\n", v2m_error_msg(&err));
        v2m_auth_config_free(&a.cfg);
        return 1;
    }
    v2m_signals_block();
    a.users = v2m_users_open(a.cfg.users_url, &err);
    if (!a.users) {
        fprintf(stderr, "v2m-auth: %s\n", v2m_error_msg(&err));
        v2m_auth_config_free(&a.cfg);
        return 1;
    }
    hopts = (v2m_httpd_opts){.service = "auth",
                             .host = a.cfg.host,
                             .port = a.cfg.port,
                             .routes = routes,
                             .nroutes = sizeof routes / sizeof routes[0],
                             .app = &a,
                             .threads = (int)a.cfg.threads,
                             .ready = on_ready,
                             .metrics = on_metrics};
    if (v2m_httpd_env(&hopts, &err) == V2M_OK)
        srv = v2m_httpd_start(&hopts, &err);
    if (!srv) {
        fprintf(stderr, "v2m-auth: %s\n", v2m_error_msg(&err));
        rc = 1;
        goto done;
    }
    v2m_url_redact(a.cfg.users_url, safe, sizeof safe);
    V2M_LOG(V2M_INFO, "v2m-auth listening addr=%s:%d users=%s ttl=%ld", a.cfg.host,
            v2m_httpd_port(srv), safe, a.cfg.token_ttl);
    v2m_write_port_file(v2m_httpd_port(srv));
    rc = v2m_signals_wait();
    V2M_LOG(V2M_INFO, "v2m-auth stopping signal=%d", rc);
    v2m_httpd_drain(srv, 5);
    rc = 0;
done:
    v2m_httpd_stop(srv);
    v2m_users_close(a.users);
    v2m_auth_config_free(&a.cfg);
    return rc;
}
