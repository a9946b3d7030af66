#!/usr/bin/python3
"""v2m-admin backup and restore of the embedded deployment.

The four services run on SQLite users, queue and job records (in the store
directory, as by default) and a store directory. Videos are converted, then
`v2m-admin backup` runs while an upload is still arriving and a longer
conversion is under way. Everything is stopped, the backup is restored into a
fresh data directory with `v2m-admin restore`, `v2m-admin requeue` hands the
unfinished jobs back to the queue, and the services started on the restored
data serve the same user, the same jobs and byte-identical MP3s.
"""
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

if not shutil.which("ffmpeg"):
    sys.stderr.write("\n*** SKIP: ffmpeg not installed (make deps installs it) ***\n\n")
    sys.exit(t.SKIP)

tmp = t.tempdir("v2m-backup-")
ADMIN = os.path.join(t.BIN, "v2m-admin")
USER, PASSWORD = "georgio@email.com", "Admin123"
tag = "%d" % os.getpid()
BASE = {"JWT_SECRET": "backup-secret-" + os.urandom(8).hex(), "V2M_LOG_LEVEL": "info",
        "VIDEO_QUEUE": "video-" + tag, "MP3_QUEUE": "mp3-" + tag, "V2M_MAX_UPLOAD": "50M",
        "V2M_RETRY_DELAY": "1", "V2M_LEASE": "3", "V2M_CONVERTER_THREADS": "2"}


def data_env(root):
    """The embedded settings of a deployment whose data lives under root;
    job records default to the store directory (<store>/jobs.db)."""
    env = dict(BASE)
    env.update({"V2M_USERS": "sqlite://%s/users.db" % root, "V2M_STORE": "file://%s/store" % root,
                "V2M_QUEUE": "sqlite://%s/queue.db" % root, "V2M_OUTBOX": "%s/outbox" % root})
    return env


LIVE, RESTORED, BACKUP = tmp + "/live", tmp + "/restored", tmp + "/backup"
os.makedirs(LIVE + "/store")
os.makedirs(RESTORED)
state = {}


def admin(args, root, stdin=None):
    return t.run_cmd([ADMIN] + args, stdin=stdin, env=data_env(root), timeout=300)


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


def video(name, seconds, freq, size="160x120", noise=False):
    audio = ("anoisesrc=color=pink:amplitude=0.3:duration=%d" % seconds if noise else
             "sine=frequency=%d:duration=%d" % (freq, seconds))
    return ffmpeg("%s/%s" % (tmp, name), "-f", "lavfi", "-i",
                  "testsrc2=size=%s:rate=5:duration=%d" % (size, seconds), "-f", "lavfi", "-i",
                  audio, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")


class Deployment:
    def __init__(self, root):
        self.root = root
        env = data_env(root)
        self.services = [t.Service("v2m-auth", env)]
        env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % self.services[0].port
        for name in ("v2m-converter", "v2m-notification", "v2m-gateway"):
            self.services.append(t.Service(name, env))
        self.gw = "http://127.0.0.1:%d" % self.services[-1].port
        self.token = None

    def curl(self, *args):
        p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}"] + list(args),
                           capture_output=True, text=True, timeout=300)
        body, _, code = p.stdout.rpartition("\n")
        return int(code or 0), body

    def login(self):
        code, tok = self.curl("-X", "POST", self.gw + "/login", "-u", "%s:%s" % (USER, PASSWORD))
        assert code == 200, (code, tok)
        self.token = tok

    def auth(self):
        return ["-H", "Authorization: Bearer " + self.token]

    def upload(self, path, *extra):
        code, body = self.curl(*(["-X", "POST", "-F", "file=@%s" % path] + list(extra) +
                                 self.auth() + [self.gw + "/upload"]))
        assert code == 200, (code, body)
        return json.loads(body)["video_fid"]

    def job(self, fid):
        code, body = self.curl(*(self.auth() + [self.gw + "/jobs/" + fid]))
        assert code == 200, (code, body)
        return json.loads(body)

    def jobs(self):
        code, body = self.curl(*(self.auth() + [self.gw + "/jobs"]))
        assert code == 200, (code, body)
        return {j["video_fid"]: j for j in json.loads(body)}

    def wait(self, fid, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.job(fid)
            if j["status"] in ("done", "failed"):
                assert j["status"] == "done", j
                return j
            time.sleep(0.2)
        raise AssertionError("job %s still %s:\n%s" % (fid, j["status"],
                                                       self.services[1].logtext()[-3000:]))

    def download(self, mp3, out):
        code, _ = self.curl(*(["-o", out] + self.auth() + [self.gw + "/download?fid=" + mp3]))
        assert code == 200, code
        return hashlib.sha256(open(out, "rb").read()).hexdigest()

    def stop(self):
        services, self.services = self.services, []
        t.stop_all(reversed(services))


def test_backup_while_running():
    rc, _, err = admin(["user", "add", USER, "--admin", "--password-stdin"], LIVE,
                       stdin=PASSWORD + "\n")
    assert rc == 0, err
    live = state["live"] = Deployment(LIVE)
    live.login()
    videos = [video("clip%d.mp4" % i, 2 + i, 300 + 100 * i) for i in range(3)]
    fids = [live.upload(v) for v in videos]
    done = {}
    for fid in fids:
        j = live.wait(fid)
        done[fid] = j
    sums = {fid: live.download(j["mp3_fid"], "%s/live-%s.mp3" % (tmp, fid))
            for fid, j in done.items()}
    state["done"], state["sums"] = done, sums
    # A longer conversion under way and an upload still arriving during the backup.
    state["long"] = live.upload(video("long.mp4", 600, 0, size="64x48", noise=True))
    slow = video("slow.mp4", 20, 700, size="320x240")
    rate = max(os.path.getsize(slow) // 6, 20000)
    result = {}

    def slow_upload():
        result["fid"] = live.upload(slow, "--limit-rate", str(rate))

    th = threading.Thread(target=slow_upload)
    th.start()
    deadline = time.time() + 10
    while not glob.glob(LIVE + "/store/videos/.tmp-*") and time.time() < deadline:
        time.sleep(0.05)
    assert glob.glob(LIVE + "/store/videos/.tmp-*"), "the slow upload never reached the store"
    before = live.jobs()
    print("the long job is %s at the backup" % before[state["long"]]["status"])
    rc, out, err = admin(["backup", BACKUP], LIVE)
    assert rc == 0, (out, err)
    assert th.is_alive(), "the upload ended before the backup did; nothing was in flight"
    print(out, end="")
    th.join(120)
    assert "fid" in result
    state["slow"], state["before"] = result["fid"], before
    manifest = json.load(open(BACKUP + "/MANIFEST.json"))
    state["manifest"] = manifest
    assert manifest["format"] == "v2m-backup 1", manifest
    assert manifest["order"] == ["users", "jobs", "queue", "store"], manifest
    assert manifest["databases"]["users"]["rows"]["user"] == 1, manifest
    assert manifest["databases"]["jobs"]["source"] == LIVE + "/store/jobs.db", manifest
    njobs = manifest["databases"]["jobs"]["rows"]["jobs"]
    assert njobs >= 4, manifest  # three done, the long one; the slow one not yet
    assert manifest["store"]["mp3s"]["files"] >= 3, manifest
    for name in ("users.db", "jobs.db", "queue.db"):
        assert os.path.getsize(BACKUP + "/" + name) == manifest["databases"][name[:-3]]["bytes"]
        assert not os.path.exists(BACKUP + "/" + name + "-wal"), name
    # Only finished files: no temporary files, no unfinished uploads, no jobs.db.
    names = [os.path.basename(p) for p in glob.glob(BACKUP + "/store/*/*") +
             glob.glob(BACKUP + "/store/*/.*")]
    assert names and not [n for n in names if n.startswith(".")], names
    assert not os.path.exists(BACKUP + "/store/jobs.db")
    # Every done job of the copy finds its video and MP3 in the copy's store.
    db = sqlite3.connect(BACKUP + "/jobs.db")
    rows = db.execute("SELECT video_fid, status, mp3_fid FROM jobs").fetchall()
    db.close()
    assert len(rows) == njobs and result["fid"] not in [r[0] for r in rows], rows
    assert not os.path.exists("%s/store/videos/%s" % (BACKUP, result["fid"]))
    for fid, status, mp3 in rows:
        assert os.path.exists("%s/store/videos/%s.json" % (BACKUP, fid)), fid
        if status == "done":
            for f in (mp3, mp3 + ".json"):
                assert os.path.exists("%s/store/mp3s/%s" % (BACKUP, f)), (fid, f)
    for fid, j in done.items():
        data = open("%s/store/mp3s/%s" % (BACKUP, j["mp3_fid"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == sums[fid], fid
        meta = json.load(open("%s/store/mp3s/%s.json" % (BACKUP, j["mp3_fid"])))
        assert meta["length"] == len(data), meta


def test_refusals():
    # A directory that is not empty, without --force.
    rc, _, err = admin(["backup", BACKUP], LIVE)
    assert rc != 0 and "not empty" in err and "--force" in err, err
    # Restoring over live data, without --force.
    rc, _, err = admin(["restore", BACKUP], LIVE)
    assert rc != 0 and "--force" in err, err
    # Not a backup.
    os.makedirs(tmp + "/nothing")
    rc, _, err = admin(["restore", tmp + "/nothing"], RESTORED)
    assert rc != 0 and "MANIFEST.json" in err, err
    rc, _, err = admin(["backup"], LIVE)
    assert rc == 2 and "DIR" in err, err
    # Other backends: pointed at the documented tools, no password shown.
    env = data_env(LIVE)
    env["V2M_USERS"] = "mysql://auth_user:Secret99@127.0.0.1:3306/auth"
    rc, _, err = t.run_cmd([ADMIN, "backup", tmp + "/other"], env=env)
    assert rc == 1 and "mysql://" in err and "OPERATIONS" in err and "Secret99" not in err, err
    # --force replaces a backup (into a scratch copy, the real one is restored below).
    shutil.copytree(BACKUP, tmp + "/again")
    open(tmp + "/again/store/mp3s/stale", "w").write("x")
    os.unlink(tmp + "/again/MANIFEST.json")
    rc, out, err = admin(["backup", tmp + "/again", "--force"], LIVE)
    assert rc == 0, err
    assert not os.path.exists(tmp + "/again/store/mp3s/stale")
    assert os.path.exists(tmp + "/again/MANIFEST.json")


def test_restore_serves_the_same_downloads():
    state["live"].stop()
    rc, out, err = admin(["restore", BACKUP], RESTORED)
    assert rc == 0, (out, err)
    assert "restore complete" in out, out
    # Jobs the copy left unfinished have a message (restore gave the missing ones one).
    assert "requeued" in out, out
    rc, out, err = admin(["requeue", "--list"], RESTORED)
    assert rc == 0, err
    unfinished = [line.split("\t")[0] for line in out.splitlines()]
    assert set(unfinished) <= {state["long"]}, out
    db = sqlite3.connect(RESTORED + "/queue.db")
    for fid in unfinished:
        n = db.execute("SELECT count(*) FROM messages WHERE queue = ? AND instr(body, ?) > 0",
                       (BASE["VIDEO_QUEUE"], fid)).fetchone()[0]
        assert n == 1, (fid, n)
    db.close()
    rc, _, err = admin(["requeue"], RESTORED)
    assert rc == 2 and "--list" in err, err
    rc, _, err = admin(["requeue", "0" * 24], RESTORED)
    assert rc == 1 and "no job left queued" in err, err
    # A second restore into the now restored deployment is refused.
    rc, _, err = admin(["restore", BACKUP], RESTORED)
    assert rc != 0 and "--force" in err, err
    dep = state["restored"] = Deployment(RESTORED)
    dep.login()  # the same user, the same password
    jobs = dep.jobs()
    backed = set(state["before"]) | {state["long"]}
    assert set(jobs) == backed, (sorted(jobs), sorted(backed))
    assert state["slow"] not in jobs
    for fid, j in state["done"].items():
        r = jobs[fid]
        for k in ("status", "mp3_fid", "filename", "created_at", "size"):
            assert r.get(k) == j.get(k), (k, r, j)
        got = dep.download(j["mp3_fid"], "%s/restored-%s.mp3" % (tmp, fid))
        assert got == state["sums"][fid], fid
    # The conversion under way at the backup ends on the restored side.
    j = dep.wait(state["long"], timeout=300)
    dep.download(j["mp3_fid"], tmp + "/restored-long.mp3")
    dep.stop()


def teardown():
    for k in ("live", "restored"):
        if state.get(k) and state[k].services:
            state[k].stop()


t.run(globals(), "test_backup_embedded")
