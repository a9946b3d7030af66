/* The SQLite users backend: case-insensitive emails, token generations,
 * admin changes, guarded rehash, and the upgrade of an older table. */
#define _GNU_SOURCE /* memmem */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ports/users.h"

static char dir[] = "/tmp/v2m-users-XXXXXX";

static v2m_users *open_db(const char *name)
{
    char url[300];
    v2m_error e = {0};
    v2m_users *u;
    snprintf(url, sizeof url, "sqlite://%s/%s", dir, name);
    u = v2m_users_open(url, &e);
    if (!u)
        fprintf(stderr, "open: %s\n", e.msg);
    return u;
}

static void sql(const char *name, const char *stmt)
{
    char path[300];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, stmt, NULL, NULL, NULL) != SQLITE_OK)
        fprintf(stderr, "sql: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void rm(const char *name)
{
    const char *sfx[] = {"", "-wal", "-shm"};
    char path[300];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, sfx[i]);
        unlink(path);
    }
}

int main(void)
{
    v2m_users *u;
    v2m_user a, b;
    v2m_error e = {0};
    char norm[256];
    long long g0;

    v2m_users_normalize_email("Mixed.Case@Example.COM", norm, sizeof norm);
    CHECK_STR(norm, "mixed.case@example.com");
    v2m_users_normalize_email("\xc3\x89t\xc3\xa9@x.org", norm, sizeof norm); /* UTF-8 left alone */
    CHECK_STR(norm, "\xc3\x89t\xc3\xa9@x.org");

    CHECK(mkdtemp(dir) != NULL);
    u = open_db("new.db");
    CHECK(u != NULL);
    if (!u)
        return check_exit("test_users_sqlite");

    /* Stored lower-case, found in any case. */
    CHECK(v2m_users_add(u, "Alice@Example.com", "$y$hash1", 0, &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_OK);
    CHECK_STR(a.email, "alice@example.com");
    CHECK(v2m_users_get(u, "ALICE@EXAMPLE.COM", &b, &e) == V2M_OK && b.id == a.id);
    /* Another spelling of the same address is refused. */
    CHECK(v2m_users_add(u, "aLiCe@example.COM", "$y$hash2", 0, &e) == V2M_EEXIST);
    CHECK(strstr(e.msg, "already exists") != NULL);
    /* New users get a random non-zero generation (tokens of an earlier user
     * with the same email do not carry it). */
    g0 = a.token_gen;
    CHECK(g0 > 0);
    CHECK(v2m_users_del(u, "ALICE@example.com", &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_ENOTFOUND);
    CHECK(v2m_users_add(u, "alice@example.com", "$y$hash1", 0, &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_OK);
    CHECK(a.token_gen > 0 && a.token_gen != g0);
    g0 = a.token_gen;

    /* A new password bumps the generation. */
    CHECK(v2m_users_set_password(u, "Alice@example.com", "$y$hash3", &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_OK);
    CHECK_STR(a.password, "$y$hash3");
    CHECK(a.token_gen == g0 + 1);
    /* So does a change of the admin flag, but setting it as it is does not. */
    CHECK(v2m_users_set_admin(u, "alice@EXAMPLE.com", 1, &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_OK);
    CHECK(a.admin == 1 && a.token_gen == g0 + 2);
    CHECK(v2m_users_set_admin(u, "alice@example.com", 1, &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_OK);
    CHECK(a.admin == 1 && a.token_gen == g0 + 2);
    CHECK(v2m_users_set_admin(u, "alice@example.com", 0, &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &a, &e) == V2M_OK);
    CHECK(a.admin == 0 && a.token_gen == g0 + 3);
    CHECK(v2m_users_set_admin(u, "nobody@example.com", 1, &e) == V2M_ENOTFOUND);
    CHECK(v2m_users_set_password(u, "nobody@example.com", "x", &e) == V2M_ENOTFOUND);
    CHECK(v2m_users_del(u, "nobody@example.com", &e) == V2M_ENOTFOUND);

    /* Rehash of a legacy password: only while the old one stands, and the
     * generation stays. */
    CHECK(v2m_users_rehash(u, a.id, "$y$hash3", "$y$hash4", &e) == V2M_OK);
    CHECK(v2m_users_get(u, "alice@example.com", &b, &e) == V2M_OK);
    CHECK_STR(b.password, "$y$hash4");
    CHECK(b.token_gen == a.token_gen);
    CHECK(v2m_users_rehash(u, a.id, "$y$hash3", "$y$hash5", &e) == V2M_ESTATE);
    CHECK(v2m_users_rehash(u, 999999, "$y$hash4", "$y$hash5", &e) == V2M_ESTATE);
    CHECK(v2m_users_get(u, "alice@example.com", &b, &e) == V2M_OK);
    CHECK_STR(b.password, "$y$hash4");
    /* Parameters are data. */
    CHECK(v2m_users_get(u, "' OR 1=1 --@x", &b, &e) == V2M_ENOTFOUND);
    CHECK(v2m_users_get(u, "%@%", &b, &e) == V2M_ENOTFOUND);

    /* Webhook secrets: none at first; made on first use, once, whoever asks;
     * rotation replaces it; unknown users have none. */
    {
        char s1[V2M_WEBHOOK_SECRET_MAX], s2[V2M_WEBHOOK_SECRET_MAX], s3[V2M_WEBHOOK_SECRET_MAX];
        CHECK(v2m_users_webhook_secret(u, "alice@example.com", 0, s1, sizeof s1, &e) == V2M_OK);
        CHECK_STR(s1, "");
        CHECK(v2m_users_webhook_secret(u, "Alice@Example.com", 1, s1, sizeof s1, &e) == V2M_OK);
        CHECK(strlen(s1) == V2M_WEBHOOK_SECRET_LEN && strspn(s1, "0123456789abcdef") ==
                                                          V2M_WEBHOOK_SECRET_LEN);
        CHECK(v2m_users_webhook_secret(u, "alice@example.com", 1, s2, sizeof s2, &e) == V2M_OK);
        CHECK_STR(s2, s1);
        CHECK(v2m_users_webhook_secret_rotate(u, "alice@example.com", s3, sizeof s3, &e) ==
              V2M_OK);
        CHECK(strlen(s3) == V2M_WEBHOOK_SECRET_LEN && strcmp(s3, s1) != 0);
        CHECK(v2m_users_webhook_secret(u, "alice@example.com", 0, s2, sizeof s2, &e) == V2M_OK);
        CHECK_STR(s2, s3);
        CHECK(v2m_users_webhook_secret(u, "nobody@example.com", 1, s2, sizeof s2, &e) ==
              V2M_ENOTFOUND);
        CHECK(v2m_users_webhook_secret_rotate(u, "nobody@example.com", s2, sizeof s2, &e) ==
              V2M_ENOTFOUND);
        /* Secrets stay out of the user rows that lists and caches hold. */
        CHECK(v2m_users_get(u, "alice@example.com", &b, &e) == V2M_OK);
        CHECK(memmem(&b, sizeof b, s3, strlen(s3)) == NULL);
    }
    v2m_users_close(u);

    /* A table made by an older version: no token_gen, capitals in an email. */
    sql("old.db", "CREATE TABLE user (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                  " email TEXT NOT NULL UNIQUE, password TEXT NOT NULL,"
                  " admin INTEGER NOT NULL DEFAULT 0);"
                  "INSERT INTO user (email, password) VALUES ('Bob@Example.com', 'Plain123');");
    u = open_db("old.db");
    CHECK(u != NULL);
    if (u) {
        CHECK(v2m_users_get(u, "bob@example.com", &b, &e) == V2M_OK);
        CHECK_STR(b.email, "Bob@Example.com"); /* kept as written */
        CHECK(b.token_gen == 0);                /* like the original's tokens */
        CHECK(v2m_users_add(u, "bob@example.com", "$y$x", 0, &e) == V2M_EEXIST);
        CHECK(strstr(e.msg, "Bob@Example.com") != NULL);
        CHECK(v2m_users_set_password(u, "BOB@example.com", "$y$new", &e) == V2M_OK);
        CHECK(v2m_users_get(u, "bob@example.com", &b, &e) == V2M_OK);
        CHECK(b.token_gen == 1);
        {
            char s1[V2M_WEBHOOK_SECRET_MAX];
            CHECK(v2m_users_webhook_secret(u, "bob@example.com", 0, s1, sizeof s1, &e) == V2M_OK);
            CHECK_STR(s1, "");   /* the column was added, empty */
            CHECK(v2m_users_webhook_secret_rotate(u, "bob@example.com", s1, sizeof s1, &e) ==
                  V2M_OK);
        }
        v2m_users_close(u);
    }
    /* Opening again finds the column there. */
    u = open_db("old.db");
    CHECK(u != NULL);
    v2m_users_close(u);
    /* Two old rows differing only in case: the exact lower-case one wins. */
    sql("old.db", "INSERT INTO user (email, password) VALUES ('carol@example.com', 'p1'),"
                  " ('Carol@Example.com', 'p2');");
    u = open_db("old.db");
    if (u) {
        CHECK(v2m_users_get(u, "CAROL@example.com", &b, &e) == V2M_OK);
        CHECK_STR(b.email, "carol@example.com");
        v2m_users_close(u);
    }
    rm("new.db");
    rm("old.db");
    rmdir(dir);
    return check_exit("test_users_sqlite");
}
