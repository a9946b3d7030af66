/* message.h - the queue message of the contract, as JSON:
 *   {"video_fid": "<24 hex>", "mp3_fid": null | "<24 hex>", "username": "<email>"}
 * v2m adds optional fields (ignored by the original's consumers):
 *   "status": "done" | "failed", "error": "<reason>", "filename": "<name>",
 *   "error_code": "<short code of the failure>",
 *   "options": {<the conversion options asked for>},
 *   "callback_url": "<URL told when the job ends>".
 * A message without options converts with the converter's defaults.
 * Unknown fields are ignored on input.
 */
#ifndef V2M_MESSAGE_H
#define V2M_MESSAGE_H

#include <stddef.h>

#include "err.h"

typedef struct v2m_msg {
    char video_fid[25];
    char mp3_fid[25];        /* "" means null */
    char username[256];
    char status[16];         /* "" when absent */
    char error[512];
    char filename[256];
    char error_code[32];
    char options[1024];      /* compact JSON object text; "" when absent */
    char callback_url[1024];
} v2m_msg;

/* Parse and check a message body. V2M_EINVAL (with the reason) for anything
 * that is not the contract's JSON: such a message can never be processed. */
v2m_err v2m_msg_parse(const char *body, size_t len, v2m_msg *m, v2m_error *err);

/* Encode m; returns a malloc'd NUL-terminated JSON string or NULL (no memory). */
char *v2m_msg_encode(const v2m_msg *m);

#endif
