#!/usr/bin/python3
"""Chaos run: uploads under kills and restarts, then nothing may be lost.

    chaos.py [embedded|distributed]...     (default: both, one after the other)

On each deployment the four real binaries run (two converters). Five
clients (threads, one user each) upload 50 videos of 2 s to 2.5 min while the
harness SIGKILLs a random converter every few seconds and starts a new one,
kills one converter while its MP3 is being written to the store, kills and
restarts the gateway once (clients retry what was cut, as a real client
does), kills the notification service once and, on the distributed
deployment, restarts RabbitMQ once. Then it checks:

  - every accepted upload ends `done` with one MP3 of its video's length
    (ffprobe, within 0.1 s); jobs made by uploads whose answer was cut off
    count as extra jobs and must end `done` too;
  - one "ready" mail per job; delivery is at least once, so duplicates are
    counted and bounded by the messages in flight at each kill or restart;
  - nothing left over: no .tmp-* file or GridFS chunk without its files
    document, no resumable-upload record, no video without its job (videos
    are kept: V2M_KEEP_VIDEO is left at 24 h), no message in any queue;
  - every service answers /healthz and /readyz and stops cleanly on SIGTERM.

It prints the figures (uploads, kills, restarts, redeliveries, duplicates,
leftovers, wall time) and exits 1 when a check fails, 77 when the
distributed servers are absent (run it under tests/harness/services.sh, as
`make chaos` does). V2M_BIN picks the binaries (default build/bin, the
Release build: conversions are the bulk of the work and the time budget is
tight); V2M_CHAOS_SEED repeats a run's random choices.
"""
import email
import email.policy
import glob
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
os.environ.setdefault("V2M_BIN", os.path.join(ROOT, "build/bin"))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))
import v2mtest as t  # noqa: E402

CLIENTS = 5
VIDEOS = 50
CONVERTERS = 2
CONVERTER_THREADS = 2
NOTIFICATION_THREADS = 2
KILL_EVERY = (2.0, 5.0)   # seconds between random converter kills
JOB_TIMEOUT = 240         # for every job to end, from the first upload
EXTRA_LONG = 3            # long videos uploaded for the kill while writing, at most
TOLERANCE = 0.1           # seconds, MP3 length against the video's


def log(msg):
    print("chaos: %s" % msg, flush=True)


# ------------------------------------------------------------------ videos

def video_plan(seed):
    """(name, seconds, noise) for every video: three of 150 s (past
    V2M_SPLIT_MIN, so encoded in segments on both cores, and long enough to
    be killed while the MP3 is written), the rest 2 to 40 s."""
    rnd = random.Random(seed)
    plan = []
    for i in range(VIDEOS):
        secs = 150 if i in (3, 21, 38) else rnd.randint(2, 40)
        noise = i % 3 == 0 or secs == 150   # noise makes big MP3s, tones tiny ones
        plan.append(("chaos-%02d-%ds.mp4" % (i, secs), secs, noise))
    return plan


def make_videos(plan, d):
    """The videos in d (kept there for the next run): a tiny picture (MPEG-4
    part 2, cheap to make) and AAC audio in MP4; (path, audio seconds)."""
    from concurrent.futures import ThreadPoolExecutor
    os.makedirs(d, exist_ok=True)

    def one(item):
        name, secs, noise = item
        path = os.path.join(d, name)
        if not os.path.exists(path):
            audio = ("anoisesrc=color=pink:amplitude=0.3:duration=%d" % secs if noise
                     else "sine=frequency=%d:duration=%d" % (200 + 7 * secs, secs))
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                            "testsrc2=size=32x24:rate=2:duration=%d" % secs, "-f", "lavfi",
                            "-i", audio, "-c:v", "mpeg4", "-c:a", "aac", "-shortest",
                            path + ".part.mp4"], check=True)
            os.rename(path + ".part.mp4", path)
        return path, probe_duration(path, "a:0")

    with ThreadPoolExecutor(2) as ex:
        return list(ex.map(one, plan))


def probe_duration(path, stream=None):
    args = ["ffprobe", "-v", "error"]
    if stream:
        args += ["-select_streams", stream, "-show_entries", "stream=duration"]
    else:
        args += ["-show_entries", "format=duration"]
    p = subprocess.run(args + ["-of", "csv=p=0", path], capture_output=True, text=True)
    try:
        return float(p.stdout.strip().splitlines()[0].rstrip(","))
    except (ValueError, IndexError):
        return None


# ------------------------------------------------------------------ a run

class Run:
    def __init__(self, mode, videos, seed):
        self.mode, self.videos, self.rnd = mode, videos, random.Random(seed)
        self.tmp = t.tempdir("v2m-chaos-%s-" % mode)
        self.lock = threading.RLock()   # the gateway and notification, the figures
        self.conv_lock = threading.RLock()   # the converters
        self.killed_writing = None
        self.failures = []
        self.fig = {"upload requests": 0, "uploads accepted": 0, "uploads retried": 0,
                    "converter kills (random)": 0, "converter kills (MP3 being written)": 0,
                    "gateway kills": 0, "notification kills": 0, "broker restarts": 0}
        self.retry_reasons = {}
        self.accepted = {}              # video_fid -> (user, video index)
        self.dead = []                  # killed services, for their logs
        self.clients_done = threading.Event()
        self.stop_chaos = threading.Event()
        self.tag = tag = "chaos%d" % os.getpid()
        self.env = {"JWT_SECRET": "chaos-" + os.urandom(8).hex(),
                    "V2M_LINK_SECRET": "chaos-link-" + os.urandom(8).hex(),
                    "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
                    "MP3_QUEUE": "mp3-" + tag, "WEBHOOK_QUEUE": "webhooks-" + tag,
                    "V2M_MAX_UPLOAD": "20M",
                    "V2M_RETRY_DELAY": "1", "V2M_LEASE": "3",
                    "V2M_CONVERTER_THREADS": str(CONVERTER_THREADS),
                    "V2M_NOTIFICATION_THREADS": str(NOTIFICATION_THREADS),
                    "V2M_PUBLIC_URL": "http://v2m.test",
                    # Every kill of a converter counts as an attempt of the
                    # jobs it held; a kill every few seconds is not what the
                    # default 5 is meant for.
                    "V2M_MAX_ATTEMPTS": "50",
                    # The janitor sweeps what the killed gateway left within
                    # the run instead of after an hour.
                    "V2M_JANITOR_INTERVAL": "2s", "V2M_SWEEP_GRACE": "20s",
                    "V2M_SHUTDOWN_GRACE": "3", "ASAN_OPTIONS": "detect_leaks=0"}
        if mode == "distributed":
            self.mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator")
            amqp = t.need_env("V2M_TEST_AMQP_URL", "RabbitMQ")
            smtp = t.need_env("V2M_TEST_SMTP_URL", "SMTP sink")
            self.maildev = t.need_env("V2M_TEST_MAILDEV_API", "SMTP sink")
            self.env.update(t.mysql_database("auth_chaos_%d" % os.getpid()))
            self.env.update({"V2M_STORE": self.mongo, "V2M_QUEUE": amqp, "SMTP_URL": smtp,
                             "MAIL_FROM": "v2m@v2m.test"})
            self.clear_mongo()
            urllib.request.urlopen(urllib.request.Request(self.maildev + "/email/all",
                                                          method="DELETE"), timeout=10).read()
        else:
            d = self.tmp
            os.makedirs(d + "/store")
            self.env.update({"V2M_USERS": "sqlite://%s/users.db" % d,
                             "V2M_STORE": "file://%s/store" % d,
                             "V2M_JOBS": "sqlite://%s/jobs.db" % d,
                             "V2M_QUEUE": "sqlite://%s/queue.db" % d,
                             "V2M_OUTBOX": "%s/outbox" % d})
        self.users = []
        for i in range(CLIENTS):
            user, pw = "chaos%d@email.com" % i, "Chaos%d-pass" % i
            rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", user,
                                    "--password-stdin"], stdin=pw + "\n", env=self.env)
            assert rc == 0, err
            self.users.append((user, pw))

    # ---- services

    def start(self):
        self.auth = t.Service("v2m-auth", self.env)
        self.env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % self.auth.port
        self.converters = [t.Service("v2m-converter", self.env) for _ in range(CONVERTERS)]
        self.notification = t.Service("v2m-notification", self.env)
        self.gateway = t.Service("v2m-gateway", self.env)

    def live(self):
        return [self.auth, self.gateway, self.notification] + self.converters

    def kill(self, svc):
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait()
        svc.log.close()
        self.dead.append(svc)

    def kill_converter(self, i, why):
        with self.conv_lock:
            self.kill(self.converters[i])
            self.converters[i] = t.Service("v2m-converter", self.env)
        with self.lock:
            self.fig[why] += 1

    # ---- a client

    def gw_port(self):
        with self.lock:
            return self.gateway.port

    def call(self, method, path, token=None, body=None, headers=None):
        """One request to the current gateway; None when the connection failed."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        try:
            return t.request(self.gw_port(), method, path, h, body, timeout=30)
        except OSError:
            return None

    def login(self, user, pw):
        import base64
        cred = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
        for _ in range(100):
            r = self.call("POST", "/login", headers={"Authorization": "Basic " + cred})
            if r and r[0] == 200:
                return r[1].strip()
            time.sleep(0.5)
        raise AssertionError("cannot log in as %s: %r" % (user, r))

    def upload(self, token, path):
        """POST /upload with curl, as a user would; (http code or 0, body, curl status)."""
        out = os.path.join(self.tmp, "curl-%d" % threading.get_ident())
        p = subprocess.run(["curl", "-s", "-S", "-o", out, "-w", "%{http_code}", "--max-time", "60",
                            "--limit-rate", "512K", "-H", "Authorization: Bearer " + token,
                            "-F", "file=@%s" % path,
                            "http://127.0.0.1:%d/upload" % self.gw_port()],
                           capture_output=True, text=True)
        body = open(out).read() if os.path.exists(out) else ""
        return int(p.stdout or 0), body, p.returncode

    def upload_video(self, ci, token, vi):
        """Upload video vi until accepted, retrying what was cut or refused
        for now; its video_fid, or None."""
        path = self.videos[vi][0]
        for attempt in range(40):
            with self.lock:
                self.fig["upload requests"] += 1
            code, body, rc = self.upload(token, path)
            if code == 200:
                fid = json.loads(body)["video_fid"]
                with self.lock:
                    self.accepted[fid] = (ci, vi)
                    self.fig["uploads accepted"] += 1
                return fid
            if code in (0, 502, 503, 429) or rc != 0:
                why = "http %d" % code if code else "curl exit %d" % rc
                with self.lock:
                    self.fig["uploads retried"] += 1
                    self.retry_reasons[why] = self.retry_reasons.get(why, 0) + 1
                time.sleep(0.5 + self.rnd.random())
                continue
            self.failures.append("upload of %s refused: %d %s" % (path, code, body))
            return None
        self.failures.append("upload of %s never accepted" % path)
        return None

    def client(self, ci, mine):
        user, pw = self.users[ci]
        token = self.login(user, pw)
        for vi in mine:
            self.upload_video(ci, token, vi)
            time.sleep(self.rnd.uniform(1.0, 5.0))

    # ---- job records through the API

    def job(self, token, fid):
        r = self.call("GET", "/jobs/" + fid, token)
        return json.loads(r[1]) if r and r[0] == 200 else None

    def all_jobs(self, token):
        r = self.call("GET", "/jobs?limit=1000", token)
        return json.loads(r[1]) if r and r[0] == 200 else None

    # ---- chaos

    def chaos(self, t0):
        """Random converter kills until every job has ended; the gateway,
        notification and broker once each at fixed points of the upload phase."""
        once = [(6, self.kill_gateway), (12, self.kill_notification)]
        if self.mode == "distributed":
            once.append((18, self.restart_broker))
        nxt = time.time() + self.rnd.uniform(*KILL_EVERY)
        while not self.stop_chaos.is_set():
            now = time.time()
            if once and now - t0 >= once[0][0]:
                once.pop(0)[1]()
                continue
            if now >= nxt:
                i = self.rnd.randrange(CONVERTERS)
                self.kill_converter(i, "converter kills (random)")
                nxt = time.time() + self.rnd.uniform(*KILL_EVERY)
            time.sleep(0.1)
        for _, fn in once:   # all jobs ended before their time: still do them
            fn()

    def kill_gateway(self):
        with self.lock:
            old = self.gateway
            self.kill(old)
            self.fig["gateway kills"] += 1
        time.sleep(1)   # clients see refused connections for a moment
        with self.lock:
            self.gateway = t.Service("v2m-gateway", self.env)
        log("gateway killed and restarted (port %d -> %d)" % (old.port, self.gateway.port))

    def kill_notification(self):
        with self.lock:
            self.kill(self.notification)
            self.fig["notification kills"] += 1
        time.sleep(1)
        with self.lock:
            self.notification = t.Service("v2m-notification", self.env)
        log("notification killed and restarted")

    def restart_broker(self):
        rc, _, err = t.run_cmd([t.HARNESS, "amqp-stop"], timeout=120)
        assert rc == 0, err
        time.sleep(1)
        rc, _, err = t.run_cmd([t.HARNESS, "amqp-start"], timeout=180)
        assert rc == 0, err
        self.fig["broker restarts"] += 1
        log("RabbitMQ stopped and started again")

    def kill_while_writing(self, tokens):
        """Once a long video's job is converting, its MP3 partly written:
        find its converter and kill it. When the clients' long videos all
        went by between chances (random kills, a busy machine), more are
        uploaded for it, one at a time, up to EXTRA_LONG."""
        longs = [i for i, v in enumerate(self.videos) if v[1] > 100]
        deadline = time.time() + JOB_TIMEOUT / 2
        extra, last_extra = 0, None
        while time.time() < deadline:
            if self.clients_done.is_set() and extra < EXTRA_LONG and (
                    last_extra is None or self.ended(tokens[0], last_extra)):
                extra += 1
                log("one more long video (%d), to kill its converter while it writes the MP3"
                    % extra)
                last_extra = self.upload_video(0, tokens[0], longs[extra % len(longs)])
            with self.lock:
                cands = [(fid, ci) for fid, (ci, vi) in self.accepted.items() if vi in longs]
            for fid, ci in cands:
                j = self.job(tokens[ci], fid)
                if not j or j["status"] != "converting" or not 0.1 <= j["progress"] <= 0.8:
                    continue
                if self.mp3_leftovers() == 0:
                    continue   # GridFS holds back the first chunk: wait for more
                with self.conv_lock:   # no random kill meanwhile
                    holder = (self.find_holder_fd(fid) if self.mode == "embedded"
                              else self.find_holder(fid))
                    if holder is None:
                        log("no converter found for %s at progress %.2f; looking again"
                            % (fid, j["progress"]))
                        continue
                    before = self.mp3_leftovers()
                    self.kill_converter(holder, "converter kills (MP3 being written)")
                log("converter killed while writing the MP3 of %s (progress %.2f, %d unfinished "
                    "piece(s) of MP3 in the store)" % (fid, j["progress"], before))
                self.killed_writing = fid
                return
            time.sleep(0.05)
        self.failures.append("no converter could be killed while writing an MP3 "
                             "(%d more long videos uploaded for it)" % extra)

    def ended(self, token, fid):
        """Whether fid's job is over (or there is none to wait for)."""
        if fid is None:
            return True
        j = self.job(token, fid)
        return not j or j["status"] in ("done", "failed")

    def find_holder_fd(self, fid):
        """Index of the converter that has the job's unfinished MP3 open (its
        id is in the record before the first byte)."""
        db = sqlite3.connect("file:%s/jobs.db?mode=ro" % self.tmp, uri=True, timeout=10)
        try:
            row = db.execute("SELECT mp3_fid FROM jobs WHERE video_fid = ?", (fid,)).fetchone()
        finally:
            db.close()
        if not row or not row[0]:
            return None
        for i, c in enumerate(self.converters):
            try:
                fds = os.listdir("/proc/%d/fd" % c.proc.pid)
            except OSError:
                continue
            for fd in fds:
                try:
                    if ".tmp-" + row[0] in os.readlink("/proc/%d/fd/%s" % (c.proc.pid, fd)):
                        return i
                except OSError:
                    pass
        return None

    def find_holder(self, fid):
        """Index of the converter converting fid, from the converters' logs:
        the one that said it started converting fid (its MP3's id noted in
        the record) and has not said it ended. None when no live one did."""
        starts = "converting video_fid=%s " % fid
        ends = ("converted video_fid=%s " % fid, "conversion failed video_fid=%s " % fid,
                "job deleted during its conversion, stopped video_fid=%s" % fid)
        for i, c in enumerate(self.converters):
            if c.proc.poll() is not None:
                continue
            text = c.logtext()
            at = text.rfind(starts)
            if at >= 0 and not any(e in text[at:] for e in ends):
                return i
        return None

    # ---- the store, the queues, the mail

    def clear_mongo(self):
        import pymongo
        c = pymongo.MongoClient(self.mongo)
        for name in c.list_database_names():
            if name not in ("admin", "local", "config"):
                c.drop_database(name)

    def mp3_leftovers(self):
        return self.leftovers()["mp3s"]

    def leftovers(self):
        """Unfinished pieces per namespace: .tmp-* files, or GridFS chunks
        without a files document; and resumable-upload records."""
        out = {}
        if self.mode == "distributed":
            import pymongo
            c = pymongo.MongoClient(self.mongo)
            for ns in ("videos", "mp3s"):
                d = c[ns]
                out[ns] = len(set(d["fs.chunks"].distinct("files_id")) -
                              set(d["fs.files"].distinct("_id")))
                out[ns + " uploads"] = d["fs.uploads"].count_documents({})
        else:
            for ns in ("videos", "mp3s"):
                out[ns] = len(glob.glob("%s/store/%s/.tmp-*" % (self.tmp, ns)))
                out[ns + " uploads"] = len(glob.glob("%s/store/%s/.tus-*" % (self.tmp, ns)))
            out["outbox .tmp"] = len(glob.glob("%s/outbox/.*.tmp" % self.tmp))
        return out

    def stored(self, ns):
        """fid -> filename of the finished files in a namespace."""
        if self.mode == "distributed":
            import pymongo
            c = pymongo.MongoClient(self.mongo)
            return {str(f["_id"]): f.get("filename") for f in c[ns]["fs.files"].find()}
        out = {}
        for meta in glob.glob("%s/store/%s/*.json" % (self.tmp, ns)):
            out[os.path.basename(meta)[:-5]] = json.load(open(meta)).get("filename")
        return out

    def queues(self):
        """Queue name -> messages (ready or held)."""
        if self.mode == "embedded":
            db = sqlite3.connect("%s/queue.db" % self.tmp)
            try:
                return dict(db.execute("SELECT queue, count(*) FROM messages GROUP BY queue"))
            finally:
                db.close()
        # This run's queues (video-, mp3-, webhooks-<tag> and their .retry.*
        # and .dead), not those of other tests on the same broker.
        return {k: v for k, v in rabbit_queues().items() if "-" + self.tag in k}

    def mails(self):
        """video_fid -> number of "ready" mails delivered."""
        n = {}
        if self.mode == "distributed":
            with urllib.request.urlopen(self.maildev + "/email", timeout=30) as r:
                for m in json.load(r):
                    f = re.search(r"/\?job=([0-9a-f]{24})", m.get("text", ""))
                    if f and m["subject"].endswith(" is ready"):
                        n[f.group(1)] = n.get(f.group(1), 0) + 1
        else:
            # One file per job and kind: a second delivery overwrites the
            # first, so the notification logs count the deliveries.
            for f in glob.glob("%s/outbox/*-done.eml" % self.tmp):
                m = email.message_from_bytes(open(f, "rb").read(), policy=email.policy.default)
                fid = os.path.basename(f)[:24]
                assert "/?job=" + fid in m.get_content(), f
                n[fid] = 1
            for fid, k in self.log_count(r"mail sent video_fid=([0-9a-f]{24}) kind=ready",
                                         "v2m-notification").items():
                n[fid] = max(n.get(fid, 0), k)
        return n

    def log_count(self, pattern, name):
        n = {}
        for s in self.dead + self.live():
            if s.name != name:
                continue
            for m in re.finditer(pattern, open(s.log_path, errors="replace").read()):
                n[m.group(1)] = n.get(m.group(1), 0) + 1
        return n

    # ---- the whole run

    def guard(self, fn, *args):
        """A thread's body: what breaks it is a failed check, not a lost thread."""
        try:
            fn(*args)
        except Exception:
            import traceback
            self.failures.append("%s broke:\n%s" % (fn.__name__, traceback.format_exc()))

    def cleanup(self):
        """Whatever still runs after a broken run is killed."""
        for s in getattr(self, "converters", []) + [getattr(self, n, None) for n in
                                                    ("gateway", "notification", "auth")]:
            if s and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()

    def go(self):
        t0 = time.time()
        self.start()
        log("%s: services up; %d clients, %d videos (%.0f s of audio)" %
            (self.mode, CLIENTS, len(self.videos), sum(v[1] for v in self.videos)))
        order = list(range(len(self.videos)))
        self.rnd.shuffle(order)
        # The long videos early, so their conversions meet the kills.
        order.sort(key=lambda i: self.videos[i][1] < 100)
        mine = [order[c::CLIENTS] for c in range(CLIENTS)]
        tokens = [self.login(u, p) for u, p in self.users]
        clients = [threading.Thread(target=self.guard, args=(self.client, c, mine[c]))
                   for c in range(CLIENTS)]
        chaos = threading.Thread(target=self.guard, args=(self.chaos, time.time()))
        writer = threading.Thread(target=self.guard, args=(self.kill_while_writing, tokens))
        for th in clients + [chaos, writer]:
            th.start()
        for th in clients:
            th.join()
        self.clients_done.set()
        self.fig["uploads over after (s)"] = round(time.time() - t0, 1)
        log("uploads finished after %.1fs: %d accepted, %d retried" %
            (time.time() - t0, self.fig["uploads accepted"], self.fig["uploads retried"]))
        # Chaos goes on until every job has ended.
        deadline = t0 + JOB_TIMEOUT
        jobs = {}
        while time.time() < deadline:
            jobs, lists = {}, [self.all_jobs(tok) for tok in tokens]
            for ci, lst in enumerate(lists):
                for j in lst or []:
                    jobs[j["video_fid"]] = (ci, j)
            if not writer.is_alive() and all(lst is not None for lst in lists) and \
                    len(jobs) >= len(self.accepted) and \
                    all(j["status"] in ("done", "failed") for _, j in jobs.values()):
                break
            time.sleep(1)
        self.stop_chaos.set()
        chaos.join()
        writer.join()
        self.fig["every job ended after (s)"] = round(time.time() - t0, 1)
        log("jobs ended after %.1fs" % (time.time() - t0))
        self.check(tokens, jobs)
        self.fig["wall time (s)"] = round(time.time() - t0, 1)
        return self.report()

    def check(self, tokens, jobs):
        fail = self.failures.append
        # Every job, accepted or made by an upload whose answer was cut off.
        extra = [fid for fid in jobs if fid not in self.accepted]
        for fid in self.accepted:
            if fid not in jobs:
                fail("accepted upload %s has no job" % fid)
        not_done = {fid: j["status"] for fid, (_, j) in jobs.items() if j["status"] != "done"}
        if not_done:
            fail("jobs not done: %s" % not_done)
        self.fig["jobs"] = len(jobs)
        self.fig["extra jobs (answer cut off, client retried)"] = len(extra)
        attempts = [j["attempts"] for _, j in jobs.values()]
        self.fig["redeliveries (attempts - 1, summed)"] = sum(a - 1 for a in attempts if a)
        self.fig["most attempts of one job"] = max(attempts or [0])
        kw = self.killed_writing
        if kw and kw in jobs and jobs[kw][1]["attempts"] < 2:
            fail("the converter killed while writing %s was not the one converting it" % kw)
        # One MP3 per job, of its video's length.
        mp3s = self.stored("mp3s")
        want = {j["mp3_fid"] for _, j in jobs.values() if j["status"] == "done"}
        if set(mp3s) != want:
            fail("stored MP3s %d, done jobs %d; not a job's: %s; missing: %s" %
                 (len(mp3s), len(want), sorted(set(mp3s) - want), sorted(want - set(mp3s))))
        by_name = {os.path.basename(p): (p, d) for p, d in self.videos}
        worst = 0.0
        for fid, (ci, j) in sorted(jobs.items()):
            if j["status"] != "done":
                continue
            out = os.path.join(self.tmp, "got.mp3")
            for _ in range(5):   # the bytes, with curl; the gateway may be restarting
                p = subprocess.run(["curl", "-s", "-o", out, "-w", "%{http_code}", "-H",
                                    "Authorization: Bearer " + tokens[ci],
                                    "http://127.0.0.1:%d/download?fid=%s" % (self.gw_port(),
                                                                              j["mp3_fid"])],
                                   capture_output=True, text=True)
                if p.stdout == "200":
                    break
                time.sleep(1)
            st = p.stdout
            if st != "200":
                fail("MP3 of %s: download answered %s" % (fid, st))
                continue
            src = by_name.get(j["filename"])
            got = probe_duration(out)
            if not src or got is None or abs(got - src[1]) > TOLERANCE:
                fail("MP3 of %s (%s): %s s, its video %s s" %
                     (fid, j["filename"], got, src and src[1]))
            else:
                worst = max(worst, abs(got - src[1]))
        self.fig["largest MP3 length error (s)"] = round(worst, 3)
        # Mails: at least once, duplicates bounded.
        mails = self.mails()
        missing = [fid for fid, (_, j) in jobs.items() if j["status"] == "done"
                   and mails.get(fid, 0) < 1]
        if missing:
            fail("no ready mail for %d job(s): %s" % (len(missing), missing[:5]))
        dups = sum(max(0, n - 1) for n in mails.values())
        strays = [fid for fid in mails if fid not in jobs]
        if strays:
            fail("mails for jobs that do not exist: %s" % strays)
        republished = sum(self.log_count(r"job already done video_fid=([0-9a-f]{24}), result "
                                         r"published again", "v2m-converter").values())
        self.fig["ready mails"] = sum(mails.values())
        self.fig["duplicate mails"] = dups
        self.fig["results published again by a converter"] = republished
        sent = self.log_count(r"mail sent video_fid=([0-9a-f]{24}) kind=ready", "v2m-notification")
        self.fig["mails sent again by the notification"] = sum(max(0, k - 1) for k in sent.values())
        # A duplicate needs a message in flight when something died: a
        # converter between publishing the result and its ack, the
        # notification between the mail and its ack, or the broker's restart.
        bound = (CONVERTER_THREADS * (self.fig["converter kills (random)"] +
                                      self.fig["converter kills (MP3 being written)"]) +
                 NOTIFICATION_THREADS * self.fig["notification kills"] +
                 (CONVERTER_THREADS * CONVERTERS + NOTIFICATION_THREADS) * self.fig["broker restarts"])
        self.fig["duplicate bound"] = bound
        if dups > bound:
            fail("%d duplicate mails, more than the %d messages in flight at the kills" % (dups, bound))
        # Nothing left over; what the killed gateway left goes with the sweep.
        deadline = time.time() + 45
        while True:
            left = self.leftovers()
            if not any(left.values()) or time.time() > deadline:
                break
            time.sleep(1)
        self.fig["leftovers"] = sum(left.values())
        if any(left.values()):
            fail("leftovers in the store: %s" % left)
        videos = self.stored("videos")
        if set(videos) != set(jobs):
            fail("stored videos without a job: %s; jobs without their video: %s" %
                 (sorted(set(videos) - set(jobs)), sorted(set(jobs) - set(videos))))
        q = {k: v for k, v in self.queues().items() if v}
        self.fig["messages left in queues"] = sum(q.values())
        if q:
            fail("messages left in queues: %s" % q)
        # Every service healthy, then a clean stop.
        for s in self.live():
            for path in ("/healthz", "/readyz"):
                try:
                    st = (s.admin_request if s.name == "v2m-gateway" else s.request)("GET", path)[0]
                except OSError as e:
                    st = str(e)
                if st != 200:
                    fail("%s %s answered %s" % (s.name, path, st))
        for s in [self.gateway] + self.converters + [self.notification, self.auth]:
            try:
                s.stop()
            except AssertionError as e:
                fail(str(e)[:2000])

    def report(self):
        print("\n== chaos %s: figures" % self.mode)
        for k, v in self.fig.items():
            print("  %-50s %s" % (k, v))
        if self.retry_reasons:
            print("  %-50s %s" % ("retried uploads by cause", ", ".join(
                "%s: %d" % kv for kv in sorted(self.retry_reasons.items()))))
        if self.failures:
            print("== chaos %s: FAILED" % self.mode)
            for f in self.failures:
                print("  - " + f)
            print("  (logs kept in %s)" % self.tmp)
            return 1
        print("== chaos %s: all checks passed" % self.mode)
        return 0


def rabbit_queues():
    """list_queues of the harness's RabbitMQ node, by rabbitmqctl (the node
    runs no management plugin)."""
    state = t.need_env("V2M_TEST_STATE", "the harness's state directory")
    d = os.path.join(state, "amqp")
    p = subprocess.run(["bash", "-c", '. "$1"; printf "%s\\n" "$AMQP_NODE" "$AMQP_EPMD_PORT"',
                        "-", os.path.join(d, "vars")], capture_output=True, text=True, check=True)
    node, epmd = p.stdout.split()
    env = dict(os.environ, HOME=d + "/home", RABBITMQ_NODENAME=node, ERL_EPMD_PORT=epmd,
               ERL_EPMD_ADDRESS="127.0.0.1", RABBITMQ_CTL_ERL_ARGS="-start_epmd false",
               RABBITMQ_CTL_DIST_PORT_MIN="0", RABBITMQ_CTL_DIST_PORT_MAX="0",
               RABBITMQ_CONF_ENV_FILE=d + "/rabbitmq-env.conf",
               RABBITMQ_CONFIG_FILE=d + "/rabbitmq.conf",
               RABBITMQ_ADVANCED_CONFIG_FILE=d + "/advanced.config",
               RABBITMQ_ENABLED_PLUGINS_FILE=d + "/enabled_plugins",
               RABBITMQ_MNESIA_BASE=d + "/mnesia", RABBITMQ_LOG_BASE=d + "/log")
    p = subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", node, "list_queues", "-q",
                        "--no-table-headers", "name", "messages"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def main():
    modes = sys.argv[1:] or ["embedded", "distributed"]
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        sys.stderr.write("\n*** SKIP: ffmpeg/ffprobe not installed (make deps installs them) ***\n\n")
        sys.exit(t.SKIP)
    seed = int(os.environ.get("V2M_CHAOS_SEED") or random.randrange(1 << 30))
    log("seed %d (V2M_CHAOS_SEED=%d repeats it)" % (seed, seed))
    cache = os.environ.get("V2M_CHAOS_MEDIA") or os.path.join(ROOT, "build", "chaos-media")
    t0 = time.time()
    plan = video_plan(0)   # the same videos every run: they are cached
    videos = make_videos(plan, cache)
    log("%d videos ready in %s (%.1fs)" % (len(videos), cache, time.time() - t0))
    rcs = []
    for mode in modes:
        absent = [v for v in ("V2M_TEST_AMQP_URL", "V2M_TEST_MONGO_URI", "V2M_TEST_MYSQL_HOST",
                              "V2M_TEST_MAILDEV_API") if not os.environ.get(v)]
        if mode == "distributed" and absent:
            print("== chaos distributed: SKIP, %s not set (run under tests/harness/services.sh)"
                  % ", ".join(absent))
            rcs.append(t.SKIP)
            continue
        run = None
        try:
            run = Run(mode, videos, seed)
            rcs.append(run.go())
        except Exception:
            import traceback
            traceback.print_exc()
            print("== chaos %s: FAILED (the run itself broke)" % mode)
            rcs.append(1)
        finally:
            if run:
                run.cleanup()
    log("total wall time %.1fs" % (time.time() - t0))
    if any(rc == 1 for rc in rcs):
        sys.exit(1)
    if rcs and all(rc == t.SKIP for rc in rcs):
        sys.exit(t.SKIP)
    for d in t.TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
