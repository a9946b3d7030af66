#!/usr/bin/python3
"""The v2m command line end to end, on the embedded deployment.

The real binary runs through pipes (plain lines, JSON for scripts) and on a
pseudo-terminal (the progress bar redrawn in place with carriage returns):
convert with options into a directory, no overwriting without --force,
login and logout, an invalid session, the status table, download by video
id, V2M_URL with a trailing slash and with a path prefix, an unreachable
server, an upload (tus, in pieces) killed halfway and resumed by the next run,
the fallback to POST /upload for a server without /files/, and a wait that times out while no converter runs (last: the
converter is stopped for it), then a job expired by a gateway keeping MP3s a
second.
Exit codes: 0 ok, 1 failed/refused, 2 usage, 3 unreachable, 4 session, 5 timeout.
"""
import base64
import fcntl
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

tmp = t.tempdir("v2m-cli-")
SECRET = "cli-secret-" + os.urandom(8).hex()
if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
    sys.stderr.write("\n*** SKIP: ffmpeg/ffprobe not installed (make deps installs them) ***\n\n")
    sys.exit(t.SKIP)

tag = "%d" % os.getpid()
env = {"JWT_SECRET": SECRET, "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
       "MP3_QUEUE": "mp3-" + tag, "V2M_MAX_UPLOAD": "20M", "V2M_RETRY_DELAY": "1",
       "V2M_CONVERTER_THREADS": "2", "V2M_PUBLIC_URL": "http://v2m.test",
       "V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
       "V2M_JOBS": "sqlite://%s/jobs.db" % tmp, "V2M_QUEUE": "sqlite://%s/queue.db" % tmp,
       "V2M_OUTBOX": "%s/outbox" % tmp}
os.makedirs(tmp + "/store")
EMAIL = "georgio@email.com"
rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", EMAIL,
                        "--password-stdin"], stdin="Admin123\n", env=env)
assert rc == 0, err

auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port
converter = t.Service("v2m-converter", dict(env, V2M_MP3_BITRATE="128"))
gateway = t.Service("v2m-gateway", env)
GW = "http://127.0.0.1:%d" % gateway.port
CLI = os.path.join(t.BIN, "v2m")
CENV = {"V2M_URL": GW, "XDG_CONFIG_HOME": tmp + "/cfg", "V2M_TOKEN": ""}


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


def video(name, seconds=3):
    return ffmpeg(tmp + "/" + name, "-f", "lavfi", "-i",
                  "testsrc2=size=160x120:rate=10:duration=%d" % seconds,
                  "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:duration=%d" % seconds,
                  "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")


A = video("clip-a.mp4")
B = video("clip-b.mov")


def v2m(*args, env=None, stdin=None, cwd=None, timeout=300):
    full = dict(os.environ)
    full.update(CENV)
    full.update(env or {})
    p = subprocess.run([CLI] + list(args), input=stdin, env=full, capture_output=True,
                       text=True, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def v2m_pty(*args, env=None, cwd=None, cols=None):
    """Run on a pseudo-terminal (cols wide when given): exit code and
    everything it wrote."""
    full = dict(os.environ)
    full.update(CENV)
    full.update(env or {})
    master, slave = pty.openpty()
    if cols:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    p = subprocess.Popen([CLI] + list(args), stdin=slave, stdout=slave, stderr=slave, env=full,
                         cwd=cwd)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=300), out.decode("utf-8", "replace")


def bitrate(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,bit_rate",
                        "-of", "json", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["streams"][0]


def stored_files():
    return sorted(os.listdir(tmp + "/store"))


def jobs():
    rc, out, err = v2m("status", "--json")
    assert rc == 0, err
    return json.loads(out)


def test_login_says_who_and_keeps_the_token():
    rc, out, err = v2m("login", EMAIL, "--password-stdin", stdin="Admin123\n")
    assert rc == 0 and out == "Logged in as %s\n" % EMAIL, (rc, out, err)
    assert open(tmp + "/cfg/v2m/token").read().count(".") == 2
    rc, out, err = v2m("login", EMAIL, "--password-stdin", "--print-token", stdin="Admin123\n")
    assert rc == 0 and out.strip() == open(tmp + "/cfg/v2m/token").read().strip(), (rc, out, err)
    rc, out, err = v2m("login", EMAIL, "--password-stdin", stdin="nope-nope\n")
    assert rc == 4 and "wrong email or password" in err, (rc, out, err)


def test_convert_two_files_into_a_directory_through_a_pipe():
    rc, out, err = v2m("convert", A, B, "-o", tmp + "/out", "--bitrate", "96")
    assert rc == 0, (rc, out, err)
    for name in ("clip-a.mp3", "clip-b.mp3"):
        st = bitrate(tmp + "/out/" + name)
        assert st["codec_name"] == "mp3" and st["bit_rate"] == "96000", st
    assert "\r" not in err and "\x1b" not in err, err
    assert "%s: uploading" % A in err and "%s: done -> %s/out/clip-a.mp3" % (A, tmp) in err, err
    assert "%s: done -> %s/out/clip-b.mp3" % (B, tmp) in err, err
    assert sorted(os.listdir(tmp + "/out")) == ["clip-a.mp3", "clip-b.mp3"]


def test_convert_refuses_to_overwrite_and_uploads_nothing():
    before_jobs, before_files = len(jobs()), stored_files()
    old = open(tmp + "/out/clip-a.mp3", "rb").read()
    rc, out, err = v2m("convert", A, "-o", tmp + "/out")
    assert rc == 1 and "clip-a.mp3 already exists (use --force" in err, (rc, out, err)
    assert "not uploaded" in err and "uploading" not in err, err
    assert len(jobs()) == before_jobs and stored_files() == before_files
    assert open(tmp + "/out/clip-a.mp3", "rb").read() == old
    # One refused, one converted: the exit code says a file failed.
    rc, out, err = v2m("convert", A, B, "-o", tmp + "/out2", "--json")
    assert rc == 0, err
    rc, out, err = v2m("convert", A, video("clip-c.mp4"), "-o", tmp + "/out2", "--json")
    res = json.loads(out)
    assert rc == 1 and [r["status"] for r in res] == ["failed", "done"], (rc, out, err)
    assert res[1]["output"] == tmp + "/out2/clip-c.mp3" and os.path.exists(res[1]["output"])


def test_convert_force_overwrites():
    rc, out, err = v2m("convert", A, "-o", tmp + "/out", "--force", "--bitrate", "64")
    assert rc == 0, (rc, out, err)
    assert bitrate(tmp + "/out/clip-a.mp3")["bit_rate"] == "64000"
    assert not [f for f in os.listdir(tmp + "/out") if f.startswith(".")], os.listdir(tmp + "/out")


def test_convert_on_a_terminal_draws_a_progress_bar():
    rc, text = v2m_pty("convert", B, "-o", tmp + "/tty")
    assert rc == 0, text
    assert text.count("\r") >= 3 and "\x1b[K" in text, repr(text)
    assert "upload" in text and "convert" in text and "%" in text and "[#" in text, repr(text)
    last = text.replace("\r\n", "\n").split("\n")
    done = [line for line in last if "done -> %s/tty/clip-b.mp3" % tmp in line]
    assert done and done[-1].split("\r")[-1].replace("\x1b[K", "").startswith(B), repr(text)
    assert bitrate(tmp + "/tty/clip-b.mp3")["codec_name"] == "mp3"
    # upload --wait shows the same on a terminal, the ids on its output.
    rc, text = v2m_pty("upload", A, "--wait")
    assert rc == 0 and "video_fid " in text and "mp3_fid " in text and "\r" in text, repr(text)


def test_status_table_and_json():
    rc, out, err = v2m("status")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "FILE", "STATUS", "DONE", "SIZE", "CREATED"], out
    j = jobs()
    row = [line for line in lines if line.startswith(j[0]["video_fid"])]
    assert row and " done " in row[0] and "100%" in row[0] and "KiB" in row[0], out
    assert "ago)" in row[0], out
    rc, out, err = v2m("status", j[0]["video_fid"])
    assert rc == 0 and "mp3: %s" % j[0]["mp3_fid"] in out, out
    rc, out, err = v2m("status", j[0]["video_fid"], "--json")
    assert rc == 0 and json.loads(out)["video_fid"] == j[0]["video_fid"], out


def test_download_by_video_id_names_the_file_after_the_video():
    j = [x for x in jobs() if x["filename"] == "clip-b.mov" and x["status"] == "done"][0]
    d = tmp + "/dl"
    os.makedirs(d)
    rc, out, err = v2m("download", j["video_fid"], cwd=d)
    assert rc == 0 and os.listdir(d) == ["clip-b.mp3"], (rc, err, os.listdir(d))
    assert bitrate(d + "/clip-b.mp3")["codec_name"] == "mp3"
    rc, out, err = v2m("download", j["video_fid"], cwd=d)
    assert rc == 1 and "clip-b.mp3 already exists" in err, (rc, err)
    rc, out, err = v2m("download", j["video_fid"], "--force", cwd=d)
    assert rc == 0 and os.listdir(d) == ["clip-b.mp3"], (rc, err)
    # An MP3 id: the name comes from the answer's Content-Disposition.
    d2 = tmp + "/dl2"
    os.makedirs(d2)
    rc, out, err = v2m("download", j["mp3_fid"], cwd=d2)
    assert rc == 0 and os.listdir(d2) == ["clip-b.mp3"], (rc, err, os.listdir(d2))
    rc, out, err = v2m("download", j["mp3_fid"], cwd=d2)
    assert rc == 1 and "already exists" in err and os.listdir(d2) == ["clip-b.mp3"], (rc, err)
    # -o still works.
    rc, out, err = v2m("download", j["video_fid"], "-o", d2 + "/named.mp3")
    assert rc == 0 and os.path.exists(d2 + "/named.mp3"), err
    # -o DIR: the video's name in DIR.
    rc, out, err = v2m("download", j["video_fid"], "-o", d)
    assert rc == 1 and "%s/clip-b.mp3 already exists" % d in err, (rc, err)
    os.unlink(d + "/clip-b.mp3")
    rc, out, err = v2m("download", j["video_fid"], "-o", d)
    assert rc == 0 and os.listdir(d) == ["clip-b.mp3"], (rc, err, os.listdir(d))
    rc, out, err = v2m("download", "0" * 24, cwd=d2)
    assert rc == 1 and "404" in err, (rc, err)


def test_url_with_a_trailing_slash_and_an_unreachable_server():
    rc, out, err = v2m("status", "--json", env={"V2M_URL": GW + "/"})
    assert rc == 0 and isinstance(json.loads(out), list), (rc, out, err)
    rc, out, err = v2m("status", env={"V2M_URL": "http://127.0.0.1:1/"})
    assert rc == 3 and "cannot reach the server at http://127.0.0.1:1" in err, (rc, err)


class PrefixProxy(http.server.BaseHTTPRequestHandler):
    """The gateway under /v2m/, as behind a reverse proxy."""
    protocol_version = "HTTP/1.1"

    def forward(self):
        if not self.path.startswith("/v2m/"):
            self.answer(404, {}, b"not under /v2m/\n")
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "expect", "connection")}
        c = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        try:
            c.request(self.command, self.path[4:], body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            self.answer(r.status, {k: v for k, v in r.getheaders()
                                   if k.lower() not in ("content-length", "connection",
                                                        "transfer-encoding")}, data)
        finally:
            c.close()

    def answer(self, status, headers, data):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PATCH = forward

    def log_message(self, *args):
        pass


def test_url_with_a_path_prefix():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PrefixProxy)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = "http://127.0.0.1:%d/v2m/" % srv.server_address[1]
        cfg = {"V2M_URL": url, "XDG_CONFIG_HOME": tmp + "/cfg-prefix"}
        rc, out, err = v2m("login", EMAIL, "--password-stdin", stdin="Admin123\n", env=cfg)
        assert rc == 0 and out == "Logged in as %s\n" % EMAIL, (rc, out, err)
        rc, out, err = v2m("convert", A, "-o", tmp + "/prefix", env=cfg)
        assert rc == 0 and bitrate(tmp + "/prefix/clip-a.mp3")["codec_name"] == "mp3", (rc, err)
        rc, out, err = v2m("status", env=dict(cfg, V2M_URL=url.rstrip("/")))
        assert rc == 0 and "clip-a.mp4" in out, (rc, out, err)
    finally:
        srv.shutdown()
        srv.server_close()


class NoTusProxy(PrefixProxy):
    """Stands in for an older gateway (the original Python one): no /files/,
    everything else forwarded to the real gateway. Only the client's fallback
    to POST /upload is shown by it, not how the real gateway speaks tus."""
    seen = []

    def forward(self):
        NoTusProxy.seen.append("%s %s" % (self.command, self.path))
        if self.path.startswith("/v2m/files"):
            self.answer(404, {"Content-Type": "text/plain"}, b"Not Found\n")
            return
        PrefixProxy.forward(self)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PATCH = forward


def test_a_server_without_tus_gets_the_file_by_post_upload():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoTusProxy)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = "http://127.0.0.1:%d/v2m" % srv.server_address[1]
        rc, out, err = v2m("convert", A, "-o", tmp + "/notus", env={"V2M_URL": url})
        assert rc == 0 and bitrate(tmp + "/notus/clip-a.mp3")["codec_name"] == "mp3", (rc, err)
        assert "POST /v2m/files/" in NoTusProxy.seen and "POST /v2m/upload" in NoTusProxy.seen, \
            NoTusProxy.seen
        assert not [s for s in NoTusProxy.seen if s.startswith("PATCH")], NoTusProxy.seen
    finally:
        srv.shutdown()
        srv.server_close()


def big_video():
    """About 40 MiB (raw video frames), 36 s of sound."""
    path = tmp + "/big.mkv"
    if not os.path.exists(path):
        ffmpeg(path, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=36",
               "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:duration=36",
               "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
    return path


def duration(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "json", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return float(json.loads(p.stdout)["format"]["duration"])


def saved_uploads(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return []  # not there yet, or being rewritten


def killed_halfway(path, gw, cfg, state, token):
    """Start `v2m convert path` at 4 MiB/s and SIGKILL it once the gateway
    holds at least 1 MiB at the URL the state file names: the bytes held,
    and what it wrote on stderr."""
    full = dict(os.environ)
    full.update(CENV)
    full.update(cfg, V2M_UPLOAD_RATE="4M")
    p = subprocess.Popen([CLI, "convert", path, "-o", tmp + "/never"], env=full,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    held = 0
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        saved = saved_uploads(state)
        if saved:
            st, _, h = t.request(gw.port, "HEAD", saved[0]["url"][saved[0]["url"].index("/files/"):],
                                 {"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + token})
            assert st == 200 and h["Upload-Length"] == str(os.path.getsize(path)), (st, h)
            held = int(h["Upload-Offset"])
            if held >= 1 << 20:
                break
        time.sleep(0.1)
    p.kill()
    _, err = p.communicate(timeout=60)
    return held, err.decode("utf-8", "replace")


def test_an_interrupted_upload_resumes_where_it_stopped():
    big_file = big_video()
    size = os.path.getsize(big_file)
    assert size > 32 << 20, size
    # A gateway that takes files this large, on the same stores.
    big = t.Service("v2m-gateway", dict(env, V2M_MAX_UPLOAD="100M"))
    url = "http://127.0.0.1:%d" % big.port
    cfg = {"V2M_URL": url, "XDG_STATE_HOME": tmp + "/state"}
    state = tmp + "/state/v2m/uploads"
    token = open(tmp + "/cfg/v2m/token").read().strip()
    try:
        # First run: 4 MiB/s, killed once the server holds some of the file.
        t0 = time.time()
        held, err = killed_halfway(big_file, big, cfg, state, token)
        first = time.time() - t0
        assert held >= 1 << 20, (held, err)
        assert os.stat(state).st_mode & 0o777 == 0o600, oct(os.stat(state).st_mode)
        saved = saved_uploads(state)
        assert len(saved) == 1 and saved[0]["user"] == EMAIL, saved
        assert saved[0]["path"] == os.path.realpath(big_file) and saved[0]["size"] == size, saved
        assert not os.path.exists(tmp + "/never/big.mp3")
        # Second run, through a pipe: it carries on from the server's offset.
        t0 = time.time()
        rc, out, err = v2m("convert", big_file, "-o", tmp + "/big", env=cfg)
        second = time.time() - t0
        assert rc == 0, (rc, out, err)
        assert "\r" not in err and "\x1b" not in err, err
        line = [x for x in err.splitlines() if "resuming upload at" in x]
        assert line and line[0].startswith(big_file + ": resuming upload at "), err
        assert int(line[0].split(" at ")[1].split("%")[0]) >= held * 100 // size >= 2, line
        assert "MiB of %.1f MiB)" % (size / 1048576) in line[0], line
        pieces = [x for x in err.splitlines() if x.startswith(big_file + ": uploaded ")]
        assert len(pieces) >= 3 and "MiB/s" in pieces[0], err
        assert err.index("resuming upload at") < err.index(pieces[0]), err
        # One upload made on the server, not two; the MP3 is the whole sound.
        logtext = big.logtext()
        assert logtext.count("tus upload created") == 1, logtext[-3000:]
        assert "done -> %s/big/big.mp3" % tmp in err, err
        assert bitrate(tmp + "/big/big.mp3")["codec_name"] == "mp3"
        assert abs(duration(tmp + "/big/big.mp3") - 36) < 1.5, duration(tmp + "/big/big.mp3")
        assert saved_uploads(state) == [], open(state).read()
        print("    size %d, held %d when killed after %.1fs, %s; second run %.1fs"
              % (size, held, first, line[0].split(": ", 1)[1], second), flush=True)
        # Cut short again, then the file changes: its old upload is terminated
        # and a new one made from the start, on a terminal this time.
        held, err = killed_halfway(big_file, big, cfg, state, token)
        assert held >= 1 << 20, (held, err)
        st = os.stat(big_file)
        os.utime(big_file, (st.st_atime, st.st_mtime + 10))
        rc, text = v2m_pty("convert", big_file, "-o", tmp + "/big-tty",
                           env=dict(cfg, V2M_UPLOAD_RATE="16M"), cols=132)
        assert rc == 0, text
        assert "resuming" not in text, text
        ups = [x for x in text.split("\r") if " upload " in x]
        assert len(ups) >= 5 and text.count("\r") >= 5, repr(text)
        assert [x for x in ups if "MiB/s ETA " in x and "%" in x and "[#" in x], repr(text)
        logtext = big.logtext()
        assert logtext.count("tus upload created") == 3, logtext[-3000:]
        assert logtext.count("tus upload terminated") == 1, logtext[-3000:]
        assert saved_uploads(state) == [], open(state).read()
        assert bitrate(tmp + "/big-tty/big.mp3")["codec_name"] == "mp3"
    finally:
        big.stop()


class CutOnce:
    """A TCP relay to a gateway that cuts the connection once, after cut_at
    bytes came from the client: a network lost in the middle of a piece."""

    def __init__(self, port, cut_at):
        self.port, self.cut_at, self.sent, self.cut = port, cut_at, 0, False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self.pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, False), daemon=True).start()

    def pump(self, a, b, upstream):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if upstream:
                    self.sent += len(data)
                    if not self.cut and self.sent > self.cut_at:
                        self.cut = True
                        break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def test_a_connection_lost_in_a_piece_is_carried_on_in_the_same_run():
    big_file = big_video()
    size = os.path.getsize(big_file)
    big = t.Service("v2m-gateway", dict(env, V2M_MAX_UPLOAD="100M"))
    relay = CutOnce(big.port, 12 << 20)
    try:
        cfg = {"V2M_URL": relay.url, "XDG_STATE_HOME": tmp + "/state-cut"}
        rc, out, err = v2m("convert", big_file, "-o", tmp + "/cut", "--force", env=cfg)
        assert rc == 0 and relay.cut, (rc, relay.cut, err)
        assert "resuming" not in err, err
        logtext = big.logtext()
        assert logtext.count("tus upload created") == 1, logtext[-3000:]
        # The cut PATCH ended early; the next went on from where the server was.
        patches = [x for x in logtext.splitlines() if "method=PATCH" in x]
        assert len(patches) >= 6 and "status=204" in patches[-2], patches
        assert abs(duration(tmp + "/cut/big.mp3") - 36) < 1.5
        assert saved_uploads(tmp + "/state-cut/v2m/uploads") == []
    finally:
        relay.close()
        big.stop()


def forged_token():
    """A well-formed token signed with another secret (another service's, or
    one changed since): the gateway refuses it."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    body = b64(json.dumps({"username": EMAIL, "admin": False, "iat": now,
                           "exp": now + 3600}).encode())
    sig = hmac.new(b"another secret", (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def test_an_invalid_session_says_to_log_in_again():
    for args in (("status",), ("convert", A, "-o", tmp + "/never"), ("download", "0" * 24)):
        rc, out, err = v2m(*args, env={"V2M_TOKEN": forged_token()})
        assert rc == 4 and "your session has expired or was revoked: run `v2m login EMAIL`" in err, \
            (args, rc, err)
    assert not os.path.exists(tmp + "/never/clip-a.mp3")


def test_logout_then_a_command_says_to_log_in():
    rc, out, err = v2m("logout")
    assert rc == 0 and out == "Logged out\n" and not os.path.exists(tmp + "/cfg/v2m/token"), \
        (rc, out, err)
    rc, out, err = v2m("status")
    assert rc == 4 and "not logged in: run `v2m login EMAIL`" in err, (rc, err)
    rc, out, err = v2m("login", EMAIL, "--password-stdin", stdin="Admin123\n")
    assert rc == 0, err


def test_a_revoked_session_says_to_log_in_again():
    rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "passwd", EMAIL,
                            "--password-stdin"], stdin="Changed123\n", env=env)
    assert rc == 0, err
    # auth refuses the old tokens once its revocation cache has caught up.
    deadline = time.time() + 60
    while True:
        rc, out, err = v2m("status")
        if rc != 0 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert rc == 4 and "your session has expired or was revoked: run `v2m login EMAIL`" in err, \
        (rc, err)
    rc, out, err = v2m("login", EMAIL, "--password-stdin", stdin="Admin123\n")
    assert rc == 4 and "wrong email or password" in err, (rc, err)
    rc, out, err = v2m("login", EMAIL, "--password-stdin", stdin="Changed123\n")
    assert rc == 0 and v2m("status")[0] == 0, (rc, err)


def test_usage_errors():
    rc, out, err = v2m("convert")
    assert rc == 2 and "usage:" in err, (rc, err)
    rc, out, err = v2m("convert", A, "--bitrat", "3")
    assert rc == 2 and "unknown convert option '--bitrat'" in err, (rc, err)
    rc, out, err = v2m("--help")
    assert rc == 0 and "Exit codes:" in out and "5 timed out" in out, out


def test_a_wait_without_a_converter_times_out():
    converter.stop()
    rc, out, err = v2m("convert", A, "-o", tmp + "/late", "--timeout", "2")
    assert rc == 5 and "timed out after 0:02 waiting for job" in err, (rc, out, err)
    assert "failed" in err and not os.path.exists(tmp + "/late/clip-a.mp3"), err
    rc, out, err = v2m("upload", A, "--wait", "--timeout", "1")
    assert rc == 5 and "timed out" in err and "video_fid " in out, (rc, out, err)
    vfid = out.split("video_fid ")[1].split()[0]
    rc, out, err = v2m("download", vfid, cwd=tmp)
    assert rc == 1 and "job %s is not done yet (queued)" % vfid in err, (rc, err)
    rc, text = v2m_pty("convert", B, "-o", tmp + "/late", "--timeout", "1")
    assert rc == 5 and "timed out" in text and "queued" in text, repr(text)
    # Ctrl-C while waiting: the line is ended, nothing is left behind.
    full = dict(os.environ)
    full.update(CENV)
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, "convert", B, "-o", tmp + "/late"], stdin=slave, stdout=slave,
                         stderr=slave, env=full)
    os.close(slave)
    text = b""
    while b"convert " not in text:
        r, _, _ = select.select([master], [], [], 60)
        assert r, text
        text += os.read(master, 65536)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=60) == -signal.SIGINT
    try:
        text += os.read(master, 65536)
    except OSError:
        pass
    os.close(master)
    assert b"v2m: interrupted" in text, text
    assert not [f for f in os.listdir(tmp + "/late") if f.endswith(".mp3") or f.startswith(".")]


def test_an_expired_job_says_so():
    # Last: a gateway that keeps MP3s for a second expires every finished job.
    j = [x for x in jobs() if x["filename"] == "clip-b.mov" and x["status"] == "done"][0]
    short = t.Service("v2m-gateway", dict(env, V2M_KEEP_MP3="1s", V2M_JANITOR_INTERVAL="1s"))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if [x for x in jobs() if x["video_fid"] == j["video_fid"]][0]["status"] == "expired":
                break
            time.sleep(0.5)
        rc, out, err = v2m("status", j["video_fid"])
        assert rc == 0 and " expired " in out, out
        rc, out, err = v2m("download", j["video_fid"], "-o", tmp + "/expired.mp3")
        assert rc == 1 and "the job has expired" in err, (rc, err)
        assert not os.path.exists(tmp + "/expired.mp3")
    finally:
        short.stop()


def teardown():
    t.stop_all((gateway, converter, auth))


t.run(globals(), "test_cli")
