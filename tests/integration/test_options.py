#!/usr/bin/python3
"""Conversion options end to end, and uploads refused at the door.

argv[1] picks the deployment, as for test_pipeline.py:
  embedded     SQLite users, queue and job records, a store directory, mail to an outbox
  distributed  MariaDB, RabbitMQ, GridFS (MongoDB emulator) and SMTP (maildev)
The converter runs with V2M_MP3_BITRATE=128, so what an upload does not ask
for comes out at 128 kbit/s. Each MP3 is measured with ffprobe. Every refused
upload must leave no file, no job record and no mail behind.
"""
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "embedded"
tmp = t.tempdir("v2m-opts-%s-" % MODE)
SECRET = "opts-secret-" + os.urandom(8).hex()
if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
    sys.stderr.write("\n*** SKIP: ffmpeg/ffprobe not installed (make deps installs them) ***\n\n")
    sys.exit(t.SKIP)

tag = "%d" % os.getpid()
env = {"JWT_SECRET": SECRET, "V2M_LOG_LEVEL": "info", "VIDEO_QUEUE": "video-" + tag,
       "MP3_QUEUE": "mp3-" + tag, "V2M_MAX_UPLOAD": "20M", "V2M_RETRY_DELAY": "1",
       "V2M_CONVERTER_THREADS": "2", "V2M_PUBLIC_URL": "http://v2m.test"}

if MODE == "distributed":
    mongo = t.need_env("V2M_TEST_MONGO_URI", "MongoDB emulator from ../shared/tools")
    amqp = t.need_env("V2M_TEST_AMQP_URL", "RabbitMQ")
    smtp = t.need_env("V2M_TEST_SMTP_URL", "SMTP sink")
    maildev = t.need_env("V2M_TEST_MAILDEV_API", "SMTP sink")
    env.update(t.mysql_database("auth_opts_" + tag))
    env.update({"V2M_STORE": mongo, "V2M_QUEUE": amqp, "SMTP_URL": smtp,
                "MAIL_FROM": "v2m@v2m.test"})
else:
    env.update({"V2M_USERS": "sqlite://%s/users.db" % tmp, "V2M_STORE": "file://%s/store" % tmp,
                "V2M_JOBS": "sqlite://%s/jobs.db" % tmp,
                "V2M_QUEUE": "sqlite://%s/queue.db" % tmp, "V2M_OUTBOX": "%s/outbox" % tmp})
    os.makedirs(tmp + "/store")
    rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add", "georgio@email.com",
                            "--admin", "--password-stdin"], stdin="Admin123\n", env=env)
    assert rc == 0, err

auth = t.Service("v2m-auth", env)
env["AUTH_SVC_ADDRESS"] = "127.0.0.1:%d" % auth.port
converter = t.Service("v2m-converter", dict(env, V2M_MP3_BITRATE="128"))
notification = t.Service("v2m-notification", env)
gateway = t.Service("v2m-gateway", env)
GW = "http://127.0.0.1:%d" % gateway.port


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args) + [out], check=True)
    return out


# Stereo noise (so the quality makes a difference to the size) under a tone.
VIDEO = ffmpeg(tmp + "/video.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=5",
               "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:duration=5:sample_rate=44100",
               "-filter_complex", "[1:a]aformat=channel_layouts=stereo[a]", "-map", "0:v",
               "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k",
               "-metadata", "title=Source Title", "-shortest")
TEXT = tmp + "/notes.mp4"
open(TEXT, "w").write("this is not a video\n" * 50)
EMPTY = tmp + "/empty.mp4"
open(EMPTY, "w").close()
RANDOM = tmp + "/random.mp4"
open(RANDOM, "wb").write(os.urandom(1 << 20))


def curl(*args):
    p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, text=True, timeout=120)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


code, TOKEN = curl("-X", "POST", GW + "/login", "-u", "georgio@email.com:Admin123")
assert code == 200, (code, TOKEN)
AUTH = ["-H", "Authorization: Bearer " + TOKEN]


def upload(*form, path=VIDEO, query="", before=True):
    """Upload path with the -F fields of form, before or after the file part."""
    fields = []
    for f in form:
        fields += ["-F", f]
        # curl's -F takes "name=value"; a value starting with @ or < would be a file.
    filepart = ["-F", "file=@%s" % path] if path else []
    args = (fields + filepart) if before else (filepart + fields)
    return curl("-X", "POST", *args, *AUTH, GW + "/upload" + query)


def job(fid):
    code, body = curl(*AUTH, GW + "/jobs/" + fid)
    assert code == 200, (code, body)
    return json.loads(body)


def wait_job(fid, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = job(fid)
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.2)
    raise AssertionError("job %s still %s\nconverter log:\n%s" %
                         (fid, j["status"], converter.logtext()[-3000:]))


def converted(code_body):
    """The finished job and its MP3's ffprobe description."""
    code, body = code_body
    assert code == 200, (code, body)
    j = wait_job(json.loads(body)["video_fid"])
    assert j["status"] == "done", (j, converter.logtext()[-2000:])
    out = tmp + "/%s.mp3" % j["video_fid"]
    code, _ = curl("-o", out, *AUTH, GW + "/download?fid=" + j["mp3_fid"])
    assert code == 200, code
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "stream=codec_name,channels,sample_rate,bit_rate:format=duration,size:"
                        "format_tags=title,artist,album", "-of", "json", out],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    st = info["streams"][0]
    assert st["codec_name"] == "mp3", info
    return j, st, info["format"]


def mails():
    if MODE == "distributed":
        with urllib.request.urlopen(maildev + "/email", timeout=10) as r:
            return len(json.load(r))
    return len(glob.glob(tmp + "/outbox/*.eml"))


def count_stored(ns):
    if MODE == "distributed":
        return t.mongo_db(mongo, ns)["fs.files"].count_documents({})
    d = "%s/store/%s" % (tmp, ns)
    return len(os.listdir(d)) if os.path.isdir(d) else 0  # temporary files included


def count_jobs():
    code, body = curl(*AUTH, GW + "/jobs?limit=1000")
    assert code == 200, (code, body)
    return len(json.loads(body))


def leftovers():
    """What was kept: files and pieces in the store, job records, mails."""
    return (count_stored("videos"), count_jobs(), mails())


def refused(expect_code, needle, *form, **kw):
    before = leftovers()
    code, body = upload(*form, **kw)
    assert code == expect_code and needle in body, (form, kw, code, body)
    assert leftovers() == before, (form, kw, "something was kept", before, leftovers())
    return body


state = {}


def test_no_options_uses_the_converters_defaults():
    j, st, _ = converted(upload())
    assert j["options"] == {}, j
    assert st["bit_rate"] == "128000", st
    assert st["sample_rate"] == "44100" and st["channels"] == 2, st
    state["default_size"] = int(converted(upload())[2]["size"])


def test_bitrate_320_is_cbr_320():
    j, st, _ = converted(upload("bitrate=320k"))
    assert j["options"] == {"bitrate": 320}, j
    assert st["bit_rate"] == "320000", st


def test_quality_9_is_smaller_than_quality_0():
    _, _, f0 = converted(upload("quality=0"))
    j9, _, f9 = converted(upload("quality=9"))
    assert j9["options"] == {"quality": 9}, j9
    assert int(f9["size"]) < int(f0["size"]), (f0, f9)


def test_rate_and_channels_as_fields_after_the_file():
    j, st, _ = converted(upload("rate=22.05k", "channels=1", before=False))
    assert j["options"] == {"rate": 22050, "channels": 1}, j
    assert st["sample_rate"] == "22050" and st["channels"] == 1, st


def test_options_as_query_parameters():
    j, st, _ = converted(upload(query="?rate=16000&channels=mono&bitrate=64"))
    assert j["options"] == {"bitrate": 64, "rate": 16000, "channels": 1}, j
    assert st["sample_rate"] == "16000" and st["channels"] == 1 and st["bit_rate"] == "64000", st


def test_start_and_end_trim_within_one_frame():
    j, st, _ = converted(upload("start=1.5", "end=0:04"))
    assert j["options"] == {"start": 1.5, "end": 4}, j
    # The samples a player plays (the container's duration counts whole
    # frames, encoder delay and padding included).
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", tmp + "/%s.mp3" % j["video_fid"], "-ac",
                          "1", "-f", "s16le", "-"], capture_output=True, check=True).stdout
    samples = len(pcm) // 2
    want = 2.5 * int(st["sample_rate"])
    assert abs(samples - want) <= 1152, (samples, want)


def test_track_and_language_in_the_record():
    j, _, _ = converted(upload("track=1"))
    assert j["options"] == {"track": 1} and j["track"] == 1 and j["error_code"] is None, j
    # Two audio tracks: English stereo, French mono; chosen by language, then by number.
    two = ffmpeg(tmp + "/two.mkv", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                 "-f", "lavfi", "-i", "sine=frequency=1000:duration=2", "-map", "0", "-map", "1",
                 "-c:a", "libvorbis", "-ac:0", "2", "-ac:1", "1", "-metadata:s:a:0", "language=eng",
                 "-metadata:s:a:1", "language=fre")
    j, st, _ = converted(upload("track=FRE", path=two))
    assert j["options"] == {"language": "fre"}, j
    assert j["track"] == 2 and j["language"] == "fre" and st["channels"] == 1, (j, st)
    j, st, _ = converted(upload(query="?track=1", path=two))
    assert j["track"] == 1 and j["language"] == "eng" and st["channels"] == 2, (j, st)
    # A track the file does not have: the job fails, saying so.
    code, body = upload("track=3", path=two)
    assert code == 200, (code, body)
    j = wait_job(json.loads(body)["video_fid"])
    assert j["status"] == "failed" and j["error_code"] == "noaudio", j


def test_tag_overrides():
    j, _, f = converted(upload("title=Mon titre – été", "artist=AC/DC", "album=Live \"1979\""))
    assert j["options"] == {"title": "Mon titre – été", "artist": "AC/DC",
                            "album": "Live \"1979\""}, j
    tags = f.get("tags", {})
    assert tags.get("title") == "Mon titre – été", tags
    assert tags.get("artist") == "AC/DC" and tags.get("album") == "Live \"1979\"", tags


def mp3_of(j):
    return tmp + "/%s.mp3" % j["video_fid"]


def probe(path, *entries):
    p = subprocess.run(["ffprobe", "-v", "error"] + list(entries) + ["-of", "json", path],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# A quiet tone (about -33 LUFS) under a picture, with three chapters.
META = tmp + "/chapters.txt"
open(META, "w").write(";FFMETADATA1\n" + "".join(
    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=%d\nEND=%d\ntitle=Part %d\n" % (i * 1000, i * 1000 + 1000,
                                                                      i + 1) for i in range(3)))
SOFT = ffmpeg(tmp + "/soft.mkv", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=3",
              "-f", "lavfi", "-i", "sine=frequency=440:duration=3:sample_rate=44100",
              "-i", META, "-map", "0:v", "-map", "1:a", "-map_metadata", "2", "-map_chapters", "2",
              "-af", "volume=-30dB", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")


def ebur128(path):
    """Integrated loudness (LUFS) and true peak (dBTP), as ffmpeg's ebur128 filter measures."""
    p = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", path, "-af",
                        "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    summary = p.stderr[p.stderr.rfind("Summary:"):]
    loud = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return loud, peak


def test_normalize_on_and_to_a_target():
    src, _ = ebur128(SOFT)
    assert src < -28, src  # far from either target: the gain must do the work
    for opt, target in (("normalize=on", -16.0), ("normalize=-23", -23.0)):
        j, _, _ = converted(upload(opt, path=SOFT))
        assert j["options"]["normalize"] == target, j["options"]  # stored as the LUFS target
        loud, peak = ebur128(mp3_of(j))
        assert abs(loud - target) <= 1.0, (opt, loud)
        # -1 dBTP is the target's ceiling; the MP3 encoder may add a few tenths.
        assert peak <= -0.5, (opt, peak)
    j, _, _ = converted(upload(path=SOFT))
    loud, _ = ebur128(mp3_of(j))
    assert abs(loud - src) <= 1.0, (loud, src)  # without it, the level is the source's


def test_cover_from_a_video_frame_or_none():
    j, _, _ = converted(upload(path=SOFT))
    pics = [s for s in probe(mp3_of(j), "-show_streams")["streams"]
            if s.get("disposition", {}).get("attached_pic") == 1]
    assert len(pics) == 1 and pics[0]["codec_name"] == "mjpeg", pics
    assert max(pics[0]["width"], pics[0]["height"]) <= 600, pics
    jpg = tmp + "/%s.jpg" % j["video_fid"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", mp3_of(j), "-map", "0:v", "-c", "copy",
                    "-frames:v", "1", jpg], check=True)
    with open(jpg, "rb") as f:
        head = f.read(3)
    assert head == b"\xff\xd8\xff", head  # a JPEG
    j, _, _ = converted(upload("cover=none", path=SOFT))
    streams = probe(mp3_of(j), "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == ["audio"], streams


def test_chapters_become_id3_chapters():
    j, _, _ = converted(upload("cover=none", path=SOFT))
    ch = probe(mp3_of(j), "-show_chapters")["chapters"]
    assert [c.get("tags", {}).get("title") for c in ch] == ["Part 1", "Part 2", "Part 3"], ch
    assert [round(float(c["start_time"]), 2) for c in ch] == [0.0, 1.0, 2.0], ch


def test_bad_values_are_400_naming_the_field_and_keep_nothing():
    bad = [("quality=10", "quality:"), ("quality=x", "quality:"), ("bitrate=7", "bitrate:"),
           ("bitrate=321k", "bitrate:"), ("rate=44000", "rate:"), ("channels=3", "channels:"),
           ("start=-1", "start:"), ("start=1:75", "start:"), ("end=0", "end:"),
           ("track=0", "track:"), ("track=english", "track:"), ("normalize=-80", "normalize:"),
           ("normalize=loud", "normalize:"), ("cover=yes", "cover:"),
           ("title=" + "x" * 201, "title:"), ("title=", "title:"), ("bitrate=", "bitrate:")]
    for field, needle in bad:
        refused(400, needle, field)
        refused(400, needle, field, before=False)
        name, _, value = field.partition("=")
        refused(400, needle, query="?%s=%s" % (name, urllib.request.quote(value)))
    refused(400, "end: must be after the start", "start=10", "end=5")
    refused(400, "quality and bitrate exclude each other", "quality=2", "bitrate=128")
    refused(400, "bitrate: given more than once", "bitrate=128", "bitrate=192")
    refused(400, "bitrate: given more than once", "bitrate=128", query="?bitrate=192")
    refused(400, "title: must be", "title=a\x01b")


def test_unknown_option_is_400_listing_the_known_ones():
    body = refused(400, "unknown option 'bitrat'", "bitrat=320")
    for name in ("quality", "bitrate", "rate", "channels", "start", "end", "track", "normalize",
                 "cover", "title", "artist", "album"):
        assert name in body, body
    refused(400, "unknown option 'bitrat'", "bitrat=320", before=False)
    refused(400, "unknown option 'bitrat'", query="?bitrat=320")


def test_cli_passes_options_and_shows_refusals():
    cli = os.path.join(t.BIN, "v2m")
    cenv = {"V2M_URL": GW, "V2M_TOKEN": TOKEN}
    rc, out, err = t.run_cmd([cli, "upload", VIDEO, "--bitrate", "96", "--channels", "1",
                              "--wait"], env=cenv, timeout=180)
    assert rc == 0 and "mp3_fid " in out, (rc, out, err)
    rc, out, _ = t.run_cmd([cli, "status", "--json"], env=cenv)
    assert rc == 0 and json.loads(out)[0]["options"] == {"bitrate": 96, "channels": 1}, out
    before = leftovers()
    rc, out, err = t.run_cmd([cli, "upload", VIDEO, "--bitrate", "999"], env=cenv)
    assert rc == 1 and "400" in err and "bitrate: must be 8 to 320" in err, (rc, out, err)
    assert leftovers() == before


def test_callback_url_passes_through_to_the_record():
    code, body = upload("callback_url=http://hooks.test/done")
    assert code == 200, (code, body)
    j = wait_job(json.loads(body)["video_fid"])
    assert j["status"] == "done", j
    refused(400, "callback_url: value too long (at most 1023 bytes)", "callback_url=http://h/" + "x" * 1100)


def test_the_door_refuses_what_is_not_media():
    refused(400, "the file is empty", path=EMPTY)
    refused(415, "not a video or audio file", path=TEXT)
    refused(415, "not a video or audio file", path=RANDOM)
    refused(415, "not a video or audio file", "bitrate=128", path=RANDOM, before=False)
    # A folder a browser sends: a named part with no bytes.
    before = leftovers()
    boundary = "v2mfolder"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"holiday\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n\r\n--%s--\r\n" % (boundary, boundary))
    st, text, _ = gateway.request("POST", "/upload", {
        "Authorization": "Bearer " + TOKEN,
        "Content-Type": "multipart/form-data; boundary=" + boundary}, body.encode())
    assert st == 400 and "the file is empty" in text, (st, text)
    assert leftovers() == before


def queue_db():
    return sqlite3.connect("%s/queue.db" % tmp, timeout=30)


def held_upload(body_of):
    """Upload through a gateway whose queue no converter reads, then move the
    message to the converter's queue with the body body_of(message) gives."""
    held = t.Service("v2m-gateway", dict(env, VIDEO_QUEUE="held-" + tag))
    try:
        code, body = curl("-X", "POST", "-F", "file=@" + VIDEO, *AUTH,
                          "http://127.0.0.1:%d/upload" % held.port)
    finally:
        held.stop()
    assert code == 200, (code, body)
    fid = json.loads(body)["video_fid"]
    with queue_db() as db:
        (mid, raw), = db.execute("SELECT id, body FROM messages WHERE queue=?", ("held-" + tag,))
        msg = json.loads(raw)
        db.execute("UPDATE messages SET queue=?, body=? WHERE id=?",
                   ("video-" + tag, json.dumps(body_of(msg)), mid))
    return fid


def test_three_field_message_converts_with_the_defaults():
    if MODE != "embedded":
        raise t.Skip("the message is rewritten in the SQLite queue: embedded deployment only")
    fid = held_upload(lambda m: {"video_fid": m["video_fid"], "mp3_fid": None,
                                 "username": m["username"]})
    j = wait_job(fid)
    assert j["status"] == "done", j
    out = tmp + "/three.mp3"
    assert curl("-o", out, *AUTH, GW + "/download?fid=" + j["mp3_fid"])[0] == 200
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=bit_rate", "-of", "json",
                        out], capture_output=True, text=True, check=True)
    assert json.loads(p.stdout)["streams"][0]["bit_rate"] == "128000", p.stdout


def test_malformed_options_in_a_message_fail_the_job_once():
    if MODE != "embedded":
        raise t.Skip("the message is rewritten in the SQLite queue: embedded deployment only")
    mails_before = mails()
    fid = held_upload(lambda m: dict(m, options={"bitrate": 999}))
    j = wait_job(fid)
    assert j["status"] == "failed" and j["error_code"] == "options", j
    assert j["error"].startswith("invalid conversion options: bitrate:"), j
    assert j["attempts"] == 1, j
    deadline = time.time() + 60
    while mails() == mails_before and time.time() < deadline:
        time.sleep(0.2)
    assert mails() == mails_before + 1


def teardown():
    t.stop_all((gateway, converter, notification, auth))


t.run(globals(), "test_options_" + MODE)
