/* backup.c - v2m-admin backup, restore and requeue (see backup.h).
 *
 * Order of a backup: users, job records, queue, then the store's files.
 * Every record a copy holds can find what it points at in the copies made
 * after it: a done job's MP3 was stored before the job was marked done, so
 * it is in the store copy made later; a job's owner is in the users copy
 * unless deleted meanwhile. Files stored after the job copy (an upload in
 * flight) are copied too but have no record; jobs that moved on between the
 * job and the queue copies may be left queued or converting without a
 * message: restore looks for each one's message in the restored queue and
 * publishes the missing ones again (never a second one: a duplicate would
 * convert, or announce, the job twice).
 *
 * Each database is copied with sqlite3_backup_step(-1): one read transaction
 * of the live database, so a consistent state however busy the services
 * are (WAL readers do not block writers). Store files are immutable once
 * their metadata <fid>.json appears (store_file.c), so copying the metadata
 * first, then the data it describes gives complete files only; temporary
 * files and unfinished resumable uploads are left out.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/message.h"
#include "common/oid.h"
#include "ports/jobs.h"
#include "ports/queue.h"
#include "ports/store.h"
#include "ports/url_path_int.h"
#include "ports/users.h"

#define MANIFEST "MANIFEST.json"
#define FORMAT "v2m-backup 1"
#define BUSY_WAIT_S 60

static const v2m_cfg_var data_vars[] = {
    {.name = "V2M_STORE", .def = "file://./var/store", .parse = v2m_cfg_parse_text, .max = 1023,
     .help = "the store: backup and restore need file:///dir"},
    {.name = "V2M_JOBS", .parse = v2m_cfg_parse_text, .max = 1023, .shown = "V2M_STORE",
     .help = "job records: file:///dir (<dir>/jobs.db) or sqlite:///path.db for backup and restore"},
    {.name = "V2M_QUEUE", .def = "sqlite://./var/queue.db", .parse = v2m_cfg_parse_text,
     .max = 1023, .help = "the queue: backup and restore need sqlite:///path.db; requeue any"},
    {.name = "VIDEO_QUEUE", .def = "video", .parse = v2m_cfg_parse_text, .max = 127,
     .help = "queue requeue publishes to"},
};
const v2m_cfg_table v2m_admin_data_table = V2M_CFG_TABLE("data", data_vars);

/* The databases in backup order, then the store. */
enum { DB_USERS, DB_JOBS, DB_QUEUE, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"users", "jobs", "queue"};

typedef struct places {
    char db[DB_COUNT][PATH_MAX];   /* the live databases */
    char store[PATH_MAX];          /* the live store directory */
    char jobs_url[1024], queue_url[1024], video_queue[128];
} places;

typedef struct counts {
    long files;
    long long bytes;
} counts;

static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int say(const char *fmt, ...)
{
    va_list ap;
    fputs("v2m-admin: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* The scheme of url, for messages that must not show a password. */
static const char *scheme_of(const char *url, char *buf, size_t sz)
{
    const char *p = strstr(url, "://");
    snprintf(buf, sz, "%.*s", p ? (int)(p - url) : 0, url);
    return buf;
}

/* The settings the services read; embedded: all local paths (else 1, said). */
static int find_places(places *p, int embedded)
{
    char users[V2M_USERS_URL_MAX], sch[32];
    const char *store, *jobs;
    v2m_error err = {0};
    v2m_cfg c;

    memset(p, 0, sizeof *p);
    if (v2m_cfg_load(&c, &v2m_admin_data_table, &err) ||
        v2m_users_url_from_env("sqlite://./var/users.db", users, sizeof users, &err))
        return say("%s", v2m_error_msg(&err));
    store = v2m_cfg_text(&c, "V2M_STORE");
    jobs = v2m_cfg_text(&c, "V2M_JOBS") ? v2m_cfg_text(&c, "V2M_JOBS") : store;
    snprintf(p->jobs_url, sizeof p->jobs_url, "%s", jobs);
    snprintf(p->queue_url, sizeof p->queue_url, "%s", v2m_cfg_text(&c, "V2M_QUEUE"));
    snprintf(p->video_queue, sizeof p->video_queue, "%s", v2m_cfg_text(&c, "VIDEO_QUEUE"));
    if (!embedded) {   /* requeue: the job records' path when they are local */
        char dir[PATH_MAX - 16];
        if (strncmp(jobs, "file://", 7) == 0 && !v2m__url_path(jobs, "file", dir, sizeof dir, &err))
            snprintf(p->db[DB_JOBS], sizeof p->db[DB_JOBS], "%s/jobs.db", dir);
        else if (strncmp(jobs, "sqlite://", 9) == 0)
            v2m__url_path(jobs, "sqlite", p->db[DB_JOBS], sizeof p->db[DB_JOBS], &err);
        return 0;
    }
#define NEED(url, scheme, what, out)                                                          \
    if (strncmp((url), scheme "://", sizeof scheme + 2) != 0)                                 \
        return say("%s is %s://...: backup and restore cover the embedded deployment only; "  \
                   "see docs/OPERATIONS.md (Backups) for the other backends",                 \
                   what, scheme_of((url), sch, sizeof sch));                                  \
    if (v2m__url_path((url), scheme, (out), sizeof(out), &err))                               \
        return say("%s: %s", what, v2m_error_msg(&err));
    NEED(users, "sqlite", "V2M_USERS", p->db[DB_USERS]);
    NEED(p->queue_url, "sqlite", "V2M_QUEUE", p->db[DB_QUEUE]);
    NEED(store, "file", "V2M_STORE", p->store);
    if (strncmp(jobs, "file://", 7) == 0) {
        char dir[PATH_MAX - 16];
        if (v2m__url_path(jobs, "file", dir, sizeof dir, &err))
            return say("V2M_JOBS: %s", v2m_error_msg(&err));
        snprintf(p->db[DB_JOBS], sizeof p->db[DB_JOBS], "%s/jobs.db", dir);
    } else {
        NEED(jobs, "sqlite", "V2M_JOBS", p->db[DB_JOBS]);
    }
#undef NEED
    return 0;
}

static int join(char *out, size_t sz, const char *a, const char *b)
{
    int n = snprintf(out, sz, "%s/%s", a, b);
    return n < 0 || (size_t)n >= sz ? say("path too long: %s/%s", a, b) : 0;
}

static void iso_now(char *buf, size_t sz)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    int rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* 1 when dir holds anything, 0 when empty or absent, -1 (said) when unreadable. */
static int dir_has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int any = 0;

    if (!d) {
        if (errno == ENOENT)
            return 0;
        say("%s: %s", dir, strerror(errno));
        return -1;
    }
    while (!any && (de = readdir(d)))
        any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return any;
}

/* Remove the regular files of dir (not recursive); 0 or -1 (said). */
static int empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return errno == ENOENT ? 0 : (say("%s: %s", dir, strerror(errno)), -1);
    while ((de = readdir(d))) {
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
            say("cannot remove %s/%s: %s", dir, de->d_name, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* ---- SQLite ---- */

/* Copy the database at from into to (created when absent, else replaced)
 * with the online backup API; 0 or 1 (said). */
static int db_copy(const char *from, const char *to, int from_flags)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b;
    time_t deadline = time(NULL) + BUSY_WAIT_S;
    int rc = 1, r;

    if (sqlite3_open_v2(from, &src, from_flags, NULL) != SQLITE_OK) {
        say("%s: cannot open: %s", from, src ? sqlite3_errmsg(src) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    if (sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        say("%s: cannot open: %s", to, dst ? sqlite3_errmsg(dst) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(dst, 5000);
    if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
        say("%s -> %s: %s", from, to, sqlite3_errmsg(dst));
        goto out;
    }
    /* All pages in one step: one read transaction, so one consistent state. */
    while ((r = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || r == SQLITE_LOCKED) {
        if (time(NULL) > deadline)
            break;
        sqlite3_sleep(100);
    }
    sqlite3_backup_finish(b);
    if (r != SQLITE_DONE) {
        say("%s -> %s: %s", from, to, sqlite3_errstr(r));
        goto out;
    }
    rc = 0;
out:
    sqlite3_close(src);
    sqlite3_close(dst);
    return rc;
}

static int count_table(void *ud, int n, char **v, char **names)
{
    (void)names;
    if (n == 2 && v[0] && v[1])
        json_object_set_new(ud, v[0], json_integer(strtoll(v[1], NULL, 10)));
    return 0;
}

static int collect_name(void *ud, int n, char **v, char **names)
{
    (void)names;
    if (n == 1 && v[0])
        json_array_append_new(ud, json_string(v[0]));
    return 0;
}

/* Make the copy at path one self-contained file, check it and count the
 * rows of its tables into *tables; 0 or 1 (said). */
static int db_seal(const char *path, json_t **tables)
{
    sqlite3 *db = NULL;
    json_t *names = json_array(), *out = json_object();
    char *msg = NULL, ok[16] = "";
    sqlite3_stmt *st = NULL;
    size_t i;
    json_t *name;
    int rc = 1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        say("%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    if (sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                         "'sqlite_%' ORDER BY name", collect_name, names, &msg) != SQLITE_OK) {
        say("%s: %s", path, msg ? msg : sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        say("%s: check failed: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    snprintf(ok, sizeof ok, "%s", (const char *)sqlite3_column_text(st, 0));
    if (strcmp(ok, "ok") != 0) {
        say("%s: the copy is damaged (quick_check: %.60s)", path,
            (const char *)sqlite3_column_text(st, 0));
        goto out;
    }
    json_array_foreach(names, i, name) {
        char *q = sqlite3_mprintf("SELECT %Q, count(*) FROM \"%w\"", json_string_value(name),
                                  json_string_value(name));
        int r = q ? sqlite3_exec(db, q, count_table, out, &msg) : SQLITE_NOMEM;
        sqlite3_free(q);
        if (r != SQLITE_OK) {
            say("%s: %s", path, msg ? msg : sqlite3_errstr(r));
            goto out;
        }
    }
    *tables = out;
    out = NULL;
    rc = 0;
out:
    sqlite3_free(msg);
    sqlite3_finalize(st);
    sqlite3_close(db);
    json_decref(names);
    json_decref(out);
    return rc;
}

/* ---- the store ---- */

/* Write n bytes of buf, or copy from fd sfd when buf is NULL, into
 * dir/.tmp-<name>, then rename it to dir/<name>; mode and times from sb.
 * 0, or -1 with errno. */
static int put_file(const char *dir, const char *name, const void *buf, size_t n, int sfd,
                    const struct stat *sb)
{
    char tmp[PATH_MAX], final[PATH_MAX], chunk[1 << 16];
    struct timespec times[2] = {sb->st_atim, sb->st_mtim};
    int fd, e;

    if (snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, name) >= (int)sizeof tmp ||
        snprintf(final, sizeof final, "%s/%s", dir, name) >= (int)sizeof final) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    for (;;) {
        const char *p = buf;
        ssize_t got = (ssize_t)n;
        if (!buf) {
            got = read(sfd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                goto fail;
            p = chunk;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            ssize_t w = write(fd, p + off, (size_t)(got - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto fail;
            off += w;
        }
        if (buf)
            break;
    }
    if (fchmod(fd, sb->st_mode & 0777) != 0 || futimens(fd, times) != 0 || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, final) == 0)
        return 0;
    fd = -1;
fail:
    e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

/* Copy the finished files of from/<ns> into to/<ns>: for each <fid>.json,
 * the metadata read first, then the data it describes (gone meanwhile: the
 * file was deleted, skipped), then both written, data before metadata.
 * 0 or 1 (said). */
static int store_copy(const char *from, const char *to, const char *ns, counts *c,
                      long *skipped)
{
    char sdir[PATH_MAX], ddir[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (join(sdir, sizeof sdir, from, ns) || join(ddir, sizeof ddir, to, ns))
        return 1;
    if (mkdirs(ddir) != 0)
        return say("%s: %s", ddir, strerror(errno));
    if (!(d = opendir(sdir)))
        return errno == ENOENT ? 0 : say("%s: %s", sdir, strerror(errno));
    while (!rc && (de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        char fid[V2M_FID_LEN + 1], meta[8192];
        struct stat msb, dsb;
        ssize_t mlen;
        int mfd, dfd;

        if (len != V2M_FID_LEN + 5 || strcmp(name + V2M_FID_LEN, ".json") != 0 ||
            !v2m_oid_is_normal(name, V2M_FID_LEN))
            continue;
        memcpy(fid, name, V2M_FID_LEN);
        fid[V2M_FID_LEN] = '\0';
        if ((mfd = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC)) < 0) {
            if (errno == ENOENT) {
                (*skipped)++;
                continue;
            }
            rc = say("%s/%s: %s", sdir, name, strerror(errno));
            break;
        }
        mlen = fstat(mfd, &msb) == 0 ? read(mfd, meta, sizeof meta) : -1;
        close(mfd);
        if (mlen < 0 || (size_t)mlen == sizeof meta) {
            rc = say("%s/%s: %s", sdir, name, mlen < 0 ? strerror(errno) : "metadata too large");
            break;
        }
        if ((dfd = openat(dirfd(d), fid, O_RDONLY | O_CLOEXEC)) < 0) {
            if (errno == ENOENT) {   /* deleted since the listing */
                (*skipped)++;
                continue;
            }
            rc = say("%s/%s: %s", sdir, fid, strerror(errno));
            break;
        }
        if (fstat(dfd, &dsb) != 0 || put_file(ddir, fid, NULL, 0, dfd, &dsb) != 0 ||
            put_file(ddir, name, meta, (size_t)mlen, -1, &msb) != 0)
            rc = say("copying %s/%s to %s: %s", sdir, fid, ddir, strerror(errno));
        else {
            c->files++;
            c->bytes += dsb.st_size;
        }
        close(dfd);
    }
    closedir(d);
    if (!rc && fsync_path(ddir, 1) != 0)
        rc = say("%s: %s", ddir, strerror(errno));
    return rc;
}

static const char *const store_ns[] = {"videos", "mp3s"};

/* ---- commands ---- */

typedef struct cmd_args {
    const char *dir;
    int force;
} cmd_args;

static int parse_cmd(int argc, char **argv, cmd_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0)
            a->force = 1;
        else if (argv[i][0] && argv[i][0] != '-' && !a->dir)
            a->dir = argv[i];
        else {
            say("%s: unexpected argument '%s' (see v2m-admin --help)", argv[1], argv[i]);
            return 2;
        }
    }
    if (!a->dir) {
        say("%s needs a DIR", argv[1]);
        return 2;
    }
    return -1;
}

int v2m_admin_backup(int argc, char **argv)
{
    char path[PATH_MAX], part[PATH_MAX], sdir[PATH_MAX], when[32];
    json_t *man = NULL, *dbs, *store;
    cmd_args a;
    places p;
    long skipped = 0;
    int rc;

    if ((rc = parse_cmd(argc, argv, &a)) >= 0)
        return rc;
    if (find_places(&p, 1))
        return 1;
    if ((rc = dir_has_entries(a.dir)) < 0)
        return 1;
    if (rc && !a.force)
        return say("backup: %s is not empty; choose an empty or new directory, or --force to "
                   "replace the backup in it", a.dir);
    for (int i = 0; i < DB_COUNT; i++)
        if (access(p.db[i], F_OK) != 0)
            return say("backup: no %s database at %s (%s); are the settings those of the "
                       "services?", db_names[i], p.db[i], strerror(errno));
    if (mkdirs(a.dir) != 0)
        return say("backup: %s: %s", a.dir, strerror(errno));
    if (join(path, sizeof path, a.dir, MANIFEST) || join(sdir, sizeof sdir, a.dir, "store"))
        return 1;
    if (rc) {   /* --force: the manifest goes first, so a half-made backup never has one */
        if (unlink(path) != 0 && errno != ENOENT)
            return say("backup: %s: %s", path, strerror(errno));
        for (size_t i = 0; i < sizeof store_ns / sizeof *store_ns; i++) {
            char nsd[PATH_MAX];
            if (join(nsd, sizeof nsd, sdir, store_ns[i]) || empty_dir(nsd))
                return 1;
        }
    }
    iso_now(when, sizeof when);
    man = json_pack("{s:s, s:s, s:[s,s,s,s]}", "format", FORMAT, "started_at", when, "order",
                    "users", "jobs", "queue", "store");
    dbs = json_object();
    json_object_set_new(man, "databases", dbs);
    for (int i = 0; i < DB_COUNT; i++) {
        char file[32];
        struct stat sb;
        json_t *tables = NULL;

        snprintf(file, sizeof file, "%s.db", db_names[i]);
        if (join(path, sizeof path, a.dir, file) ||
            snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part)
            goto fail;
        unlink(part);
        if (db_copy(p.db[i], part, SQLITE_OPEN_READWRITE) || db_seal(part, &tables))
            goto fail;
        if (rename(part, path) != 0 || stat(path, &sb) != 0) {
            json_decref(tables);
            say("backup: %s: %s", path, strerror(errno));
            goto fail;
        }
        json_object_set_new(dbs, db_names[i],
                            json_pack("{s:s, s:s, s:I, s:o}", "source", p.db[i], "file", file,
                                      "bytes", (json_int_t)sb.st_size, "rows", tables));
        printf("%-6s %s -> %s (%lld bytes)\n", db_names[i], p.db[i], path,
               (long long)sb.st_size);
    }
    store = json_pack("{s:s, s:s}", "source", p.store, "dir", "store");
    json_object_set_new(man, "store", store);
    for (size_t i = 0; i < sizeof store_ns / sizeof *store_ns; i++) {
        counts c = {0};
        if (store_copy(p.store, sdir, store_ns[i], &c, &skipped))
            goto fail;
        json_object_set_new(store, store_ns[i], json_pack("{s:I, s:I}", "files",
                                                          (json_int_t)c.files, "bytes",
                                                          (json_int_t)c.bytes));
        printf("%-6s %s/%s -> %s/%s (%ld files, %lld bytes)\n", store_ns[i], p.store,
               store_ns[i], sdir, store_ns[i], c.files, c.bytes);
    }
    json_object_set_new(store, "deleted_while_copying", json_integer(skipped));
    iso_now(when, sizeof when);
    json_object_set_new(man, "finished_at", json_string(when));
    if (join(path, sizeof path, a.dir, MANIFEST) ||
        snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part)
        goto fail;
    if (json_dump_file(man, part, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 ||
        fsync_path(part, 0) != 0 || rename(part, path) != 0 || fsync_path(a.dir, 1) != 0) {
        say("backup: %s: %s", path, strerror(errno));
        goto fail;
    }
    printf("backup complete: %s\n", path);
    json_decref(man);
    return 0;
fail:
    json_decref(man);
    say("backup into %s failed; it has no %s and is not a backup (again: --force)", a.dir,
        MANIFEST);
    return 1;
}

static int requeue_missing(const places *p);

/* 1 when the live database at path holds data (restore would replace it). */
static int db_in_use(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && sb.st_size > 0;
}

int v2m_admin_restore(int argc, char **argv)
{
    char path[PATH_MAX], sdir[PATH_MAX];
    json_t *man, *dbs;
    json_error_t jerr;
    cmd_args a;
    places p;
    long skipped = 0;
    int rc;

    if ((rc = parse_cmd(argc, argv, &a)) >= 0)
        return rc;
    if (find_places(&p, 1))
        return 1;
    if (join(path, sizeof path, a.dir, MANIFEST) || join(sdir, sizeof sdir, a.dir, "store"))
        return 1;
    if (!(man = json_load_file(path, 0, &jerr)))
        return say("restore: %s: %s; not a complete backup (v2m-admin backup writes it last)",
                   path, jerr.text);
    if (!json_is_string(json_object_get(man, "format")) ||
        strcmp(json_string_value(json_object_get(man, "format")), FORMAT) != 0 ||
        !json_is_object(dbs = json_object_get(man, "databases"))) {
        json_decref(man);
        return say("restore: %s is not a %s manifest", path, FORMAT);
    }
    /* Nothing is replaced without --force: the target must be fresh. */
    if (!a.force) {
        for (int i = 0; i < DB_COUNT; i++)
            if (db_in_use(p.db[i])) {
                json_decref(man);
                return say("restore: %s already holds a %s database; restore into a fresh "
                           "deployment, or stop the services and use --force to replace it",
                           p.db[i], db_names[i]);
            }
        for (size_t i = 0; i < sizeof store_ns / sizeof *store_ns; i++) {
            char nsd[PATH_MAX];
            int has;
            if (join(nsd, sizeof nsd, p.store, store_ns[i]) || (has = dir_has_entries(nsd)) < 0) {
                json_decref(man);
                return 1;
            }
            if (has) {
                json_decref(man);
                return say("restore: %s is not empty; restore into a fresh deployment, or stop "
                           "the services and use --force to replace it", nsd);
            }
        }
    }
    for (int i = 0; i < DB_COUNT; i++) {
        json_t *d = json_object_get(dbs, db_names[i]);
        const char *file = json_string_value(json_object_get(d, "file"));
        char from[PATH_MAX], parent[PATH_MAX], *slash;

        if (!file || strchr(file, '/') || join(from, sizeof from, a.dir, file)) {
            json_decref(man);
            return say("restore: the manifest names no file for the %s database", db_names[i]);
        }
        snprintf(parent, sizeof parent, "%s", p.db[i]);
        if ((slash = strrchr(parent, '/')) && slash != parent) {
            *slash = '\0';
            if (mkdirs(parent) != 0) {
                json_decref(man);
                return say("restore: %s: %s", parent, strerror(errno));
            }
        }
        if (db_copy(from, p.db[i], SQLITE_OPEN_READONLY)) {
            json_decref(man);
            return say("restore stopped at the %s database: what came before it is restored",
                       db_names[i]);
        }
        printf("%-6s %s -> %s\n", db_names[i], from, p.db[i]);
    }
    json_decref(man);
    for (size_t i = 0; i < sizeof store_ns / sizeof *store_ns; i++) {
        char nsd[PATH_MAX];
        counts c = {0};
        if (join(nsd, sizeof nsd, p.store, store_ns[i]))
            return 1;
        if (a.force && empty_dir(nsd))
            return 1;
        if (store_copy(sdir, p.store, store_ns[i], &c, &skipped))
            return say("restore stopped in the store's %s", store_ns[i]);
        printf("%-6s %s/%s -> %s (%ld files, %lld bytes)\n", store_ns[i], sdir, store_ns[i], nsd,
               c.files, c.bytes);
    }
    if (requeue_missing(&p))
        return say("restore: the data is back, but jobs without a message could not be "
                   "requeued: run v2m-admin requeue --list, then requeue them");
    printf("restore complete\n");
    return 0;
}

typedef struct pending {
    v2m_job *jobs;
    size_t n, cap;
    int fail;
} pending;

static int take_unfinished(void *ud, const v2m_job *j)
{
    pending *p = ud;
    if (j->status != V2M_JOB_QUEUED && j->status != V2M_JOB_CONVERTING)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        v2m_job *g = realloc(p->jobs, cap * sizeof *g);
        if (!g) {
            p->fail = 1;
            return 1;
        }
        p->jobs = g;
        p->cap = cap;
    }
    p->jobs[p->n++] = *j;
    return 0;
}

/* The jobs left queued or converting into *out; 0 or 1 (said). */
static int unfinished_jobs(const places *p, pending *out)
{
    v2m_error err = {0};
    v2m_jobs *jobs;
    v2m_err rc;

    memset(out, 0, sizeof *out);
    /* Not made by looking: a new database here would make restore refuse. */
    if (p->db[DB_JOBS][0] && access(p->db[DB_JOBS], F_OK) != 0)
        return say("requeue: no job records at %s (%s)", p->db[DB_JOBS], strerror(errno));
    if (!(jobs = v2m_jobs_open(p->jobs_url, &err)))
        return say("requeue: %s", v2m_error_msg(&err));
    rc = v2m_jobs_list(jobs, NULL, 0, 0, take_unfinished, out, &err);
    v2m_jobs_close(jobs);
    if (rc != V2M_OK || out->fail)
        return say("requeue: %s", out->fail ? "out of memory" : v2m_error_msg(&err));
    return 0;
}

/* Publish the video message of each job of jobs[0..n) whose `keep` is set
 * (all when keep is NULL), as the gateway did at upload; 0 or 1 (said). */
static int publish_jobs(const places *p, const v2m_job *jobs, size_t n, const char *keep,
                        size_t *done)
{
    v2m_error err = {0};
    v2m_queue *q = NULL;
    int rc = 1;

    *done = 0;
    for (size_t i = 0; i < n; i++) {
        const v2m_job *j = &jobs[i];
        v2m_msg m;
        char *body;
        v2m_err r;

        if (keep && !keep[i])
            continue;
        if (!q && !(q = v2m_queue_open(p->queue_url, NULL, &err))) {
            say("requeue: %s", v2m_error_msg(&err));
            goto out;
        }
        memset(&m, 0, sizeof m);
        snprintf(m.video_fid, sizeof m.video_fid, "%s", j->video_fid);
        snprintf(m.username, sizeof m.username, "%s", j->owner);
        snprintf(m.filename, sizeof m.filename, "%s", j->filename);
        snprintf(m.options, sizeof m.options, "%s", j->options);
        snprintf(m.callback_url, sizeof m.callback_url, "%s", j->callback_url);
        if (!(body = v2m_msg_encode(&m))) {
            say("requeue: out of memory");
            goto out;
        }
        r = v2m_queue_publish(q, p->video_queue, body, strlen(body), &err);
        free(body);
        if (r != V2M_OK) {
            say("requeue: %s after %zu jobs: %s", j->video_fid, *done, v2m_error_msg(&err));
            goto out;
        }
        printf("%s\t%s\trequeued\n", j->video_fid, v2m_job_status_name(j->status));
        (*done)++;
    }
    rc = 0;
out:
    v2m_queue_close(q);
    return rc;
}

/* After a restore: the unfinished jobs whose message the restored queue
 * lacks (the queue was copied after the job records, so a job that moved
 * on in between has none) get one again; 0 or 1 (said). */
static int requeue_missing(const places *p)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    pending pend;
    char *keep = NULL;
    size_t missing = 0, done = 0;
    int rc = 1;

    if (unfinished_jobs(p, &pend))
        return 1;
    if (pend.n && !(keep = calloc(pend.n, 1))) {
        say("requeue: out of memory");
        goto out;
    }
    if (pend.n && (sqlite3_open_v2(p->db[DB_QUEUE], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT 1 FROM messages WHERE queue = ?1 AND instr(body, ?2) > 0",
                           -1, &st, NULL) != SQLITE_OK)) {
        say("restore: %s: %s", p->db[DB_QUEUE], db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pend.n; i++) {
        int r;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, p->video_queue, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pend.jobs[i].video_fid, -1, SQLITE_STATIC);
        if ((r = sqlite3_step(st)) != SQLITE_ROW && r != SQLITE_DONE) {
            say("restore: %s: %s", p->db[DB_QUEUE], sqlite3_errmsg(db));
            goto out;
        }
        keep[i] = r == SQLITE_DONE;
        missing += keep[i];
    }
    sqlite3_finalize(st);
    st = NULL;
    sqlite3_close(db);
    db = NULL;
    if (missing && publish_jobs(p, pend.jobs, pend.n, keep, &done))
        goto out;
    printf("%zu unfinished jobs, %zu of them requeued (their message was not in the copy)\n",
           pend.n, done);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(keep);
    free(pend.jobs);
    return rc;
}

int v2m_admin_requeue(int argc, char **argv)
{
    pending pend;
    places p;
    char *keep = NULL;
    int list = 0, all = 0, nfids = 0, rc = 1;
    size_t done = 0;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (v2m_oid_is_normal(argv[i], strlen(argv[i])))
            nfids++;
        else {
            say("requeue: unexpected argument '%s' (a job is named by its 24 lower-case hex "
                "digits)", argv[i]);
            return 2;
        }
    }
    if (list + all + (nfids > 0) != 1) {
        say("requeue needs one of --list, --all or the FIDs of jobs");
        return 2;
    }
    if (find_places(&p, 0) || unfinished_jobs(&p, &pend))
        return 1;
    if (list) {
        for (size_t i = 0; i < pend.n; i++)
            printf("%s\t%s\t%s\n", pend.jobs[i].video_fid,
                   v2m_job_status_name(pend.jobs[i].status), pend.jobs[i].owner);
        free(pend.jobs);
        return 0;
    }
    if (nfids) {
        if (pend.n && !(keep = calloc(pend.n, 1))) {
            say("requeue: out of memory");
            goto out;
        }
        for (int i = 2; i < argc; i++) {
            size_t k = 0;
            if (argv[i][0] == '-')
                continue;
            while (k < pend.n && strcmp(pend.jobs[k].video_fid, argv[i]) != 0)
                k++;
            if (k == pend.n) {
                say("requeue: %s is no job left queued or converting (see requeue --list)",
                    argv[i]);
                goto out;
            }
            keep[k] = 1;
        }
    }
    if (publish_jobs(&p, pend.jobs, pend.n, keep, &done))
        goto out;
    printf("requeued %zu jobs on %s\n", done, p.video_queue);
    rc = 0;
out:
    free(keep);
    free(pend.jobs);
    return rc;
}
