/* fuzz_message.c - the queue message codec (v2m_msg_parse, v2m_msg_encode).
 *
 * Input: a message body as it comes off the queue. Checks: a message that
 * parses has the contract's fields (24-hex video_fid, mp3_fid null or 24 hex,
 * a username), and encoding it and parsing the result gives it back. */
#include <string.h>

#include "common/message.h"
#include "common/oid.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    v2m_msg m, again;
    v2m_error err = {0};
    char *s;

    if (v2m_msg_parse((const char *)data, size, &m, &err) != V2M_OK) {
        FUZZ_CHECK(err.code == V2M_EINVAL);
        return 0;
    }
    FUZZ_CHECK(v2m_oid_valid(m.video_fid));
    FUZZ_CHECK(!m.mp3_fid[0] || v2m_oid_valid(m.mp3_fid));
    FUZZ_CHECK(m.username[0]);
    s = v2m_msg_encode(&m);
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(v2m_msg_parse(s, strlen(s), &again, &err) == V2M_OK);
    FUZZ_CHECK(strcmp(m.video_fid, again.video_fid) == 0);
    FUZZ_CHECK(strcmp(m.mp3_fid, again.mp3_fid) == 0);
    FUZZ_CHECK(strcmp(m.username, again.username) == 0);
    FUZZ_CHECK(strcmp(m.status, again.status) == 0);
    FUZZ_CHECK(strcmp(m.error, again.error) == 0);
    FUZZ_CHECK(strcmp(m.filename, again.filename) == 0);
    free(s);
    return 0;
}
