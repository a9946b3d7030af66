/* The Content-Disposition of downloads (gateway/disposition.c): a quoted
 * ASCII fallback and RFC 8187's filename*, whatever bytes the stored name
 * has: nothing in it ends the quoted string, adds a parameter or a header
 * line, and the value stays bounded. */
#include <string.h>

#include "check.h"
#include "gateway/disposition.h"

static const char *cd(const char *name)
{
    static char out[GW_DISPOSITION_MAX];
    memset(out, 'Z', sizeof out);
    gw_content_disposition(name, out, sizeof out);
    return out;
}

#define EXPECT(name, fallback, star)                                                   \
    CHECK_STR(cd(name), "attachment; filename=\"" fallback "\"; filename*=UTF-8''" star)

/* Whatever the input: printable ASCII only, exactly two quotes (the
 * fallback's), two ';' (between the three parts), no '\\'. */
static void check_shape(const char *name)
{
    const char *v = cd(name);
    int quotes = 0, semis = 0;

    CHECKF(strlen(v) < GW_DISPOSITION_MAX, "%zu bytes", strlen(v));
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        CHECKF(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in %s", *p, v);
        quotes += *p == '"';
        semis += *p == ';';
        CHECK(*p != '\\');
    }
    CHECKF(quotes == 2 && semis == 2, "%s", v);
    CHECK(strncmp(v, "attachment; filename=\"", 22) == 0);
    CHECK(strstr(v, ".mp3\"; filename*=UTF-8''") != NULL);
    CHECK(strlen(v) > 4 && strcmp(v + strlen(v) - 4, ".mp3") == 0);
}

int main(void)
{
    /* Plain names keep themselves; an existing .mp3 is not doubled. */
    EXPECT("holiday.mp3", "holiday.mp3", "holiday.mp3");
    EXPECT("holiday", "holiday.mp3", "holiday.mp3");
    EXPECT("Holiday.MP3", "Holiday.mp3", "Holiday.mp3");
    EXPECT("my song (live).mp3", "my song (live).mp3", "my%20song%20%28live%29.mp3");
    /* Empty, absent, or nothing but dots and blanks: audio.mp3. */
    EXPECT("", "audio.mp3", "audio.mp3");
    EXPECT(NULL, "audio.mp3", "audio.mp3");
    EXPECT(".mp3", "audio.mp3", "audio.mp3");
    EXPECT(" . .mp3", "audio.mp3", "audio.mp3");
    EXPECT("dir/", "audio.mp3", "audio.mp3");
    /* Paths are dropped, on either separator; leading dots too (no hidden file). */
    EXPECT("../../etc/passwd", "passwd.mp3", "passwd.mp3");
    EXPECT("C:\\Users\\x\\clip.mp3", "clip.mp3", "clip.mp3");
    EXPECT(".hidden.mp3", "hidden.mp3", "hidden.mp3");
    /* UTF-8: '_' per character in the fallback, percent-encoded bytes in filename*. */
    EXPECT("Caf\xc3\xa9.mp3", "Caf_.mp3", "Caf%C3%A9.mp3");
    EXPECT("\xe6\x97\xa5\xe6\x9c\xac.mp3", "audio.mp3", "%E6%97%A5%E6%9C%AC.mp3");
    EXPECT("\xf0\x9f\x8e\xb5 song.mp3", "_ song.mp3", "%F0%9F%8E%B5%20song.mp3");
    /* Quotes, backslashes, ';', '%' and other separators cannot break out. */
    EXPECT("a\"b.mp3", "a_b.mp3", "a%22b.mp3");
    EXPECT("x\"; filename=\"evil.exe.mp3", "x__ filename=_evil.exe.mp3",
           "x%22%3B%20filename%3D%22evil.exe.mp3");
    EXPECT("a;b.mp3", "a_b.mp3", "a%3Bb.mp3");
    EXPECT("100%.mp3", "100_.mp3", "100%25.mp3");
    EXPECT("a,b=c*d'e.mp3", "a,b=c*d'e.mp3", "a%2Cb%3Dc%2Ad%27e.mp3");
    /* Line breaks, controls, invalid UTF-8 and direction overrides: '_'. */
    EXPECT("a\r\nSet-Cookie: x.mp3", "a__Set-Cookie: x.mp3", "a__Set-Cookie%3A%20x.mp3");
    EXPECT("a\tb\x7f.mp3", "a_b_.mp3", "a_b_.mp3");
    EXPECT("a\xff\xfe" "b.mp3", "a__b.mp3", "a__b.mp3");
    EXPECT("a\xc2\x85" "b.mp3", "a_b.mp3", "a_b.mp3");               /* U+0085 NEL */
    EXPECT("evil\xe2\x80\xaegpj.mp3", "evil_gpj.mp3", "evil_gpj.mp3"); /* U+202E */
    EXPECT("\xef\xbb\xbfname.mp3", "_name.mp3", "_name.mp3");       /* U+FEFF */

    /* Very long: cut at 150 bytes, between characters. */
    {
        char big[1200], want[200];
        const char *v, *star;
        memset(big, 'a', 1000);
        strcpy(big + 1000, ".mp3");
        v = cd(big);
        memset(want, 'a', 150);
        strcpy(want + 150, ".mp3\"");
        CHECK(strstr(v, want) != NULL);
        check_shape(big);
        /* 2-byte characters: 75 of them fit, never half of one. */
        for (int i = 0; i < 500; i++)
            memcpy(big + 2 * i, "\xc3\xa9", 2);
        strcpy(big + 1000, ".mp3");
        v = cd(big);
        star = strstr(v, "UTF-8''");
        CHECK(star && strlen(star) == 7 + 75 * 6 + 4);
        check_shape(big);
        /* 4-byte characters at the cut: 37 whole ones (148 bytes). */
        for (int i = 0; i < 250; i++)
            memcpy(big + 4 * i, "\xf0\x9f\x8e\xb5", 4);
        strcpy(big + 1000, ".mp3");
        v = cd(big);
        star = strstr(v, "UTF-8''");
        CHECK(star && strlen(star) == 7 + 37 * 12 + 4);
        check_shape(big);
    }
    /* Every single byte value, alone and in a name, keeps the shape. */
    for (int c = 1; c < 256; c++) {
        char name[16] = {'x', (char)c, 'y', (char)c, '\0'};
        check_shape(name);
        name[0] = (char)c;
        name[1] = '\0';
        check_shape(name);
    }
    /* A small output buffer truncates, never overflows. */
    {
        char small[16];
        memset(small, 'Z', sizeof small);
        gw_content_disposition("holiday.mp3", small, 10);
        CHECK(strlen(small) == 9 && small[12] == 'Z');
    }
    return check_exit("test_disposition");
}
