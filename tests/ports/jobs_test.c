/* The jobs port against a real backend:
 *   jobs_test sqlite   `file://<tmp>` -> <tmp>/jobs.db
 *   jobs_test mongo    $V2M_TEST_MONGO_URI, collection videos.jobs
 *
 * Transitions and their conditions, what a redelivered message sees, lists
 * newest first per owner and for admins, and races: threads of one handle
 * and separate processes trying to finish the same job, of which exactly
 * one may win.
 */
#include "ptest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <mongoc/mongoc.h>
#include <sqlite3.h>
#include <stdint.h>

#include "ports/jobs.h"

static v2m_jobs *jb;
static char url[4400];
static char owner_a[64], owner_b[64];   /* unique per run: the database may be shared */

/* A fresh id shaped like an ObjectId (24 hex digits), increasing within a
 * process: the time, the process, a counter. */
static void new_fid(char out[25])
{
    static atomic_uint n;
    snprintf(out, 25, "%08x%08x%08x", (unsigned)time(NULL), (unsigned)getpid(),
             atomic_fetch_add(&n, 1) + 1);
}

static void test_transitions(void)
{
    char fid[25], mp3[25], mp3b[25];
    v2m_job j;
    v2m_error e = {0};

    new_fid(fid);
    new_fid(mp3);
    new_fid(mp3b);
    CHECK(v2m_jobs_get(jb, fid, &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_create(jb, fid, owner_a, "clip.mp4", 12345, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_create(jb, fid, owner_a, "clip.mp4", 12345, NULL, NULL, &e) == V2M_EEXIST);
    CHECK(v2m_jobs_get(jb, fid, &j, &e) == V2M_OK);
    CHECK_STR(j.video_fid, fid);
    CHECK_STR(j.owner, owner_a);
    CHECK_STR(j.filename, "clip.mp4");
    CHECK(j.size == 12345);
    CHECK(j.status == V2M_JOB_QUEUED);
    CHECK(j.progress == 0);
    CHECK_STR(j.mp3_fid, "");
    CHECK_STR(j.error, "");
    CHECK(j.attempts == 0);
    CHECK(j.created_at > 1600000000000LL && j.updated_at >= j.created_at);

    /* begin twice: the second is a redelivery after a crash */
    CHECK(v2m_jobs_begin(jb, fid, &j, &e) == V2M_OK);
    CHECK(j.status == V2M_JOB_CONVERTING && j.attempts == 1);
    CHECK(v2m_jobs_progress(jb, fid, 0.5, &e) == V2M_OK);
    CHECK(v2m_jobs_get(jb, fid, &j, &e) == V2M_OK && j.progress == 0.5);
    CHECK(v2m_jobs_begin(jb, fid, &j, &e) == V2M_OK);
    CHECK(j.status == V2M_JOB_CONVERTING && j.attempts == 2 && j.progress == 0);

    /* a transient failure: back to queued with the reason kept */
    CHECK(v2m_jobs_requeue(jb, fid, "store unavailable", &j, &e) == V2M_OK);
    CHECK(j.status == V2M_JOB_QUEUED);
    CHECK_STR(j.error, "store unavailable");
    CHECK(v2m_jobs_progress(jb, fid, 0.7, &e) == V2M_ESTATE);
    CHECK(v2m_jobs_begin(jb, fid, &j, &e) == V2M_OK && j.attempts == 3);
    CHECK_STR(j.error, "");

    /* done once; a second done (redelivered message) is refused and shows the first MP3 */
    CHECK(v2m_jobs_done(jb, fid, mp3, &j, &e) == V2M_OK);
    CHECK(j.status == V2M_JOB_DONE && j.progress == 1.0);
    CHECK_STR(j.mp3_fid, mp3);
    memset(&j, 0, sizeof j);
    CHECK(v2m_jobs_done(jb, fid, mp3b, &j, &e) == V2M_ESTATE);
    CHECK_STR(j.mp3_fid, mp3);
    CHECK(j.status == V2M_JOB_DONE);
    CHECK(strstr(e.msg, "done") != NULL);
    CHECK(v2m_jobs_begin(jb, fid, &j, &e) == V2M_ESTATE);
    CHECK(v2m_jobs_fail(jb, fid, "late failure", NULL, &j, &e) == V2M_ESTATE);
    CHECK(v2m_jobs_requeue(jb, fid, "x", &j, &e) == V2M_ESTATE);
    CHECK(v2m_jobs_get(jb, fid, &j, &e) == V2M_OK && j.status == V2M_JOB_DONE && j.attempts == 3);

    /* a final failure; done may still follow (a late success wins) */
    new_fid(fid);
    CHECK(v2m_jobs_create(jb, fid, owner_a, "bad.mp4", 1, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_fail(jb, fid, "no audio stream", "noaudio", &j, &e) == V2M_OK);
    CHECK(j.status == V2M_JOB_FAILED);
    CHECK_STR(j.error, "no audio stream");
    CHECK_STR(j.error_code, "noaudio");
    CHECK(j.ended_at > 0 && j.ended_at == j.updated_at);
    CHECK(v2m_jobs_begin(jb, fid, &j, &e) == V2M_ESTATE && j.status == V2M_JOB_FAILED);
    CHECK(v2m_jobs_done(jb, fid, mp3, &j, &e) == V2M_OK && j.status == V2M_JOB_DONE);
    CHECK_STR(j.error, "");
    CHECK_STR(j.error_code, "");

    /* expired keeps the time the job ended; queued clears it */
    {
        v2m_job_change c = V2M_JOB_CHANGE_INIT;
        int64_t ended = j.ended_at;
        CHECK(ended > 0);
        c.from = V2M_JOB_BIT(V2M_JOB_DONE);
        c.status = V2M_JOB_EXPIRED;
        CHECK(v2m_jobs_update(jb, fid, &c, &j, &e) == V2M_OK);
        CHECK(j.status == V2M_JOB_EXPIRED && j.ended_at == ended);
        CHECK_STR(v2m_job_status_name(j.status), "expired");
        CHECK(v2m_job_status_parse("expired") == V2M_JOB_EXPIRED);
        CHECK(v2m_jobs_done(jb, fid, mp3, &j, &e) == V2M_OK); /* back for the checks below */
    }

    /* options, callback and the track used travel with the record */
    {
        char f2[25];
        v2m_job_change c = V2M_JOB_CHANGE_INIT;
        new_fid(f2);
        CHECK(v2m_jobs_create(jb, f2, owner_a, "two.mkv", 9, "{\"bitrate\":192}",
                              "http://127.0.0.1:9/hook", &e) == V2M_OK);
        CHECK(v2m_jobs_get(jb, f2, &j, &e) == V2M_OK);
        CHECK_STR(j.options, "{\"bitrate\":192}");
        CHECK_STR(j.callback_url, "http://127.0.0.1:9/hook");
        CHECK(j.track == 0 && j.ended_at == 0);
        CHECK_STR(j.language, "");
        CHECK(v2m_jobs_begin(jb, f2, &j, &e) == V2M_OK);
        c.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
        c.track = 2;
        c.language = "fre";
        CHECK(v2m_jobs_update(jb, f2, &c, &j, &e) == V2M_OK);
        CHECK(j.track == 2);
        CHECK_STR(j.language, "fre");
        CHECK_STR(j.options, "{\"bitrate\":192}");
        CHECK(v2m_jobs_delete(jb, f2, &e) == V2M_OK);
    }

    /* the general change, and bad input */
    {
        v2m_job_change c = V2M_JOB_CHANGE_INIT;
        char longerr[400];
        memset(longerr, 'x', sizeof longerr - 1);
        longerr[sizeof longerr - 1] = '\0';
        c.from = V2M_JOB_BIT(V2M_JOB_DONE);
        c.error = longerr;
        CHECK(v2m_jobs_update(jb, fid, &c, &j, &e) == V2M_OK);
        CHECK(strlen(j.error) == 255);
        c.error = "";
        c.mp3_fid = "";
        CHECK(v2m_jobs_update(jb, fid, &c, &j, &e) == V2M_OK);
        CHECK_STR(j.error, "");
        CHECK_STR(j.mp3_fid, "");
        c.mp3_fid = "not-an-id";
        CHECK(v2m_jobs_update(jb, fid, &c, &j, &e) == V2M_EINVAL);
    }
    CHECK(v2m_jobs_create(jb, "nope", owner_a, "x", 1, NULL, NULL, &e) == V2M_EINVAL);
    CHECK(v2m_jobs_create(jb, mp3b, "", "x", 1, NULL, NULL, &e) == V2M_EINVAL);
    CHECK(v2m_jobs_get(jb, "zzz", &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_begin(jb, mp3b, &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_delete(jb, fid, &e) == V2M_OK);
    CHECK(v2m_jobs_delete(jb, fid, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_get(jb, fid, &j, &e) == V2M_ENOTFOUND);
}

typedef struct {
    char fids[16][25];
    int n;
} seen;

static int collect(void *ud, const v2m_job *j)
{
    seen *s = ud;
    if (s->n < 16)
        snprintf(s->fids[s->n++], 25, "%s", j->video_fid);
    return 0;
}

static int stop_after_two(void *ud, const v2m_job *j)
{
    seen *s = ud;
    collect(ud, j);
    return s->n >= 2;
}

/* A clock that moves 1 ms each time it is read: records made one after the
 * other have distinct, increasing times without waiting. */
static int64_t fake_ms;
static int64_t ticking_clock(void) { return ++fake_ms; }

static void test_list(void)
{
    char fids[5][25], other[25];
    seen s;
    v2m_error e = {0};
    struct timespec ts;

    /* Start from the real time: other records in a shared database are
     * older, so ours are the newest ones. */
    clock_gettime(CLOCK_REALTIME, &ts);
    fake_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    v2m__jobs_set_clock(ticking_clock);
    for (int i = 0; i < 5; i++) {
        new_fid(fids[i]);
        CHECK(v2m_jobs_create(jb, fids[i], owner_b, "f.mp4", i, NULL, NULL, &e) == V2M_OK);
    }
    new_fid(other);
    CHECK(v2m_jobs_create(jb, other, "someone-else@example.com", "o.mp4", 1, NULL, NULL, &e) == V2M_OK);
    v2m__jobs_set_clock(NULL);

    memset(&s, 0, sizeof s);
    CHECK(v2m_jobs_list(jb, owner_b, 0, 0, collect, &s, &e) == V2M_OK);
    CHECK(s.n == 5);
    for (int i = 0; i < 5 && s.n == 5; i++)
        CHECK_STR(s.fids[i], fids[4 - i]);   /* newest first */
    memset(&s, 0, sizeof s);
    CHECK(v2m_jobs_list(jb, owner_b, 2, 1, collect, &s, &e) == V2M_OK);
    CHECK(s.n == 2);
    if (s.n == 2) {
        CHECK_STR(s.fids[0], fids[3]);
        CHECK_STR(s.fids[1], fids[2]);
    }
    memset(&s, 0, sizeof s);
    CHECK(v2m_jobs_list(jb, owner_b, 0, 0, stop_after_two, &s, &e) == V2M_OK && s.n == 2);
    memset(&s, 0, sizeof s);
    CHECK(v2m_jobs_list(jb, "nobody@example.com", 0, 0, collect, &s, &e) == V2M_OK && s.n == 0);
    /* everyone's (other tests may share the database: look at ours only) */
    {
        static seen all;
        int pos[6], k = 0;
        memset(&all, 0, sizeof all);
        CHECK(v2m_jobs_list(jb, NULL, 16, 0, collect, &all, &e) == V2M_OK);
        for (int i = 0; i < 6; i++) {
            const char *want = i == 0 ? other : fids[5 - i];
            pos[i] = -1;
            for (int x = 0; x < all.n; x++)
                if (strcmp(all.fids[x], want) == 0)
                    pos[i] = x;
            CHECK(pos[i] >= 0);
            if (i > 0 && pos[i] >= 0 && pos[i - 1] >= 0)
                k += pos[i] > pos[i - 1];
        }
        CHECK(k == 5);
    }
    for (int i = 0; i < 5; i++)
        CHECK(v2m_jobs_delete(jb, fids[i], &e) == V2M_OK);
    CHECK(v2m_jobs_delete(jb, other, &e) == V2M_OK);
}

/* Racers on the same job: exactly one done may succeed. */
static char race_fid[25];
static char race_mp3[8][25];
static int race_rc[8];

static void *racer(void *arg)
{
    int i = (int)(intptr_t)arg;
    v2m_error e = {0};
    race_rc[i] = v2m_jobs_done(jb, race_fid, race_mp3[i], NULL, &e);
    return NULL;
}

static void test_races(void)
{
    pthread_t t[8];
    v2m_job j;
    v2m_error e = {0};
    int wins = 0, winner = -1;
    int *shared;

    new_fid(race_fid);
    CHECK(v2m_jobs_create(jb, race_fid, owner_a, "race.mp4", 1, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_begin(jb, race_fid, NULL, &e) == V2M_OK);
    for (int i = 0; i < 8; i++) {
        new_fid(race_mp3[i]);
        pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (race_rc[i] == V2M_OK) {
            wins++;
            winner = i;
        } else {
            CHECK(race_rc[i] == V2M_ESTATE);
        }
    }
    CHECK(wins == 1);
    CHECK(v2m_jobs_get(jb, race_fid, &j, &e) == V2M_OK);
    if (winner >= 0)
        CHECK_STR(j.mp3_fid, race_mp3[winner]);
    CHECK(v2m_jobs_delete(jb, race_fid, &e) == V2M_OK);

    /* the same across processes, each with its own handle; the parent's
     * handle is closed around fork (a client pool has threads) */
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shared != MAP_FAILED);
    memset(shared, 0, 4096);
    new_fid(race_fid);
    CHECK(v2m_jobs_create(jb, race_fid, owner_a, "race.mp4", 1, NULL, NULL, &e) == V2M_OK);
    v2m_jobs_close(jb);
    for (int i = 0; i < 4; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            v2m_jobs *mine = v2m_jobs_open(url, NULL);
            char mp3[25];
            new_fid(mp3);
            shared[i] = mine ? 100 + (int)v2m_jobs_done(mine, race_fid, mp3, NULL, NULL) : -1;
            v2m_jobs_close(mine);
            _exit(0);
        }
    }
    for (int i = 0; i < 4; i++)
        wait(NULL);
    jb = v2m_jobs_open(url, &e);
    if (!jb)
        FATAL("jobs reopen: %s", v2m_error_msg(&e));
    wins = 0;
    for (int i = 0; i < 4; i++) {
        CHECK(shared[i] == 100 + V2M_OK || shared[i] == 100 + V2M_ESTATE);
        wins += shared[i] == 100 + V2M_OK;
    }
    CHECK(wins == 1);
    CHECK(v2m_jobs_get(jb, race_fid, &j, &e) == V2M_OK && j.status == V2M_JOB_DONE);
    CHECK(v2m_jobs_delete(jb, race_fid, &e) == V2M_OK);
    munmap(shared, 4096);
}

/* A clock that stays where the test puts it. */
static int64_t fixed_ms;
static int64_t fixed_clock(void) { return fixed_ms; }

typedef struct {
    char fids[1000][25];
    int n;
} found;

static int collect_all(void *ud, const v2m_job *j)
{
    found *f = ud;
    if (f->n < 1000)
        snprintf(f->fids[f->n++], 25, "%s", j->video_fid);
    return 0;
}

/* Position of fid among the listed, -1 when absent. */
static int pos_of(const found *f, const char *fid)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->fids[i], fid) == 0)
            return i;
    return -1;
}

static found fnd;

static void ended(unsigned mask, int64_t before, int flags)
{
    v2m_error e = {0};
    memset(&fnd, 0, sizeof fnd);
    CHECK(v2m_jobs_ended_before(jb, mask, before, flags, 1000, collect_all, &fnd, &e) == V2M_OK);
}

/* What the janitor and deletions rely on: look-ups by end time, the video
 * noted gone, conditional expiry, and the two-phase delete. */
static void test_lifecycle(void)
{
    const unsigned fin = V2M_JOB_BIT(V2M_JOB_DONE) | V2M_JOB_BIT(V2M_JOB_FAILED);
    char a[25], b[25], c[25], d[25], mp3[25], mp3c[25];
    v2m_job j;
    v2m_error e = {0};
    /* Long ago, and apart from other runs sharing the database. */
    const int64_t t0 = 1000000000000LL + (int64_t)(getpid() % 100000) * 1000000;

    new_fid(a), new_fid(b), new_fid(c), new_fid(d), new_fid(mp3), new_fid(mp3c);
    v2m__jobs_set_clock(fixed_clock);
    fixed_ms = t0;
    CHECK(v2m_jobs_create(jb, a, owner_a, "a.mp4", 100, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_create(jb, b, owner_a, "b.mp4", 200, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_create(jb, c, owner_a, "c.mp4", 300, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_create(jb, d, owner_a, "d.mp4", 400, NULL, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_get(jb, a, &j, &e) == V2M_OK && j.video_gone == 0 && j.deleting_at == 0);
    fixed_ms = t0 + 10;
    CHECK(v2m_jobs_begin(jb, a, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_done(jb, a, mp3, NULL, &e) == V2M_OK);
    fixed_ms = t0 + 20;
    CHECK(v2m_jobs_begin(jb, b, NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_fail(jb, b, "no audio", "noaudio", NULL, &e) == V2M_OK);
    CHECK(v2m_jobs_begin(jb, c, NULL, &e) == V2M_OK);    /* converting: not ended */

    /* by end time, oldest first; unended and later ones left out */
    ended(fin, t0 + 15, 0);
    CHECK(pos_of(&fnd, a) >= 0 && pos_of(&fnd, b) < 0 && pos_of(&fnd, c) < 0 &&
          pos_of(&fnd, d) < 0);
    ended(fin, t0 + 25, 0);
    CHECK(pos_of(&fnd, a) >= 0 && pos_of(&fnd, b) > pos_of(&fnd, a) && pos_of(&fnd, c) < 0);
    ended(V2M_JOB_BIT(V2M_JOB_FAILED), t0 + 25, 0);
    CHECK(pos_of(&fnd, a) < 0 && pos_of(&fnd, b) >= 0);
    ended(fin, t0 + 10, 0);   /* strictly before */
    CHECK(pos_of(&fnd, a) < 0);
    CHECK(v2m_jobs_ended_before(jb, fin, t0 + 25, 0, 0, collect_all, &fnd, &e) == V2M_EINVAL);
    CHECK(v2m_jobs_ended_before(jb, 0, t0 + 25, 0, 10, collect_all, &fnd, &e) == V2M_EINVAL);

    /* the video noted gone: kept out of the look-up for stored videos */
    {
        v2m_job_change chg = V2M_JOB_CHANGE_INIT;
        chg.from = fin;
        chg.video_gone = 1;
        fixed_ms = t0 + 30;
        CHECK(v2m_jobs_update(jb, a, &chg, &j, &e) == V2M_OK);
        CHECK(j.video_gone == 1 && j.status == V2M_JOB_DONE && j.ended_at == t0 + 10);
        CHECK_STR(j.mp3_fid, mp3);
    }
    ended(fin, t0 + 25, V2M_JOBS_VIDEO_STORED);
    CHECK(pos_of(&fnd, a) < 0 && pos_of(&fnd, b) >= 0);
    ended(fin, t0 + 25, 0);
    CHECK(pos_of(&fnd, a) >= 0);

    /* expiry is conditional: of two janitors one changes the record */
    {
        v2m_job_change chg = V2M_JOB_CHANGE_INIT;
        chg.from = fin;
        chg.status = V2M_JOB_EXPIRED;
        chg.video_gone = 1;
        fixed_ms = t0 + 40;
        CHECK(v2m_jobs_update(jb, a, &chg, &j, &e) == V2M_OK);
        CHECK(j.status == V2M_JOB_EXPIRED && j.ended_at == t0 + 10 && j.video_gone == 1);
        CHECK(v2m_jobs_update(jb, a, &chg, &j, &e) == V2M_ESTATE && j.status == V2M_JOB_EXPIRED);
        CHECK(v2m_jobs_begin(jb, a, &j, &e) == V2M_ESTATE);
        ended(fin, t0 + 25, 0);
        CHECK(pos_of(&fnd, a) < 0);
        ended(V2M_JOB_BIT(V2M_JOB_EXPIRED), t0 + 25, 0);
        CHECK(pos_of(&fnd, a) >= 0);
    }

    /* a user's retry: failed -> queued, attempts from 0, no longer ended */
    {
        v2m_job_change chg = V2M_JOB_CHANGE_INIT;
        chg.from = V2M_JOB_BIT(V2M_JOB_FAILED);
        chg.status = V2M_JOB_QUEUED;
        chg.error = "";
        chg.error_code = "";
        chg.reset_attempts = 1;
        CHECK(v2m_jobs_update(jb, b, &chg, &j, &e) == V2M_OK);
        CHECK(j.status == V2M_JOB_QUEUED && j.attempts == 0 && j.ended_at == 0);
        CHECK_STR(j.error, "");
        CHECK(v2m_jobs_update(jb, b, &chg, &j, &e) == V2M_ESTATE);
        ended(fin, t0 + 25, 0);
        CHECK(pos_of(&fnd, b) < 0);
        CHECK(v2m_jobs_begin(jb, b, &j, &e) == V2M_OK && j.attempts == 1);
    }

    /* two-phase delete of a converting job with its MP3 being written */
    {
        v2m_job_change chg = V2M_JOB_CHANGE_INIT;
        chg.from = V2M_JOB_BIT(V2M_JOB_CONVERTING);
        chg.mp3_fid = mp3c;
        CHECK(v2m_jobs_update(jb, c, &chg, NULL, &e) == V2M_OK);
    }
    fixed_ms = t0 + 50;
    CHECK(v2m_jobs_delete_begin(jb, c, owner_b, &j, &e) == V2M_ENOTFOUND);   /* not b's */
    CHECK(v2m_jobs_get(jb, c, &j, &e) == V2M_OK && j.status == V2M_JOB_CONVERTING);
    memset(&j, 0, sizeof j);
    CHECK(v2m_jobs_delete_begin(jb, c, owner_a, &j, &e) == V2M_OK);
    CHECK(j.deleting_at == t0 + 50 && j.status == V2M_JOB_CONVERTING);
    CHECK_STR(j.mp3_fid, mp3c);
    CHECK_STR(j.owner, owner_a);
    /* gone for everyone else: look-ups, lists and every change */
    CHECK(v2m_jobs_get(jb, c, &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_progress(jb, c, 0.5, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_done(jb, c, mp3c, &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_requeue(jb, c, "x", &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_fail(jb, c, "x", NULL, &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_begin(jb, c, &j, &e) == V2M_ENOTFOUND);
    /* ... but a late message cannot make it again */
    CHECK(v2m_jobs_create(jb, c, owner_a, "c.mp4", 300, NULL, NULL, &e) == V2M_EEXIST);
    {
        static seen s;
        memset(&s, 0, sizeof s);
        CHECK(v2m_jobs_list(jb, owner_a, 0, 0, collect, &s, &e) == V2M_OK);
        for (int i = 0; i < s.n; i++)
            CHECK(strcmp(s.fids[i], c) != 0);
    }
    /* asked again (an interrupted deletion): the same record, the same mark */
    fixed_ms = t0 + 60;
    memset(&j, 0, sizeof j);
    CHECK(v2m_jobs_delete_begin(jb, c, owner_a, &j, &e) == V2M_OK && j.deleting_at == t0 + 50);
    CHECK_STR(j.mp3_fid, mp3c);
    CHECK(v2m_jobs_delete_begin(jb, c, NULL, &j, &e) == V2M_OK && j.deleting_at == t0 + 50);
    CHECK(v2m_jobs_delete_begin(jb, c, owner_b, &j, &e) == V2M_ENOTFOUND);
    /* the janitor finds unfinished deletions by their start */
    memset(&fnd, 0, sizeof fnd);
    CHECK(v2m_jobs_deleting_before(jb, t0 + 51, 1000, collect_all, &fnd, &e) == V2M_OK);
    CHECK(pos_of(&fnd, c) >= 0 && pos_of(&fnd, d) < 0);
    memset(&fnd, 0, sizeof fnd);
    CHECK(v2m_jobs_deleting_before(jb, t0 + 50, 1000, collect_all, &fnd, &e) == V2M_OK);
    CHECK(pos_of(&fnd, c) < 0);
    CHECK(v2m_jobs_delete(jb, c, &e) == V2M_OK);
    CHECK(v2m_jobs_delete_begin(jb, c, NULL, &j, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_delete(jb, c, &e) == V2M_ENOTFOUND);
    CHECK(v2m_jobs_delete_begin(jb, "zz", NULL, &j, &e) != V2M_OK);

    v2m__jobs_set_clock(NULL);
    CHECK(v2m_jobs_delete(jb, a, &e) == V2M_OK);
    CHECK(v2m_jobs_delete(jb, b, &e) == V2M_OK);
    CHECK(v2m_jobs_delete(jb, d, &e) == V2M_OK);
}

/* A database made before the newer columns existed gains them when opened
 * and keeps its rows. */
static void test_migration(const char *dir)
{
    char path[4300], u[4400];
    sqlite3 *db;
    v2m_jobs *old;
    v2m_job j;
    v2m_error e = {0};
    found f;
    int have = 0;

    snprintf(path, sizeof path, "%s/old.db", dir);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE jobs (video_fid TEXT PRIMARY KEY, owner TEXT NOT NULL,"
                       " filename TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0,"
                       " status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, mp3_fid TEXT,"
                       " error TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
                       " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
                       "INSERT INTO jobs VALUES ('65000000000000000000000a', 'old@example.com',"
                       " 'old.mp4', 77, 'done', 1, '65000000000000000000000b', NULL, 1, 5, 6);",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    snprintf(u, sizeof u, "sqlite://%s", path);
    old = v2m_jobs_open(u, &e);
    CHECK(old != NULL);
    if (!old)
        return;
    CHECK(v2m_jobs_get(old, "65000000000000000000000a", &j, &e) == V2M_OK);
    CHECK(j.status == V2M_JOB_DONE && j.size == 77 && j.attempts == 1 && j.created_at == 5);
    CHECK_STR(j.owner, "old@example.com");
    CHECK_STR(j.mp3_fid, "65000000000000000000000b");
    /* it ended before ends were recorded: its last change counts as its end */
    CHECK(j.ended_at == 6 && j.video_gone == 0 && j.deleting_at == 0);
    CHECK_STR(j.options, "");
    /* the new operations work on it */
    memset(&f, 0, sizeof f);
    CHECK(v2m_jobs_ended_before(old, V2M_JOB_ANY, 7, 0, 10, collect_all, &f, &e) == V2M_OK);
    CHECK(f.n == 1);
    memset(&f, 0, sizeof f);
    CHECK(v2m_jobs_ended_before(old, V2M_JOB_ANY, 6, 0, 10, collect_all, &f, &e) == V2M_OK);
    CHECK(f.n == 0);
    {
        v2m_job_change chg = V2M_JOB_CHANGE_INIT;
        chg.video_gone = 1;
        CHECK(v2m_jobs_update(old, "65000000000000000000000a", &chg, &j, &e) == V2M_OK);
        CHECK(j.video_gone == 1);
    }
    CHECK(v2m_jobs_delete_begin(old, "65000000000000000000000a", NULL, &j, &e) == V2M_OK);
    v2m_jobs_close(old);
    /* the columns are there for everyone now */
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    {
        sqlite3_stmt *st = NULL;
        CHECK(sqlite3_prepare_v2(db,
                                 "SELECT count(*) FROM pragma_table_info('jobs') WHERE name IN"
                                 " ('ended_at','options','callback_url','track','language',"
                                 "'error_code','video_gone','deleting_at')",
                                 -1, &st, NULL) == SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
            have = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    CHECK(have == 8);
    /* opening again changes nothing */
    old = v2m_jobs_open(u, &e);
    CHECK(old != NULL);
    if (old) {
        CHECK(v2m_jobs_delete(old, "65000000000000000000000a", &e) == V2M_OK);
        v2m_jobs_close(old);
    }
}

/* MongoDB: a record written before ended_at existed (or with 0 in it) gets
 * its last change as its end, before the first look-up by end time. */
static void test_mongo_old_records(void)
{
    mongoc_client_t *mc = mongoc_client_new(url);
    mongoc_collection_t *coll;
    char a[25], b[25];
    bson_oid_t oa, ob;
    bson_t *da, *db;
    v2m_jobs *fresh;
    v2m_job j;
    v2m_error e = {0};
    const int64_t t0 = 1000000000000LL + (int64_t)(getpid() % 100000) * 1000000 + 500000;

    if (!mc)
        FATAL("mongoc client for %s", url);
    coll = mongoc_client_get_collection(mc, "videos", "jobs");
    new_fid(a), new_fid(b);
    bson_oid_init_from_string(&oa, a);
    bson_oid_init_from_string(&ob, b);
    da = BCON_NEW("_id", BCON_OID(&oa), "owner", BCON_UTF8(owner_a), "filename", BCON_UTF8("a"),
                  "size", BCON_INT64(1), "status", BCON_UTF8("done"), "progress", BCON_DOUBLE(1),
                  "mp3_fid", BCON_NULL, "error", BCON_NULL, "attempts", BCON_INT32(1),
                  "created_at", BCON_DATE_TIME(t0), "updated_at", BCON_DATE_TIME(t0 + 5));
    db = BCON_NEW("_id", BCON_OID(&ob), "owner", BCON_UTF8(owner_a), "status",
                  BCON_UTF8("failed"), "created_at", BCON_DATE_TIME(t0), "updated_at",
                  BCON_DATE_TIME(t0 + 7), "ended_at", BCON_INT64(0));
    CHECK(mongoc_collection_insert_one(coll, da, NULL, NULL, NULL));
    CHECK(mongoc_collection_insert_one(coll, db, NULL, NULL, NULL));
    bson_destroy(da);
    bson_destroy(db);
    CHECK(v2m_jobs_get(jb, a, &j, &e) == V2M_OK && j.ended_at == 0 && !j.video_gone);
    fresh = v2m_jobs_open(url, &e);
    CHECK(fresh != NULL);
    if (fresh) {
        memset(&fnd, 0, sizeof fnd);
        CHECK(v2m_jobs_ended_before(fresh, V2M_JOB_BIT(V2M_JOB_DONE) | V2M_JOB_BIT(V2M_JOB_FAILED),
                                    t0 + 7, 0, 1000, collect_all, &fnd, &e) == V2M_OK);
        CHECK(pos_of(&fnd, a) >= 0 && pos_of(&fnd, b) < 0);
        CHECK(v2m_jobs_get(fresh, a, &j, &e) == V2M_OK && j.ended_at == t0 + 5);
        CHECK(v2m_jobs_get(fresh, b, &j, &e) == V2M_OK && j.ended_at == t0 + 7);
        v2m_jobs_close(fresh);
    }
    CHECK(v2m_jobs_delete(jb, a, &e) == V2M_OK);
    CHECK(v2m_jobs_delete(jb, b, &e) == V2M_OK);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(mc);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sqlite";
    char *dir = NULL;
    v2m_error e = {0};

    if (strcmp(mode, "sqlite") == 0) {
        dir = make_tmpdir("jobs");
        snprintf(url, sizeof url, "file://%s/store", dir);
    } else if (strcmp(mode, "mongo") == 0) {
        snprintf(url, sizeof url, "%s", need_env("V2M_TEST_MONGO_URI", "a MongoDB (mongodb://host:port/)"));
    } else {
        FATAL("usage: jobs_test sqlite|mongo");
    }
    snprintf(owner_a, sizeof owner_a, "a%d-%ld@example.com", (int)getpid(), (long)time(NULL));
    snprintf(owner_b, sizeof owner_b, "b%d-%ld@example.com", (int)getpid(), (long)time(NULL));
    jb = v2m_jobs_open(url, &e);
    if (!jb)
        FATAL("jobs open %s: %s", url, v2m_error_msg(&e));
    CHECK(v2m_jobs_ping(jb, &e) == V2M_OK);
    test_transitions();
    test_list();
    test_races();
    test_lifecycle();
    if (strcmp(mode, "mongo") == 0)
        test_mongo_old_records();
    v2m_jobs_close(jb);
    if (dir) {
        char p[4250];
        snprintf(p, sizeof p, "%s/store/jobs.db", dir);
        CHECK(access(p, F_OK) == 0);
        /* sqlite:// names the database directly */
        snprintf(url, sizeof url, "sqlite://%s", p);
        jb = v2m_jobs_open(url, &e);
        CHECK(jb != NULL && v2m_jobs_ping(jb, &e) == V2M_OK);
        v2m_jobs_close(jb);
        test_migration(dir);
        rm_rf(dir);
        free(dir);
    }
    CHECK(v2m_jobs_open("redis://x", &e) == NULL && e.code == V2M_ECONFIG);
    return check_exit(mode);
}
