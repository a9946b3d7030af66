/* Configuration parsing and the Basic header parser. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "check.h"
#include "common/config.h"
#include "common/redact.h"
#include "ports/users.h"

int main(void)
{
    char host[64], user[1025], pass[1025], url[V2M_USERS_URL_MAX];
    int port;
    uint64_t sz;
    v2m_error e = {0};

    CHECK(v2m_parse_hostport("0.0.0.0:8080", host, sizeof host, &port) == V2M_OK);
    CHECK_STR(host, "0.0.0.0");
    CHECK(port == 8080);
    CHECK(v2m_parse_hostport(":5000", host, sizeof host, &port) == V2M_OK && port == 5000);
    CHECK_STR(host, "0.0.0.0");
    CHECK(v2m_parse_hostport("[::1]:80", host, sizeof host, &port) == V2M_OK);
    CHECK_STR(host, "::1");
    CHECK(v2m_parse_hostport("auth:5000", host, sizeof host, &port) == V2M_OK);
    CHECK(v2m_parse_hostport("localhost", host, sizeof host, &port) == V2M_EINVAL);
    CHECK(v2m_parse_hostport("h:99999", host, sizeof host, &port) == V2M_EINVAL);
    CHECK(v2m_parse_hostport("h:12x", host, sizeof host, &port) == V2M_EINVAL);
    CHECK(v2m_parse_hostport("h:", host, sizeof host, &port) == V2M_EINVAL);

    CHECK(v2m_parse_size("2G", &sz) == V2M_OK && sz == 2147483648ULL);
    CHECK(v2m_parse_size("512M", &sz) == V2M_OK && sz == 536870912ULL);
    CHECK(v2m_parse_size("100", &sz) == V2M_OK && sz == 100);
    CHECK(v2m_parse_size("-1", &sz) == V2M_EINVAL);
    CHECK(v2m_parse_size("2X", &sz) == V2M_EINVAL);
    CHECK(v2m_parse_size("2GB", &sz) == V2M_EINVAL);
    CHECK(v2m_parse_size("99999999999999999999", &sz) == V2M_EINVAL);

    /* A table: defaults, set values, range refusals naming the variable. */
    {
        static const v2m_cfg_var rows[] = {
            {.name = "V2M_T_LONG", .def = "7", .parse = v2m_cfg_parse_int, .min = 1, .max = 100,
             .help = "an integer"},
            {.name = "V2M_T_SEC", .def = "10s", .parse = v2m_cfg_parse_duration, .min = 1,
             .max = 86400, .help = "a duration"},
            {.name = "V2M_T_SIZE", .def = "2G", .parse = v2m_cfg_parse_size, .min = 1,
             .max = 1LL << 40, .help = "a size"},
            {.name = "V2M_T_ADDR", .def = "127.0.0.1:9080", .parse = v2m_cfg_parse_hostport_off,
             .max = 65535, .help = "an address"},
            {.name = "V2M_T_TEXT", .parse = v2m_cfg_parse_text, .max = 4, .shown = "derived",
             .help = "a text"},
        };
        static const v2m_cfg_table t = V2M_CFG_TABLE("test", rows);
        v2m_cfg c;

        unsetenv("V2M_T_LONG");
        unsetenv("V2M_T_SEC");
        unsetenv("V2M_T_SIZE");
        unsetenv("V2M_T_ADDR");
        unsetenv("V2M_T_TEXT");
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_OK);
        CHECK(v2m_cfg_num(&c, "V2M_T_LONG") == 7 && !v2m_cfg_get(&c, "V2M_T_LONG")->set);
        CHECK(v2m_cfg_num(&c, "V2M_T_SEC") == 10);
        CHECK(v2m_cfg_num(&c, "V2M_T_SIZE") == 2147483648LL);
        CHECK(v2m_cfg_get(&c, "V2M_T_ADDR")->port == 9080);
        CHECK(v2m_cfg_text(&c, "V2M_T_TEXT") == NULL);
        setenv("V2M_T_LONG", "12", 1);
        setenv("V2M_T_SEC", "24h", 1);
        setenv("V2M_T_ADDR", "off", 1);
        setenv("V2M_T_TEXT", "", 1); /* empty: the default */
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_OK);
        CHECK(v2m_cfg_num(&c, "V2M_T_LONG") == 12 && v2m_cfg_get(&c, "V2M_T_LONG")->set);
        CHECK(v2m_cfg_num(&c, "V2M_T_SEC") == 86400);
        CHECK(v2m_cfg_get(&c, "V2M_T_ADDR")->host[0] == '\0');
        CHECK(v2m_cfg_text(&c, "V2M_T_TEXT") == NULL);
        setenv("V2M_T_LONG", "120", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_ECONFIG);
        CHECK(strstr(e.msg, "V2M_T_LONG") != NULL && strstr(e.msg, "1..100") != NULL);
        setenv("V2M_T_LONG", "12", 1);
        static const char *const bad_secs[] = {"0", "soon", "25d", "50d", "86401", "-1s"};
        for (size_t i = 0; i < sizeof bad_secs / sizeof bad_secs[0]; i++) {
            setenv("V2M_T_SEC", bad_secs[i], 1);
            CHECK(v2m_cfg_load(&c, &t, &e) == V2M_ECONFIG);
            CHECK(strstr(e.msg, "V2M_T_SEC") != NULL && strstr(e.msg, "1s to 1d") != NULL);
        }
        setenv("V2M_T_SEC", "1d", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_OK && v2m_cfg_num(&c, "V2M_T_SEC") == 86400);
        setenv("V2M_T_SIZE", "2T", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_ECONFIG && strstr(e.msg, "V2M_T_SIZE") != NULL);
        CHECK(strstr(e.msg, "1 to 1T") != NULL);
        setenv("V2M_T_SIZE", "0", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_ECONFIG);
        unsetenv("V2M_T_SIZE");
        setenv("V2M_T_ADDR", "nowhere", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_ECONFIG && strstr(e.msg, "V2M_T_ADDR") != NULL);
        unsetenv("V2M_T_ADDR");
        setenv("V2M_T_TEXT", "abcde", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_ECONFIG && strstr(e.msg, "V2M_T_TEXT") != NULL);
        setenv("V2M_T_TEXT", "abcd", 1);
        CHECK(v2m_cfg_load(&c, &t, &e) == V2M_OK);
        CHECK_STR(v2m_cfg_text(&c, "V2M_T_TEXT"), "abcd");
    }

    /* A duration that may be off (retention: 0 or off keeps forever). */
    {
        static const v2m_cfg_var row = {.name = "V2M_T_KEEP", .def = "24h",
                                        .parse = v2m_cfg_parse_duration_off, .max = 86400 * 10};
        v2m_cfg_val v;
        memset(&v, 0, sizeof v);
        CHECK(row.parse(&row, "off", &v, &e) == V2M_OK && v.num == 0);
        CHECK(row.parse(&row, "0", &v, &e) == V2M_OK && v.num == 0);
        CHECK(row.parse(&row, "2s", &v, &e) == V2M_OK && v.num == 2);
        CHECK(row.parse(&row, "30d", &v, &e) == V2M_ECONFIG && strstr(e.msg, "V2M_T_KEEP"));
        CHECK(row.parse(&row, "offf", &v, &e) == V2M_ECONFIG);
    }

    /* Users URL: V2M_USERS wins, then the original's MYSQL_* variables. */
    unsetenv("V2M_USERS");
    unsetenv("MYSQL_HOST");
    CHECK(v2m_users_url_from_env("sqlite://./var/users.db", url, sizeof url, &e) == V2M_OK);
    CHECK_STR(url, "sqlite://./var/users.db");
    setenv("MYSQL_HOST", "db.example", 1);
    setenv("MYSQL_USER", "auth_user", 1);
    setenv("MYSQL_PASSWORD", "p@ss:w/rd", 1);
    setenv("MYSQL_DB", "auth", 1);
    setenv("MYSQL_PORT", "3307", 1);
    CHECK(v2m_users_url_from_env("x", url, sizeof url, &e) == V2M_OK);
    CHECK_STR(url, "mysql://auth_user:p%40ss%3aw%2frd@db.example:3307/auth");
    {
        char safe[V2M_USERS_URL_MAX];
        v2m_url_redact(url, safe, sizeof safe);
        CHECK_STR(safe, "mysql://auth_user:***@db.example:3307/auth");
    }
    setenv("MYSQL_PORT", "port", 1);
    CHECK(v2m_users_url_from_env("x", url, sizeof url, &e) == V2M_ECONFIG);
    setenv("MYSQL_PORT", "3307", 1);
    setenv("V2M_USERS", "sqlite:///tmp/u.db", 1);
    CHECK(v2m_users_url_from_env("x", url, sizeof url, &e) == V2M_OK);
    CHECK_STR(url, "sqlite:///tmp/u.db");
    CHECK(v2m_users_open("postgres://x", &e) == NULL && e.code == V2M_ECONFIG);

    /* Basic credentials. */
    CHECK(v2m_auth_parse_basic("Basic Z2Vvcmdpb0BlbWFpbC5jb206QWRtaW4xMjM=", user, sizeof user,
                               pass, sizeof pass) == V2M_OK);
    CHECK_STR(user, "georgio@email.com");
    CHECK_STR(pass, "Admin123");
    CHECK(v2m_auth_parse_basic("basic YTpiOmM=", user, sizeof user, pass, sizeof pass) == V2M_OK);
    CHECK_STR(pass, "b:c"); /* passwords may contain colons */
    CHECK(v2m_auth_parse_basic("Basic bm9jb2xvbg==", user, sizeof user, pass, sizeof pass) ==
          V2M_EINVAL); /* "nocolon" */
    CHECK(v2m_auth_parse_basic("Basic !!!!", user, sizeof user, pass, sizeof pass) == V2M_EINVAL);
    CHECK(v2m_auth_parse_basic("Basic abc", user, sizeof user, pass, sizeof pass) == V2M_EINVAL);
    CHECK(v2m_auth_parse_basic("Bearer abc", user, sizeof user, pass, sizeof pass) == V2M_EINVAL);
    CHECK(v2m_auth_parse_basic("Basic ", user, sizeof user, pass, sizeof pass) == V2M_EINVAL);
    CHECK(v2m_auth_parse_basic(NULL, user, sizeof user, pass, sizeof pass) == V2M_EINVAL);
    CHECK(v2m_auth_parse_basic("Basic YQBiOmM=", user, sizeof user, pass, sizeof pass) ==
          V2M_EINVAL); /* embedded NUL */
    CHECK(v2m_auth_parse_basic("Basic Og==", user, sizeof user, pass, sizeof pass) == V2M_OK);
    CHECK(user[0] == '\0' && pass[0] == '\0'); /* ":" parses; the service refuses it */

    CHECK(v2m_users_check_email("a@b.c", &e) == V2M_OK);
    CHECK(v2m_users_check_email("o'brien@x.org", &e) == V2M_OK);
    CHECK(v2m_users_check_email("nobody", &e) == V2M_EINVAL);
    CHECK(v2m_users_check_email("a b@c", &e) == V2M_EINVAL);
    CHECK(v2m_users_check_email("@c", &e) == V2M_EINVAL);
    CHECK(v2m_users_check_email("a@b@c", &e) == V2M_EINVAL);

    /* The auth service's settings: defaults... */
    {
        v2m_auth_config c;
        v2m_ip ip;
        setenv("JWT_SECRET", "s", 1);
        setenv("V2M_USERS", "sqlite:///tmp/u.db", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_OK);
        CHECK(c.token_ttl == 86400);
        CHECK(c.throttle.free_failures == 5);
        CHECK(c.throttle.delay_ms == 1000);
        CHECK(c.throttle.max_delay_ms == 60000);
        CHECK(c.throttle.forget_ms == 900000);
        CHECK(c.trusted.n == 2);
        CHECK(v2m_ip_parse("127.0.0.1", 9, &ip) == 0 && v2m_cidr_list_contains(&c.trusted, &ip));
        CHECK(v2m_ip_parse("::1", 3, &ip) == 0 && v2m_cidr_list_contains(&c.trusted, &ip));
        CHECK(v2m_ip_parse("10.0.0.1", 8, &ip) == 0 && !v2m_cidr_list_contains(&c.trusted, &ip));
        v2m_auth_config_free(&c);
        /* ...set... */
        setenv("V2M_LOGIN_FREE_FAILURES", "3", 1);
        setenv("V2M_LOGIN_DELAY", "2s", 1);
        setenv("V2M_LOGIN_DELAY_MAX", "5m", 1);
        setenv("V2M_LOGIN_FORGET", "1h", 1);
        setenv("V2M_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_OK);
        CHECK(c.throttle.free_failures == 3 && c.throttle.delay_ms == 2000);
        CHECK(c.throttle.max_delay_ms == 300000 && c.throttle.forget_ms == 3600000);
        CHECK(c.trusted.n == 2);
        CHECK(v2m_ip_parse("10.9.9.9", 8, &ip) == 0 && v2m_cidr_list_contains(&c.trusted, &ip));
        CHECK(v2m_ip_parse("127.0.0.1", 9, &ip) == 0 && !v2m_cidr_list_contains(&c.trusted, &ip));
        v2m_auth_config_free(&c);
        /* ...empty: trust no proxy... */
        setenv("V2M_TRUSTED_PROXIES", "", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_OK);
        CHECK(c.trusted.n == 0);
        v2m_auth_config_free(&c);
        /* ...and refused, naming the variable. */
        setenv("V2M_TRUSTED_PROXIES", "127.0.0.0/8,localhost", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_ECONFIG);
        CHECK(strstr(e.msg, "V2M_TRUSTED_PROXIES") && strstr(e.msg, "localhost"));
        v2m_auth_config_free(&c);
        unsetenv("V2M_TRUSTED_PROXIES");
        setenv("V2M_LOGIN_DELAY_MAX", "1s", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_ECONFIG);
        CHECK(strstr(e.msg, "V2M_LOGIN_DELAY_MAX") != NULL);
        v2m_auth_config_free(&c);
        setenv("V2M_LOGIN_DELAY_MAX", "60s", 1);
        setenv("V2M_LOGIN_FREE_FAILURES", "0", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_ECONFIG);
        CHECK(strstr(e.msg, "V2M_LOGIN_FREE_FAILURES") != NULL);
        v2m_auth_config_free(&c);
        setenv("V2M_LOGIN_FREE_FAILURES", "5", 1);
        setenv("V2M_LOGIN_DELAY", "soon", 1);
        CHECK(v2m_auth_config_load(&c, &e) == V2M_ECONFIG);
        CHECK(strstr(e.msg, "V2M_LOGIN_DELAY") != NULL);
        v2m_auth_config_free(&c);
    }
    return check_exit("test_config");
}
