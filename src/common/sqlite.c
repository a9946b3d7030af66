/* sqlite.c - the common way v2m opens an SQLite database. */
#include "sqlite.h"

#include <stdio.h>

v2m_err v2m_sqlite_open(const char *path, const char *synchronous, const char *schema,
                        const char *what, sqlite3 **db, v2m_error *err)
{
    char pragmas[128], *msg = NULL;
    v2m_err rc = V2M_OK;

    *db = NULL;
    if (sqlite3_open_v2(path, db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = v2m_fail(err, V2M_EUNAVAIL, "%s %s: cannot open: %s", what, path,
                      *db ? sqlite3_errmsg(*db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(*db, 5000);
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s",
             synchronous);
    if (sqlite3_exec(*db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(*db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        rc = v2m_fail(err, V2M_EUNAVAIL, "%s %s: cannot prepare schema: %s", what, path,
                      msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    return V2M_OK;
fail:
    sqlite3_close(*db);
    *db = NULL;
    return rc;
}

v2m_err v2m_sqlite_fail(v2m_error *err, sqlite3 *db, const char *label, const char *path,
                        const char *what)
{
    int code = sqlite3_errcode(db);
    v2m_err c = (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_CANTOPEN)
                    ? V2M_EUNAVAIL
                    : V2M_EIO;
    return v2m_fail(err, c, "%s %s: %s: %s", label, path, what, sqlite3_errmsg(db));
}

v2m_err v2m_sqlite_ping(sqlite3 *db, pthread_mutex_t *mu, const char *sql, const char *label,
                        const char *path, v2m_error *err)
{
    v2m_err rc = V2M_OK;

    pthread_mutex_lock(mu);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        rc = v2m_sqlite_fail(err, db, label, path, "ping");
    pthread_mutex_unlock(mu);
    return rc;
}
