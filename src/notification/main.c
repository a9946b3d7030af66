/* main.c - v2m-notification: mp3 queue in, a mail to the user out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/args.h"
#include "common/config.h"
#include "common/redact.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/message.h"
#include "common/signals.h"
#include "mail.h"
#include "ports/users.h"
#include "webhook.h"
#include "worker/worker.h"

static const char usage[] =
    "usage: v2m-notification [--help] [--version] [--config-table]\n"
    "Mails the user when an MP3 is ready (or its conversion failed), for each message on the mp3 queue;\n"
    "calls the upload's callback_url (a signed webhook), retried through the webhooks queue.\n";

static const v2m_cfg_var notification_vars[] = {
    V2M_WORKER_VARS("0.0.0.0:8082", "V2M_NOTIFICATION_THREADS", "2", NULL, "mails at once", "8",
                    "tries of a mail the server refuses for now, then <queue>.dead", "30s"),
    {.name = "MP3_QUEUE", .def = "mp3", .parse = v2m_cfg_parse_text, .max = 127,
     .help = "queue of finished conversions"},
};
static const v2m_cfg_table notification_table =
    V2M_CFG_TABLE("notification", notification_vars);
static const v2m_cfg_table *const tables[] = {&notification_table, &v2m_mail_table,
                                              &v2m_link_table, &v2m_webhook_table,
                                              &v2m_users_table, &v2m_service_table, NULL};

typedef struct app {
    v2m_mail_config mail;
    v2m_webhooks *hooks;
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
    /* The webhook goes its own way (the webhooks queue), before the mail, so
     * a failing mail never holds it back nor repeats it. */
    if (v2m_webhooks_due(&m, qm) && v2m_webhooks_enqueue(a->hooks, &m, &err) != V2M_OK) {
        snprintf(reason, reasonsz, "%s: %s", V2M_WEBHOOK_NOT_QUEUED, v2m_error_msg(&err));
        return V2M_SETTLE_RETRY;
    }
    n = (v2m_notice){.username = m.username, .video_fid = m.video_fid,
                     .mp3_fid = m.mp3_fid[0] ? m.mp3_fid : NULL,
                     .filename = m.filename[0] ? m.filename : NULL,
                     .error = m.error[0] ? m.error : NULL,
                     .error_code = m.error_code[0] ? m.error_code : NULL};
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

static v2m_settle hook_work(void *ud, v2m_queue *q, const v2m_queue_msg *qm, char *reason,
                            size_t reasonsz)
{
    return v2m_webhooks_work(((app *)ud)->hooks, q, qm, reason, reasonsz);
}

static void metrics(void *ud, v2m_buf *buf)
{
    app *a = ud;
    v2m_webhooks_metrics(a->hooks, buf);
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
    v2m_cfg c;
    int rc = v2m_service_args(argc, argv, "v2m-notification", usage, tables);

    if (rc >= 0)
        return rc;
    memset(&o, 0, sizeof o);
    if (v2m_cfg_load(&c, &notification_table, &err) || v2m_mail_config_load(&a.mail, &err)) {
        fprintf(stderr, "v2m-notification: %s\n", v2m_error_msg(&err));
        v2m_mail_config_free(&a.mail);
        return 1;
    }
    v2m_worker_from_cfg(&o, &c, "V2M_NOTIFICATION_THREADS", 2);
    v2m_signals_block();
    o.service = "notification";
    o.queue = v2m_cfg_text(&c, "MP3_QUEUE");
    o.work = work;
    o.app = &a;
    o.metrics = metrics;
    if (!(a.hooks = v2m_webhooks_open(o.queue_url, o.qopts.type, &a.mail.links, a.mail.public_url, &err))) {
        fprintf(stderr, "v2m-notification: %s\n", v2m_error_msg(&err));
        v2m_mail_config_free(&a.mail);
        return 1;
    }
    v2m_webhooks_lane(a.hooks, &o.side);
    o.side.work = hook_work;
    {
        char safe[600];
        v2m_url_redact(a.mail.smtp_url, safe, sizeof safe);
        V2M_LOG(V2M_INFO, "mail via %s signed_links=%s", a.mail.smtp_url[0] ? safe : a.mail.outbox,
                a.mail.links.on ? "on" : "off (no V2M_LINK_SECRET)");
    }
    rc = v2m_worker_run(&o, &err);
    if (rc)
        fprintf(stderr, "v2m-notification: %s\n", v2m_error_msg(&err));
    v2m_webhooks_close(a.hooks);
    v2m_mail_config_free(&a.mail);
    return rc;
}
