/* A job deleted at every point of its conversion leaves nothing behind.
 *
 * The converter's task (src/converter/task.c) runs on a file store with
 * SQLite records; the gateway's deletion (gw_job_purge, after
 * v2m_jobs_delete_begin, as DELETE /jobs/<fid> does it) is made to happen
 * just before the task's n-th change of the record, for every n: before
 * begin (the message arrives after the delete), before the MP3's id is
 * noted, before done (the MP3 is stored, the record not yet done), and after
 * the task. The jobs port's clock is the hook: it is read at the start of
 * every change. Whatever n, the task ends acked (done or gone) and the
 * store holds no file, no unfinished upload and no record.
 */
#include "ports/ptest.h"

#include <dirent.h>
#include <math.h>
#include <stdatomic.h>

#include "converter/task.h"
#include "gateway/gateway.h"

static gw_app app;          /* only store and jobs are used */
static char cur_fid[25];
static int calls, del_at, deleted, in_hook;

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What DELETE /jobs/<fid> does. */
static void gateway_delete(const char *fid)
{
    v2m_job j;
    v2m_error e = {0};
    v2m_err rc = v2m_jobs_delete_begin(app.jobs, fid, "u@example.com", &j, &e);

    CHECKF(rc == V2M_OK, "delete_begin: %s", v2m_error_msg(&e));
    if (rc == V2M_OK)
        CHECKF(gw_job_purge(&app, &j, &e) == V2M_OK, "purge: %s", v2m_error_msg(&e));
    deleted = 1;
}

static int64_t hook_clock(void)
{
    if (!in_hook && !deleted && ++calls == del_at) {
        in_hook = 1;
        gateway_delete(cur_fid);
        in_hook = 0;
    }
    return real_ms();
}

static v2m_err publish(void *opaque, const v2m_msg *m, v2m_error *err)
{
    (void)opaque, (void)m, (void)err;
    return V2M_OK;
}

/* Two seconds of a tone as a WAV file. */
static size_t make_wav(uint8_t *buf, size_t cap)
{
    const int rate = 8000, n = 2 * rate;
    size_t len = 44 + (size_t)n * 2;
    uint32_t v;

    if (cap < len)
        FATAL("wav buffer too small");
    memcpy(buf, "RIFF", 4);
    v = (uint32_t)(len - 8), memcpy(buf + 4, &v, 4);
    memcpy(buf + 8, "WAVEfmt ", 8);
    v = 16, memcpy(buf + 16, &v, 4);
    buf[20] = 1, buf[21] = 0, buf[22] = 1, buf[23] = 0;   /* PCM, mono */
    v = (uint32_t)rate, memcpy(buf + 24, &v, 4);
    v = (uint32_t)rate * 2, memcpy(buf + 28, &v, 4);
    buf[32] = 2, buf[33] = 0, buf[34] = 16, buf[35] = 0;
    memcpy(buf + 36, "data", 4);
    v = (uint32_t)n * 2, memcpy(buf + 40, &v, 4);
    for (int i = 0; i < n; i++) {
        int16_t s = (int16_t)(8000 * sin(2 * M_PI * 440 * i / rate));
        memcpy(buf + 44 + 2 * i, &s, 2);
    }
    return len;
}

/* Files left in a namespace's directory, hidden ones (uploads) included. */
static int files_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

int main(void)
{
    static uint8_t wav[64 * 1024];
    char *dir = make_tmpdir("cvdel");
    char url[4200], path[4300];
    size_t wlen = make_wav(wav, sizeof wav);
    atomic_int cancel = 0;
    cv_ctx c = {.cancel = &cancel, .max_attempts = 5, .max_duration = 3600,
                .publish = publish};
    v2m_error e = {0};
    int gone = 0, done = 0;

    snprintf(url, sizeof url, "file://%s/store", dir);
    app.store = v2m_store_open(url, &e);
    app.jobs = v2m_jobs_open(url, &e);
    if (!app.store || !app.jobs)
        FATAL("open %s: %s", url, v2m_error_msg(&e));
    c.store = app.store;
    c.jobs = app.jobs;
    for (int n = 1; n <= 6; n++) {
        v2m_store_upload *up;
        v2m_store_meta meta;
        v2m_msg m;
        char *body;
        cv_outcome o;

        CHECK(v2m_store_upload_open(app.store, V2M_NS_VIDEOS, "tone.wav", "audio/wav",
                                    "u@example.com", &up, &e) == V2M_OK);
        CHECK(v2m_store_upload_write(up, wav, wlen, &e) == V2M_OK);
        CHECK(v2m_store_upload_finish(up, &meta, &e) == V2M_OK);
        snprintf(cur_fid, sizeof cur_fid, "%s", meta.fid);
        CHECK(v2m_jobs_create(app.jobs, cur_fid, "u@example.com", "tone.wav", (int64_t)wlen,
                              NULL, NULL, &e) == V2M_OK);
        memset(&m, 0, sizeof m);
        snprintf(m.video_fid, sizeof m.video_fid, "%s", cur_fid);
        snprintf(m.username, sizeof m.username, "u@example.com");
        body = v2m_msg_encode(&m);
        calls = 0, deleted = 0, del_at = n;
        v2m__jobs_set_clock(hook_clock);
        o = cv_process(&c, body, strlen(body), &e);
        v2m__jobs_set_clock(NULL);
        free(body);
        CHECKF(o == CV_GONE || o == CV_DONE, "n=%d outcome %d: %s", n, (int)o, v2m_error_msg(&e));
        gone += o == CV_GONE;
        done += o == CV_DONE;
        if (!deleted)
            gateway_delete(cur_fid);   /* after the task */
        snprintf(path, sizeof path, "%s/store/mp3s", dir);
        CHECKF(files_in(path) == 0, "n=%d: %d files left in mp3s", n, files_in(path));
        snprintf(path, sizeof path, "%s/store/videos", dir);
        CHECKF(files_in(path) == 0, "n=%d: %d files left in videos", n, files_in(path));
        CHECKF(v2m_jobs_delete_begin(app.jobs, cur_fid, NULL, NULL, &e) == V2M_ENOTFOUND,
               "n=%d: a record is left", n);
    }
    /* The deletion came before the end of the task, and after it. */
    CHECK(gone >= 3 && done >= 1);
    v2m_jobs_close(app.jobs);
    v2m_store_close(app.store);
    rm_rf(dir);
    free(dir);
    return check_exit("converter_delete");
}
