#!/usr/bin/python3
"""The whole system end to end, as the original tutorial's users drive it.

argv[1] picks the deployment:
  embedded     SQLite users and queue, a store directory, mail to an outbox
  distributed  MariaDB, RabbitMQ, GridFS (MongoDB emulator) and SMTP (maildev)
All four real binaries run; the client is curl, typed as the tutorial does.
"""
import base64
import email
import email.message
import email.policy
import email.utils
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "embedded"
tmp = t.tempdir("v2m-e2e-%s-" % MODE)
SECRET = "e2e-secret-" + os.urandom(8).hex()
LINK_SECRET = "e2e-link-secret-" + os.urandom(8).hex()
if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
    sys.stderr.write("\n*** SKIP: ffmpeg/ffprobe not installed (make deps installs them) ***\n\n")
    sys.exit(t.SKIP)

tag = "%d" % os.getpid()
env = {"JWT_SECRET": SECRET, "V2M_LINK_SECRET": LINK_SECRET, "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
       "MP3_QUEUE": "mp3-" + tag, "V2M_MAX_UPLOAD": "20M", "V2M_RETRY_DELAY": "1",
       "V2M_LEASE": "3", "V2M_CONVERTER_THREADS": "2", "V2M_PUBLIC_URL": "http://v2m.test"}

if MODE == "distributed":
    mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator from ../shared/tools")
    amqp = t.need_env("V2M_TEST_AMQP_URL", "RabbitMQ")
    smtp = t.need_env("V2M_TEST_SMTP_URL", "SMTP sink")
    maildev = t.need_env("V2M_TEST_MAILDEV_API", "SMTP sink")
    env.update(t.mysql_database("auth_e2e_" + tag))
    env.update({"V2M_STORE": mongo, "V2M_QUEUE": amqp, "SMTP_URL": smtp,
                "MAIL_FROM": "v2m@v2m.test"})
else:
    # Job records in a database of their own, apart from the store (V2M_JOBS).
    env.update({"V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
                "V2M_JOBS": "sqlite://%s/jobs.db" % tmp,
                "V2M_QUEUE": "sqlite://%s/queue.db" % tmp, "V2M_OUTBOX": "%s/outbox" % tmp})
    os.makedirs(tmp + "/store")
    rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", "georgio@email.com",
                            "--admin", "--password-stdin"], stdin="Admin123\n", env=env)
    assert rc == 0, err
admin_cmd = [os.path.join(t.BIN, "v2m-admin")]
# Job records of the distributed run live in the shared MongoDB, where other
# tests' users also have jobs: a name of this run's own.
OTHER_USER = "other-%s@email.com" % tag
rc, _, err = t.run_cmd(admin_cmd + ["user", "add", OTHER_USER, "--password-stdin"],
                       stdin="Other123\n", env=env)
assert rc == 0, err

auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port
converter = t.Service("v2m-converter", env)
notification = t.Service("v2m-notification", env)
gateway = t.Service("v2m-gateway", env)
GW = "http://127.0.0.1:%d" % gateway.port


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


VIDEO = ffmpeg(tmp + "/video.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=3",
               "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:v", "libx264",
               "-preset", "ultrafast", "-c:a", "aac", "-shortest")
# Noise, so the MP3 is large (a pure tone compresses to almost nothing) and a
# converter killed a second into the job has already stored part of it.
LONG = ffmpeg(tmp + "/long.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=480",
              "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:duration=480", "-c:v", "libx264",
              "-preset", "ultrafast", "-c:a", "aac", "-shortest")
# Long enough to be spread over converters in segments of V2M_SEGMENT_LENGTH
# = 80 s (or 50 s), short enough to do so quickly.
MID = ffmpeg(tmp + "/mid.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=160",
             "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:duration=160", "-c:v", "libx264",
             "-preset", "ultrafast", "-c:a", "aac", "-shortest")
SILENT = ffmpeg(tmp + "/silent.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2",
                "-c:v", "libx264", "-preset", "ultrafast")
BAD = tmp + "/notes.mp4"
open(BAD, "w").write("this is not a video\n" * 50)


def curl(*args):
    p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, text=True, timeout=120)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def login(user="georgio@email.com", pw="Admin123"):
    code, tok = curl("-X", "POST", GW + "/login", "-u", "%s:%s" % (user, pw))
    assert code == 200, (code, tok)
    return tok


TOKEN = login()
OTHER = login(OTHER_USER, "Other123")


def upload(path, token=TOKEN, query=""):
    return curl("-X", "POST", "-F", "file=@%s" % path, "-H", "Authorization: Bearer " + token,
                GW + "/upload" + query)


def job(fid, token=TOKEN):
    code, body = curl("-H", "Authorization: Bearer " + token, GW + "/jobs/" + fid)
    return code, (json.loads(body) if code == 200 else body)


def wait_job(fid, states=("done", "failed"), timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        code, j = job(fid)
        assert code == 200, (code, j)
        if j["status"] in states:
            return j
        time.sleep(0.2)
    raise AssertionError("job %s still %s after %ds\nconverter log:\n%s" %
                         (fid, j["status"], timeout, converter.logtext()[-3000:]))


def mails():
    """(to, subject, text) of every mail sent so far."""
    out = []
    if MODE == "distributed":
        with urllib.request.urlopen(maildev + "/email", timeout=10) as r:
            for m in json.load(r):
                out.append((m["to"][0]["address"], m["subject"],
                            m.get("text", "").replace("\r\n", "\n")))
    else:
        for f in glob.glob(tmp + "/outbox/*.eml"):
            # Python's own parser: the subject decoded (RFC 2047), as a mail reader shows it.
            m = email.message_from_bytes(open(f, "rb").read(), policy=email.policy.default)
            out.append((str(m["To"]).strip("<>"), str(m["Subject"]),
                        m.get_content().replace("\r\n", "\n")))
    return out


def wait_mail(needle, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in mails():
            if needle in m[2]:
                return m
        time.sleep(0.2)
    raise AssertionError("no mail containing %r; notification log:\n%s" %
                         (needle, notification.logtext()[-3000:]))


def mp3_info(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "stream=codec_name,channels,sample_rate:format=duration,format_name",
                        "-of", "json", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def leftovers(ns):
    """Pieces of unfinished uploads: GridFS chunks without a files document,
    or temporary files in the store directory."""
    if MODE == "distributed":
        d = t.mongo_db(mongo, ns)
        return len(set(d["fs.chunks"].distinct("files_id")) - set(d["fs.files"].distinct("_id")))
    return len(glob.glob("%s/store/%s/.tmp-*" % (tmp, ns)))


def count_stored(ns, filename=None):
    """Files (finished) in the store's namespace, optionally with that name."""
    if MODE == "distributed":
        return t.mongo_db(mongo, ns)["fs.files"].count_documents({"filename": filename} if filename else {})
    n = 0
    for meta in glob.glob("%s/store/%s/*.json" % (tmp, ns)):
        if filename is None or json.load(open(meta)).get("filename") == filename:
            n += 1
    return n


def start_long_job(name, min_progress=0.0):
    """Upload a copy of LONG as name; return its fid once it is converting
    with at least min_progress done, and the converter has said so (its
    MP3's id is in the job record from then on: whatever a kill leaves of
    that MP3 is the next attempt's to remove; a kill before it leaves a
    temporary file only the store's sweep removes, an hour later)."""
    shutil.copy(LONG, tmp + "/" + name)
    code, body = upload(tmp + "/" + name)
    assert code == 200, (code, body)
    fid = json.loads(body)["video_fid"]
    deadline = time.time() + 60
    while True:
        j = job(fid)[1]
        if (j["status"] == "converting" and j["progress"] >= min_progress and
                "converting video_fid=%s " % fid in converter.logtext()):
            return fid
        assert j["status"] in ("queued", "converting") and time.time() < deadline, j
        time.sleep(0.02)


def kill_converter():
    converter.proc.send_signal(signal.SIGKILL)
    converter.proc.wait()
    converter.log.close()


state = {}


def test_tutorial_flow_login_upload_mail_download():
    code, body = upload(VIDEO)
    assert code == 200, (code, body)
    up = json.loads(body)
    assert up["status"] == "queued" and len(up["video_fid"]) == 24, up
    j = wait_job(up["video_fid"])
    assert j["status"] == "done", j
    assert j["progress"] == 1 and j["filename"] == "video.mp4" and j["error"] is None, j
    mp3 = j["mp3_fid"]
    to, subject, text = wait_mail("mp3 file_id: %s is now ready!" % mp3)
    assert to == "georgio@email.com" and subject == "MP3 Download: video.mp3 is ready", (to, subject)
    assert text.lstrip().startswith("mp3 file_id: %s is now ready!" % mp3), text
    assert "http://v2m.test/d/%s?e=" % mp3 in text and "curl" not in text, text
    out = tmp + "/song.mp3"
    code, _ = curl("-o", out, "-D", tmp + "/headers", "-H", "Authorization: Bearer " + TOKEN,
                   GW + "/download?fid=" + mp3)
    assert code == 200, code
    headers = open(tmp + "/headers").read().lower()
    assert "audio/mpeg" in headers, headers
    assert disposition(tmp + "/headers") == ("video.mp3", "video.mp3", "video.mp3")
    info = mp3_info(out)
    assert info["streams"][0]["codec_name"] == "mp3", info
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.2, info
    state["mp3"] = mp3
    state["video"] = up["video_fid"]
    # Range requests.
    size = os.path.getsize(out)
    code, _ = curl("-o", tmp + "/part", "-r", "100-199", "-H", "Authorization: Bearer " + TOKEN,
                   GW + "/download?fid=" + mp3)
    assert code == 206 and open(tmp + "/part", "rb").read() == open(out, "rb").read()[100:200]
    code, _ = curl("-o", "/dev/null", "-r", "%d-" % (size + 10), "-H",
                   "Authorization: Bearer " + TOKEN, GW + "/download?fid=" + mp3)
    assert code == 416, code


def disposition(headers_file):
    """The saved name of a download, as Python's mail parser reads its
    Content-Disposition (the RFC 2231/8187 filename* wins over filename, as
    RFC 6266 says), the quoted ASCII fallback, and filename* decoded by hand."""
    raw = open(headers_file, encoding="latin-1").read()
    value = re.search(r"(?im)^content-disposition: *(.*?)\r?$", raw).group(1)
    m = email.message.Message()
    m["Content-Disposition"] = value
    params = m.get_params(header="content-disposition")
    assert params[0] == ("attachment", ""), value
    star = [v for k, v in params[1:] if k == "filename" and isinstance(v, tuple)]
    plain = [v for k, v in params[1:] if k == "filename" and isinstance(v, str)]
    assert len(star) == 1 and len(plain) == 1 and len(params) == 3, params
    assert star[0][0].upper() == "UTF-8", star
    assert all(0x20 <= ord(c) < 0x7f for c in plain[0]), value
    by_hand = urllib.parse.unquote(re.search(r"filename\*=UTF-8''([^;\s]+)", value).group(1),
                                   errors="strict")
    return email.utils.collapse_rfc2231_value(star[0]), plain[0], by_hand


def link_sig(fid, expires, secret=LINK_SECRET):
    """A link's signature by the recipe of docs/API.md, computed here independently."""
    key = hmac.new(secret.encode(), b"v2m link key", hashlib.sha256).digest()
    mac = hmac.new(key, b"v2m download link v1\n%s\n%d" % (fid.encode(), expires),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def test_other_user_gets_404_and_lists_nothing_of_it():
    mp3, video = state["mp3"], state["video"]
    code, _ = curl("-o", "/dev/null", "-H", "Authorization: Bearer " + OTHER,
                   GW + "/download?fid=" + mp3)
    assert code == 404, code
    assert job(video, OTHER)[0] == 404
    code, body = curl("-H", "Authorization: Bearer " + OTHER, GW + "/jobs")
    assert code == 200 and json.loads(body) == [], body
    code, body = curl("-H", "Authorization: Bearer " + TOKEN, GW + "/jobs")
    assert code == 200 and json.loads(body)[0]["video_fid"] == video, body


def test_signed_link_in_mail_downloads_without_token_under_the_video_name():
    name = "Caf\u00e9 \u2603 (live).mp4"
    path = os.path.join(tmp, name)
    shutil.copy(VIDEO, path)
    code, body = upload(path)
    assert code == 200, (code, body)
    vfid = json.loads(body)["video_fid"]
    j = wait_job(vfid)
    assert j["status"] == "done", j
    mp3 = j["mp3_fid"]
    assert re.fullmatch(r"/d/%s\?e=\d+&s=[A-Za-z0-9_-]{43}" % mp3, j["download_url"]), j
    # The mail: the name in the subject (encoded on the wire, decoded here),
    # the signed link and the job's page.
    _, subject, text = wait_mail("mp3 file_id: %s is now ready!" % mp3)
    assert subject == "MP3 Download: Caf\u00e9 \u2603 (live).mp3 is ready", subject
    assert "http://v2m.test/?job=" + vfid in text, text
    link = re.search(r"http://v2m\.test(/d/%s\?e=(\d+)&s=([A-Za-z0-9_-]{43}))" % mp3, text)
    assert link, text
    path_q, e, s = link.group(1), int(link.group(2)), link.group(3)
    assert abs(e - (time.time() + 7 * 86400)) < 3600, e
    assert s == link_sig(mp3, e), "the signature does not follow the documented recipe"
    # Fetched as a browser would: no token.
    out = tmp + "/linked.mp3"
    code, _ = curl("-o", out, "-D", tmp + "/link-headers", GW + path_q)
    assert code == 200, code
    assert mp3_info(out)["streams"][0]["codec_name"] == "mp3"
    code, _ = curl("-o", tmp + "/authed.mp3", "-H", "Authorization: Bearer " + TOKEN,
                   GW + "/download?fid=" + mp3)
    assert code == 200 and open(out, "rb").read() == open(tmp + "/authed.mp3", "rb").read()
    assert disposition(tmp + "/link-headers") == (
        "Caf\u00e9 \u2603 (live).mp3", "Caf_ _ (live).mp3", "Caf\u00e9 \u2603 (live).mp3")
    # HEAD (here and on /download) and Range as on /download.
    for q, hdrs in ((path_q, {}), ("/download?fid=" + mp3, {"Authorization": "Bearer " + TOKEN})):
        st, _, h = gateway.request("HEAD", q, hdrs)
        assert st == 200 and int(h["Content-Length"]) == os.path.getsize(out), (q, st, h)
        assert h["Content-Disposition"] == ("attachment; filename=\"Caf_ _ (live).mp3\"; "
                                            "filename*=UTF-8''Caf%C3%A9%20%E2%98%83%20%28live%29.mp3"), h
    code, _ = curl("-o", tmp + "/lpart", "-r", "10-19", GW + path_q)
    assert code == 206 and open(tmp + "/lpart", "rb").read() == open(out, "rb").read()[10:20]
    # Tampered, expired, unknown, foreign: refused with their own status.
    bad = s[:-1] + ("A" if s[-1] != "A" else "B")
    for q, want in (("/d/%s?e=%d&s=%s" % (mp3, e, bad), 403),
                    ("/d/%s?e=%d&s=%s" % (mp3, e + 60, s), 403),
                    ("/d/%s?e=%d" % (mp3, e), 403),
                    ("/d/%s" % mp3, 403),
                    ("/d/%s?e=%d&s=%s" % (mp3, e, link_sig(mp3, e, "another secret!!")), 403),
                    ("/d/%s?e=%d&s=%s" % (mp3, 1000, link_sig(mp3, 1000)), 410),
                    ("/d/%s?e=%d&s=%s" % ("0" * 24, e, link_sig("0" * 24, e)), 404),
                    ("/d/nothing?e=%d&s=%s" % (e, s), 403)):
        code, body = curl(GW + q)
        assert code == want, (q, code, body)
    assert curl(GW + "/d/%s?e=%d&s=%s" % (mp3, 1000, link_sig(mp3, 1000)))[1].strip() == \
        "link expired"
    # A link made here by the recipe works: the format is what API.md says.
    e2 = int(time.time()) + 600
    assert curl("-o", "/dev/null", GW + "/d/%s?e=%d&s=%s" % (mp3, e2, link_sig(mp3, e2)))[0] == 200
    # Another secret (a rotation) kills the link; without one, there are no links.
    rotated = t.Service("v2m-gateway", dict(env, V2M_LINK_SECRET="a rotated link secret"))
    off = t.Service("v2m-gateway", dict(env, V2M_LINK_SECRET=""))
    try:
        code, body = curl("http://127.0.0.1:%d%s" % (rotated.port, path_q))
        assert code == 403, (code, body)
        code, body = curl("http://127.0.0.1:%d%s" % (off.port, path_q))
        assert code == 404, (code, body)
        code, body = curl("-H", "Authorization: Bearer " + TOKEN,
                          "http://127.0.0.1:%d/jobs/%s" % (off.port, vfid))
        assert code == 200 and json.loads(body)["download_url"] is None, body
    finally:
        rotated.stop()
        off.stop()


if MODE == "embedded":
    def test_job_records_live_where_v2m_jobs_says():
        # The gateway created the record and the converter finished it in the
        # database V2M_JOBS names, not beside the store's files.
        import sqlite3
        db = sqlite3.connect("file:%s/jobs.db?mode=ro" % tmp, uri=True)
        row = db.execute("SELECT status, mp3_fid FROM jobs WHERE video_fid = ?",
                         (state["video"],)).fetchone()
        db.close()
        assert row == ("done", state["mp3"]), row
        assert not os.path.exists(tmp + "/store/jobs.db")


def test_contract_errors():
    code, body = curl("-H", "Authorization: Bearer " + TOKEN, GW + "/download")
    assert code == 400 and body.strip() == "fid is required", (code, body)
    code, body = curl("-X", "POST", "-H", "Authorization: Bearer " + TOKEN, GW + "/upload")
    assert code == 400 and "exactly 1 file required" in body, (code, body)
    code, body = curl("-X", "POST", "-F", "a=@%s" % VIDEO, "-F", "b=@%s" % VIDEO, "-H",
                      "Authorization: Bearer " + TOKEN, GW + "/upload")
    assert code == 400 and "exactly 1 file required" in body, (code, body)
    code, body = curl("-X", "POST", "-F", "file=@%s" % VIDEO, GW + "/upload")
    assert code == 401 and "missing credentials" in body, (code, body)
    code, body = curl("-X", "POST", "-F", "file=@%s" % VIDEO, "-H", "Authorization: Bearer x.y.z",
                      GW + "/upload")
    assert code == 403 and "not authorized" in body, (code, body)
    code, body = curl("-X", "POST", GW + "/login", "-u", "georgio@email.com:nope")
    assert code == 401 and "invalid credentials" in body, (code, body)
    code, _ = curl("-H", "Authorization: Bearer " + TOKEN, GW + "/download?fid=" + "0" * 24)
    assert code == 404
    before = count_stored("videos")
    code, body = curl("-X", "POST", "-H", "Content-Type: multipart/form-data; boundary=xyz",
                      "--data-binary", '--xyz\r\nContent-Disposition: form-data; name="file"; '
                      'filename="cut.mp4"\r\n\r\nsome bytes and no closing boundary',
                      "-H", "Authorization: Bearer " + TOKEN, GW + "/upload")
    assert code == 400 and "incomplete multipart" in body, (code, body)
    assert count_stored("videos") == before, "a cut-off upload was kept"


def test_five_concurrent_uploads_all_finish():
    results = [None] * 5

    def one(i):
        results[i] = upload(VIDEO, OTHER)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    fids = []
    for code, body in results:
        assert code == 200, (code, body)
        fids.append(json.loads(body)["video_fid"])
    assert len(set(fids)) == 5
    for fid in fids:
        code, j = job(fid, OTHER)
        deadline = time.time() + 120
        while j["status"] not in ("done", "failed") and time.time() < deadline:
            time.sleep(0.2)
            code, j = job(fid, OTHER)
        assert j["status"] == "done", j


def test_bad_file_fails_with_reason_and_mail():
    # Plainly not media: refused at the door, nothing kept.
    before = count_stored("videos")
    code, body = upload(BAD)
    assert code == 415 and "not a video or audio file" in body, (code, body)
    assert count_stored("videos") == before and leftovers("videos") == 0
    # A video the door lets through but the converter cannot use.
    code, body = upload(SILENT)
    assert code == 200, (code, body)
    fid = json.loads(body)["video_fid"]
    j = wait_job(fid)
    assert j["status"] == "failed" and j["mp3_fid"] is None, j
    assert "no audio stream" in j["error"] and j["error_code"], j
    to, subject, text = wait_mail(fid)
    assert subject == "MP3 Download: silent.mp4 could not be converted", subject
    # Plain words first, what to try, the technical reason below the separator.
    words, _, detail = text.partition("\n----\n")
    assert "no sound track" in words and "no audio stream" in detail, text
    assert "http://v2m.test/?job=" + fid in words, text


def upload_and_wait(path, token=TOKEN):
    code, body = upload(path, token)
    assert code == 200, (code, body)
    return wait_job(json.loads(body)["video_fid"])


def test_playlists_naming_a_stored_video_are_refused_at_the_door():
    # The video of the first test, as the converter would find it on disk:
    # the store's own file in the embedded deployment; GridFS keeps no files,
    # so there the same video on the converter's disk. The door refuses the
    # playlists before any is stored; the converter's own refusal of what
    # gets past it is tested in tests/media (test_media_inputs,
    # test_convert_hostile).
    if MODE == "embedded":
        target = "%s/store/videos/%s" % (tmp, state["video"])
    else:
        target = VIDEO
    rel = os.path.relpath(target)  # from the converter's working directory (ours)
    assert os.path.isfile(target) and os.path.isfile(rel), target
    inputs = {
        "relative.mp4": "ffconcat version 1.0\nfile %s\n" % rel,
        "absolute.ffconcat": "ffconcat version 1.0\nfile %s\n" % target,
        "playlist.m3u8": "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\n%s\n"
                         "#EXTINF:3,\nfile://%s\n#EXT-X-ENDLIST\n" % (target, target),
    }
    videos = count_stored("videos")
    for name, text in inputs.items():
        path = tmp + "/" + name
        open(path, "w").write(text)
        code, body = upload(path)
        assert code == 415 and "not a video or audio file" in body, (name, code, body)
    assert count_stored("videos") == videos and leftovers("videos") == 0


def test_common_formats_convert():
    src = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    pics = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2"]
    files = [ffmpeg(tmp + "/f.mkv", *(pics + src + ["-c:v", "libx264", "-preset", "ultrafast",
                                                    "-c:a", "libopus"])),
             ffmpeg(tmp + "/f.mp3", *(src + ["-c:a", "libmp3lame"])),
             ffmpeg(tmp + "/f.wav", *src),
             ffmpeg(tmp + "/f.flac", *src)]
    for f in files:
        j = upload_and_wait(f)
        assert j["status"] == "done" and j["error"] is None and j["attempts"] == 1, (f, j)


def test_duration_limit_fails_long_audio_at_once():
    global converter
    converter.stop()
    converter = t.Service("v2m-converter", dict(env, V2M_MAX_DURATION="20s"))
    try:
        tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=40", "-c:a", "aac"]
        stated = ffmpeg(tmp + "/stated.m4a", *tone)
        # Raw ADTS states no duration: stopped once 20 s are decoded.
        raw = ffmpeg(tmp + "/raw.aac", *(tone + ["-f", "adts"]))
        for path, error in ((stated, "input is too long: 40 s of audio, the limit is 20 s"),
                            (raw, "input is too long: its audio goes on past the limit of 20 s")):
            j = upload_and_wait(path)
            assert j["status"] == "failed" and j["error"] == error, (path, j)
            assert j["attempts"] == 1 and j["mp3_fid"] is None, (path, j)
        j = upload_and_wait(VIDEO)
        assert j["status"] == "done", j
    finally:
        converter.stop()
        converter = t.Service("v2m-converter", env)


def test_converter_refuses_a_bad_max_duration():
    for bad in ("12x", "0", "-5m", "h"):
        rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-converter")],
                               env=dict(env, V2M_MAX_DURATION=bad, V2M_LISTEN="127.0.0.1:0"),
                               timeout=30)
        assert rc == 1 and "V2M_MAX_DURATION='%s'" % bad in err, (bad, rc, err)


def test_long_video_is_encoded_on_several_cores():
    # LONG lasts 480 s, past V2M_SPLIT_MIN (2 min): alone on a converter of
    # two threads it is cut into segments for both cores and joined.
    name = tmp + "/cores-%s.mp4" % tag
    shutil.copy(LONG, name)
    j = upload_and_wait(name)
    assert j["status"] == "done" and j["attempts"] == 1, j
    line = "conversion on several cores video_fid=%s segments=2" % j["video_fid"]
    assert line in converter.logtext(), converter.logtext()[-3000:]
    mp3 = tmp + "/cores.mp3"
    code, _ = curl("-o", mp3, "-H", "Authorization: Bearer " + TOKEN, GW + "/download?fid=" + j["mp3_fid"])
    assert code == 200, code
    info = mp3_info(mp3)
    assert abs(float(info["format"]["duration"]) - 480) < 0.1, info
    # mpg123 says nothing of a frame whose bit reservoir points nowhere.
    if shutil.which("mpg123"):
        p = subprocess.run(["mpg123", "-q", "-t", mp3], capture_output=True, text=True)
        assert p.returncode == 0 and p.stderr == "", p.stderr
    else:
        print("SKIP part: mpg123 is not installed; the MP3 is checked by ffprobe only", file=sys.stderr)


def stored_segments():
    """Finished segment files in the store (all of them are temporary)."""
    if MODE == "distributed":
        return t.mongo_db(mongo, "segments")["fs.files"].count_documents({"filename": {"$regex": "^" + SEG_PREFIX}})
    return len(glob.glob("%s/store/segments/*.json" % tmp))


SEG_PREFIX = ""


def test_long_video_is_encoded_by_two_converters_one_killed_mid_segment():
    # One converter takes the video (and no segment tasks:
    # V2M_IDLE_SEGMENTS=off); another takes only segment tasks (its video
    # queue is one nobody publishes to). LONG lasts 480 s, past
    # V2M_DISTRIBUTE_MIN: two segments of V2M_SEGMENT_LENGTH (240 s), the
    # second handed out. The segment converter is killed half a second into
    # its segment (which takes seconds to encode: an 80 s one could be done
    # by then); a new one gets the task again and the job ends once, with
    # one MP3.
    two_converters("spread", LONG, 480, kill=True)


def test_long_normalized_video_is_encoded_by_two_converters():
    # The same, normalized: the joining converter measures the whole input,
    # the segment converter applies that gain to its segment; the MP3 is at
    # the target loudness. MID (160 s) in two segments of 80 s.
    two_converters("loud", MID, 160, normalize=-32)


def two_converters(label, video, seconds, kill=False, normalize=None):
    global converter, SEG_PREFIX
    converter.stop()
    denv = dict(env, V2M_DISTRIBUTE_MIN="1m", V2M_SEGMENT_LENGTH="%ds" % (seconds // 2),
                V2M_SEGMENT_WAIT="300", V2M_SPLIT_MIN="0")
    joiner = t.Service("v2m-converter", dict(denv, V2M_IDLE_SEGMENTS="off"))
    senv = dict(denv, VIDEO_QUEUE="unused-" + tag, SEGMENT_QUEUE=env["VIDEO_QUEUE"] + ".segments")
    seg = t.Service("v2m-converter", senv)
    seg2 = None
    try:
        name = tmp + "/%s-%s.mp4" % (label, tag)
        shutil.copy(video, name)
        code, body = upload(name, query="?normalize=%d" % normalize if normalize else "")
        assert code == 200, (code, body)
        fid = json.loads(body)["video_fid"]
        SEG_PREFIX = fid
        if kill:
            deadline = time.time() + 60
            while "segment task started video_fid=%s segment=1/2" % fid not in seg.logtext():
                assert time.time() < deadline, seg.logtext()[-2000:]
                time.sleep(0.05)
            time.sleep(0.5)
            seg.proc.send_signal(signal.SIGKILL)
            seg.proc.wait()
            seg.log.close()
            assert "segment encoded video_fid=%s" % fid not in seg.logtext(), "killed too late"
            seg = None
            seg2 = t.Service("v2m-converter", senv)
        else:
            seg2, seg = seg, None
        try:
            j = wait_job(fid, timeout=240)
        except AssertionError as e:
            raise AssertionError("%s\njoining converter:\n%s\nsegment converter:\n%s" %
                                 (e, joiner.logtext()[-3000:], seg2.logtext()[-3000:]))
        assert j["status"] == "done" and j["attempts"] == 1, j
        assert "segment encoded video_fid=%s segment=1/2" % fid in seg2.logtext(), seg2.logtext()[-2000:]
        jl = joiner.logtext()
        assert "conversion on several converters video_fid=%s segments=2" % fid in jl, jl[-3000:]
        assert "did not come" not in jl, jl[-3000:]
        mp3 = tmp + "/%s.mp3" % label
        code, _ = curl("-o", mp3, "-H", "Authorization: Bearer " + TOKEN, GW + "/download?fid=" + j["mp3_fid"])
        assert code == 200, code
        assert abs(float(mp3_info(mp3)["format"]["duration"]) - seconds) < 0.1, mp3_info(mp3)
        if shutil.which("mpg123"):
            p = subprocess.run(["mpg123", "-q", "-t", mp3], capture_output=True, text=True)
            assert p.returncode == 0 and p.stderr == "", p.stderr
        if normalize:
            # both halves at the one gain: the whole file and each half
            # measure at the target (a half left at 0 dB would be off by
            # the gain, several LU here)
            half = str(seconds // 2)
            for args in ([], ["-t", half], ["-ss", half]):
                lufs = integrated_loudness(mp3, args)
                assert abs(lufs - normalize) < 1.0, (args, lufs)
        assert count_stored("mp3s", "%s-%s.mp3" % (label, tag)) == 1
        assert stored_segments() == 0, "segments left in the store"
    finally:
        joiner.stop()
        if seg2:
            seg2.stop()
        if seg:
            seg.stop()
        converter = t.Service("v2m-converter", env)


def test_a_lone_one_thread_converter_takes_its_own_segment_task_while_it_waits():
    # One converter of one conversion thread and no segment thread: MID
    # (160 s) is cut into four segments of V2M_SEGMENT_LENGTH (50 s, the
    # last shorter), and the two between the first and the last are handed
    # out. No other converter is there to take them, so the conversion,
    # once its own segments are encoded, takes those tasks from the
    # segments queue itself, instead of waiting V2M_SEGMENT_WAIT (300 s).
    global converter, SEG_PREFIX
    converter.stop()
    lone = t.Service("v2m-converter", dict(env, V2M_DISTRIBUTE_MIN="1m", V2M_SEGMENT_LENGTH="50s",
                                           V2M_SEGMENT_WAIT="300", V2M_SPLIT_MIN="0",
                                           V2M_CONVERTER_THREADS="1"))
    try:
        name = tmp + "/lone-%s.mp4" % tag
        shutil.copy(MID, name)
        code, body = upload(name)
        assert code == 200, (code, body)
        fid = json.loads(body)["video_fid"]
        SEG_PREFIX = fid
        try:
            j = wait_job(fid, timeout=150)
        except AssertionError as e:
            raise AssertionError("%s\nconverter:\n%s" % (e, lone.logtext()[-3000:]))
        assert j["status"] == "done" and j["attempts"] == 1, j
        log = lone.logtext()
        assert "conversion on several converters video_fid=%s segments=4" % fid in log, log[-3000:]
        for k in (1, 2):
            assert "segment encoded video_fid=%s segment=%d/4" % (fid, k) in log, log[-3000:]
        assert "did not come" not in log, log[-3000:]
        mp3 = tmp + "/lone.mp3"
        code, _ = curl("-o", mp3, "-H", "Authorization: Bearer " + TOKEN, GW + "/download?fid=" + j["mp3_fid"])
        assert code == 200, code
        assert abs(float(mp3_info(mp3)["format"]["duration"]) - 160) < 0.1, mp3_info(mp3)
        assert count_stored("mp3s", "lone-%s.mp3" % tag) == 1
        assert stored_segments() == 0, "segments left in the store"
    finally:
        lone.stop()
        converter = t.Service("v2m-converter", env)


def integrated_loudness(path, args):
    """EBU R128 integrated loudness (LUFS) of an audio file, by ffmpeg."""
    p = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner"] + args + ["-i", path, "-af", "ebur128",
                        "-f", "null", "-"], capture_output=True, text=True)
    m = re.findall(r"I:\s+(-?[0-9.]+) LUFS", p.stderr)
    assert p.returncode == 0 and m, p.stderr[-2000:]
    return float(m[-1])


def test_converter_killed_mid_job_still_ends_done_with_one_mp3():
    global converter
    # Kill it once a good part of the MP3 is written (GridFS holds the first
    # chunk back until the end; progress is saved about every second). LONG
    # is encoded in two segments at once, and only the first one's frames
    # are in the store before the join: at 60 % it holds over half of them.
    fid = start_long_job("long-%s.mp4" % tag, min_progress=0.6)
    kill_converter()
    assert job(fid)[1]["status"] != "done"
    assert leftovers("mp3s") > 0, ("the kill came before any of the MP3 was stored",
                                   converter.logtext()[-3000:])
    converter = t.Service("v2m-converter", env)
    j = wait_job(fid, timeout=180)
    assert j["status"] == "done", j
    assert j["attempts"] >= 2, j
    assert count_stored("mp3s", "long-%s.mp3" % tag) == 1
    assert leftovers("mp3s") == 0, "the killed attempt left pieces of an MP3 behind"


def test_a_job_that_keeps_killing_its_converter_is_given_up():
    global converter
    fid = start_long_job("crash-%s.mp4" % tag)
    kill_converter()
    # The next worker allows one attempt per job: this one had its chance.
    converter = t.Service("v2m-converter", dict(env, V2M_MAX_ATTEMPTS="1"))
    j = wait_job(fid, timeout=180)
    assert j["status"] == "failed" and "repeated attempts" in j["error"], j
    assert count_stored("mp3s", "crash-%s.mp3" % tag) == 0
    assert leftovers("mp3s") == 0
    wait_mail(fid)
    converter.stop()
    converter = t.Service("v2m-converter", env)


def test_converter_sigterm_hands_back_work_and_exits_cleanly():
    global converter
    converter.stop()
    genv = dict(env)
    genv["V2M_SHUTDOWN_GRACE"] = "1"
    converter = t.Service("v2m-converter", genv)
    fid = start_long_job("term-%s.mp4" % tag)
    t0 = time.time()
    converter.stop()  # SIGTERM; requires exit status 0 (no leak, no crash)
    assert time.time() - t0 < 15, "converter took too long to stop"
    j = job(fid)[1]
    assert j["status"] in ("queued", "done"), j
    converter = t.Service("v2m-converter", env)
    j = wait_job(fid, timeout=180)
    assert j["status"] == "done", j
    assert count_stored("mp3s", "term-%s.mp3" % tag) == 1


def test_upload_over_the_limit_is_413_and_leaves_nothing():
    big = tmp + "/big.bin"
    with open(big, "wb") as f:
        f.write(os.urandom(21 * 1024 * 1024))
    before = count_stored("videos")
    code, body = upload(big)
    assert code == 413 and "limit" in body, (code, body)
    assert count_stored("videos") == before


def test_broker_down_gives_quick_503_then_recovers():
    if MODE != "distributed":
        raise t.Skip("the embedded queue is a local file, no broker to stop")
    before = count_stored("videos")
    rc, _, err = t.run_cmd([t.HARNESS, "amqp-stop"], timeout=120)
    assert rc == 0, err
    try:
        t0 = time.time()
        code, body = upload(VIDEO)
        assert code == 503, (code, body)
        assert time.time() - t0 < 20, "upload hung while the broker was down"
        assert count_stored("videos") == before, "a video stayed behind"
    finally:
        rc, _, err = t.run_cmd([t.HARNESS, "amqp-start"], timeout=180)
        assert rc == 0, err
    code, body = upload(VIDEO)
    assert code == 200, (code, body)
    assert wait_job(json.loads(body)["video_fid"], timeout=180)["status"] == "done"


def test_cli_login_upload_wait_download():
    cli = os.path.join(t.BIN, "v2m")
    cenv = {"V2M_URL": GW, "XDG_CONFIG_HOME": tmp + "/cfg"}
    rc, out, err = t.run_cmd([cli, "login", "georgio@email.com", "--password-stdin"],
                             stdin="Admin123\n", env=cenv)
    assert rc == 0 and out == "Logged in as georgio@email.com\n", (rc, out, err)
    assert open(tmp + "/cfg/v2m/token").read().count(".") == 2
    assert oct(os.stat(tmp + "/cfg/v2m/token").st_mode & 0o777) == "0o600"
    rc, out, err = t.run_cmd([cli, "upload", VIDEO, "--wait"], env=cenv, timeout=180)
    assert rc == 0, (out, err)
    mp3 = out.split("mp3_fid ")[1].strip()
    rc, _, err = t.run_cmd([cli, "download", mp3, "-o", tmp + "/cli.mp3"], env=cenv)
    assert rc == 0, err
    assert mp3_info(tmp + "/cli.mp3")["streams"][0]["codec_name"] == "mp3"
    rc, out, err = t.run_cmd([cli, "upload", BAD, "--wait"], env=cenv, timeout=180)
    assert rc == 1 and "415: not a video or audio file" in err, (out, err)
    rc, out, err = t.run_cmd([cli, "upload", SILENT, "--wait"], env=cenv, timeout=180)
    assert rc == 1 and "no audio stream" in err, (out, err)
    rc, out, _ = t.run_cmd([cli, "status", "--json"], env=cenv)
    assert rc == 0 and json.loads(out)[0]["status"] == "failed", out
    rc, _, err = t.run_cmd([cli, "download", "0" * 24], env=cenv)
    assert rc == 1 and "404" in err and not os.path.exists("%s.mp3" % ("0" * 24)), err
    rc, _, err = t.run_cmd([cli, "login", "georgio@email.com", "--password-stdin"],
                           stdin="wrong\n", env=cenv)
    assert rc == 4 and "wrong email or password" in err, err
    rc, _, err = t.run_cmd([cli, "status"], env={"V2M_URL": GW, "XDG_CONFIG_HOME": tmp + "/none"})
    assert rc == 4 and "run `v2m login" in err, err


def test_web_page_in_chromium():
    if MODE != "embedded":
        raise t.Skip("the page talks to the gateway only: run in the embedded deployment")
    page = os.path.join(t.SRC, "tests/web/page.mjs")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium) or not os.path.isdir(os.path.join(t.SRC, "tests/web/node_modules")):
        raise t.Skip("%s or tests/web/node_modules is missing (make deps installs both)"
                     % chromium)
    rc, _, err = t.run_cmd(admin_cmd + ["user", "add", "web@email.com", "--password-stdin"],
                           stdin="Web12345\n", env=env)
    assert rc == 0, err
    code, body = curl("-D", tmp + "/page-headers", GW + "/")
    assert code == 200 and "<title>v2m" in body, code
    assert "content-security-policy" in open(tmp + "/page-headers").read().lower()
    shot = tmp + "/page.png"
    rc, out, err = t.run_cmd(["node", page, GW, VIDEO, "web@email.com", "Web12345", shot],
                             timeout=240)
    assert rc == 0, (out, err)
    got = json.loads(out.strip().splitlines()[-1])
    assert got["name"] == "video.mp3", got
    assert got["href"].startswith("/d/"), got
    assert mp3_info(got["path"])["streams"][0]["codec_name"] == "mp3"
    assert os.path.getsize(shot) > 1000


def test_health_endpoints():
    for s in (auth, gateway, converter, notification):
        assert s.request("GET", "/healthz")[0] == 200, s.name
        st, body, _ = s.request("GET", "/readyz")
        assert st == 200, (s.name, body)
    st, body, _ = gateway.admin_request("GET", "/metrics")
    assert "v2m_gateway_uploads_total" in body and "v2m_gateway_auth_calls_total" in body
    # The public address tells anonymous clients nothing internal.
    assert gateway.admin_port and gateway.admin_port != gateway.port
    assert gateway.request("GET", "/metrics")[0] == 404
    st, body, _ = gateway.request("GET", "/readyz")
    assert body.strip() == "ready", body


def teardown():
    t.stop_all((gateway, converter, notification, auth))


t.run(globals(), "test_pipeline_" + MODE)
