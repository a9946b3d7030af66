#!/usr/bin/python3
"""Resumable uploads (tus 1.0 at /files/) with the real tus-js-client.

argv[1] picks the store: embedded, a store directory; distributed, GridFS
(MongoDB, checked with pymongo); users, jobs and queue in SQLite for both. The client is
tus-js-client from npm (tests/tus, `npm ci` there), run by Node: an upload
cut at about half and resumed at its URL, once across a gateway restart;
the job it makes converts with the option from Upload-Metadata. Also HEAD
offsets, checksums, termination, expiry, the limits, another user's upload,
bad metadata, a file that is no media. Nothing of a terminated, expired or refused upload may
stay in the store.
"""
import base64
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "embedded"
TUS_DIR = os.path.join(t.SRC, "tests/tus")
CLIENT = os.path.join(TUS_DIR, "client.js")
for tool in ("ffmpeg", "ffprobe", "node", "curl"):
    if not shutil.which(tool):
        sys.stderr.write("\n*** SKIP: %s not installed ***\n\n" % tool)
        sys.exit(t.SKIP)
if not os.path.isdir(os.path.join(TUS_DIR, "node_modules/tus-js-client")):
    sys.stderr.write("\n*** SKIP: tus-js-client absent: run `npm ci` in tests/tus ***\n\n")
    sys.exit(t.SKIP)
if MODE == "distributed":
    mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator")
    try:
        import pymongo  # Debian python3-pymongo
    except ImportError:
        sys.stderr.write("\n*** SKIP: pymongo not installed (python3-pymongo) ***\n\n")
        sys.exit(t.SKIP)
    from bson import ObjectId
    VDB = pymongo.MongoClient(mongo)["videos"]

tmp = t.tempdir("v2m-tus-%s-" % MODE)
SECRET = "tus-secret-" + os.urandom(8).hex()
tag = "%d" % os.getpid()
env = {"JWT_SECRET": SECRET, "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
       "MP3_QUEUE": "mp3-" + tag, "V2M_MAX_UPLOAD": "40M", "V2M_RETRY_DELAY": "1",
       "V2M_CONVERTER_THREADS": "2", "V2M_PUBLIC_URL": "http://v2m.test",
       "V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
       "V2M_JOBS": "sqlite://%s/jobs.db" % tmp, "V2M_QUEUE": "sqlite://%s/queue.db" % tmp,
       "V2M_OUTBOX": "%s/outbox" % tmp}
if MODE == "distributed":
    env["V2M_STORE"] = mongo
os.makedirs(tmp + "/store")
for user in ("georgio@email.com", "other@email.com", "quota@email.com"):
    rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", user,
                            "--password-stdin"], stdin="Admin123\n", env=env)
    assert rc == 0, err

auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port
# The converter's default differs from the option the uploads ask for.
converter = t.Service("v2m-converter", dict(env, V2M_MP3_BITRATE="192"))
notification = t.Service("v2m-notification", env)
gateway = t.Service("v2m-gateway", env)
VIDEOS = tmp + "/store/videos"


def gw():
    return "http://127.0.0.1:%d" % gateway.port


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


# A few MiB, so that a cut at half leaves a good part on each side.
VIDEO = ffmpeg(tmp + "/video.mp4", "-f", "lavfi", "-i",
               "testsrc2=size=320x240:rate=25:duration=8", "-f", "lavfi", "-i",
               "anoisesrc=color=pink:amplitude=0.2:duration=8:sample_rate=44100",
               "-filter_complex", "[1:a]aformat=channel_layouts=stereo[a]", "-map", "0:v",
               "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a",
               "aac", "-b:a", "192k", "-shortest")
SIZE = os.path.getsize(VIDEO)
TEXT = tmp + "/notes.mp4"
open(TEXT, "w").write("this is not a video\n" * 5000)


def curl(*args):
    p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, text=True, timeout=120)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def login(user):
    code, token = curl("-X", "POST", gw() + "/login", "-u", user + ":Admin123")
    assert code == 200, (code, token)
    return token


TOKEN = login("georgio@email.com")
OTHER = login("other@email.com")


def tus_client(mode, path, meta, url=None, token=None):
    args = ["node", CLIENT, mode, gw() + "/files/", token or TOKEN, path, json.dumps(meta)]
    if url:
        args.append(url)
    p = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=TUS_DIR)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def on_gateway(url):
    """The upload URL on the gateway running now (its port changes on restart)."""
    return gw() + url[url.index("/files/"):]


def tus(method, url, token=None, headers=None, body=None):
    h = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + (token or TOKEN)}
    h.update(headers or {})
    return t.request(gateway.port, method, url[url.index("/files"):], h, body)


def parts():
    """What unfinished uploads hold in the store (embedded: files; GridFS:
    upload records, and the chunks of each)."""
    if MODE == "distributed":
        out = []
        for d in VDB["fs.uploads"].find():
            out.append("record-%s" % d["_id"])
            if VDB["fs.chunks"].count_documents({"files_id": d["_id"]}):
                out.append("chunks-%s" % d["_id"])
        return sorted(out)
    return sorted(os.path.basename(p) for p in glob.glob(VIDEOS + "/.tus-*"))


def leftovers(fid):
    """What the store holds of the upload or file fid."""
    if MODE == "distributed":
        oid = ObjectId(fid)
        return [what for what, n in (
            ("record", VDB["fs.uploads"].count_documents({"_id": oid})),
            ("chunks", VDB["fs.chunks"].count_documents({"files_id": oid})),
            ("file", VDB["fs.files"].count_documents({"_id": oid}))) if n]
    return sorted(n for n in os.listdir(VIDEOS) if fid in n)


def held(fid):
    """The bytes the store holds of the unfinished upload fid."""
    if MODE == "distributed":
        return sum(len(c["data"]) for c in VDB["fs.chunks"].find({"files_id": ObjectId(fid)}))
    return os.path.getsize(VIDEOS + "/.tus-" + fid)


def job(fid):
    code, body = curl("-H", "Authorization: Bearer " + TOKEN, gw() + "/jobs/" + fid)
    assert code == 200, (code, body)
    return json.loads(body)


def wait_job(fid, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = job(fid)
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.2)
    raise AssertionError("job %s still %s" % (fid, j["status"]))


def check_converted(fid, name):
    j = wait_job(fid)
    assert j["status"] == "done", (j, converter.logtext()[-2000:])
    assert j["filename"] == name, j
    assert j["size"] == SIZE, (j, SIZE)
    out = tmp + "/%s.mp3" % fid
    code, _ = curl("-o", out, "-H", "Authorization: Bearer " + TOKEN,
                   gw() + "/download?fid=" + j["mp3_fid"])
    assert code == 200, code
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=bit_rate",
                        "-of", "json", out], capture_output=True, text=True, check=True)
    rate = int(json.loads(p.stdout)["streams"][0]["bit_rate"])
    assert rate == 128000, rate   # the option, not the converter's 192k


def head_offset(url):
    status, body, h = tus("HEAD", url)
    assert status == 200, (status, body)
    assert h["Upload-Length"] == str(SIZE), h
    assert "Upload-Expires" in h and h["Tus-Resumable"] == "1.0.0", h
    return int(h["Upload-Offset"])


def test_options_discovery():
    status, _, h = tus("OPTIONS", "/files/")
    assert status == 204, status
    assert h["Tus-Version"] == "1.0.0", h
    assert "creation" in h["Tus-Extension"] and "termination" in h["Tus-Extension"], h
    assert "expiration" in h["Tus-Extension"] and "checksum" in h["Tus-Extension"], h
    assert h["Tus-Checksum-Algorithm"] == "sha1", h
    assert h["Tus-Max-Size"] == str(40 << 20), h
    status, _, _ = t.request(gateway.port, "OPTIONS", "/files/")
    assert status == 401, status


def test_cut_and_resume():
    meta = {"filename": "holiday clip.mp4", "bitrate": "128"}
    cut = tus_client("cut", VIDEO, meta)
    assert "url" in cut, cut
    off = head_offset(cut["url"])
    assert 0 < off < SIZE, (off, SIZE)
    fid = cut["url"].rsplit("/", 1)[1]
    assert held(fid) == off
    done = tus_client("full", VIDEO, meta, url=cut["url"])
    assert done.get("fid") == fid, done
    assert parts() == [], parts()
    assert "record" not in leftovers(fid), leftovers(fid)
    status, _, _ = tus("HEAD", cut["url"])
    assert status == 404, status
    check_converted(fid, "holiday clip.mp4")


def test_resume_after_restart():
    global gateway
    meta = {"filename": "restart.mp4", "bitrate": "128"}
    cut = tus_client("cut", VIDEO, meta)
    off = head_offset(cut["url"])
    gateway.stop()
    gateway = t.Service("v2m-gateway", env)
    assert head_offset(on_gateway(cut["url"])) == off
    done = tus_client("full", VIDEO, meta, url=on_gateway(cut["url"]))
    fid = cut["url"].rsplit("/", 1)[1]
    assert done.get("fid") == fid, done
    check_converted(fid, "restart.mp4")


def test_offsets_checked():
    status, _, h = tus("POST", "/files/", headers={
        "Upload-Length": str(SIZE), "Content-Type": "application/offset+octet-stream"},
        body=open(VIDEO, "rb").read(100000))
    assert status == 201, status
    url = h["Location"]
    assert h["Upload-Offset"] == "100000", h
    assert head_offset(url) == 100000
    # A PATCH at the wrong offset is refused and changes nothing.
    status, _, _ = tus("PATCH", url, headers={
        "Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"}, body=b"x" * 10)
    assert status == 409, status
    status, _, _ = tus("PATCH", url, headers={"Upload-Offset": "100000"}, body=b"x")
    assert status == 415, status
    status, _, _ = t.request(gateway.port, "HEAD", url,
                             {"Authorization": "Bearer " + TOKEN})
    assert status == 412, status
    # More bytes than Upload-Length: refused.
    status, _, _ = tus("PATCH", url, headers={
        "Upload-Offset": "100000", "Content-Type": "application/offset+octet-stream"},
        body=b"x" * (SIZE - 100000 + 1))
    assert status == 413, status
    assert head_offset(url) == 100000
    # checksum: a wrong digest drops the request's bytes (460), a right one keeps them
    data = open(VIDEO, "rb").read()[100000:400000]
    octet = {"Upload-Offset": "100000", "Content-Type": "application/offset+octet-stream"}
    wrong = base64.b64encode(hashlib.sha1(b"other bytes").digest()).decode()
    right = base64.b64encode(hashlib.sha1(data).digest()).decode()
    status, body, _ = tus("PATCH", url, headers=dict(octet, **{"Upload-Checksum": "sha1 " + wrong}),
                          body=data)
    assert status == 460, (status, body)
    assert head_offset(url) == 100000
    status, body, _ = tus("PATCH", url, headers=dict(octet, **{"Upload-Checksum": "md5 " + right}),
                          body=data)
    assert status == 400, (status, body)
    status, body, h = tus("PATCH", url, headers=dict(octet, **{"Upload-Checksum": "sha1 " + right}),
                          body=data)
    assert status == 204 and h["Upload-Offset"] == "400000", (status, body, h)
    assert head_offset(url) == 400000
    status, _, _ = tus("DELETE", url)
    assert status == 204, status


def test_other_user_404():
    cut = tus_client("cut", VIDEO, {"filename": "mine.mp4"})
    url = cut["url"]
    for method, headers in (("HEAD", {}), ("DELETE", {}),
                            ("PATCH", {"Upload-Offset": "0",
                                       "Content-Type": "application/offset+octet-stream"})):
        status, _, _ = tus(method, url, token=OTHER, headers=headers, body=b"" if method == "PATCH" else None)
        assert status == 404, (method, status)
    # tus-js-client, told the upload is not found, makes a new one of its own.
    res = tus_client("full", VIDEO, {"filename": "mine.mp4"}, url=url, token=OTHER)
    assert res.get("fid") and res["url"] != url, res
    status, _, _ = tus("HEAD", url, token="not-a-token")
    assert status in (401, 403), status
    assert head_offset(url) > 0
    status, _, _ = tus("DELETE", url)
    assert status == 204, status


def test_termination_leaves_nothing():
    cut = tus_client("cut", VIDEO, {"filename": "gone.mp4"})
    fid = cut["url"].rsplit("/", 1)[1]
    assert len(parts()) == 2, parts()    # the bytes and the record
    assert len(leftovers(fid)) == 2, leftovers(fid)
    status, _, _ = tus("DELETE", cut["url"])
    assert status == 204, status
    assert parts() == [], parts()
    assert leftovers(fid) == [], leftovers(fid)
    status, _, _ = tus("HEAD", cut["url"])
    assert status == 404, status
    status, _, _ = tus("DELETE", cut["url"])
    assert status == 404, status


def test_bad_metadata_400():
    for meta, word in (({"bitrate": "100000"}, "bitrate"), ({"colour": "red"}, "colour"),
                       ({"callback_url": "ftp://x"}, "callback_url")):
        res = tus_client("full", VIDEO, meta)
        assert res.get("status") == 400 and word in res.get("body", ""), (meta, res)
    status, body, _ = tus("POST", "/files/", headers={"Upload-Length": str(41 << 20)})
    assert status == 413, (status, body)
    status, body, _ = tus("POST", "/files/", headers={"Upload-Length": "0"})
    assert status == 400, (status, body)
    status, body, _ = tus("POST", "/files/")
    assert status == 400, (status, body)
    assert parts() == [], parts()


def test_not_media_415():
    res = tus_client("full", TEXT, {"filename": "notes.mp4"})
    assert res.get("status") == 415, res
    fid = res["url"].rsplit("/", 1)[1]
    assert leftovers(fid) == [], leftovers(fid)


def test_quota_counts_unfinished():
    global gateway
    gateway.stop()
    gateway = t.Service("v2m-gateway", dict(env, V2M_QUOTA=str(SIZE + SIZE // 2),
                                            V2M_MAX_ACTIVE_JOBS="2"))
    try:
        quota = login("quota@email.com")
        cut = tus_client("cut", VIDEO, {"filename": "a.mp4"}, token=quota)
        assert "url" in cut, cut
        # The unfinished one holds its whole length: no room for a second.
        status, body, _ = tus("POST", "/files/", token=quota,
                              headers={"Upload-Length": str(SIZE)})
        assert status == 413 and "quota" in body, (status, body)
        # ... and counts as an active job: a small one fits, a third does not.
        status, body, h = tus("POST", "/files/", token=quota, headers={"Upload-Length": "1000"})
        assert status == 201, (status, body)
        status, body, h2 = tus("POST", "/files/", token=quota, headers={"Upload-Length": "10"})
        assert status == 429 and "Retry-After" in h2, (status, body, h2)
        assert h2.get("Tus-Resumable") == "1.0.0", h2
        for url in (cut["url"], h["Location"]):
            status, _, _ = tus("DELETE", url, token=quota)
            assert status == 204, status
        status, body, h = tus("POST", "/files/", token=quota,
                              headers={"Upload-Length": str(SIZE)})
        assert status == 201, (status, body)
        status, _, _ = tus("DELETE", h["Location"], token=quota)
        assert status == 204, status
    finally:
        gateway.stop()
        gateway = t.Service("v2m-gateway", env)


def test_expiry_sweep():
    global gateway
    gateway.stop()
    gateway = t.Service("v2m-gateway", dict(env, V2M_UPLOAD_EXPIRY="1s",
                                            V2M_JANITOR_INTERVAL="1s"))
    try:
        status, _, h = tus("POST", "/files/", headers={
            "Upload-Length": str(SIZE), "Content-Type": "application/offset+octet-stream"},
            body=open(VIDEO, "rb").read(70000))
        assert status == 201, status
        url = h["Location"]
        fid = url.rsplit("/", 1)[1]
        assert leftovers(fid), leftovers(fid)
        deadline = time.time() + 60
        while leftovers(fid) and time.time() < deadline:
            time.sleep(0.2)
        assert leftovers(fid) == [], leftovers(fid)
        assert parts() == [], parts()
        status, _, _ = tus("HEAD", url)
        assert status == 404, status
        assert "expired upload" in gateway.logtext()
    finally:
        gateway.stop()
        gateway = t.Service("v2m-gateway", env)


def test_zz_stop():
    for s in (gateway, notification, converter, auth):
        s.stop()


t.run(globals(), "tus " + MODE)
