/* The conversion options (common/jobopts.c): each option's accepted forms
 * and its edges, refusals that name the option, the JSON form read back the
 * same and refused strictly, and the options applied over defaults. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "common/jobopts.h"
#include "media/media.h"

/* One option alone: 0 when accepted; a refusal must name the option. */
static int one(const char *name, const char *value, v2m_jobopts *o)
{
    v2m_error e = {0};
    v2m_err rc;

    v2m_jobopts_init(o);
    rc = v2m_jobopts_set(o, name, value, &e);
    if (!rc)
        rc = v2m_jobopts_check(o, &e);
    if (rc)
        CHECKF(strncmp(e.msg, name, strlen(name)) == 0 || strstr(e.msg, name),
               "refusal of %s=%s does not name it: %s", name, value, e.msg);
    return rc ? -1 : 0;
}

static void ok(const char *name, const char *value)
{
    v2m_jobopts o;
    CHECKF(one(name, value, &o) == 0, "%s=%s refused", name, value);
}

static void bad(const char *name, const char *value)
{
    v2m_jobopts o;
    CHECKF(one(name, value, &o) != 0, "%s=%s accepted", name, value);
}

static void values(void)
{
    v2m_jobopts o;

    check_scenario = "values";
    ok("quality", "0"), ok("quality", "9");
    bad("quality", "10"), bad("quality", "-1"), bad("quality", "2.5"), bad("quality", ""),
        bad("quality", " 2"), bad("quality", "2x");
    ok("bitrate", "8"), ok("bitrate", "320"), ok("bitrate", "192k"), ok("bitrate", "192K");
    bad("bitrate", "7"), bad("bitrate", "321"), bad("bitrate", "k"), bad("bitrate", "192kk"),
        bad("bitrate", "99999999999999999999");
    CHECK(one("bitrate", "192k", &o) == 0 && o.bitrate == 192);
    ok("rate", "44100"), ok("rate", "8000"), ok("rate", "48000"), ok("rate", "22.05k"),
        ok("rate", "48k");
    CHECK(one("rate", "44.1k", &o) == 0 && o.rate == 44100);
    bad("rate", "44000"), bad("rate", "96000"), bad("rate", "44.1"), bad("rate", "0"),
        bad("rate", "44.1001k");
    /* Exactly the engine's rates (jobopts.c keeps its own copy). */
    {
        int n = 0;
        char r[16];
        for (; v2m_media_rates[n]; n++) {
            snprintf(r, sizeof r, "%d", v2m_media_rates[n]);
            ok("rate", r);
        }
        CHECK(n == 9);
    }
    ok("channels", "1"), ok("channels", "2"), ok("channels", "mono");
    bad("channels", "3"), bad("channels", "0");
    CHECK(one("start", "2.5", &o) == 0 && o.start_ms == 2500);
    CHECK(one("start", "1:30", &o) == 0 && o.start_ms == 90000);
    CHECK(one("start", "01:02:03.5", &o) == 0 && o.start_ms == 3723500);
    CHECK(one("end", "0:00.001", &o) == 0 && o.end_ms == 1);
    CHECK(one("start", "2592000", &o) == 0);
    bad("start", "2592000.001"), bad("start", "-1"), bad("start", "1:5"), bad("start", "1:60"),
        bad("start", "60:00"), bad("start", "1:2:3"), bad("start", "2.0001"), bad("start", "."),
        bad("start", "1e3"), bad("end", "0");
    CHECK(one("track", "2", &o) == 0 && o.track == 2 && (o.set & V2M_OPT_TRACK));
    CHECK(one("track", "FRE", &o) == 0 && strcmp(o.language, "fre") == 0 &&
          o.set == V2M_OPT_LANGUAGE);
    bad("track", "0"), bad("track", "100"), bad("track", "e"), bad("track", "engl"),
        bad("track", "é");
    CHECK(one("normalize", "on", &o) == 0 && o.normalize == -16.0);
    CHECK(one("normalize", "off", &o) == 0 && o.normalize == 0 && (o.set & V2M_OPT_NORMALIZE));
    CHECK(one("normalize", "-23", &o) == 0 && o.normalize == -23.0);
    CHECK(one("normalize", "-23.5", &o) == 0 && o.normalize == -23.5);
    ok("normalize", "-70"), ok("normalize", "-5");
    bad("normalize", "-4.9"), bad("normalize", "-70.1"), bad("normalize", "23"),
        bad("normalize", "yes");
    CHECK(one("cover", "none", &o) == 0 && o.cover == 0);
    ok("cover", "auto"), bad("cover", "off");
    ok("title", "Ünïcödé – 東京"), ok("artist", "AC/DC \"live\""), ok("album", "x");
    bad("title", ""), bad("title", "a\nb"), bad("title", "tab\there"), bad("artist", "\x7f"),
        bad("album", "\xc2\x85"), bad("title", "\xff"), bad("title", "\xc0\xaf"),
        bad("title", "\xed\xa0\x80");
    {
        char t[V2M_OPT_TAG_MAX + 2];
        memset(t, 'a', sizeof t - 1);
        t[sizeof t - 1] = 0;
        bad("title", t);
        t[V2M_OPT_TAG_MAX] = 0;
        ok("title", t);
    }
}

static void combos(void)
{
    v2m_jobopts o;
    v2m_error e = {0};

    check_scenario = "combos";
    v2m_jobopts_init(&o);
    CHECK(v2m_jobopts_set(&o, "quality", "2", &e) == 0);
    CHECK(v2m_jobopts_set(&o, "bitrate", "192", &e) == V2M_EINVAL);
    CHECK(strstr(e.msg, "quality and bitrate") != NULL);
    CHECK(v2m_jobopts_set(&o, "quality", "3", &e) == V2M_EINVAL);
    CHECK(strstr(e.msg, "quality: given more than once") != NULL);
    CHECK(v2m_jobopts_set(&o, "track", "en", &e) == 0);
    CHECK(v2m_jobopts_set(&o, "track", "2", &e) == V2M_EINVAL);
    CHECK(v2m_jobopts_set(&o, "bitrat", "320", &e) == V2M_EINVAL);
    CHECK(strstr(e.msg, "unknown option 'bitrat'") && strstr(e.msg, "bitrate"));
    CHECK(!v2m_jobopts_known("file") && !v2m_jobopts_known("language") &&
          v2m_jobopts_known("album"));
    v2m_jobopts_init(&o);
    CHECK(v2m_jobopts_set(&o, "start", "10", &e) == 0 && v2m_jobopts_set(&o, "end", "10", &e) == 0);
    CHECK(v2m_jobopts_check(&o, &e) == V2M_EINVAL && strncmp(e.msg, "end:", 4) == 0);
}

static void json(void)
{
    static const char *const all[][2] = {
        {"bitrate", "320k"}, {"rate", "22.05k"}, {"channels", "1"}, {"start", "1:02.25"},
        {"end", "70.5"}, {"track", "jpn"}, {"normalize", "-23.5"}, {"cover", "none"},
        {"title", "T \"q\" \\ é"}, {"artist", "A"}, {"album", "B"}};
    v2m_jobopts o, back;
    v2m_error e = {0};
    char js[V2M_OPT_JSON_MAX], js2[V2M_OPT_JSON_MAX];

    check_scenario = "json";
    v2m_jobopts_init(&o);
    CHECK(v2m_jobopts_encode(&o, js, sizeof js, &e) == 0 && js[0] == 0);
    CHECK(v2m_jobopts_decode("", &back, &e) == 0 && back.set == 0);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(v2m_jobopts_set(&o, all[i][0], all[i][1], &e) == 0);
    CHECK(v2m_jobopts_encode(&o, js, sizeof js, &e) == 0);
    CHECK_STR(js, "{\"bitrate\":320,\"rate\":22050,\"channels\":1,\"start\":62.25,\"end\":70.5,"
                  "\"language\":\"jpn\",\"normalize\":-23.5,\"cover\":\"none\","
                  "\"title\":\"T \\\"q\\\" \\\\ é\",\"artist\":\"A\",\"album\":\"B\"}");
    CHECK(v2m_jobopts_decode(js, &back, &e) == 0);
    CHECK(back.set == o.set && back.start_ms == 62250 && back.end_ms == 70500 &&
          strcmp(back.title, o.title) == 0 && back.normalize == -23.5 && back.cover == 0);
    CHECK(v2m_jobopts_encode(&back, js2, sizeof js2, &e) == 0);
    CHECK_STR(js2, js);
    v2m_jobopts_init(&o);
    CHECK(v2m_jobopts_set(&o, "quality", "0", &e) == 0 && v2m_jobopts_set(&o, "track", "3", &e) == 0
          && v2m_jobopts_set(&o, "normalize", "off", &e) == 0 &&
          v2m_jobopts_set(&o, "start", "0.1", &e) == 0);
    CHECK(v2m_jobopts_encode(&o, js, sizeof js, &e) == 0);
    CHECK_STR(js, "{\"quality\":0,\"start\":0.1,\"track\":3,\"normalize\":\"off\"}");
    CHECK(v2m_jobopts_decode(js, &back, &e) == 0 && back.set == o.set && back.start_ms == 100);
    /* Too long together: three tags full of quotes, each escaped. */
    {
        char q[V2M_OPT_TAG_MAX + 1];
        memset(q, '"', V2M_OPT_TAG_MAX);
        q[V2M_OPT_TAG_MAX] = 0;
        v2m_jobopts_init(&o);
        CHECK(v2m_jobopts_set(&o, "title", q, &e) == 0 && v2m_jobopts_set(&o, "artist", q, &e) == 0
              && v2m_jobopts_set(&o, "album", q, &e) == 0);
        CHECK(v2m_jobopts_encode(&o, js, sizeof js, &e) == V2M_EINVAL);
        CHECK(strstr(e.msg, "too long") != NULL);
    }
    /* Strict: wrong types, unknown keys, out of range, duplicates, not an object. */
    static const char *const refused[] = {
        "[]", "{", "3", "{\"quality\":\"2\"}", "{\"quality\":10}", "{\"quality\":2.0}",
        "{\"quality\":-1}", "{\"bitrat\":320}", "{\"track\":\"en\"}", "{\"language\":2}",
        "{\"language\":\"e1\"}", "{\"start\":\"2\"}", "{\"start\":-1}", "{\"start\":5,\"end\":4}",
        "{\"normalize\":\"on\"}", "{\"normalize\":-3}", "{\"cover\":true}", "{\"title\":\"\"}",
        "{\"quality\":2,\"bitrate\":128}", "{\"track\":1,\"language\":\"en\"}",
        "{\"title\":\"a\",\"title\":\"b\"}", "{\"channels\":null}", "{\"start\":1e300}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        e.msg[0] = 0;
        CHECKF(v2m_jobopts_decode(refused[i], &back, &e) == V2M_EINVAL && e.msg[0],
               "decoded %s", refused[i]);
    }
}

static void apply(void)
{
    v2m_jobopts def, job;
    v2m_media_opts m;
    v2m_error e = {0};

    check_scenario = "apply";
    v2m_jobopts_init(&def);
    CHECK(v2m_jobopts_set(&def, "bitrate", "128", &e) == 0);
    CHECK(v2m_jobopts_set(&def, "normalize", "on", &e) == 0);
    v2m_media_opts_init(&m);
    v2m_jobopts_apply(&def, NULL, &m);
    CHECK(m.bitrate_kbps == 128 && m.normalize == -16.0 && m.cover == 1);
    /* The job's quality wins over the default bitrate. */
    v2m_jobopts_init(&job);
    CHECK(v2m_jobopts_set(&job, "quality", "7", &e) == 0 &&
          v2m_jobopts_set(&job, "normalize", "off", &e) == 0 &&
          v2m_jobopts_set(&job, "track", "de", &e) == 0 &&
          v2m_jobopts_set(&job, "end", "4.5", &e) == 0 &&
          v2m_jobopts_set(&job, "title", "Mine", &e) == 0);
    v2m_media_opts_init(&m);
    v2m_jobopts_apply(&def, &job, &m);
    CHECK(m.bitrate_kbps == 0 && m.quality == 7 && m.normalize == 0);
    CHECK(m.language && strcmp(m.language, "de") == 0 && m.track == 0);
    CHECK(m.start == 0 && fabs(m.end - 4.5) < 1e-9 && strcmp(m.title, "Mine") == 0 && !m.artist);
}

int main(void)
{
    values();
    combos();
    json();
    apply();
    return check_exit("test_jobopts");
}
