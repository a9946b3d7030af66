/* webhook.h - telling an upload's callback_url that its job ended.
 *
 * The mp3 lane of v2m-notification, on a message with a callback_url,
 * publishes a delivery to WEBHOOK_QUEUE (`webhooks`); the webhook lane
 * consumes it and POSTs the job record (ports/jobs_json.h, as GET
 * /jobs/<fid> shows it, its download_url absolute under V2M_PUBLIC_URL) to
 * the URL, signed with the user's secret:
 *
 *   V2M-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * A delivery that fails (no 2xx answer, a network error) is published again
 * for later with the next delay of V2M_WEBHOOK_RETRY_DELAYS, its attempt
 * number and not-before time in the message, until V2M_WEBHOOK_MAX_AGE after
 * the job ended: pending deliveries live in the queue, not in memory. The
 * URL's host is resolved when sending, every address checked
 * (common/webhook_url.h) and the connection pinned to the checked ones.
 *
 * A delivery message (JSON): {"video_fid","username","callback_url",
 * "status","mp3_fid","error","error_code","filename","ended_at" (ms),
 * "attempt" (1 on the first), "not_before" (ms)}.
 */
#ifndef V2M_NOTIFICATION_WEBHOOK_H
#define V2M_NOTIFICATION_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "common/link.h"
#include "common/message.h"
#include "ports/queue.h"
#include "worker/worker.h"

#define V2M_WEBHOOK_DELAYS_MAX 32
#define V2M_WEBHOOK_RESP_MAX (64 * 1024)   /* bytes of an answer read, then dropped */

/* WEBHOOK_QUEUE, V2M_WEBHOOK_THREADS, V2M_WEBHOOK_ALLOW,
 * V2M_WEBHOOK_RETRY_DELAYS, V2M_WEBHOOK_MAX_AGE, V2M_WEBHOOK_TIMEOUT, and
 * where the records and secrets are: V2M_STORE, V2M_JOBS (with the users
 * table's V2M_USERS / MYSQL_*). */
extern const v2m_cfg_table v2m_webhook_table;

typedef struct v2m_webhooks v2m_webhooks;

/* Load the settings and open the publisher of deliveries on queue_url
 * (queue_type: V2M_QUEUE_TYPE, as the worker's queue has it);
 * records and users are opened on first use. links and public_url (the
 * mail's: V2M_LINK_SECRET, V2M_PUBLIC_URL) make the payload's download_url.
 * NULL with err on a bad setting. */
v2m_webhooks *v2m_webhooks_open(const char *queue_url, int queue_type, const v2m_links *links,
                                const char *public_url, v2m_error *err);
void v2m_webhooks_close(v2m_webhooks *w);   /* safe on NULL */

/* The lane that consumes deliveries (queue, threads, queue options); its
 * work function is to call v2m_webhooks_work. */
void v2m_webhooks_lane(const v2m_webhooks *w, v2m_worker_lane *lane);

/* Whether the mp3 message qm (parsed as m) should have its delivery
 * published now: it names a callback_url, and this is its first delivery
 * or the earlier ones did not get as far as publishing it. */
int v2m_webhooks_due(const v2m_msg *m, const v2m_queue_msg *qm);
/* The reason a caller gives when v2m_webhooks_enqueue fails, so the next
 * delivery of the message knows (v2m_webhooks_due). */
#define V2M_WEBHOOK_NOT_QUEUED "webhook not queued"

/* Publish the first delivery for the ended job m. */
v2m_err v2m_webhooks_enqueue(v2m_webhooks *w, const v2m_msg *m, v2m_error *err);

/* One delivery message: send it, or publish it again for later, or give up
 * on it. q is the webhook lane's handle. */
v2m_settle v2m_webhooks_work(v2m_webhooks *w, v2m_queue *q, const v2m_queue_msg *qm,
                             char *reason, size_t reasonsz);

/* v2m_notification_webhooks_total{result=delivered|failed|refused|expired}. */
void v2m_webhooks_metrics(v2m_webhooks *w, v2m_buf *buf);

/* The signature header's value for body sent at time t (seconds):
 * "t=<t>,v1=<64 hex digits>" into out (>= 100 bytes). 0, or -1 when
 * HMAC fails. */
int v2m_webhook_sign(const char *secret, long long t, const char *body, size_t len, char *out,
                     size_t outsz);

/* "10s,30s,1m" into delays (seconds), at most V2M_WEBHOOK_DELAYS_MAX of
 * 1 s .. 1 d each; the count, or -1 with err naming the bad entry. */
int v2m_webhook_parse_delays(const char *s, long long *delays, v2m_error *err);

#endif
