/* publish.c - the gateway's side of the video queue.
 *
 * One queue handle for the process: its calls are serialised, and a publish
 * is short (one persistent message and its confirm), so uploads finishing at
 * the same moment wait for each other only for that long.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "gateway.h"
#include "ports/queue.h"

struct gw_queue {
    v2m_queue *q;
};

v2m_err gw_queue_open(gw_app *a, v2m_error *err)
{
    v2m_queue_opts o;
    v2m_error e = {0};

    v2m_queue_opts_init(&o);
    /* A client waits for this answer: fail fast (503) rather than hang when
     * the broker is away; the next upload tries again. */
    o.publish_timeout_ms = 3000;
    o.type = a->cfg.queue_type;
    a->queue = calloc(1, sizeof *a->queue);
    if (!a->queue)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    a->queue->q = v2m_queue_open(a->cfg.queue_url, &o, err);
    if (!a->queue->q)
        return err ? err->code : V2M_EUNAVAIL;
    if (v2m_queue_declare(a->queue->q, a->cfg.video_queue, &e) != V2M_OK)
        V2M_LOG(V2M_WARN, "cannot declare queue %s yet: %s", a->cfg.video_queue,
                v2m_error_msg(&e));
    return V2M_OK;
}

void gw_queue_close(gw_app *a)
{
    if (!a->queue)
        return;
    v2m_queue_close(a->queue->q);
    free(a->queue);
    a->queue = NULL;
}

v2m_err gw_queue_ping(gw_app *a, v2m_error *err)
{
    return v2m_queue_ping(a->queue->q, err);
}

v2m_err gw_publish(gw_app *a, const v2m_msg *msg, v2m_error *err)
{
    char *body = v2m_msg_encode(msg);
    v2m_err rc;
    if (!body)
        return v2m_fail(err, V2M_ENOMEM, "out of memory");
    rc = v2m_queue_publish(a->queue->q, a->cfg.video_queue, body, strlen(body), err);
    free(body);
    return rc;
}
