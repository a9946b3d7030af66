#!/usr/bin/python3
"""The README's curl flow, pasted into bash as a user does, against the
embedded deployment: a mistyped password stops it with the reason and
nothing is uploaded; the right one logs in, uploads and downloads an MP3."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../security"))
import secenv  # noqa: E402
from secenv import t  # noqa: E402

secenv.need_ffmpeg()
if not shutil.which("bash") or not shutil.which("curl"):
    sys.stderr.write("\n*** SKIP: bash or curl not installed ***\n\n")
    sys.exit(t.SKIP)

README = open(os.path.join(t.SRC, "README.md")).read()
# The first shell block that logs in: the quick start's flow.
FLOW = next(b for b in re.findall(r"```sh\n(.*?)```", README, re.S) if "/login" in b)
sysenv = secenv.Embedded("readme")
EMAIL, PW = secenv.ADMIN
VIDEO = os.path.join(sysenv.dir, "video.mp4")
subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
                "-c:a", "aac", VIDEO], check=True)


def paste(password, lines, mp3_fid="MP3_FID"):
    """Run the README's lines in bash, one after the other as typed."""
    text = "\n".join(lines).replace("http://localhost:8080", sysenv.url) \
        .replace("admin@localhost.localdomain:PASSWORD", "%s:%s" % (EMAIL, password)) \
        .replace("MP3_FID", mp3_fid)
    return subprocess.run(["bash"], input=text, capture_output=True, text=True,
                          cwd=sysenv.dir, timeout=120)


def commands():
    """The flow's commands, continuation lines joined."""
    out, cur = [], ""
    for line in FLOW.splitlines():
        cur += line + "\n"
        if not line.rstrip().endswith("\\"):
            out.append(cur.rstrip("\n"))
            cur = ""
    return out


def jobs():
    code, body = sysenv.curl("-H", "Authorization: Bearer " + sysenv.login(secenv.ADMIN), sysenv.url + "/jobs")
    assert code == 200, (code, body)
    return json.loads(body)


def test_a_mistyped_password_stops_the_flow_and_uploads_nothing():
    cmds = commands()
    assert len(cmds) == 3 and "/upload" in cmds[1] and "/download" in cmds[2], cmds
    p = paste("not-the-password", cmds)
    assert "401" in p.stderr, p.stderr
    assert "log in first" in p.stderr, p.stderr
    assert "invalid credentials" not in p.stdout, p.stdout
    assert jobs() == [], jobs()
    assert not os.path.exists(os.path.join(sysenv.dir, "song.mp3"))


def test_the_right_password_uploads_and_downloads():
    cmds = commands()
    p = paste(PW, cmds[:2])
    assert p.returncode == 0, (p.stdout, p.stderr)
    fid = json.loads(p.stdout.strip().splitlines()[-1])["video_fid"]
    deadline = time.time() + 120
    while time.time() < deadline:
        j = [x for x in jobs() if x["video_fid"] == fid][0]
        if j["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert j["status"] == "done", j
    p = paste(PW, cmds[:1] + cmds[2:], mp3_fid=j["mp3_fid"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of",
                            "csv=p=0", os.path.join(sysenv.dir, "song.mp3")],
                           capture_output=True, text=True)
    assert probe.stdout.split()[:1] == ["mp3"], probe


def teardown():
    sysenv.stop()


t.run(globals(), "test_readme")
