#!/usr/bin/python3
"""Files under the user's control, end to end: deleting jobs (done, running,
queued), retrying failed ones, and retention (videos, then MP3s, removed by
the gateways' janitors, two of them on the same stores).

argv[1] picks the deployment:
  embedded     SQLite users, jobs and queue, a store directory
  distributed  MariaDB, RabbitMQ, GridFS (MongoDB emulator): fs.files and
               fs.chunks are checked with pymongo
Every wait has a deadline; nothing depends on how fast a step is.
"""
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "embedded"
tmp = t.tempdir("v2m-life-%s-" % MODE)
SECRET = "life-secret-" + os.urandom(8).hex()
if not shutil.which("ffmpeg"):
    sys.stderr.write("\n*** SKIP: ffmpeg not installed (make deps installs it) ***\n\n")
    sys.exit(t.SKIP)

tag = "%d" % os.getpid()
USER, OTHER_USER = "life-%s@example.com" % tag, "life-other-%s@example.com" % tag
env = {"JWT_SECRET": SECRET, "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
       "MP3_QUEUE": "mp3-" + tag, "V2M_MAX_UPLOAD": "20M", "V2M_RETRY_DELAY": "1",
       "V2M_LEASE": "3", "V2M_CONVERTER_THREADS": "1"}

if MODE == "distributed":
    import pymongo  # Debian python3-pymongo
    from bson import ObjectId
    mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator from ../shared/tools")
    amqp = t.need_env("V2M_TEST_AMQP_URL", "RabbitMQ")
    env.update(t.mysql_database("auth_life_" + tag))
    env.update({"V2M_STORE": mongo, "V2M_QUEUE": amqp})
    client = pymongo.MongoClient(mongo)
else:
    env.update({"V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
                "V2M_JOBS": "sqlite://%s/jobs.db" % tmp,
                "V2M_QUEUE": "sqlite://%s/queue.db" % tmp})
    os.makedirs(tmp + "/store")
admin = [os.path.join(t.BIN, "v2m-admin")]
for who, pw in ((USER, "Life12345"), (OTHER_USER, "Other1234")):
    rc, _, err = t.run_cmd(admin + ["user", "add", who, "--password-stdin"], stdin=pw + "\n",
                           env=env)
    assert rc == 0, err

auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port
converter = t.Service("v2m-converter", env)
gateway = t.Service("v2m-gateway", env)
janitors = []
janitor_logs = []


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


VIDEO = ffmpeg(tmp + "/video.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=3",
               "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:v", "libx264",
               "-preset", "ultrafast", "-c:a", "aac", "-shortest")
# Long and noisy, so a conversion is still running when it is deleted.
LONG = ffmpeg(tmp + "/long.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=600",
              "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:duration=600", "-c:v",
              "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")
SILENT = ffmpeg(tmp + "/silent.mp4", "-f", "lavfi", "-i",
                "testsrc2=size=160x120:rate=10:duration=2", "-c:v", "libx264", "-preset",
                "ultrafast")


def call(method, path, token, gw=None, body=None):
    st, text, _ = (gw or gateway).request(method, path, {"Authorization": "Bearer " + token},
                                           body)
    return st, text


def login(user, pw):
    st, tok, _ = gateway.request("POST", "/login", {
        "Authorization": "Basic " + __import__("base64").b64encode(
            ("%s:%s" % (user, pw)).encode()).decode()})
    assert st == 200, (st, tok)
    return tok


TOKEN = login(USER, "Life12345")
OTHER = login(OTHER_USER, "Other1234")


def upload(path, token=TOKEN):
    p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}", "-X", "POST", "-F",
                        "file=@%s" % path, "-H", "Authorization: Bearer " + token,
                        "http://127.0.0.1:%d/upload" % gateway.port],
                       capture_output=True, text=True, timeout=120)
    body, _, code = p.stdout.rpartition("\n")
    assert code == "200", (code, body)
    return json.loads(body)["video_fid"]


def job(fid, token=TOKEN):
    st, text = call("GET", "/jobs/" + fid, token)
    return st, (json.loads(text) if st == 200 else text)


def wait_for(what, cond, timeout=120):
    return t.wait_for(what, cond, timeout,
                      lambda: "converter log:\n" + converter.logtext()[-3000:])


def wait_status(fid, states, timeout=120):
    def check():
        st, j = job(fid)
        assert st == 200, (st, j)
        return j if j["status"] in states else None
    return wait_for("job %s in %s" % (fid, states), check, timeout)


def stored(ns, fid):
    """What the store holds of fid in ns: GridFS files documents plus chunks,
    or files in the store directory (data, metadata, unfinished upload)."""
    if MODE == "distributed":
        d = client[ns]
        return (d["fs.files"].count_documents({"_id": ObjectId(fid)}) +
                d["fs.chunks"].count_documents({"files_id": ObjectId(fid)}))
    return len([p for p in glob.glob("%s/store/%s/*%s*" % (tmp, ns, fid)) +
                glob.glob("%s/store/%s/.tmp-%s" % (tmp, ns, fid))])


def orphans():
    """GridFS chunks without a files document / unfinished uploads, all namespaces."""
    if MODE == "distributed":
        n = 0
        for ns in ("videos", "mp3s"):
            d = client[ns]
            n += len(set(d["fs.chunks"].distinct("files_id")) - set(d["fs.files"].distinct("_id")))
        return n
    return len(glob.glob("%s/store/*/.tmp-*" % tmp))


def store_bytes():
    """Embedded: every byte in the store directory's namespaces (nothing but
    this test writes there)."""
    total = 0
    for p in glob.glob("%s/store/videos/*" % tmp) + glob.glob("%s/store/mp3s/*" % tmp) + \
            glob.glob("%s/store/*/.tmp-*" % tmp):
        total += os.path.getsize(p)
    return total


def record(fid):
    """The job record as stored, also one being deleted; None when there is none."""
    if MODE == "distributed":
        return client["videos"]["jobs"].find_one({"_id": ObjectId(fid)})
    c = sqlite3.connect(tmp + "/jobs.db")
    try:
        c.row_factory = sqlite3.Row
        r = c.execute("SELECT * FROM jobs WHERE video_fid = ?", (fid,)).fetchone()
        return dict(r) if r else None
    finally:
        c.close()


def remove_video_behind_our_back(fid):
    if MODE == "distributed":
        client["videos"]["fs.files"].delete_one({"_id": ObjectId(fid)})
        client["videos"]["fs.chunks"].delete_many({"files_id": ObjectId(fid)})
    else:
        for p in glob.glob("%s/store/videos/%s*" % (tmp, fid)):
            os.unlink(p)


def download(mp3, token=TOKEN, gw=None):
    return call("GET", "/download?fid=" + mp3, token, gw)


BASE_ORPHANS = orphans()


def test_delete_done_job_leaves_nothing():
    fid = upload(VIDEO)
    j = wait_status(fid, ("done",))
    mp3 = j["mp3_fid"]
    assert stored("videos", fid) > 0 and stored("mp3s", mp3) > 0
    # Someone else: the same 404 as an unknown job, and nothing is removed.
    st, text = call("DELETE", "/jobs/" + fid, OTHER)
    assert st == 404, (st, text)
    assert call("DELETE", "/jobs/0123456789abcdef01234567", TOKEN)[0] == 404
    assert call("DELETE", "/jobs/nonsense", TOKEN)[0] == 404
    assert job(fid)[0] == 200 and stored("videos", fid) > 0 and stored("mp3s", mp3) > 0
    st, text = call("DELETE", "/jobs/" + fid, TOKEN)
    assert st == 204, (st, text)
    assert job(fid)[0] == 404
    assert record(fid) is None
    assert stored("videos", fid) == 0 and stored("mp3s", mp3) == 0
    assert download(mp3)[0] == 404
    # Asking again: the job is gone.
    assert call("DELETE", "/jobs/" + fid, TOKEN)[0] == 404
    if MODE == "embedded":
        assert store_bytes() == 0, os.listdir(tmp + "/store/mp3s")


def test_delete_interrupted_by_the_store_is_finished_by_asking_again():
    if MODE != "embedded":
        raise t.Skip("the store failure is made in the store directory")
    fid = upload(VIDEO)
    mp3 = wait_status(fid, ("done",))["mp3_fid"]
    # The MP3's metadata cannot be unlinked: a directory stands in its place.
    meta = "%s/store/mp3s/%s.json" % (tmp, mp3)
    os.rename(meta, meta + ".saved")
    os.makedirs(meta + "/blocker")
    try:
        st, text = call("DELETE", "/jobs/" + fid, TOKEN)
        assert st == 503 and "send the same request again" in text, (st, text)
        # Being deleted: gone for the API, the record marked, the files kept.
        assert job(fid)[0] == 404
        assert record(fid) and record(fid)["deleting_at"] > 0
        assert stored("videos", fid) > 0
    finally:
        shutil.rmtree(meta)
        os.rename(meta + ".saved", meta)
    st, text = call("DELETE", "/jobs/" + fid, OTHER)
    assert st == 404, (st, text)
    st, text = call("DELETE", "/jobs/" + fid, TOKEN)
    assert st == 204, (st, text)
    assert record(fid) is None and stored("videos", fid) == 0 and stored("mp3s", mp3) == 0
    assert store_bytes() == 0


def start_long_job():
    fid = upload(LONG)
    wait_for("the long job converting with a partial MP3",
             lambda: (job(fid)[1]["status"] == "converting" and record(fid)["mp3_fid"] and
                      job(fid)[1]["progress"] > 0.02))
    return fid


def test_delete_running_and_queued_jobs_stop_and_leave_nothing():
    running = start_long_job()
    writing = record(running)["mp3_fid"]        # the MP3 being written
    wait_for("part of the MP3 stored", lambda: stored("mp3s", writing) > 0)
    # The only conversion thread is busy: this one waits in the queue.
    queued = upload(VIDEO)
    assert job(queued)[1]["status"] == "queued"
    assert call("DELETE", "/jobs/" + queued, TOKEN)[0] == 204
    assert record(queued) is None and stored("videos", queued) == 0
    st, text = call("DELETE", "/jobs/" + running, TOKEN)
    assert st == 204, (st, text)
    assert job(running)[0] == 404
    # The converter notices, stops, removes its partial MP3 and acks.
    wait_for("the conversion stopped",
             lambda: re.search(r"job deleted.* video_fid=%s" % running, converter.logtext()))
    wait_for("the queued job's message dropped",
             lambda: "message dropped video_fid=" + queued in converter.logtext())
    log = converter.logtext()
    assert "dead-lettered" not in log, log[-3000:]
    for fid in (running, queued):
        assert record(fid) is None, record(fid)
        assert stored("videos", fid) == 0
    assert stored("mp3s", writing) == 0
    assert orphans() == BASE_ORPHANS
    if MODE == "embedded":
        assert store_bytes() == 0
    # ... and goes on with the next job.
    fid = upload(VIDEO)
    j = wait_status(fid, ("done", "failed"))
    assert j["status"] == "done", j
    assert call("DELETE", "/jobs/" + fid, TOKEN)[0] == 204


def test_retry_failed_job_queues_it_again():
    fid = upload(SILENT)
    j = wait_status(fid, ("done", "failed"))
    assert j["status"] == "failed", j
    assert call("POST", "/jobs/%s/retry" % fid, OTHER)[0] == 404
    assert call("POST", "/jobs/0123456789abcdef01234567/retry", TOKEN)[0] == 404
    assert call("POST", "/jobs/%s/other" % fid, TOKEN)[0] == 404
    st, text = call("POST", "/jobs/%s/retry" % fid, TOKEN)
    assert st == 200, (st, text)
    assert json.loads(text) == {"video_fid": fid, "status": "queued"}
    # Converted once more (it fails again: still no audio).
    wait_for("a second attempt",
             lambda: converter.logtext().count("conversion failed video_fid=" + fid) == 2)
    j = wait_status(fid, ("failed",))
    assert j["attempts"] == 1, j        # counted from 0 again
    if MODE == "distributed":
        # The broker away: 503, and the job stays failed with its reason.
        rc, _, err = t.run_cmd([t.HARNESS, "amqp-stop"], timeout=120)
        assert rc == 0, err
        try:
            st, text = call("POST", "/jobs/%s/retry" % fid, TOKEN)
            assert st == 503, (st, text)
            st, j = job(fid)
            assert j["status"] == "failed" and j["error"], j
        finally:
            rc, _, err = t.run_cmd([t.HARNESS, "amqp-start"], timeout=180)
            assert rc == 0, err
    # Its video removed behind the service's back: 410.
    remove_video_behind_our_back(fid)
    st, text = call("POST", "/jobs/%s/retry" % fid, TOKEN)
    assert st == 410 and "no longer stored" in text, (st, text)
    assert job(fid)[1]["status"] == "failed"
    assert call("DELETE", "/jobs/" + fid, TOKEN)[0] == 204


def test_retry_of_a_done_job_is_409():
    fid = upload(VIDEO)
    wait_status(fid, ("done",))
    st, text = call("POST", "/jobs/%s/retry" % fid, TOKEN)
    assert st == 409 and "done" in text, (st, text)
    assert call("DELETE", "/jobs/" + fid, TOKEN)[0] == 204


def test_quota_counts_only_stored_videos():
    # A gateway with a quota of one video: deleting the job frees it.
    size = os.path.getsize(VIDEO)
    gw = t.Service("v2m-gateway", dict(env, V2M_QUOTA=str(size + size // 2)))
    try:
        def up():
            return subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-F",
                 "file=@%s" % VIDEO, "-H", "Authorization: Bearer " + TOKEN,
                 "http://127.0.0.1:%d/upload" % gw.port], capture_output=True, text=True).stdout
        _, body = call("GET", "/jobs", TOKEN, gw)
        for old in json.loads(body):     # earlier tests' jobs
            call("DELETE", "/jobs/" + old["video_fid"], TOKEN, gw)
        assert up() == "200"
        assert up() == "413"
        _, body = call("GET", "/jobs", TOKEN, gw)
        fid = json.loads(body)[0]["video_fid"]
        wait_status(fid, ("done", "failed"))
        assert call("DELETE", "/jobs/" + fid, TOKEN, gw)[0] == 204
        assert up() == "200"
    finally:
        gw.stop()


def test_retention_with_two_janitors():
    # Two more gateways on the same stores, with tiny retention: their
    # janitors race on every job. First videos only (MP3s kept forever), so
    # what is checked in between cannot be swept away meanwhile.
    keep = {"V2M_KEEP_VIDEO": "2s", "V2M_KEEP_MP3": "off", "V2M_JANITOR_INTERVAL": "1s"}
    for _ in range(2):
        janitors.append(t.Service("v2m-gateway", dict(env, **keep)))
    fid = upload(VIDEO)
    mp3 = wait_status(fid, ("done",))["mp3_fid"]
    wait_for("the video removed", lambda: stored("videos", fid) == 0, 60)
    wait_for("the record noting it", lambda: record(fid)["video_gone"] in (1, True), 60)
    st, j = job(fid)
    assert st == 200 and j["status"] == "done" and j["mp3_fid"] == mp3, j
    st, body = download(mp3)
    assert st == 200 and len(body) > 0, st
    assert stored("mp3s", mp3) > 0
    # Then the MP3s too: the job expires.
    while janitors:
        g = janitors.pop()
        g.stop()
        janitor_logs.append(g.log_path)
    keep["V2M_KEEP_MP3"] = "2s"
    for _ in range(2):
        janitors.append(t.Service("v2m-gateway", dict(env, **keep)))
    janitor_logs.extend(g.log_path for g in janitors)
    j = wait_status(fid, ("expired",), 60)
    assert j["mp3_fid"] is None, j
    assert stored("mp3s", mp3) == 0 and stored("videos", fid) == 0
    st, text = download(mp3)
    assert st == 404 and "no such file" in text, (st, text)
    # An expired job cannot be retried or downloaded, but can be deleted.
    assert call("POST", "/jobs/%s/retry" % fid, TOKEN)[0] == 409
    logs = "".join(open(p).read() for p in janitor_logs)
    assert logs.count("janitor: video removed video_fid=" + fid) == 1, logs[-3000:]
    assert logs.count("janitor: job expired video_fid=" + fid) == 1, logs[-3000:]
    assert "janitor: cannot" not in logs, logs[-3000:]
    assert call("DELETE", "/jobs/" + fid, TOKEN)[0] == 204
    assert record(fid) is None
    assert orphans() == BASE_ORPHANS
    if MODE == "embedded":
        assert store_bytes() == 0


def teardown():
    t.stop_all(janitors + [gateway, converter, auth])


t.run(globals(), "test_lifecycle_" + MODE)
