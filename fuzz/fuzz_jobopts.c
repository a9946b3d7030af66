/* fuzz_jobopts.c - the conversion options (common/jobopts.c).
 *
 * Input: a JSON object as the converter reads it from a message (first byte
 * '{'), or lines "name=value" as an upload gives them. Checks: refusals are
 * V2M_EINVAL with a reason; whatever the gateway accepts, the converter
 * accepts back from its JSON with the same meaning (same JSON again), and
 * every accepted value is within the engine's ranges. */
#include <stdlib.h>
#include <string.h>

#include "common/jobopts.h"
#include "fuzz.h"
#include "media/media.h"

static void in_range(const v2m_jobopts *o)
{
    v2m_media_opts m;

    v2m_media_opts_init(&m);
    v2m_jobopts_apply(NULL, o, &m);
    FUZZ_CHECK(m.quality >= -1 && m.quality <= 9);
    FUZZ_CHECK(m.bitrate_kbps == 0 || (m.bitrate_kbps >= 8 && m.bitrate_kbps <= 320));
    FUZZ_CHECK(m.sample_rate == 0 || (m.sample_rate >= 8000 && m.sample_rate <= 48000));
    FUZZ_CHECK(m.channels >= 0 && m.channels <= 2);
    FUZZ_CHECK(m.start >= 0 && m.end >= 0 && (m.end == 0 || m.end > m.start));
    FUZZ_CHECK(m.track >= 0 && m.track <= 99);
    FUZZ_CHECK(m.normalize == 0 || (m.normalize >= -70 && m.normalize <= -5));
    FUZZ_CHECK(!m.title || (strlen(m.title) >= 1 && strlen(m.title) <= V2M_OPT_TAG_MAX));
}

/* Encoded and decoded again: the same options, the same JSON. */
static void round_trip(const v2m_jobopts *o)
{
    char js[V2M_OPT_JSON_MAX], js2[V2M_OPT_JSON_MAX];
    v2m_jobopts back;
    v2m_error err = {0};

    in_range(o);
    if (v2m_jobopts_encode(o, js, sizeof js, &err) != V2M_OK) {
        FUZZ_CHECK(err.code == V2M_EINVAL); /* too long all together */
        return;
    }
    FUZZ_CHECK(v2m_jobopts_decode(js, &back, &err) == V2M_OK);
    FUZZ_CHECK(back.set == o->set);
    FUZZ_CHECK(v2m_jobopts_encode(&back, js2, sizeof js2, &err) == V2M_OK);
    FUZZ_CHECK(strcmp(js, js2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    v2m_jobopts o;
    v2m_error err = {0};
    char *text = malloc(size + 1), *line, *save = NULL;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (size && text[0] == '{') {
        if (v2m_jobopts_decode(text, &o, &err) == V2M_OK)
            round_trip(&o);
        else
            FUZZ_CHECK(err.code == V2M_EINVAL && err.msg[0]);
        free(text);
        return 0;
    }
    v2m_jobopts_init(&o);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        if (v2m_jobopts_set(&o, line, eq + 1, &err) != V2M_OK) {
            FUZZ_CHECK(err.code == V2M_EINVAL && err.msg[0]);
            free(text);
            return 0;
        }
    }
    if (v2m_jobopts_check(&o, &err) == V2M_OK)
        round_trip(&o);
    free(text);
    return 0;
}
