#!/usr/bin/python3
"""Per-user limits, replayed as a flood from one account.

- Uploads past V2M_MAX_ACTIVE_JOBS (jobs queued or converting) get 429 with
  Retry-After and keep nothing; another user is not affected.
- Uploads past V2M_QUOTA get 413 with the figures and keep nothing, whether
  the size is announced (Content-Length) or not (chunked).
No converter runs here, so every accepted job stays queued.
"""
import json
import os
import sys
import wave

sys.path.insert(0, os.path.dirname(__file__))
import secenv  # noqa: E402
from secenv import t  # noqa: E402

MAX_ACTIVE = 3
env = secenv.Embedded("limits", {"V2M_MAX_ACTIVE_JOBS": str(MAX_ACTIVE)}, workers=False)
ALICE = env.login(secenv.ALICE)
BOB = env.login(secenv.BOB)
# 60 KiB of WAV (noise, so the door sees media and nothing compresses).
SMALL = os.path.join(env.dir, "small.wav")
with wave.open(SMALL, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(os.urandom(60 * 1024 - 44))


def stored():
    n = 0
    for root, _, files in os.walk(os.path.join(env.dir, "store")):
        n += len([f for f in files if not f.startswith(".")])
    return n


def jobs(token):
    st, body, _ = env.gateway.request("GET", "/jobs", {"Authorization": "Bearer " + token})
    assert st == 200, (st, body)
    return json.loads(body)


def test_active_jobs_are_capped_per_user():
    for i in range(MAX_ACTIVE):
        code, body = env.upload(SMALL, ALICE)
        assert code == 200, (i, code, body)
    files, records = stored(), len(jobs(ALICE))
    assert files >= MAX_ACTIVE and records == MAX_ACTIVE, (files, records)
    for _ in range(5):
        code, body = env.curl("-D", "-", "-X", "POST", "-F", "file=@%s" % SMALL, "-H",
                              "Authorization: Bearer " + ALICE, env.url + "/upload")
        assert code == 429, (code, body)
        assert "retry-after: 30" in body.lower(), body
        assert "limit is %d" % MAX_ACTIVE in body, body
    assert stored() == files, "a refused upload left a file"
    assert len(jobs(ALICE)) == records, "a refused upload left a job record"
    # Someone else still uploads.
    code, body = env.upload(SMALL, BOB)
    assert code == 200, (code, body)


def test_quota_is_enforced_with_figures():
    gw = env.start("v2m-gateway", {"V2M_QUOTA": "100K", "V2M_MAX_ACTIVE_JOBS": "0"})
    url = "http://127.0.0.1:%d/upload" % gw.port
    carol = ("carol@v2m.test", "Carol-pass-1")
    env.admin("user", "add", carol[0], "--password-stdin", stdin=carol[1] + "\n")
    tok = env.login(carol)
    code, body = env.curl("-X", "POST", "-F", "file=@%s" % SMALL, "-H",
                          "Authorization: Bearer " + tok, url)
    assert code == 200, (code, body)
    files = stored()
    # Announced size over what is left.
    code, body = env.curl("-X", "POST", "-F", "file=@%s" % SMALL, "-H",
                          "Authorization: Bearer " + tok, url)
    assert code == 413 and "quota" in body and str(100 * 1024) in body, (code, body)
    # Unannounced (chunked): stopped while streaming.
    code, body = env.curl("-X", "POST", "-H", "Transfer-Encoding: chunked", "-F",
                          "file=@%s" % SMALL, "-H", "Authorization: Bearer " + tok, url)
    assert code == 413 and "quota" in body, (code, body)
    assert stored() == files, "a refused upload left a file"
    assert len(jobs(tok)) == 1


def teardown():
    env.stop()


t.run(globals(), "security_limits")
