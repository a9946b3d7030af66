/* main.c - v2m-auth: POST /login, POST /validate and POST /webhook-secret
 * (see docs/API.md). */
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "common/args.h"
#include "common/config.h"
#include "common/portfile.h"
#include "common/redact.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/signals.h"
#include "passwd.h"
#include "throttle.h"
#include "token.h"
#include "usercache.h"

typedef struct app {
    v2m_auth_config cfg;
    v2m_users *users;
    v2m_user_cache *cache;
    atomic_llong last_prune_ms;
    atomic_ulong logins_ok, logins_failed, logins_throttled, validations_ok,
        validations_failed, validations_revoked;
} app;

static const char usage[] =
    "usage: v2m-auth [--help] [--version] [--config-table]\n"
    "The credentials service: POST /login (HTTP Basic -> JWT), POST /validate (Bearer -> claims).\n";

static const v2m_cfg_table *const tables[] = {&v2m_auth_table, &v2m_users_table,
                                              &v2m_httpd_table, &v2m_service_table, NULL};

static long long clock_ms(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The key of the client's address: the socket peer, or what trusted proxies
 * say in X-Forwarded-For (see common/netaddr.h). */
static void client_key(app *a, v2m_http_req *req, char *out, size_t outsz)
{
    char xff[V2M_XFF_MAX];
    v2m_ip peer, client;

    if (v2m_ip_from_sockaddr(v2m_http_peer(req), &peer) != 0) {
        snprintf(out, outsz, "unknown");
        return;
    }
    v2m_xff_join(v2m_http_conn(req), xff, sizeof xff);
    if (v2m_client_addr(&a->cfg.trusted, &peer, xff[0] ? xff : NULL, &client) != 0)
        client = peer;
    v2m_ip_client_key(&client, out, outsz);
}

static void login_client_key(void *ud, v2m_http_req *req, char *out, size_t outsz)
{
    client_key(ud, req, out, outsz);
}

/* Trusted proxies (the gateways) are exempt from the per-address
 * connection cap: all their clients share their address. */
static int trusted_peer(void *ud, const struct sockaddr *sa)
{
    app *a = ud;
    v2m_ip ip;
    return v2m_ip_from_sockaddr(sa, &ip) == 0 && v2m_cidr_list_contains(&a->cfg.trusted, &ip);
}

/* Now and then, drop throttle rows nobody needs any more. */
static void prune_throttle(app *a, long long now_ms)
{
    long long last = atomic_load(&a->last_prune_ms);
    v2m_error err = {0};

    if (now_ms - last < 60000 || !atomic_compare_exchange_strong(&a->last_prune_ms, &last, now_ms))
        return;
    if (v2m_users_throttle_prune(a->users, now_ms - a->cfg.throttle.forget_ms, &err) != V2M_OK)
        V2M_LOG(V2M_WARN, "cannot prune login throttle rows: %s", v2m_error_msg(&err));
}

/* Whether a login for the throttle keys (user, client address) may be tried
 * now; if not, resp says why (429 with Retry-After, or 503). */
static int admit_login(app *a, const char *const keys[2], const char *addr, v2m_http_resp *resp)
{
    long long now_ms = clock_ms(CLOCK_REALTIME), retry_ms = 0, secs;
    v2m_error err = {0};
    char ra[32];

    prune_throttle(a, now_ms);
    if (v2m_throttle_admit(a->users, &a->cfg.throttle, keys, 2, now_ms, &retry_ms, &err) !=
        V2M_OK) {
        V2M_LOG(V2M_ERROR, "login failed: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "user database unavailable, try again later");
        return 0;
    }
    if (retry_ms <= 0)
        return 1;
    secs = (retry_ms + 999) / 1000;
    atomic_fetch_add(&a->logins_throttled, 1);
    V2M_LOG(V2M_INFO, "login throttled client=%s retry_after=%lld", addr, secs);
    v2m_http_reply_text(resp, 429, "too many failed logins, try again in %lld second%s", secs,
                        secs == 1 ? "" : "s");
    snprintf(ra, sizeof ra, "%lld", secs);
    v2m_http_add_header(resp, "Retry-After", ra);
    return 0;
}

/* Replace a legacy plaintext password, just verified, with its hash. */
static void rehash_legacy(app *a, const v2m_user *u, const char *pass)
{
    char hash[V2M_HASH_MAX];
    v2m_error err = {0};

    if (v2m_passwd_hash(pass, hash, sizeof hash, &err) == V2M_OK &&
        v2m_users_rehash(a->users, u->id, u->password, hash, &err) == V2M_OK)
        V2M_LOG(V2M_INFO, "replaced legacy plaintext password with a hash user_id=%lld", u->id);
    else
        V2M_LOG(V2M_WARN, "could not rehash legacy password user_id=%lld: %s", u->id,
                v2m_error_msg(&err));
    explicit_bzero(hash, sizeof hash);
}

static void on_login(void *ud, v2m_http_req *req, v2m_http_resp *resp)
{
    app *a = ud;
    char user[1025], pass[1025], addr[V2M_IP_STR_MAX];
    char ukey[V2M_THROTTLE_KEY_MAX + 1], akey[V2M_THROTTLE_KEY_MAX + 1];
    const char *keys[2] = {ukey, akey};
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
    /* Throttling first: a refused attempt costs no password hash. */
    client_key(a, req, addr, sizeof addr);
    v2m_throttle_user_key(user, ukey, sizeof ukey);
    v2m_throttle_addr_key(addr, akey, sizeof akey);
    if (!admit_login(a, keys, addr, resp))
        goto out;
    rc = v2m_users_get(a->users, user, &u, &err);
    if (rc == V2M_ENOTFOUND) {
        v2m_passwd_verify(pass, NULL, NULL); /* same cost as a known user */
        V2M_LOG(V2M_INFO, "login refused reason=unknown-user client=%s", addr);
        goto invalid;
    }
    if (rc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "login failed: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "user database unavailable, try again later");
        goto out;
    }
    ok = v2m_passwd_verify(pass, u.password, &legacy);
    if (!ok) {
        V2M_LOG(V2M_INFO, "login refused reason=wrong-password user_id=%lld client=%s", u.id,
                addr);
        goto invalid;
    }
    if (v2m_throttle_success(a->users, keys, 2, &err) != V2M_OK)
        V2M_LOG(V2M_WARN, "cannot clear login throttle user_id=%lld: %s", u.id,
                v2m_error_msg(&err));
    if (legacy)
        rehash_legacy(a, &u, pass);
    if (v2m_token_issue(a->cfg.secret, u.email, u.admin, u.token_gen, a->cfg.token_ttl,
                        time(NULL), &token, &err) != V2M_OK) {
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
    explicit_bzero(u.password, sizeof u.password);
}

/* The request's bearer token, checked as /validate does it (signature,
 * claims, revocation against the user's row): 0 with *c and *claims (the
 * caller owns them), or -1 with the refusal written into resp. */
static int check_bearer(app *a, v2m_http_req *req, v2m_http_resp *resp, v2m_claims *c,
                        json_t **claims)
{
    const char *h = v2m_http_header(req, "Authorization");
    char tok[V2M_TOKEN_MAX + 2];
    v2m_error err = {0};
    v2m_user_state st;
    const char *why = NULL;

    *claims = NULL;
    if (!h || !*h) {
        v2m_http_reply_text(resp, 401, "missing credentials");
        return -1;
    }
    if (v2m_token_from_bearer(h, tok, sizeof tok) != 0 ||
        v2m_token_verify(a->cfg.secret, tok, time(NULL), a->cfg.token_ttl, c, claims, &err) !=
            V2M_OK) {
        atomic_fetch_add(&a->validations_failed, 1);
        V2M_LOG(V2M_DEBUG, "token refused reason=\"%s\"",
                err.code ? v2m_error_msg(&err) : "not a Bearer header");
        v2m_http_reply_text(resp, 403, "not authorized");
        return -1;
    }
    /* Revocation: the user must still exist with the token's generation and
     * admin flag. A token issued after the cached row was read may be newer
     * than it (a login right after a password change): ask the database. */
    for (int fresh = 0; fresh < 2; fresh++) {
        long long now_ms = clock_ms(CLOCK_MONOTONIC);
        if (v2m_user_cache_get(a->cache, a->users, c->username, now_ms,
                               fresh ? 0 : V2M_USER_CACHE_MS, &st, &err) != V2M_OK) {
            json_decref(*claims);
            *claims = NULL;
            V2M_LOG(V2M_ERROR, "token check failed: %s", v2m_error_msg(&err));
            v2m_http_reply_text(resp, 503, "user database unavailable, try again later");
            return -1;
        }
        if (!st.exists)
            why = "user no longer exists";
        else if (st.token_gen != c->gen)
            why = "token generation revoked (password or admin changed)";
        else if (st.admin != c->admin)
            why = "admin flag changed since the token was issued";
        else
            why = NULL;
        if (!why || c->iat < st.read_at)
            break;
    }
    if (why) {
        json_decref(*claims);
        *claims = NULL;
        atomic_fetch_add(&a->validations_revoked, 1);
        V2M_LOG(V2M_INFO, "token refused reason=\"%s\"", why);
        v2m_http_reply_text(resp, 403, "not authorized");
        return -1;
    }
    return 0;
}

static void on_validate(void *ud, v2m_http_req *req, v2m_http_resp *resp)
{
    app *a = ud;
    v2m_claims c;
    json_t *claims = NULL;

    if (check_bearer(a, req, resp, &c, &claims) != 0)
        return;
    atomic_fetch_add(&a->validations_ok, 1);
    v2m_http_reply_json(resp, 200, claims);
}

/* POST /webhook-secret: a new secret for the token's user, replacing the
 * old one, answered this once (the gateway passes it on). */
static void on_webhook_secret(void *ud, v2m_http_req *req, v2m_http_resp *resp)
{
    app *a = ud;
    char secret[V2M_WEBHOOK_SECRET_MAX];
    v2m_error err = {0};
    v2m_claims c;
    json_t *claims = NULL, *o;
    v2m_err rc;

    if (check_bearer(a, req, resp, &c, &claims) != 0)
        return;
    json_decref(claims);
    rc = v2m_users_webhook_secret_rotate(a->users, c.username, secret, sizeof secret, &err);
    if (rc == V2M_ENOTFOUND) {
        v2m_http_reply_text(resp, 403, "not authorized");
        return;
    }
    if (rc != V2M_OK) {
        V2M_LOG(V2M_ERROR, "webhook secret not rotated: %s", v2m_error_msg(&err));
        v2m_http_reply_text(resp, 503, "user database unavailable, try again later");
        return;
    }
    V2M_LOG(V2M_INFO, "webhook secret rotated (the secret is not logged)");
    o = json_pack("{s:s}", "secret", secret);
    explicit_bzero(secret, sizeof secret);
    v2m_http_reply_json(resp, 200, o);
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

static void on_metrics(void *ud, v2m_buf *buf)
{
    app *a = ud;
    unsigned long hits, misses;
    v2m_user_cache_counts(a->cache, &hits, &misses);
    v2m_buf_printf(buf,
                   "# TYPE v2m_auth_logins_total counter\n"
                   "v2m_auth_logins_total{result=\"ok\"} %lu\n"
                   "v2m_auth_logins_total{result=\"refused\"} %lu\n"
                   "v2m_auth_logins_total{result=\"throttled\"} %lu\n"
                   "# TYPE v2m_auth_validations_total counter\n"
                   "v2m_auth_validations_total{result=\"ok\"} %lu\n"
                   "v2m_auth_validations_total{result=\"refused\"} %lu\n"
                   "v2m_auth_validations_total{result=\"revoked\"} %lu\n"
                   "# TYPE v2m_auth_user_cache_lookups_total counter\n"
                   "v2m_auth_user_cache_lookups_total{result=\"hit\"} %lu\n"
                   "v2m_auth_user_cache_lookups_total{result=\"miss\"} %lu\n",
                   atomic_load(&a->logins_ok), atomic_load(&a->logins_failed),
                   atomic_load(&a->logins_throttled), atomic_load(&a->validations_ok),
                   atomic_load(&a->validations_failed), atomic_load(&a->validations_revoked),
                   hits, misses);
}

/* /login hashes passwords (tens of milliseconds each): it belongs on the
 * server's offload pool, so /validate never waits behind it. */
static const v2m_http_route routes[] = {
    {.method = "POST", .path = "/login", .handler = on_login, .offload = 1},
    {.method = "POST", .path = "/validate", .handler = on_validate},
    {.method = "POST", .path = "/webhook-secret", .handler = on_webhook_secret},
};

int main(int argc, char **argv)
{
    app a;
    v2m_error err = {0};
    v2m_httpd *srv = NULL;
    v2m_httpd_opts hopts, henv = {0};
    char safe[V2M_USERS_URL_MAX];
    int rc = v2m_service_args(argc, argv, "v2m-auth", usage, tables);

    if (rc >= 0)
        return rc;
    memset(&a, 0, sizeof a);
    if (v2m_auth_config_load(&a.cfg, &err) != V2M_OK || v2m_httpd_env(&henv, &err) != V2M_OK) {
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
    a.cache = v2m_user_cache_new(V2M_USER_CACHE_MS);
    if (!a.cache) {
        fprintf(stderr, "v2m-auth: out of memory\n");
        rc = 1;
        goto done;
    }
    hopts = (v2m_httpd_opts){.service = "auth",
                             .host = a.cfg.host,
                             .port = a.cfg.port,
                             .routes = routes,
                             .nroutes = sizeof routes / sizeof routes[0],
                             .app = &a,
                             .threads = (int)a.cfg.threads,
                             .ready = on_ready,
                             .metrics = on_metrics,
                             .trusted_peer = trusted_peer,
                             /* One client cannot fill the login queue. */
                             .client_key = login_client_key};
    hopts.max_conns = henv.max_conns;
    hopts.max_conns_per_addr = henv.max_conns_per_addr;
    hopts.header_timeout = henv.header_timeout;
    hopts.idle_timeout = henv.idle_timeout;
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
    v2m_user_cache_free(a.cache);
    v2m_users_close(a.users);
    v2m_auth_config_free(&a.cfg);
    return rc;
}
