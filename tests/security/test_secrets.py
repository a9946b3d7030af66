#!/usr/bin/python3
"""No secret in any log, and the signing secret only where it is needed.

- An end-to-end run at debug level, with an SMTP URL and password that fail
  (so the notification service logs its retries): no log of any service
  holds a user's password, a token, JWT_SECRET, an SMTP password, the link
  secret or a download link's signature.
- scripts/run.sh hands JWT_SECRET to v2m-auth and to no other service, and
  V2M_LINK_SECRET to the gateway and notification only.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import secenv  # noqa: E402
from secenv import t  # noqa: E402

secenv.need_ffmpeg()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


SMTP_URL_PW = "url-pw-" + os.urandom(6).hex()
SMTP_PW = "smtp-pw-" + os.urandom(6).hex()
LINK_SECRET = "link-secret-" + os.urandom(8).hex()


def test_no_secret_in_any_log():
    env = secenv.Embedded("secrets", {
        "V2M_LOG_LEVEL": "debug", "V2M_LINK_SECRET": LINK_SECRET,
        "SMTP_URL": "smtp://mailer:%s@127.0.0.1:%d" % (SMTP_URL_PW, closed_port()),
        "SMTP_USER": "mailer", "SMTP_PASSWORD": SMTP_PW, "MAIL_FROM": "v2m@v2m.test"})
    try:
        video = os.path.join(env.dir, "v.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "sine=frequency=440:duration=2", "-c:a", "aac", video], check=True)
        token = env.login()
        code, _ = env.curl("-X", "POST", env.url + "/login", "-u", "%s:wrong-%s" %
                           (secenv.ALICE[0], secenv.ALICE[1]))
        assert code == 401, code
        code, body = env.upload(video, token)
        assert code == 200, (code, body)
        fid = json.loads(body)["video_fid"]
        deadline = time.time() + 60
        while time.time() < deadline:
            st, body, _ = env.gateway.request("GET", "/jobs/" + fid,
                                              {"Authorization": "Bearer " + token})
            if json.loads(body)["status"] == "done":
                break
            time.sleep(0.3)
        # A signed link, used: its signature must not reach the logs either.
        link = json.loads(body)["download_url"]
        assert link and env.gateway.request("GET", link)[0] == 200, body
        # Let the notification service fail and retry a few times.
        deadline = time.time() + 30
        while time.time() < deadline and \
                env.notification.logtext().count("will be retried") < 2:
            time.sleep(0.5)
    finally:
        env.stop()
    logs = env.logs()
    # The failures that carry the SMTP URL were logged (else nothing was tested).
    assert logs["v2m-notification"].count("will be retried") >= 2 and \
        "smtp smtp://mailer:" in logs["v2m-notification"], logs["v2m-notification"][-2000:]
    secrets = {"user password": secenv.ALICE[1], "token": token,
               "token signature": token.rsplit(".", 1)[1], "JWT_SECRET": env.secret,
               "SMTP_URL password": SMTP_URL_PW, "SMTP_PASSWORD": SMTP_PW,
               "V2M_LINK_SECRET": LINK_SECRET, "link signature": link.rsplit("s=", 1)[1]}
    for name, text in logs.items():
        for what, secret in secrets.items():
            assert secret not in text, "%s logs the %s" % (name, what)


def test_run_sh_gives_the_secret_to_auth_only():
    var = t.tempdir("v2m-run-")
    ports = {k: str(closed_port()) for k in ("GATEWAY_PORT", "AUTH_PORT", "CONVERTER_PORT",
                                             "NOTIFICATION_PORT")}
    env = dict(os.environ, V2M_VAR=var, JWT_SECRET="run-secret-" + os.urandom(6).hex(),
               V2M_ADMIN_LISTEN="127.0.0.1:0", V2M_ADMIN_PASSWORD="Run-pass-123", **ports)
    p = subprocess.Popen(["bash", os.path.join(t.SRC, "scripts/run.sh"), t.BIN], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out = ""
        deadline = time.time() + 60
        while time.time() < deadline and "Ctrl-C stops" not in out:
            line = p.stdout.readline()
            if not line:
                break
            out += line
        assert "Ctrl-C stops" in out, out
        seen = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                exe = os.readlink("/proc/%s/exe" % pid)
                environ = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
            except OSError:
                continue
            if not exe.startswith(os.path.realpath(t.BIN)):
                continue
            if os.getpgid(int(pid)) != os.getpgid(p.pid):
                continue
            seen[os.path.basename(exe)] = (any(e.startswith(b"JWT_SECRET=") for e in environ),
                                           any(e.startswith(b"V2M_LINK_SECRET=") for e in environ))
        # JWT_SECRET to auth alone; the link key (made in var/) to the two
        # services that sign or check links.
        assert seen == {"v2m-auth": (True, False), "v2m-gateway": (False, True),
                        "v2m-converter": (False, False), "v2m-notification": (False, True)}, seen
        assert os.stat(os.path.join(var, "link_secret")).st_mode & 0o077 == 0
    finally:
        os.killpg(p.pid, signal.SIGINT)
        p.wait(60)


t.run(globals(), "security_secrets")
