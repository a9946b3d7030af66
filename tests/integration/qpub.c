/* qpub - publish one message, as a producer of the queue would:
 *
 *   qpub QUEUE_URL QUEUE BODY
 *
 * Declares QUEUE (and its companions) with the default options and publishes
 * BODY persistently. Exit 0 when the message is stored. */
#include <stdio.h>
#include <string.h>

#include "ports/queue.h"

int main(int argc, char **argv)
{
    v2m_error e = {0};
    v2m_queue *q;
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: qpub QUEUE_URL QUEUE BODY\n");
        return 2;
    }
    q = v2m_queue_open(argv[1], NULL, &e);
    if (!q) {
        fprintf(stderr, "qpub: %s\n", v2m_error_msg(&e));
        return 1;
    }
    rc = v2m_queue_publish(q, argv[2], argv[3], strlen(argv[3]), &e) == V2M_OK ? 0 : 1;
    if (rc)
        fprintf(stderr, "qpub: %s\n", v2m_error_msg(&e));
    v2m_queue_close(q);
    return rc;
}
