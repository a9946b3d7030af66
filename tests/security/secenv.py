"""The embedded deployment, started for the security tests: all four real
binaries on SQLite, a store directory and an outbox, two users. Each attack
test imports this, then drives the system as an attacker would.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
import v2mtest as t  # noqa: E402

ADMIN = ("admin@v2m.test", "Admin-pass-1")
ALICE = ("alice@v2m.test", "Alice-pass-1")
BOB = ("bob@v2m.test", "Bob-pass-12")


def need_ffmpeg():
    if not shutil.which("ffmpeg"):
        sys.stderr.write("\n*** SKIP: ffmpeg not installed (make deps installs it) ***\n\n")
        sys.exit(t.SKIP)


class Embedded:
    """auth + gateway (+ converter, notification when asked) on one temp dir."""

    def __init__(self, name, extra=None, workers=True, secret=None):
        self.dir = t.tempdir("v2m-sec-%s-" % name)
        self.secret = secret or "sec-" + os.urandom(12).hex()
        self.env = {"JWT_SECRET": self.secret, "V2M_LOG_LEVEL": "info",
                    "V2M_USERS": "sqlite://%s/users.db" % self.dir,
                    "V2M_STORE": "file://%s/store" % self.dir,
                    "V2M_QUEUE": "sqlite://%s/queue.db" % self.dir,
                    "V2M_OUTBOX": "%s/outbox" % self.dir, "V2M_RETRY_DELAY": "1",
                    "V2M_LEASE": "3", "V2M_CONVERTER_THREADS": "2"}
        self.env.update(extra or {})
        for (email, pw), admin in ((ADMIN, True), (ALICE, False), (BOB, False)):
            self.admin("user", "add", email, *(["--admin"] if admin else []),
                       "--password-stdin", stdin=pw + "\n")
        self.services = []
        self.auth = self.start("v2m-auth")
        self.env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % self.auth.port
        if workers:
            self.converter = self.start("v2m-converter")
            self.notification = self.start("v2m-notification")
        self.gateway = self.start("v2m-gateway")
        self.url = "http://127.0.0.1:%d" % self.gateway.port

    def start(self, name, env=None):
        full = dict(self.env)
        full.update(env or {})
        s = t.Service(name, full)
        self.services.append(s)
        return s

    def admin(self, *args, stdin=None, check=True):
        rc, out, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin")] + list(args), stdin=stdin,
                                 env=self.env)
        if check:
            assert rc == 0, (args, out, err)
        return rc, out, err

    def curl(self, *args, timeout=120):
        p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}"] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        body, _, code = p.stdout.rpartition("\n")
        return int(code or 0), body

    def login(self, who=ALICE):
        code, tok = self.curl("-X", "POST", self.url + "/login", "-u", "%s:%s" % who)
        assert code == 200, (code, tok)
        return tok

    def upload(self, path, token, *extra):
        return self.curl("-X", "POST", "-F", "file=@%s" % path, "-H",
                         "Authorization: Bearer " + token, *extra, self.url + "/upload")

    def logs(self):
        return {s.name: s.logtext() for s in self.services}

    def stop(self):
        t.stop_all(reversed(self.services))
