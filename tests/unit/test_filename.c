/* The name an upload is stored under (gateway/filename.c): the last path
 * component, valid printable UTF-8 without quotes, at most 200 bytes, cut
 * only between characters, and "upload" when nothing usable is left. */
#include <string.h>

#include "check.h"
#include "gateway/filename.h"

static const char *clean(const char *in)
{
    static char out[256];
    memset(out, 'Z', sizeof out);
    gw_clean_filename(in, out, sizeof out);
    return out;
}

/* Valid UTF-8 (the same rules as filename.c, checked independently). */
static int valid_utf8(const unsigned char *p)
{
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
                              : (*p & 0xf8) == 0xf0 ? 4 : 0;
        if (!n || (n == 2 && *p < 0xc2) || (n == 4 && *p > 0xf4))
            return 0;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        if ((n == 3 && *p == 0xe0 && p[1] < 0xa0) || (n == 3 && *p == 0xed && p[1] > 0x9f) ||
            (n == 4 && *p == 0xf0 && p[1] < 0x90) || (n == 4 && *p == 0xf4 && p[1] > 0x8f))
            return 0;
        p += n;
    }
    return 1;
}

int main(void)
{
    char in[1024], out[256];

    /* Plain names are kept. */
    CHECK_STR(clean("video.mp4"), "video.mp4");
    CHECK_STR(clean("my holiday (2).MP4"), "my holiday (2).MP4");
    CHECK_STR(clean("..."), "...");
    CHECK_STR(clean(".hidden"), ".hidden");
    /* Only the last component, after / or \. */
    CHECK_STR(clean("/etc/passwd"), "passwd");
    CHECK_STR(clean("../../x.mp4"), "x.mp4");
    CHECK_STR(clean("C:\\Users\\me\\clip.avi"), "clip.avi");
    CHECK_STR(clean("a/b\\c/d.mkv"), "d.mkv");
    /* Nothing usable: "upload". */
    CHECK_STR(clean(""), "upload");
    CHECK_STR(clean("dir/"), "upload");
    CHECK_STR(clean("\\"), "upload");
    CHECK_STR(clean("."), "upload");
    CHECK_STR(clean(".."), "upload");
    CHECK_STR(clean("a/.."), "upload");
    CHECK_STR(clean("x\\.."), "upload");
    /* Control characters, DEL and quotes become '_'. */
    CHECK_STR(clean("a\tb\x01" "c\x7f" "d"), "a_b_c_d");
    CHECK_STR(clean("say \"hi\".mp4"), "say _hi_.mp4");
    CHECK_STR(clean("line\r\nbreak"), "line__break");
    /* Valid UTF-8 is kept: 2, 3 and 4 bytes. */
    CHECK_STR(clean("caf\xc3\xa9.mp4"), "caf\xc3\xa9.mp4");
    CHECK_STR(clean("\xe6\x97\xa5\xe6\x9c\xac.mp4"), "\xe6\x97\xa5\xe6\x9c\xac.mp4");
    CHECK_STR(clean("\xf0\x9f\x8e\xb5.mp3"), "\xf0\x9f\x8e\xb5.mp3");
    CHECK_STR(clean("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");                /* U+10FFFF */
    /* Invalid UTF-8: each bad byte becomes '_'. */
    CHECK_STR(clean("\xff.mp4"), "_.mp4");
    CHECK_STR(clean("\xc0\xaf"), "__");                  /* overlong '/' */
    CHECK_STR(clean("\xe0\x80\xaf"), "___");             /* overlong, 3 bytes */
    CHECK_STR(clean("\xed\xa0\x80"), "___");             /* a surrogate */
    CHECK_STR(clean("\xf4\x90\x80\x80"), "____");        /* above U+10FFFF */
    CHECK_STR(clean("\xf0\x8f\xbf\xbf"), "____");        /* overlong, 4 bytes */
    CHECK_STR(clean("ab\xc3"), "ab_");                   /* cut short at the end */
    CHECK_STR(clean("\xe6\x97" "x"), "__x");
    CHECK_STR(clean("\x80\x80"), "__");                  /* lone continuation bytes */
    /* At most 200 bytes. */
    memset(in, 'a', 300);
    in[300] = '\0';
    CHECK(strlen(clean(in)) == 200);
    /* A character that does not fit whole is left out, never cut. */
    memset(in, 'a', 199);
    memcpy(in + 199, "\xc3\xa9xyz", 6);
    CHECK(strlen(clean(in)) == 199);
    memset(in, 'a', 198);
    memcpy(in + 198, "\xf0\x9f\x8e\xb5", 5);
    CHECK(strlen(clean(in)) == 198);
    memset(in, 'a', 197);
    memcpy(in + 197, "\xe6\x97\xa5", 4);
    CHECK(strlen(clean(in)) == 200);
    /* Every byte value, in every position: always valid, printable, short. */
    for (int c = 1; c < 256; c++) {
        for (int pos = 0; pos < 3; pos++) {
            const char *o;
            snprintf(in, sizeof in, "%.*s%c%s", pos, "ab", c, "\xc3\xa9z");
            o = clean(in);
            CHECK(valid_utf8((const unsigned char *)o));
            CHECK(strlen(o) <= 200 && strlen(o) > 0);
            CHECK(!strpbrk(o, "/\\\"\r\n\t\x7f"));
        }
    }
    /* A small buffer: the output still ends inside it, whole characters only. */
    memset(out, 'Z', sizeof out);
    gw_clean_filename("abcdefghij", out, 8);
    CHECK(strlen(out) < 8);
    CHECK(strncmp(out, "abcdefghij", strlen(out)) == 0);
    CHECK(out[8] == 'Z');
    gw_clean_filename("\xf0\x9f\x8e\xb5\xf0\x9f\x8e\xb5", out, 8);
    CHECK(valid_utf8((const unsigned char *)out) && strlen(out) < 8);
    return check_exit("test_filename");
}
