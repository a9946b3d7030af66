/* main.c - v2m-notification: mp3 queue in, a mail to the user out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/message.h"
#include "common/signals.h"
#include "mail.h"
#include "worker/worker.h"

static const char usage[] =
    "usage: v2m-notification [--help] [--version]\n"
    "Mails the user when an MP3 is ready (or its conversion failed), for each message on the mp3 queue.\n"
    "Environment:\n"
    "  V2M_QUEUE          sqlite:///path.db or amqp://user:pass@host:port/vhost\n"
    "                     (default sqlite://./var/queue.db)\n"
    "  MP3_QUEUE          queue name (default mp3)\n"
    "  SMTP_URL           smtp://host:587 (STARTTLS when offered, required with a login)\n"
    "                     or smtps://host:465; unset: mail is written to V2M_OUTBOX\n"
    "  SMTP_USER, SMTP_PASSWORD, MAIL_FROM   login and sender\n"
    "  GMAIL_ADDRESS, GMAIL_PASSWORD         the original's settings: Gmail's SMTP with that login\n"
    "  V2M_OUTBOX         folder for .eml files when no SMTP is set (default ./var/outbox)\n"
    "  V2M_PUBLIC_URL     base of the download link in mails (default http://localhost:8080)\n"
    "  V2M_NOTIFICATION_THREADS  mails at once (default 2)\n"
    "  V2M_MAX_ATTEMPTS   tries of a mail the server refuses for now, then mp3.dead (default 8)\n"
    "  V2M_RETRY_DELAY    wait before a retry, e.g. 30s (default)\n"
    "  V2M_LEASE          SQLite queue: when a killed worker's message returns (default 30s)\n"
    "  V2M_SHUTDOWN_GRACE on SIGTERM, how long mails in flight may finish (default 20s)\n"
    "  V2M_LISTEN         health/metrics host:port (default 0.0.0.0:8082)\n"
    "  V2M_LOG_LEVEL      debug|info|warn|error (default info)\n";

typedef struct app {
    v2m_mail_config mail;
    atomic_ulong sent, failed_notices;
} app;

static v2m_settle work(void *ud, v2m_queue *q, const v2m_queue_msg *qm, char *reason,
                       size_t reasonsz)
{
    app *a = ud;
    v2m_msg m;
    v2m_notice n;
    v2m_error err = {0};
    char *text = NULL, id[80];
    size_t len = 0;
    v2m_err rc;

    if (v2m_msg_parse(qm->body, qm->len, &m, &err) != V2M_OK) {
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        return V2M_SETTLE_DEAD;
    }
    n = (v2m_notice){.username = m.username, .video_fid = m.video_fid,
                     .mp3_fid = m.mp3_fid[0] ? m.mp3_fid : NULL,
                     .filename = m.filename[0] ? m.filename : NULL,
                     .error = m.error[0] ? m.error : NULL};
    if (v2m_mail_compose(&a->mail, &n, (long long)time(NULL), &text, &len, &err) != V2M_OK) {
        snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
        return V2M_SETTLE_DEAD;
    }
    snprintf(id, sizeof id, "%s-%s", m.video_fid, n.mp3_fid ? "done" : "failed");
    rc = v2m_mail_send(&a->mail, m.username, id, text, len, &err);
    free(text);
    if (rc == V2M_OK) {
        atomic_fetch_add(n.mp3_fid ? &a->sent : &a->failed_notices, 1);
        V2M_LOG(V2M_INFO, "mail sent video_fid=%s kind=%s", m.video_fid, n.mp3_fid ? "ready" : "failed");
        return V2M_SETTLE_ACK;
    }
    snprintf(reason, reasonsz, "%s", v2m_error_msg(&err));
    if (rc == V2M_EINVAL)
        return V2M_SETTLE_DEAD; /* the server refused this mail for good */
    V2M_LOG(V2M_WARN, "mail will be retried attempt=%d reason=\"%s\"", qm->attempt, reason);
    return V2M_SETTLE_RETRY;
}

static void metrics(void *ud, v2m_buf *buf)
{
    app *a = ud;
    v2m_buf_printf(buf,
                   "# TYPE v2m_notification_mails_total counter\n"
                   "v2m_notification_mails_total{kind=\"ready\"} %lu\n"
                   "v2m_notification_mails_total{kind=\"failed\"} %lu\n",
                   atomic_load(&a->sent), atomic_load(&a->failed_notices));
}

int main(int argc, char **argv)
{
    static app a;
    v2m_worker_opts o;
    v2m_error err = {0};
    int rc = v2m_service_args(argc, argv, "v2m-notification", usage);

    if (rc >= 0)
        return rc;
    memset(&o, 0, sizeof o);
    if (v2m_mail_config_load(&a.mail, &err) ||
        v2m_worker_load_env(&o, "0.0.0.0:8082", "V2M_NOTIFICATION_THREADS", 2, 8, 30, &err)) {
        fprintf(stderr, "v2m-notification: %s\n", v2m_error_msg(&err));
        v2m_mail_config_free(&a.mail);
        return 1;
    }
    v2m_signals_block();
    o.service = "notification";
    o.queue = v2m_cfg_str("MP3_QUEUE", "mp3");
    o.work = work;
    o.app = &a;
    o.metrics = metrics;
    {
        char safe[600];
        v2m_url_redact(a.mail.smtp_url, safe, sizeof safe);
        V2M_LOG(V2M_INFO, "mail via %s", a.mail.smtp_url[0] ? safe : a.mail.outbox);
    }
    rc = v2m_worker_run(&o, &err);
    if (rc)
        fprintf(stderr, "v2m-notification: %s\n", v2m_error_msg(&err));
    v2m_mail_config_free(&a.mail);
    return rc;
}
