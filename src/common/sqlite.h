/* sqlite.h - opening the SQLite databases of the embedded backends
 * (users, jobs, queue) the same way: serialized mode for use from several
 * threads, WAL so several processes can read and write, a busy timeout, and
 * the schema applied. */
#ifndef V2M_SQLITE_H
#define V2M_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>

#include "err.h"

/* Open (creating) path, set journal_mode=WAL, the given synchronous level
 * ("FULL" where a commit must survive power loss, else "NORMAL") and run
 * schema. what names the database in messages ("sqlite queue"). On failure
 * *db is NULL and err says why (V2M_EUNAVAIL). */
v2m_err v2m_sqlite_open(const char *path, const char *synchronous, const char *schema,
                        const char *what, sqlite3 **db, v2m_error *err);

/* Fail with the error of db's last call: V2M_EUNAVAIL when the database is
 * busy, locked or cannot be opened (worth retrying), else V2M_EIO; the
 * message is "<label> <path>: <what>: <SQLite's message>". */
v2m_err v2m_sqlite_fail(v2m_error *err, sqlite3 *db, const char *label, const char *path,
                        const char *what);

/* A backend's ping: run sql (which reads nothing) holding mu; fails as
 * v2m_sqlite_fail with what "ping". */
v2m_err v2m_sqlite_ping(sqlite3 *db, pthread_mutex_t *mu, const char *sql, const char *label,
                        const char *path, v2m_error *err);

#endif
