/* admin.c - v2m-admin: manage users on the same backend v2m-auth uses; back
 * up and restore the embedded deployment (backup.c). */
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "common/args.h"
#include "common/log.h"
#include "ports/users.h"
#include "backup.h"

static const char usage[] =
    "usage: v2m-admin user add EMAIL [--admin] [--password-stdin]\n"
    "       v2m-admin user list\n"
    "       v2m-admin user del EMAIL\n"
    "       v2m-admin user passwd EMAIL [--password-stdin]\n"
    "       v2m-admin user admin EMAIL on|off\n"
    "       v2m-admin webhook-secret EMAIL\n"
    "       v2m-admin backup DIR [--force]\n"
    "       v2m-admin restore DIR [--force]\n"
    "       v2m-admin requeue --list | --all | FID...\n"
    "Emails are not case-sensitive and are stored in lower case; add refuses one that\n"
    "differs from an existing user only in case. New passwords need at least 8\n"
    "characters and are read from standard input (one line); without --password-stdin\n"
    "and with a terminal, you are prompted twice.\n"
    "del, passwd and admin revoke the user's tokens: v2m-auth refuses them within 5 s.\n"
    "webhook-secret makes a new secret for the user's webhook signatures, replacing\n"
    "the old one, and prints it: it is shown this once.\n"
    "The user database is chosen as for v2m-auth.\n"
    "backup copies the embedded deployment while it runs (users, job records, queue,\n"
    "then the store's finished files) into DIR, new or empty unless --force, with\n"
    "DIR/MANIFEST.json last. restore puts a backup back into a fresh deployment (the\n"
    "services stopped; --force replaces what is there) and requeues the unfinished jobs\n"
    "the copy has no message for. requeue --list shows the jobs left queued or\n"
    "converting; requeue FID... or --all publishes their messages again, for a queue\n"
    "that lost them (a job requeued while its message waits is converted twice).\n"
    "The databases, store and queue are those the services' settings name.\n";

static const v2m_cfg_table *const tables[] = {&v2m_users_table, &v2m_admin_data_table, NULL};

static int read_line(FILE *in, char *buf, size_t sz)
{
    size_t n;
    if (!fgets(buf, (int)sz, in))
        return -1;
    n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == sz - 1 && !feof(in))
        return -2; /* longer than the buffer */
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 0;
}

static int prompt(const char *label, char *buf, size_t sz)
{
    struct termios old, quiet;
    int r;
    fprintf(stderr, "%s", label);
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    r = read_line(stdin, buf, sz);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return r;
}

/* Read a new password into hash; returns 0 or prints why not. */
static int new_password_hash(int from_stdin, char *hash, size_t hsz)
{
    char pw[V2M_PASSWORD_MAX + 2], again[V2M_PASSWORD_MAX + 2];
    v2m_error err = {0};
    int rc = 1;

    if (!from_stdin && isatty(STDIN_FILENO)) {
        if (prompt("Password: ", pw, sizeof pw) || prompt("Again: ", again, sizeof again)) {
            fprintf(stderr, "v2m-admin: no password read\n");
            goto out;
        }
        if (strcmp(pw, again) != 0) {
            fprintf(stderr, "v2m-admin: passwords differ\n");
            goto out;
        }
    } else {
        int r = read_line(stdin, pw, sizeof pw);
        if (r == -2) {
            fprintf(stderr, "v2m-admin: password longer than %d bytes\n", V2M_PASSWORD_MAX);
            goto out;
        }
        if (r) {
            fprintf(stderr, "v2m-admin: no password on standard input\n");
            goto out;
        }
    }
    if (v2m_passwd_check_new(pw, &err) || v2m_passwd_hash(pw, hash, hsz, &err)) {
        fprintf(stderr, "v2m-admin: %s\n", v2m_error_msg(&err));
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(pw, sizeof pw);
    explicit_bzero(again, sizeof again);
    return rc;
}

static int print_user(void *ud, const v2m_user *u)
{
    (void)ud;
    printf("%s%s\n", u->email, u->admin ? "\tadmin" : "");
    return 0;
}

/* What the command line asks for. */
typedef struct admin_args {
    const char *cmd;        /* add, list, del, passwd, admin */
    const char *email;      /* NULL for list */
    int admin;              /* add --admin, admin EMAIL on */
    int from_stdin;         /* --password-stdin */
} admin_args;

/* Check the words after `user CMD`; -1 when they make sense, else the exit
 * status (the reason printed). */
static int parse_words(int argc, char **argv, admin_args *a)
{
    const char *cmd = a->cmd, *onoff = NULL;

    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0 && strcmp(cmd, "add") == 0)
            a->admin = 1;
        else if (strcmp(argv[i], "--password-stdin") == 0 &&
                 (strcmp(cmd, "add") == 0 || strcmp(cmd, "passwd") == 0))
            a->from_stdin = 1;
        else if (argv[i][0] != '-' && !a->email && strcmp(cmd, "list") != 0)
            a->email = argv[i];
        else if (argv[i][0] != '-' && a->email && !onoff && strcmp(cmd, "admin") == 0)
            onoff = argv[i];
        else {
            fprintf(stderr, "v2m-admin: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (strcmp(cmd, "list") != 0 && !a->email) {
        fprintf(stderr, "v2m-admin: user %s needs an EMAIL\n", cmd);
        return 2;
    }
    if (strcmp(cmd, "add") && strcmp(cmd, "list") && strcmp(cmd, "del") && strcmp(cmd, "passwd") &&
        strcmp(cmd, "admin")) {
        fprintf(stderr, "v2m-admin: unknown command 'user %s'\n%s", cmd, usage);
        return 2;
    }
    if (strcmp(cmd, "admin") == 0) {
        if (onoff && strcmp(onoff, "on") == 0)
            a->admin = 1;
        else if (!onoff || strcmp(onoff, "off") != 0) {
            fprintf(stderr, "v2m-admin: user admin EMAIL needs on or off\n");
            return 2;
        }
    }
    return -1;
}

/* Run the command on the users database; the exit status. */
static int run(v2m_users *users, const admin_args *a)
{
    char hash[V2M_HASH_MAX];
    v2m_error err = {0};
    v2m_err rc;

    if (strcmp(a->cmd, "list") == 0) {
        rc = v2m_users_list(users, print_user, NULL, &err);
    } else if (strcmp(a->cmd, "del") == 0) {
        rc = v2m_users_del(users, a->email, &err);
    } else if (strcmp(a->cmd, "admin") == 0) {
        rc = v2m_users_set_admin(users, a->email, a->admin, &err);
    } else {
        if (new_password_hash(a->from_stdin, hash, sizeof hash))
            return 1;
        if (strcmp(a->cmd, "add") == 0)
            rc = v2m_users_add(users, a->email, hash, a->admin, &err);
        else
            rc = v2m_users_set_password(users, a->email, hash, &err);
    }
    if (rc == V2M_OK)
        return 0;
    fprintf(stderr, "v2m-admin: %s\n", v2m_error_msg(&err));
    return 1;
}

/* webhook-secret EMAIL: rotate and print the new secret. */
static int webhook_secret(int argc, char **argv)
{
    char url[V2M_USERS_URL_MAX], secret[V2M_WEBHOOK_SECRET_MAX];
    v2m_error err = {0};
    v2m_users *users = NULL;
    v2m_err rc;

    if (argc != 3 || argv[2][0] == '-') {
        fprintf(stderr, "v2m-admin: webhook-secret needs one EMAIL\n%s", usage);
        return 2;
    }
    if (v2m_users_url_from_env("sqlite://./var/users.db", url, sizeof url, &err) ||
        !(users = v2m_users_open(url, &err))) {
        fprintf(stderr, "v2m-admin: %s\n", v2m_error_msg(&err));
        return 1;
    }
    rc = v2m_users_webhook_secret_rotate(users, argv[2], secret, sizeof secret, &err);
    v2m_users_close(users);
    if (rc != V2M_OK) {
        fprintf(stderr, "v2m-admin: %s\n", v2m_error_msg(&err));
        return 1;
    }
    printf("%s\n", secret);
    explicit_bzero(secret, sizeof secret);
    return 0;
}

int main(int argc, char **argv)
{
    char url[V2M_USERS_URL_MAX];
    v2m_error err = {0};
    v2m_users *users = NULL;
    char email_lc[256];
    admin_args a = {0};
    int rc = v2m_std_args(argc, argv, "v2m-admin", usage, tables);

    if (rc >= 0)
        return rc;
    v2m_log_threshold = V2M_WARN;
    umask(077); /* a users database it creates is private */
    if (argc >= 2 && strcmp(argv[1], "webhook-secret") == 0)
        return webhook_secret(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "backup") == 0)
        return v2m_admin_backup(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "restore") == 0)
        return v2m_admin_restore(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "requeue") == 0)
        return v2m_admin_requeue(argc, argv);
    if (argc < 3 || strcmp(argv[1], "user") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    a.cmd = argv[2];
    if ((rc = parse_words(argc, argv, &a)) >= 0)
        return rc;
    if (a.email && v2m_users_check_email(a.email, &err) != V2M_OK) {
        fprintf(stderr, "v2m-admin: %s\n", v2m_error_msg(&err));
        return 2;
    }
    if (a.email) {
        v2m_users_normalize_email(a.email, email_lc, sizeof email_lc);
        a.email = email_lc;
    }
    if (v2m_users_url_from_env("sqlite://./var/users.db", url, sizeof url, &err) ||
        !(users = v2m_users_open(url, &err))) {
        fprintf(stderr, "v2m-admin: %s\n", v2m_error_msg(&err));
        return 1;
    }
    rc = run(users, &a);
    v2m_users_close(users);
    return rc;
}
