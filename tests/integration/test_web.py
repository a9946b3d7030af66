#!/usr/bin/python3
"""The web page in headless Chromium, on the embedded deployment: by keyboard
only, on a phone's width, several files at once, the server gone, a session
that has expired, the icon; uploads through tus (tus-js-client, served by the
gateway with its licence), and a large one cut, the page reloaded, the same
file chosen again and carried on from where the server stopped. tests/web/ui.mjs drives the page; its
screenshots are written to the test's temporary folder (kept on failure;
copied to $V2M_ARTIFACTS when it is set)."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

tmp = t.tempdir("v2m-web-")
if not shutil.which("ffmpeg"):
    sys.stderr.write("\n*** SKIP: ffmpeg not installed (make deps installs it) ***\n\n")
    sys.exit(t.SKIP)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM) or not os.path.isdir(os.path.join(t.SRC, "tests/web/node_modules")):
    sys.stderr.write("\n*** SKIP: %s or tests/web/node_modules is missing (make deps installs both) ***\n\n"
                     % CHROMIUM)
    sys.exit(t.SKIP)

env = {"JWT_SECRET": "web-secret-" + os.urandom(8).hex(),
       "V2M_LINK_SECRET": "web-link-secret-" + os.urandom(8).hex(),
       "V2M_LOG_LEVEL": "info", "V2M_MAX_UPLOAD": "64M", "V2M_RETRY_DELAY": "1",
       "V2M_CONVERTER_THREADS": "2", "V2M_PUBLIC_URL": "http://v2m.test",
       "V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
       "V2M_JOBS": "sqlite://%s/jobs.db" % tmp, "V2M_QUEUE": "sqlite://%s/queue.db" % tmp,
       "V2M_OUTBOX": "%s/outbox" % tmp}
os.makedirs(tmp + "/store")
rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", "web@email.com",
                        "--password-stdin"], stdin="Web12345\n", env=env)
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
# A long name without spaces: it must wrap on a phone, not widen the page.
LONGNAME = tmp + "/a-holiday-film-with-a-rather-long-name-that-never-ends-2026-11-30.mp4"
shutil.copy(VIDEO, LONGNAME)
SILENT = ffmpeg(tmp + "/silent.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2",
                "-c:v", "libx264", "-preset", "ultrafast")
BAD = tmp + "/notes.mp4"
open(BAD, "w").write("this is not a video\n" * 50)
# Over V2M_MAX_UPLOAD: refused from its announced size, before it is read.
HUGE = tmp + "/huge.mp4"
with open(HUGE, "wb") as f:
    f.truncate(65 * 1024 * 1024)
# About 40 MB (raw frames): five tus chunks of 8 MiB, cut after the second.
BIG = ffmpeg(tmp + "/big-film.mkv", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=10:duration=9",
             "-f", "lavfi", "-i", "sine=frequency=330:duration=9", "-c:v", "rawvideo",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
VENDOR = os.path.join(t.SRC, "web/vendor/tus-js-client")


def test_page_and_icon_served():
    st, body, h = gateway.request("GET", "/")
    assert st == 200 and '<link rel="icon" href="/favicon.svg"' in body, st
    assert "default-src 'none'" in h["Content-Security-Policy"], h
    for path in ("/favicon.svg", "/favicon.ico"):
        st, body, h = gateway.request("GET", path)
        assert st == 200 and body.startswith("<svg") and h["Content-Type"] == "image/svg+xml", (path, st, h)
        assert "default-src 'none'" in h["Content-Security-Policy"], h
        assert gateway.request("HEAD", path)[0] == 200
    # The page's scripts: its own (inline) and tus-js-client from the gateway, nothing else.
    st, body, h = gateway.request("GET", "/")
    assert "script-src 'self' 'unsafe-inline';" in h["Content-Security-Policy"], h
    assert '<script src="/static/tus.min.js"></script>' in body
    assert '<a href="/static/tus-js-client-LICENSE.txt">' in body


def test_tus_client_and_licence_served():
    js = open(os.path.join(VENDOR, "tus.min.js"), "rb").read().decode()
    version = open(os.path.join(VENDOR, "VERSION")).read().strip()
    st, body, h = gateway.request("GET", "/static/tus.min.js")
    assert st == 200 and h["Content-Type"] == "text/javascript; charset=utf-8", (st, h)
    assert h["X-Content-Type-Options"] == "nosniff" and "max-age=" in h["Cache-Control"], h
    banner, _, rest = body.partition("\n")
    assert banner.startswith("/*! tus-js-client %s" % version) and "MIT License" in banner, banner
    assert "/static/tus-js-client-LICENSE.txt" in banner, banner
    assert rest == js.rstrip("\n").rsplit("\n//# sourceMappingURL=", 1)[0] + "\n"
    assert "sourceMappingURL" not in body
    st, body, h = gateway.request("GET", "/static/tus-js-client-LICENSE.txt")
    assert st == 200 and h["Content-Type"] == "text/plain; charset=utf-8", (st, h)
    assert body == open(os.path.join(VENDOR, "LICENSE")).read() and "MIT License" in body
    for path in ("/static/tus.min.js", "/static/tus-js-client-LICENSE.txt"):
        assert gateway.request("HEAD", path)[0] == 200, path
    assert gateway.request("GET", "/static/nothing.js")[0] == 404


def test_page_in_chromium():
    script = os.path.join(t.SRC, "tests/web/ui.mjs")
    rc, out, err = t.run_cmd(["node", script, GW, "web@email.com", "Web12345", tmp,
                              VIDEO, LONGNAME, SILENT, BAD, HUGE, BIG], timeout=400)
    sys.stdout.write(err)
    assert rc == 0, (out, err)
    got = json.loads(out.strip().splitlines()[-1])
    keep = os.environ.get("V2M_ARTIFACTS")   # a folder to keep the screenshots in
    for shot in got["screenshots"]:
        assert os.path.getsize(shot) > 1000, shot
        if keep:
            os.makedirs(keep, exist_ok=True)
            shot = shutil.copy(shot, keep)
        print("screenshot: %s" % shot)
    assert got["downloads"] >= 2, got
    assert got["max_parallel"] == 2, got
    # The large upload: cut with some chunks on the server, carried on from there after the reload.
    r = got["resume"]
    print("resume: %s" % json.dumps(r))
    assert r["size"] == os.path.getsize(BIG) and r["size"] > 30 * 1024 * 1024, r
    assert r["cut_offset"] > 0 and r["cut_offset"] < r["size"], r
    assert r["resumed_at"] == r["cut_offset"], r
    assert r["mp3_bytes"] > 10000, r


def teardown():
    t.stop_all((gateway, converter, notification, auth))


t.run(globals(), "test_web")
