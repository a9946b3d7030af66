"""Helpers for v2m's integration tests: start real binaries, speak HTTP, report.

Each test script defines functions named test_*; run(globals()) runs them in
order, prints one line per test and the closing 'N passed, N failed, N skipped'
line, and exits 0, 1 (a failure) or 77 (skipped because an external server is
absent, or every test raised Skip). A test that cannot run in this setting
raises Skip("why"): it is reported as skipped, not as passed.
Only the Python standard library is used, and pymongo (Debian python3-pymongo)
where a distributed test looks into GridFS.
"""
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("V2M_BIN", os.path.join(os.path.dirname(__file__), "../../build-asan/bin"))
SRC = os.environ.get("V2M_SRC", os.path.join(os.path.dirname(__file__), "../.."))
HARNESS = os.path.join(SRC, "tests/harness/services.sh")
SKIP = 77
TEMP_DIRS = []  # removed after a run without failures (kept to debug a failure)


def tempdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    TEMP_DIRS.append(d)
    return d


class Skip(Exception):
    """Raised by a test that cannot run here; the reason is printed, and the
    test counts as skipped, never as passed."""


def need_env(name, why):
    v = os.environ.get(name)
    if not v:
        sys.stderr.write("\n*** SKIP: %s is not set (%s). Run under tests/harness/services.sh "
                         "(make test does) to use the real server. ***\n\n" % (name, why))
        sys.exit(SKIP)
    return v


def mysql_database(name):
    """A private MariaDB database named name, made from deploy/sql/init.sql
    (tables, the services' user, the demo user), dropped first if it exists;
    returns the MYSQL_* settings the services use to reach it."""
    host = need_env("V2M_TEST_MYSQL_HOST", "MariaDB")
    port = os.environ["V2M_TEST_MYSQL_PORT"]
    root = ["mysql", "-h", host, "-P", port, "-uroot"]
    if os.environ.get("V2M_TEST_MYSQL_PASSWORD"):
        root.append("-p" + os.environ["V2M_TEST_MYSQL_PASSWORD"])
    with open(os.path.join(SRC, "deploy/sql/init.sql")) as f:
        init = f.read().replace("auth", name).replace("%s_user" % name, "auth_user")
    rc, _, err = run_cmd(root, stdin="DROP DATABASE IF EXISTS %s;\n%s" % (name, init))
    assert rc == 0, err
    return {"MYSQL_HOST": host, "MYSQL_PORT": port, "MYSQL_USER": "auth_user",
            "MYSQL_PASSWORD": "Auth123", "MYSQL_DB": name}


class Service:
    """A v2m binary started on a free port, stopped with SIGTERM."""

    def __init__(self, name, env, args=(), port_env="V2M_LISTEN"):
        self.name = name
        self.dir = tempdir("v2m-%s-" % name)
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "log")
        full = dict(os.environ)
        full.update(env)
        full.setdefault(port_env, "127.0.0.1:0")
        full["V2M_PORT_FILE"] = self.port_file
        # The gateway's private listener (metrics) on a free port too.
        full.setdefault("V2M_ADMIN_LISTEN", "127.0.0.1:0")
        full.setdefault("V2M_LOG_LEVEL", "info")
        # Leak checks stay on; a leak fails the test through the exit status.
        full.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(BIN, name)] + list(args), env=full,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited early with %s:\n%s" %
                                     (name, self.proc.returncode, self.logtext()))
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                ports = open(self.port_file).read().split()
                self.port = int(ports[0])
                self.admin_port = int(ports[1]) if len(ports) > 1 else None
                return
            time.sleep(0.05)
        raise AssertionError("%s did not start:\n%s" % (name, self.logtext()))

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        return open(self.log_path).read()

    def request(self, method, path, headers=None, body=None, timeout=30):
        return request(self.port, method, path, headers, body, timeout)

    def admin_request(self, method, path, headers=None, body=None, timeout=30):
        """On the private listener (metrics, detailed readiness) when there is one."""
        return request(self.admin_port or self.port, method, path, headers, body, timeout)

    def stop(self):
        """SIGTERM, then require a clean exit (status 0: no crash, no leak)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s did not stop on SIGTERM" % self.name)
        self.log.close()
        if self.proc.returncode != 0:
            raise AssertionError("%s exited with %d:\n%s" % (self.name, self.proc.returncode,
                                                            open(self.log_path).read()[-4000:]))


def request(port, method, path, headers=None, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace"), dict(r.getheaders())
    finally:
        c.close()


_mongo_clients = {}


def mongo_db(uri, name):
    """Database name on the MongoDB at uri, through one client per uri kept
    for the run (a new client per look costs a second: the import, the
    connection, the server's discovery)."""
    if uri not in _mongo_clients:
        import pymongo  # Debian python3-pymongo
        _mongo_clients[uri] = pymongo.MongoClient(uri)
    return _mongo_clients[uri][name]


def stop_all(services):
    """Stop every service (SIGTERM), then fail with what each that did not
    stop cleanly printed."""
    errors = []
    for s in services:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def wait_for(what, cond, timeout=60, detail=None):
    """cond()'s first true value, looked at every 0.1 s; AssertionError
    naming what (and detail(), if given) after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("still waiting for %s after %ds%s" %
                         (what, timeout, "\n" + detail() if detail else ""))


def run_cmd(args, stdin=None, env=None, timeout=60):
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run(args, input=stdin, env=full, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def run(ns, name):
    tests = [(k, v) for k, v in ns.items() if k.startswith("test_") and callable(v)]
    only = os.environ.get("V2M_TEST_ONLY")  # a regular expression: run only the matching tests
    if only:
        tests = [(k, v) for k, v in tests if re.search(only, k)]
    passed = failed = skipped = 0
    for tname, fn in tests:
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok   %s (%.2fs)" % (tname, time.time() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("skip %s: %s" % (tname, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s\n%s" % (tname, traceback.format_exc()), flush=True)
    cleanup = ns.get("teardown")
    if cleanup:
        try:
            cleanup()
        except Exception:
            failed += 1
            print("FAIL teardown\n%s" % traceback.format_exc(), flush=True)
    print("%s: %d passed, %d failed, %d skipped" % (name, passed, failed, skipped))
    if not failed:
        import shutil
        for d in TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
    # Nothing ran at all: the whole script is a skip for CTest.
    sys.exit(1 if failed else SKIP if skipped and not passed else 0)
