#!/usr/bin/python3
"""Leftovers of killed uploads are swept; live uploads are not.

A gateway is killed (SIGKILL) in the middle of an upload, which leaves what
it had written in the store: a `.tmp-<fid>` file (file store) or chunks with
no files document (GridFS). Two new gateways run their janitors every second
with V2M_SWEEP_GRACE=3s while a third upload streams into one of them, a
chunk at a time, for longer than the grace. Checked: the killed upload's
leftovers are removed (log line `janitor: store leftovers removed`, metric
`v2m_gateway_janitor_removed_total{what="leftover"}`), the upload in
progress keeps every byte and finishes whole, two janitors sweeping the
same store at once report no error, and nothing without a files document is
left in the store at the end.

argv[1] picks the store:
  embedded     a store directory (file://)
  distributed  GridFS on the MongoDB emulator, checked with pymongo (holds the
               `mongo` lock: it counts every chunk without a files document)
Users, jobs and the queue are SQLite in both: only the store differs.
"""
import base64
import glob
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "embedded"
tmp = t.tempdir("v2m-sweep-%s-" % MODE)
SECRET = "sweep-secret-" + os.urandom(8).hex()
if not __import__("shutil").which("ffmpeg"):
    sys.stderr.write("\n*** SKIP: ffmpeg not installed (make deps installs it) ***\n\n")
    sys.exit(t.SKIP)

tag = "%d" % os.getpid()
USER = "sweep-%s@example.com" % tag
CHUNK = 255 * 1024
env = {"JWT_SECRET": SECRET, "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
       "V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_JOBS": "sqlite://%s/jobs.db" % tmp,
       "V2M_QUEUE": "sqlite://%s/queue.db" % tmp}
if MODE == "distributed":
    import pymongo  # Debian python3-pymongo
    from bson import ObjectId
    mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator from ../shared/tools")
    env["V2M_STORE"] = mongo
    videos = pymongo.MongoClient(mongo)["videos"]
else:
    env["V2M_STORE"] = "file://%s/store" % tmp
    os.makedirs(tmp + "/store")

rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", USER,
                        "--password-stdin"], stdin="Sweep12345\n", env=env)
assert rc == 0, err
auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port

# The head of a real MPEG-TS (the gateway sniffs the first 64 KiB), then noise.
subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                "testsrc2=size=320x240:rate=25:duration=4", "-c:v", "mpeg2video", "-b:v", "2M",
                "-f", "mpegts", tmp + "/head.ts"], check=True)
HEAD = open(tmp + "/head.ts", "rb").read()
assert len(HEAD) > 70000, len(HEAD)


def body_bytes(seed, n):
    out = bytearray(HEAD[:n])
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2 ** 64 - 1)
        out += x.to_bytes(8, "little") * 512
    return bytes(out[:n])


def login(gw):
    st, tok, _ = gw.request("POST", "/login", {
        "Authorization": "Basic " + base64.b64encode(("%s:Sweep12345" % USER).encode()).decode()})
    assert st == 200, (st, tok)
    return tok


class Upload:
    """A multipart POST /upload sent piece by piece over one connection."""

    def __init__(self, gw, token, data):
        self.data = data
        self.sent = 0
        b = "sweep" + os.urandom(8).hex()
        self.pre = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="v.ts"\r\n'
                    'Content-Type: video/mp2t\r\n\r\n' % b).encode()
        self.post = ("\r\n--%s--\r\n" % b).encode()
        self.c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
        self.c.putrequest("POST", "/upload")
        self.c.putheader("Authorization", "Bearer " + token)
        self.c.putheader("Content-Type", "multipart/form-data; boundary=" + b)
        self.c.putheader("Content-Length", str(len(self.pre) + len(data) + len(self.post)))
        self.c.endheaders()
        self.c.send(self.pre)

    def send(self, n):
        piece = self.data[self.sent:self.sent + n]
        self.c.send(piece)
        self.sent += len(piece)
        return self.sent < len(self.data)

    def finish(self):
        self.send(len(self.data))
        self.c.send(self.post)
        r = self.c.getresponse()
        text = r.read().decode()
        self.c.close()
        return r.status, text


def leftovers():
    """What the store holds without being a file: {fid: bytes or chunks}."""
    out = {}
    if MODE == "distributed":
        for ch in videos["fs.chunks"].find({}, {"files_id": 1}):
            fid = ch["files_id"]
            if videos["fs.files"].count_documents({"_id": fid}) == 0 and \
                    videos["fs.uploads"].count_documents({"_id": fid}) == 0:
                out[str(fid)] = out.get(str(fid), 0) + 1
    else:
        for p in glob.glob(tmp + "/store/*/.tmp-*"):
            out[os.path.basename(p)[5:]] = os.path.getsize(p)
    return out


wait_for = t.wait_for


def stored_length(fid):
    if MODE == "distributed":
        doc = videos["fs.files"].find_one({"_id": ObjectId(fid)})
        n = videos["fs.chunks"].count_documents({"files_id": ObjectId(fid)})
        return doc["length"] if doc and n == (doc["length"] + CHUNK - 1) // CHUNK else -1
    p = "%s/store/videos/%s" % (tmp, fid)
    return os.path.getsize(p) if os.path.exists(p + ".json") else -1


def metric(gw, what):
    st, text, _ = gw.admin_request("GET", "/metrics")
    m = re.search(r'v2m_gateway_janitor_removed_total\{what="%s"\} (\d+)' % what, text)
    return int(m.group(1)) if m else -1


def test_killed_upload_is_swept_live_upload_kept():
    before = set(leftovers())
    gw1 = t.Service("v2m-gateway", env)
    tok = login(gw1)
    killed = Upload(gw1, tok, body_bytes(1, 8 * CHUNK))
    killed.send(5 * CHUNK + 1000)
    # Several chunks (GridFS) or bytes (file) of it are in the store.
    gone = wait_for("the killed upload's leftovers", lambda: [
        f for f, n in leftovers().items() if f not in before and
        n >= (4 if MODE == "distributed" else 5 * CHUNK)], 30)
    assert len(gone) == 1, gone
    gw1.proc.send_signal(signal.SIGKILL)
    gw1.proc.wait()
    gw1.log.close()
    time.sleep(1)
    assert gone[0] in leftovers(), "the kill itself removed the leftovers"

    sweep_env = dict(env, V2M_SWEEP_GRACE="3s", V2M_JANITOR_INTERVAL="1s")
    gw2 = t.Service("v2m-gateway", sweep_env)
    gw3 = t.Service("v2m-gateway", sweep_env)
    try:
        data = body_bytes(2, 40 * CHUNK + 123)
        live = Upload(gw2, login(gw2), data)
        # About a chunk every 0.3 s: the upload runs for ~12 s, four times the grace.
        t0 = time.time()
        swept_at = None
        while live.send(CHUNK):
            time.sleep(0.3)
            if swept_at is None and gone[0] not in leftovers():
                swept_at = time.time() - t0
        assert swept_at is not None, "the killed upload was not swept while the other ran"
        mine = [f for f in leftovers() if f not in before]
        assert len(mine) == 1 and mine != gone, ("the live upload's leftovers", mine)
        st, text = live.finish()
        assert st == 200, (st, text)
        fid = json.loads(text)["video_fid"]
        assert stored_length(fid) == len(data), (stored_length(fid), len(data))
        # The whole file is stored as sent.
        if MODE == "distributed":
            chunks = videos["fs.chunks"].find({"files_id": ObjectId(fid)}).sort("n", 1)
            got = b"".join(c["data"] for c in chunks)
        else:
            got = open("%s/store/videos/%s" % (tmp, fid), "rb").read()
        assert got == data, "the live upload's bytes changed"
        assert leftovers() == {}, leftovers()
        logs = gw2.logtext() + gw3.logtext()
        assert "janitor: store leftovers removed" in logs, logs[-3000:]
        assert "cannot sweep" not in logs, logs[-3000:]
        assert metric(gw2, "leftover") + metric(gw3, "leftover") >= 1
        print("killed upload swept %.1f s into the live one (grace 3 s)" % swept_at)
    finally:
        gw2.stop()
        gw3.stop()


def teardown():
    auth.stop()


t.run(globals(), "sweep_" + MODE)
