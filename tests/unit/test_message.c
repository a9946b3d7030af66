/* The queue message codec (common/message.c): what it encodes reads back the
 * same, and every body that is not the contract's JSON is refused with
 * V2M_EINVAL, field by field, at the edges of each field's size. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/message.h"
#include "common/oid.h"

#define VID "65f1c0ffee0000000000beef"
#define MP3 "0123456789abcdef01234567"

static v2m_err parse(const char *body, v2m_msg *m)
{
    v2m_error e = {0};
    v2m_err rc = v2m_msg_parse(body, strlen(body), m, &e);
    CHECK(rc == e.code);
    if (rc)
        CHECK(e.msg[0] != '\0'); /* a refusal says why */
    return rc;
}

/* A contract message with one field replaced: {"video_fid":V,"mp3_fid":M,
 * "username":U} plus extra. */
static v2m_err parse_fields(const char *vid, const char *mp3, const char *user, const char *extra)
{
    char body[4096];
    v2m_msg m;
    snprintf(body, sizeof body, "{\"video_fid\":%s,\"mp3_fid\":%s,\"username\":%s%s}", vid, mp3,
             user, extra);
    return parse(body, &m);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 3);
    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

static void test_roundtrip(void)
{
    v2m_msg in = {0}, out;
    char *s;

    snprintf(in.video_fid, sizeof in.video_fid, VID);
    snprintf(in.mp3_fid, sizeof in.mp3_fid, MP3);
    snprintf(in.username, sizeof in.username, "alice@example.com");
    snprintf(in.status, sizeof in.status, "done");
    snprintf(in.error, sizeof in.error, "quote \" backslash \\ tab \t newline \n");
    snprintf(in.filename, sizeof in.filename, "Caf\xc3\xa9 \xf0\x9f\x8e\xb5.mp4");
    snprintf(in.error_code, sizeof in.error_code, "noaudio");
    snprintf(in.options, sizeof in.options, "{\"bitrate\":192,\"title\":\"A \\\"b\\\"\"}");
    snprintf(in.callback_url, sizeof in.callback_url, "https://hooks.example.com/v2m?x=1");
    s = v2m_msg_encode(&in);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(parse(s, &out) == V2M_OK);
    CHECK(memcmp(&in, &out, sizeof in) == 0);
    free(s);

    /* No mp3 yet: null on the wire, "" in memory; optional fields absent. */
    memset(&in, 0, sizeof in);
    snprintf(in.video_fid, sizeof in.video_fid, VID);
    snprintf(in.username, sizeof in.username, "bob@example.com");
    s = v2m_msg_encode(&in);
    CHECK_STR(s, "{\"video_fid\":\"" VID "\",\"mp3_fid\":null,\"username\":\"bob@example.com\"}");
    CHECK(s && parse(s, &out) == V2M_OK);
    CHECK(memcmp(&in, &out, sizeof in) == 0);
    free(s);
}

static void test_contract_messages(void)
{
    v2m_msg m;

    /* The original's message, as its producer writes it (spaces, no extras). */
    CHECK(parse("{\"video_fid\": \"" VID "\", \"mp3_fid\": null, \"username\": \"a@b.c\"}", &m) ==
          V2M_OK);
    CHECK_STR(m.video_fid, VID);
    CHECK_STR(m.mp3_fid, "");
    CHECK_STR(m.username, "a@b.c");
    CHECK_STR(m.status, "");
    /* mp3_fid may be missing altogether. */
    CHECK(parse("{\"video_fid\":\"" VID "\",\"username\":\"a@b.c\"}", &m) == V2M_OK);
    /* Unknown fields of any type are ignored; known optional ones may be null. */
    CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"",
                       ",\"x\":[1,{}],\"status\":null,\"error\":null,\"filename\":null") == V2M_OK);
    /* options must be an object; its keys come back sorted, compact. */
    CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", ",\"options\":{\"z\": 1, \"a\": \"x\"}") ==
          V2M_OK);
    CHECK(parse("{\"video_fid\":\"" VID "\",\"username\":\"a\",\"options\":{\"z\": 1, \"a\": \"x\"}}",
                &m) == V2M_OK);
    CHECK_STR(m.options, "{\"a\":\"x\",\"z\":1}");
    CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", ",\"options\":[1]") == V2M_EINVAL);
    CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", ",\"options\":\"bitrate=1\"") ==
          V2M_EINVAL);
    CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", ",\"callback_url\":7") == V2M_EINVAL);
    /* Upper-case hex is an ObjectId too. */
    CHECK(parse_fields("\"65F1C0FFEE0000000000BEEF\"", "\"" MP3 "\"", "\"a@b.c\"", "") == V2M_OK);
    /* Only len bytes are read: what follows is not part of the message. */
    {
        const char body[] = "{\"video_fid\":\"" VID "\",\"username\":\"a@b.c\"}GARBAGE";
        v2m_error e = {0};
        CHECK(v2m_msg_parse(body, sizeof body - 1 - 7, &m, &e) == V2M_OK);
        CHECK(v2m_msg_parse(body, sizeof body - 1, &m, &e) == V2M_EINVAL);
        CHECK(v2m_msg_parse(body, 10, &m, &e) == V2M_EINVAL);
        CHECK(v2m_msg_parse(body, 0, &m, &e) == V2M_EINVAL);
    }
}

static void test_refused(void)
{
    v2m_msg m;
    char *s;

    /* Not a JSON object. */
    CHECK(parse("", &m) == V2M_EINVAL);
    CHECK(parse("null", &m) == V2M_EINVAL);
    CHECK(parse("[]", &m) == V2M_EINVAL);
    CHECK(parse("\"" VID "\"", &m) == V2M_EINVAL);
    CHECK(parse("{\"video_fid\":\"" VID "\"", &m) == V2M_EINVAL);   /* truncated */
    CHECK(parse("{\"video_fid\":\"" VID "\",\"username\":\"a\\u0000b\"}", &m) == V2M_EINVAL);
    /* video_fid: missing, null, not a string, not 24 hex digits. */
    CHECK(parse("{\"username\":\"a@b.c\"}", &m) == V2M_EINVAL);
    CHECK(parse_fields("null", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("12", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"65f1c0ffee0000000000bee\"", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"65f1c0ffee0000000000beef0\"", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"65f1c0ffee0000000000beeg\"", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"65f1c0ffee00000000/../ef\"", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"\"", "null", "\"a@b.c\"", "") == V2M_EINVAL);
    /* mp3_fid: present but not an ObjectId. */
    CHECK(parse_fields("\"" VID "\"", "\"\"", "\"a@b.c\"", "") == V2M_OK); /* "" = none */
    CHECK(parse_fields("\"" VID "\"", "\"xyz\"", "\"a@b.c\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"" VID "\"", "false", "\"a@b.c\"", "") == V2M_EINVAL);
    /* username: missing, empty, not a string. */
    CHECK(parse("{\"video_fid\":\"" VID "\"}", &m) == V2M_EINVAL);
    CHECK(parse_fields("\"" VID "\"", "null", "\"\"", "") == V2M_EINVAL);
    CHECK(parse_fields("\"" VID "\"", "null", "null", "") == V2M_EINVAL);
    CHECK(parse_fields("\"" VID "\"", "null", "[\"a@b.c\"]", "") == V2M_EINVAL);
    /* Sizes: a field as long as its buffer is refused, one byte shorter
     * (with its NUL, the buffer full) is kept whole (never cut). */
    s = repeat('u', sizeof m.username);
    CHECK(parse_fields("\"" VID "\"", "null", s, "") == V2M_EINVAL);
    free(s);
    s = repeat('u', sizeof m.username - 1);
    CHECK(parse_fields("\"" VID "\"", "null", s, "") == V2M_OK);
    free(s);
    {
        char extra[800];
        snprintf(extra, sizeof extra, ",\"status\":\"%.*s\"", (int)sizeof m.status,
                 "0123456789abcdefghij");
        CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", extra) == V2M_EINVAL);
        snprintf(extra, sizeof extra, ",\"status\":\"%.*s\"", (int)sizeof m.status - 1,
                 "0123456789abcdefghij");
        CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", extra) == V2M_OK);
        s = repeat('e', sizeof m.error);
        snprintf(extra, sizeof extra, ",\"error\":%s", s);
        free(s);
        CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", extra) == V2M_EINVAL);
        s = repeat('f', sizeof m.filename);
        snprintf(extra, sizeof extra, ",\"filename\":%s", s);
        free(s);
        CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", extra) == V2M_EINVAL);
        CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", ",\"status\":1") == V2M_EINVAL);
        CHECK(parse_fields("\"" VID "\"", "null", "\"a@b.c\"", ",\"filename\":{}") == V2M_EINVAL);
    }
    /* A refused message leaves nothing behind from the fields before. */
    CHECK(parse_fields("\"" VID "\"", "null", "null", "") == V2M_EINVAL);
    CHECK(parse("{\"video_fid\":\"" VID "\"}", &m) == V2M_EINVAL);
}

static void test_is_fid(void)
{
    CHECK(v2m_oid_valid(VID));
    CHECK(v2m_oid_valid("ABCDEF0123456789abcdef01"));
    CHECK(!v2m_oid_valid(NULL));
    CHECK(!v2m_oid_valid(""));
    CHECK(!v2m_oid_valid(VID "0"));
    CHECK(!v2m_oid_valid("65f1c0ffee0000000000bee"));
    CHECK(!v2m_oid_valid("65f1c0ffee0000000000bee "));
    CHECK(!v2m_oid_valid("65f1c0ffee0000000000beeG"));
}

int main(void)
{
    test_roundtrip();
    test_contract_messages();
    test_refused();
    test_is_fid();
    return check_exit("test_message");
}
