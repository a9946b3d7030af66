/* qmove - move one queue message, adding a callback_url, for the webhook
 * tests (what the upload's callback_url field does, on any queue backend):
 *
 *   qmove QUEUE_URL FROM TO VIDEO_FID CALLBACK_URL
 *
 * Takes the message of VIDEO_FID from FROM (waiting up to 30 s), sets its
 * callback_url, publishes it to TO and acks it. Exit 0 when moved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/message.h"
#include "ports/queue.h"

int main(int argc, char **argv)
{
    v2m_error e = {0};
    v2m_queue *q;
    time_t deadline = time(NULL) + 30;
    int rc = 1;

    if (argc != 6) {
        fprintf(stderr, "usage: qmove QUEUE_URL FROM TO VIDEO_FID CALLBACK_URL\n");
        return 2;
    }
    q = v2m_queue_open(argv[1], NULL, &e);
    if (!q) {
        fprintf(stderr, "qmove: %s\n", v2m_error_msg(&e));
        return 1;
    }
    while (rc && time(NULL) < deadline) {
        v2m_queue_msg *m = NULL;
        v2m_msg msg;
        char *body;

        if (v2m_queue_consume(q, argv[2], 1000, &m, &e) != V2M_OK)
            continue;
        if (v2m_msg_parse(m->body, m->len, &msg, &e) != V2M_OK ||
            strcmp(msg.video_fid, argv[4]) != 0) {
            v2m_queue_release(q, m, NULL); /* someone else's */
            continue;
        }
        snprintf(msg.callback_url, sizeof msg.callback_url, "%s", argv[5]);
        body = v2m_msg_encode(&msg);
        if (body && v2m_queue_publish(q, argv[3], body, strlen(body), &e) == V2M_OK &&
            v2m_queue_ack(q, m, &e) == V2M_OK)
            rc = 0;
        else {
            fprintf(stderr, "qmove: %s\n", v2m_error_msg(&e));
            if (!body)
                v2m_queue_release(q, m, NULL);
            free(body);
            break;
        }
        free(body);
    }
    v2m_queue_close(q);
    if (rc)
        fprintf(stderr, "qmove: no message of %s moved\n", argv[4]);
    return rc;
}
