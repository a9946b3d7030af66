#!/usr/bin/python3
"""Each worker's V2M_RETRY_DELAY holds on RabbitMQ, whichever starts first.

The converter publishes to the mp3 queue (and declares it at start) with its
retry delay of 1 s; the notification consumes it with 4 s. They are started
in both orders, each time on fresh queues. A mail to an SMTP server that
refuses connections is retried: the time between the notification's two
attempts (from its log) must be its own 4 s, not the converter's 1 s, and
neither service may log a refused declaration (PRECONDITION_FAILED) or use
a queue "with other arguments".

Needs RabbitMQ ($V2M_TEST_AMQP_URL); users, jobs and store are local.
"""
import datetime
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

amqp = t.need_env("V2M_TEST_AMQP_URL", "RabbitMQ")
tmp = t.tempdir("v2m-retryq-")
tag = "%d" % os.getpid()
QPUB = os.path.join(t.BIN, "../tests/qpub")
CONVERTER_DELAY, NOTIFICATION_DELAY = 1, 4

# A port nothing listens on: the SMTP server "refuses for now".
s = socket.socket()
s.bind(("127.0.0.1", 0))
DEAD_SMTP = "smtp://127.0.0.1:%d" % s.getsockname()[1]
s.close()

base = {"V2M_QUEUE": amqp, "V2M_LOG_LEVEL": "info", "V2M_STORE": "file://%s/store" % tmp,
        "V2M_JOBS": "sqlite://%s/jobs.db" % tmp, "V2M_USERS": "sqlite://%s/users.db" % tmp,
        "V2M_CONVERTER_THREADS": "1", "V2M_NOTIFICATION_THREADS": "1",
        "V2M_WEBHOOK_THREADS": "1", "V2M_MAX_ATTEMPTS": "5"}
os.makedirs(tmp + "/store")


def stamp(line):
    return datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def attempts(svc):
    return [(stamp(m.group(0)), int(m.group(1))) for m in
            re.finditer(r"^\S+ WARN .*mail will be retried attempt=(\d+).*$", svc.logtext(),
                        re.M)]


def run_order(order):
    q = "%s-%s" % (tag, order)
    env = dict(base, VIDEO_QUEUE="video-" + q, MP3_QUEUE="mp3-" + q,
               WEBHOOK_QUEUE="webhooks-" + q)
    conv_env = dict(env, V2M_RETRY_DELAY=str(CONVERTER_DELAY))
    note_env = dict(env, V2M_RETRY_DELAY=str(NOTIFICATION_DELAY), SMTP_URL=DEAD_SMTP,
                    MAIL_FROM="v2m@example.com", V2M_SMTP_TIMEOUT="5")
    services = []
    try:
        for name in (("v2m-converter", "v2m-notification") if order == "converter-first"
                     else ("v2m-notification", "v2m-converter")):
            services.append(t.Service(name, conv_env if name == "v2m-converter" else note_env))
        conv, note = sorted(services, key=lambda s: s.name)
        # What the converter would publish once an MP3 is stored.
        body = json.dumps({"video_fid": "6560f0a0a0a0a0a0a0a0a0a0", "mp3_fid":
                           "6560f0a0a0a0a0a0a0a0a0a1", "username": "retry@example.com"})
        rc, _, err = t.run_cmd([QPUB, amqp, env["MP3_QUEUE"], body])
        assert rc == 0, err
        deadline = time.time() + 30
        while time.time() < deadline and len(attempts(note)) < 2:
            time.sleep(0.1)
        a = attempts(note)
        assert len(a) >= 2, note.logtext()[-3000:]
        assert [n for _, n in a[:2]] == [1, 2], a
        waited = a[1][0] - a[0][0]
        print("%s: the notification retried after %.2f s (V2M_RETRY_DELAY=%d, the converter's %d)"
              % (order, waited, NOTIFICATION_DELAY, CONVERTER_DELAY))
        assert NOTIFICATION_DELAY - 0.1 <= waited < NOTIFICATION_DELAY + 2.5, waited
        for svc in services:
            log = svc.logtext()
            assert "PRECONDITION_FAILED" not in log, (svc.name, log[-3000:])
            assert "other arguments" not in log, (svc.name, log[-3000:])
    finally:
        for svc in services:
            svc.stop()


def test_converter_first():
    run_order("converter-first")


def test_notification_first():
    run_order("notification-first")


t.run(globals(), "retry_delays")
