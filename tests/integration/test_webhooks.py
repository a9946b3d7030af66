#!/usr/bin/python3
"""Webhooks end to end: an upload's callback_url
gets the job record, signed, when the job ends; failures are retried through
the webhooks queue; addresses v2m must not reach are refused at send time.

argv[1] picks the deployment:
  embedded     SQLite users and queue, a store directory, mail to an outbox
  distributed  MariaDB, RabbitMQ, GridFS (MongoDB emulator) and SMTP (maildev)

The receiver is Python's http.server on 127.0.0.1 (allowed with
V2M_WEBHOOK_ALLOW=127.0.0.1/32,::1/128). Uploads name their callback_url as
a form field, as users do. The send-time defences are tested with messages
the upload would refuse (as an older or hostile producer could queue them):
a second gateway publishes to a parked queue, and the test adds the
callback_url to the message and moves it to the converter's queue (qmove,
through the queue port). Signatures are checked with Python's hmac,
independently of v2m's code.
"""
import glob
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

if not shutil.which("ffmpeg"):
    sys.stderr.write("\n*** SKIP: ffmpeg not installed (make deps installs it) ***\n\n")
    sys.exit(t.SKIP)
if not shutil.which("curl"):
    sys.stderr.write("\n*** SKIP: curl not installed ***\n\n")
    sys.exit(t.SKIP)

MODE = sys.argv[1] if len(sys.argv) > 1 else "embedded"
QMOVE = os.path.join(t.BIN, "../tests/qmove")
if not os.access(QMOVE, os.X_OK):
    raise AssertionError("%s is not built (cmake --build builds it)" % QMOVE)
tmp = t.tempdir("v2m-hooks-%s-" % MODE)
tag = "%d" % os.getpid()
PARKED = "parked-" + tag
MAX_AGE = 20
env = {"JWT_SECRET": "hooks-" + os.urandom(8).hex(), "V2M_LOG_LEVEL": "debug",
       "VIDEO_QUEUE": "video-" + tag, "MP3_QUEUE": "mp3-" + tag, "WEBHOOK_QUEUE": "hooks-" + tag,
       "V2M_RETRY_DELAY": "1", "V2M_LEASE": "3", "V2M_CONVERTER_THREADS": "1",
       "V2M_WEBHOOK_RETRY_DELAYS": "1s", "V2M_WEBHOOK_MAX_AGE": "%ds" % MAX_AGE,
       "V2M_PUBLIC_URL": "http://v2m.test", "V2M_LINK_SECRET": os.urandom(16).hex()}
if MODE == "distributed":
    mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator from ../shared/tools")
    amqp = t.need_env("V2M_TEST_AMQP_URL", "RabbitMQ")
    smtp = t.need_env("V2M_TEST_SMTP_URL", "SMTP sink")
    env.update(t.mysql_database("auth_hooks_" + tag))
    env.update({"V2M_STORE": mongo, "V2M_QUEUE": amqp, "SMTP_URL": smtp,
                "MAIL_FROM": "v2m@v2m.test"})
else:
    env.update({"V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
                "V2M_QUEUE": "sqlite://%s/queue.db" % tmp, "V2M_OUTBOX": tmp + "/outbox"})
    os.makedirs(tmp + "/store")
HOOK_ENV = dict(env, V2M_WEBHOOK_ALLOW="127.0.0.1/32, ::1/128")
ADMIN = os.path.join(t.BIN, "v2m-admin")
users = [("other@email.com", "Other123", [])]
if MODE != "distributed":  # init.sql made the demo user
    users.insert(0, ("georgio@email.com", "Admin123", ["--admin"]))
for email, pw, extra in users:
    rc, _, err = t.run_cmd([ADMIN, "user", "add", email, "--password-stdin"] + extra,
                           stdin=pw + "\n", env=env)
    assert rc == 0, err

auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port
converter = t.Service("v2m-converter", env)
notification = t.Service("v2m-notification", HOOK_ENV)
gateway = t.Service("v2m-gateway", dict(env, V2M_WEBHOOK_ALLOW=HOOK_ENV["V2M_WEBHOOK_ALLOW"]))
GW = "http://127.0.0.1:%d" % gateway.port
parked_gw = t.Service("v2m-gateway", dict(env, VIDEO_QUEUE=PARKED))
PGW = "http://127.0.0.1:%d" % parked_gw.port


# ---- the receiver ----

class Receiver:
    """An HTTP server recording every request; what it answers depends on
    the path: /ok 200, /flaky 500 then a dropped connection then 200,
    /redirect 302 to /landed, /fail 500 always."""

    def __init__(self, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.seen = []          # (path, headers dict, body bytes)
        self.flaky = {}
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rec.lock:
                    rec.seen.append((self.path, dict(self.headers), body))
                    k = rec.flaky.get(self.path, 0) + 1
                    rec.flaky[self.path] = k
                if self.path.startswith("/flaky") and k == 1:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/flaky") and k == 2:
                    # No answer at all: the connection is dropped.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", "/landed")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/fail"):
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    out = b"x" * 200000  # a long answer: read up to a bound, then dropped
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    try:
                        self.wfile.write(out)
                    except OSError:
                        pass

            do_GET = do_POST

        self.srv = http.server.ThreadingHTTPServer((host, 0), H)
        self.port = self.srv.server_address[1]
        self.url = "http://%s:%d" % (host, self.port)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def requests(self, prefix):
        with self.lock:
            return [s for s in self.seen if s[0].startswith(prefix)]

    def wait(self, prefix, n=1, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.requests(prefix)
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise AssertionError("receiver got %d requests on %s, expected %d; notification log:\n%s"
                             % (len(self.requests(prefix)), prefix, n,
                                notification.logtext()[-4000:]))


RX = Receiver()
# A receiver on another loopback address, outside the allow-list.
RX2 = Receiver("127.0.0.2")


# ---- helpers ----

def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


VIDEO = ffmpeg(tmp + "/video.mp4", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
               "-c:a", "aac")
# A video without sound: accepted at upload, failed by the converter.
BAD = ffmpeg(tmp + "/silent.mp4", "-f", "lavfi", "-i", "color=c=black:s=64x64:d=1",
             "-c:v", "mpeg4", "-an")


def curl(*args):
    p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, text=True, timeout=120)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def login(user, pw):
    code, tok = curl("-X", "POST", GW + "/login", "-u", "%s:%s" % (user, pw))
    assert code == 200, (code, tok)
    return tok


TOKEN = login("georgio@email.com", "Admin123")
OTHER = login("other@email.com", "Other123")


def release(fid, callback_url):
    """Add callback_url to the parked message of fid and hand it to the converter."""
    rc, _, err = t.run_cmd([QMOVE, env["V2M_QUEUE"], PARKED, env["VIDEO_QUEUE"], fid,
                            callback_url], env=env)
    assert rc == 0, err


def upload(path, callback_url, token=TOKEN):
    """An upload naming its callback_url, as a user does."""
    code, body = curl("-X", "POST", "-F", "file=@%s" % path, "-F", "callback_url=" + callback_url,
                      "-H", "Authorization: Bearer " + token, GW + "/upload")
    assert code == 200, (code, body)
    return json.loads(body)["video_fid"]


def crafted(path, callback_url, token=TOKEN):
    """A message with a callback_url the upload would refuse, queued by hand."""
    code, body = curl("-X", "POST", "-F", "file=@%s" % path, "-H", "Authorization: Bearer " + token,
                      PGW + "/upload")
    assert code == 200, (code, body)
    fid = json.loads(body)["video_fid"]
    release(fid, callback_url)
    return fid


def job(fid, token=TOKEN):
    code, body = curl("-H", "Authorization: Bearer " + token, GW + "/jobs/" + fid)
    assert code == 200, (code, body)
    return json.loads(body)


def verify(headers, body, secret):
    """Check V2M-Signature as a receiver would: HMAC-SHA256 over '<t>.<body>'."""
    sig = headers.get("V2M-Signature", "")
    m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", sig)
    assert m, "bad signature header %r" % sig
    ts, v1 = m.group(1), m.group(2)
    want = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, v1), "signature does not verify"
    assert abs(int(ts) - time.time()) < 600, ts
    return int(ts)


def admin_secret(email):
    rc, out, err = t.run_cmd([ADMIN, "webhook-secret", email], env=env)
    assert rc == 0, err
    s = out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", s), s
    return s


def wait_log(svc, needle, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in svc.logtext():
            return
        time.sleep(0.1)
    raise AssertionError("no %r in the %s log:\n%s" % (needle, svc.name, svc.logtext()[-4000:]))


def metric(svc, name):
    _, text, _ = svc.request("GET", "/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else 0


SECRET = admin_secret("georgio@email.com")


# ---- the tests ----

def test_done_job_posts_its_record_signed():
    fid = upload(VIDEO, RX.url + "/ok/done")
    (path, headers, body), = RX.wait("/ok/done")
    assert headers.get("Content-Type") == "application/json", headers
    assert headers.get("User-Agent", "").startswith("v2m-webhook/"), headers
    assert headers.get("V2M-Event") == "job.done", headers
    assert headers.get("V2M-Attempt") == "1", headers
    verify(headers, body, SECRET)
    got, api = json.loads(body), job(fid)
    assert got["status"] == "done" and re.fullmatch(r"[0-9a-f]{24}", got["mp3_fid"]), got
    # The same shape as GET /jobs/<fid>; its download link absolute, under V2M_PUBLIC_URL.
    link = got.pop("download_url")
    assert link.startswith("http://v2m.test/d/%s?e=" % got["mp3_fid"]), link
    assert api.pop("download_url").startswith("/d/%s?e=" % got["mp3_fid"])
    assert got == api, (got, api)
    code, _ = curl("-o", "/dev/null", GW + link[len("http://v2m.test"):])
    assert code == 200, code
    # The mail went out as well, independently.
    wait_log(notification, "mail sent video_fid=%s" % fid)
    # The long answer was cut, the delivery counted.
    wait_log(notification, "webhook delivered video_fid=%s" % fid)


def test_failed_job_posts_its_record():
    fid = upload(BAD, RX.url + "/ok/failed")
    (path, headers, body), = RX.wait("/ok/failed")
    verify(headers, body, SECRET)
    got = json.loads(body)
    assert got["status"] == "failed" and got["error"] and got["mp3_fid"] is None, got
    assert got["download_url"] is None, got
    assert got == job(fid), (got, job(fid))
    assert headers.get("V2M-Event") == "job.failed", headers


def test_secret_from_the_api_signs_the_next_hooks():
    code, body = curl("-X", "POST", "-H", "Authorization: Bearer " + OTHER, GW + "/webhook-secret")
    assert code == 200, (code, body)
    secret = json.loads(body)["secret"]
    assert re.fullmatch(r"[0-9a-f]{64}", secret), body
    # Without a token: refused, nothing rotated.
    code, _ = curl("-X", "POST", GW + "/webhook-secret")
    assert code == 401, code
    upload(VIDEO, RX.url + "/ok/other", token=OTHER)
    (path, headers, body), = RX.wait("/ok/other")
    verify(headers, body, secret)
    # Rotating again replaces it: the old secret no longer verifies.
    code, body2 = curl("-X", "POST", "-H", "Authorization: Bearer " + OTHER,
                       GW + "/webhook-secret")
    assert code == 200, (code, body2)
    secret2 = json.loads(body2)["secret"]
    assert secret2 != secret
    upload(VIDEO, RX.url + "/ok/other2", token=OTHER)
    (path, headers, body), = RX.wait("/ok/other2")
    verify(headers, body, secret2)
    try:
        verify(headers, body, secret)
    except AssertionError:
        pass
    else:
        raise AssertionError("the old secret still verifies")
    # The client does the same: `v2m webhook-secret`.
    rc, out, err = t.run_cmd([os.path.join(t.BIN, "v2m"), "webhook-secret"],
                             env={"V2M_URL": GW, "V2M_TOKEN": OTHER})
    assert rc == 0 and re.fullmatch(r"[0-9a-f]{64}\n", out), (rc, out, err)
    upload(VIDEO, RX.url + "/ok/other3", token=OTHER)
    (path, headers, body), = RX.wait("/ok/other3")
    verify(headers, body, out.strip())


def test_a_host_name_is_resolved_checked_and_pinned():
    # localhost: 127.0.0.1 (and ::1), both allowed here; curl gets the checked
    # addresses (CURLOPT_RESOLVE) and connects to one of them.
    fid = upload(VIDEO, "http://localhost:%d/ok/by-name" % RX.port)
    (path, headers, body), = RX.wait("/ok/by-name")
    verify(headers, body, SECRET)
    assert json.loads(body)["video_fid"] == fid
    wait_log(notification, "webhook delivered video_fid=%s host=localhost" % fid)


def test_failures_are_retried_until_delivered():
    before = metric(notification, 'v2m_notification_webhooks_total{result="failed"}')
    fid = upload(VIDEO, RX.url + "/flaky/1")
    got = RX.wait("/flaky/1", 3)
    assert len(got) == 3, got
    assert [h.get("V2M-Attempt") for _, h, _ in got] == ["1", "2", "3"], [h for _, h, _ in got]
    for _, headers, body in got:
        verify(headers, body, SECRET)
        assert json.loads(body)["video_fid"] == fid
    wait_log(notification, "webhook delivered video_fid=%s host=127.0.0.1 attempt=3" % fid)
    assert metric(notification, 'v2m_notification_webhooks_total{result="failed"}') >= before + 2
    # The mail was sent once, not repeated by the hook's failures.
    assert notification.logtext().count("mail sent video_fid=%s" % fid) == 1


def test_redirect_is_not_followed_and_gives_up_after_max_age():
    fid = upload(VIDEO, RX.url + "/redirect/x")
    RX.wait("/redirect/x", 2)
    assert RX.requests("/landed") == [], RX.requests("/landed")
    wait_log(notification, "webhook failed video_fid=%s host=127.0.0.1 attempt=1 "
                           "reason=\"answered 302\"" % fid)
    # Dropped once the job is MAX_AGE old, with a log line and a metric.
    wait_log(notification, "webhook dropped video_fid=%s" % fid, timeout=MAX_AGE + 60)
    assert metric(notification, 'v2m_notification_webhooks_total{result="expired"}') >= 1
    n = len(RX.requests("/redirect/x"))
    time.sleep(3)  # nothing more comes (not a timing threshold: the count must not move)
    assert len(RX.requests("/redirect/x")) == n
    assert RX.requests("/landed") == []


def test_addresses_outside_the_allow_list_are_refused_at_send():
    # 127.0.0.2 is loopback and not in V2M_WEBHOOK_ALLOW=127.0.0.1/32.
    fid = crafted(VIDEO, RX2.url + "/ok/refused")
    wait_log(notification, "webhook refused video_fid=%s host=127.0.0.2" % fid)
    assert "loopback" in notification.logtext().split("webhook refused video_fid=%s" % fid)[1] \
        .split("\n")[0]
    assert RX2.requests("/") == []


def test_bad_schemes_are_refused_at_send():
    for url in ("file:///etc/passwd", "gopher://127.0.0.1:%d/_POST%%20/ok/gopher" % RX.port,
                "dict://127.0.0.1:%d/x" % RX.port):
        fid = crafted(BAD, url)
        wait_log(notification, "webhook refused video_fid=%s" % fid)
        line = notification.logtext().split("webhook refused video_fid=%s" % fid)[1]
        assert "http:// or https://" in line.split("\n")[0], line[:300]
    assert RX.requests("/ok/gopher") == [] and RX.requests("/x") == []


def test_without_the_allow_list_loopback_is_refused():
    global notification
    notification.stop()
    notification = t.Service("v2m-notification", env)   # no V2M_WEBHOOK_ALLOW
    try:
        before = len(RX.seen)
        fid = crafted(VIDEO, RX.url + "/ok/denied")
        wait_log(notification, "webhook refused video_fid=%s host=127.0.0.1" % fid)
        # A name that resolves to loopback is refused the same way.
        fid2 = upload(VIDEO, "http://localhost:%d/ok/denied-name" % RX.port)
        wait_log(notification, "webhook refused video_fid=%s host=localhost" % fid2)
        line = notification.logtext().split("webhook refused video_fid=%s" % fid2)[1]
        assert "loopback" in line.split("\n")[0], line[:300]
        # The mails went out all the same.
        wait_log(notification, "mail sent video_fid=%s" % fid2)
        assert len(RX.seen) == before, RX.seen[before:]
        assert metric(notification, 'v2m_notification_webhooks_total{result="refused"}') >= 2
    finally:
        notification.stop()
        notification = t.Service("v2m-notification", HOOK_ENV)


def test_a_restart_keeps_pending_deliveries():
    global notification
    fid = upload(VIDEO, RX.url + "/fail/restart")
    RX.wait("/fail/restart", 1)
    notification.stop()
    n = len(RX.requests("/fail/restart"))
    notification = t.Service("v2m-notification", HOOK_ENV)
    RX.wait("/fail/restart", n + 1)
    wait_log(notification, "webhook failed video_fid=%s" % fid)


def test_a_deleted_users_webhook_is_refused():
    rc, _, err = t.run_cmd([ADMIN, "user", "add", "gone@email.com", "--password-stdin"],
                           stdin="Gone1234\n", env=env)
    assert rc == 0, err
    tok = login("gone@email.com", "Gone1234")
    code, body = curl("-X", "POST", "-F", "file=@%s" % VIDEO, "-H", "Authorization: Bearer " + tok,
                      PGW + "/upload")
    assert code == 200, (code, body)
    fid = json.loads(body)["video_fid"]
    rc, _, err = t.run_cmd([ADMIN, "user", "del", "gone@email.com"], env=env)
    assert rc == 0, err
    release(fid, RX.url + "/ok/gone")
    wait_log(notification, "webhook refused video_fid=%s host=127.0.0.1 reason=\"no such user" % fid)
    assert RX.requests("/ok/gone") == []


def jobs_count(token=TOKEN):
    code, body = curl("-H", "Authorization: Bearer " + token, GW + "/jobs?limit=1000")
    assert code == 200, (code, body)
    return len(json.loads(body))


def videos_stored():
    """Finished videos in the store (only uploads make them)."""
    if MODE == "distributed":
        return t.mongo_db(mongo, "videos")["fs.files"].count_documents({})
    return len(glob.glob(tmp + "/store/videos/*.json"))


def test_bad_callback_urls_are_refused_at_upload_with_nothing_kept():
    before, stored = jobs_count(), videos_stored()
    for url, why in (("file:///etc/passwd", "http"), ("gopher://example.com/", "http"),
                     ("http://user:pw@example.com/h", "callback_url"),
                     ("http://127.0.0.2:%d/ok/x" % RX2.port, "callback_url"),
                     ("http://169.254.169.254/latest/meta-data/", "callback_url"),
                     ("http://[::ffff:10.0.0.1]/h", "callback_url"),
                     ("http://2130706434/h", "callback_url"),
                     ("https://" + "a" * 1100 + ".example.com/", "callback_url"),
                     ("not a url", "callback_url")):
        code, body = curl("-X", "POST", "-F", "callback_url=" + url, "-F", "file=@%s" % VIDEO,
                          "-H", "Authorization: Bearer " + TOKEN, GW + "/upload")
        assert code == 400 and why in body and "callback_url" in body, (url, code, body)
        # After the file part too.
        code, body = curl("-X", "POST", "-F", "file=@%s" % VIDEO, "-F", "callback_url=" + url,
                          "-H", "Authorization: Bearer " + TOKEN, GW + "/upload")
        assert code == 400 and "callback_url" in body, (url, code, body)
    assert jobs_count() == before
    assert videos_stored() == stored
    assert RX2.requests("/") == []


def test_secrets_stay_out_of_the_logs():
    # Debug-level logs of every service, the API's secret included.
    code, body = curl("-X", "POST", "-H", "Authorization: Bearer " + TOKEN, GW + "/webhook-secret")
    assert code == 200, (code, body)
    api_secret = json.loads(body)["secret"]
    for svc in (auth, converter, notification, gateway, parked_gw):
        text = svc.logtext()
        for s in (SECRET, api_secret, env["V2M_LINK_SECRET"]):
            assert s not in text, svc.name
        assert "/ok/" not in text and "/flaky/" not in text, svc.name  # URLs are not logged


def test_bad_settings_are_refused_at_start():
    base = dict(env, V2M_LISTEN="127.0.0.1:0")
    for prog, var, val in (("v2m-notification", "V2M_WEBHOOK_ALLOW", "10.0.0.0/33"),
                           ("v2m-gateway", "V2M_WEBHOOK_ALLOW", "not-an-address"),
                           ("v2m-notification", "V2M_WEBHOOK_RETRY_DELAYS", "10s,,1m"),
                           ("v2m-notification", "V2M_WEBHOOK_RETRY_DELAYS", "2d"),
                           ("v2m-notification", "V2M_WEBHOOK_MAX_AGE", "0"),
                           ("v2m-notification", "V2M_WEBHOOK_TIMEOUT", "1h")):
        rc, _, err = t.run_cmd([os.path.join(t.BIN, prog)], env=dict(base, **{var: val}))
        assert rc != 0 and var in err, (prog, var, val, rc, err)
    rc, out, _ = t.run_cmd([os.path.join(t.BIN, "v2m-notification"), "--help"])
    assert rc == 0 and "V2M_WEBHOOK_RETRY_DELAYS" in out and "V2M_USERS" in out, out


def teardown():
    for s in (gateway, parked_gw, notification, converter, auth):
        s.stop()
    RX.srv.shutdown()
    RX2.srv.shutdown()


t.run(globals(), "test_webhooks_" + MODE)
