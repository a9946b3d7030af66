#!/usr/bin/python3
"""Attacks on accounts and tokens, replayed through the gateway.

- Password guessing: after 5 failures the account, and the address, are
  throttled (429 + Retry-After), even for the right password.
- Tokens are taken back: a deleted user's token, a token issued before a
  password change or before admin was taken away stop working within 5 s.
- Forged tokens signed with the real secret but bent claims: iat in the
  future, a lifetime past the TTL, exp = 2^63-1, an unknown crit header,
  duplicated claim names.
- Accounts: e-mail addresses are one account whatever their case; short
  passwords are refused.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import secenv  # noqa: E402
from secenv import t  # noqa: E402

TTL = 3600
env = secenv.Embedded("accounts", {"V2M_TOKEN_TTL": str(TTL)}, workers=False)
GW = env.gateway


def jobs_status(token):
    return GW.request("GET", "/jobs", {"Authorization": "Bearer " + token})[0]


def until_refused(token, what):
    deadline = time.time() + 6
    while time.time() < deadline:
        if jobs_status(token) == 403:
            return
        time.sleep(0.25)
    raise AssertionError("token still accepted 6 s after " + what)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header_json, payload_json, secret=None):
    """A token with exactly these JSON texts (duplicates and all)."""
    head = b64(header_json.encode()) + "." + b64(payload_json.encode())
    mac = hmac.new((secret or env.secret).encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64(mac)


def user_gen(who):
    """The user's token generation, read from a token auth issued."""
    payload = env.login(who).split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["gen"]


ALICE_GEN = user_gen(secenv.ALICE)


def claims(**kw):
    now = int(time.time())
    c = {"username": secenv.ALICE[0], "exp": now + 600, "iat": now, "admin": False,
         "gen": ALICE_GEN}
    c.update(kw)
    return json.dumps(c)


HS = '{"alg":"HS256","typ":"JWT"}'


def test_a_well_formed_token_of_our_own_making_is_accepted():
    # The control for the forgeries below: same secret, honest claims.
    assert jobs_status(sign(HS, claims())) == 200


def test_forged_claims_are_refused():
    now = int(time.time())
    bad = {
        "iat in the future": sign(HS, claims(iat=now + 3600, exp=now + 4000)),
        "lifetime past the TTL": sign(HS, claims(exp=now + TTL * 10)),
        "exp = 2^63-1": sign(HS, claims(exp=2 ** 63 - 1)),
        "unknown crit": sign('{"alg":"HS256","typ":"JWT","crit":["x-v2m"],"x-v2m":1}', claims()),
        "duplicate username": sign(HS, claims()[:-1] + ',"username":"%s"}' % secenv.BOB[0]),
        "duplicate header alg": sign('{"alg":"none","alg":"HS256"}', claims()),
    }
    for what, tok in bad.items():
        assert jobs_status(tok) == 403, what


def test_bearer_with_several_spaces_is_accepted():
    tok = env.login()
    st, _, _ = GW.request("GET", "/jobs", {"Authorization": "Bearer   " + tok})
    assert st == 200, st


def test_password_guessing_is_throttled():
    who = secenv.BOB
    codes = []
    for i in range(6):
        codes.append(env.curl("--interface", "127.0.0.5", "-X", "POST", env.url + "/login",
                              "-u", "%s:guess-%d-xxxx" % (who[0], i))[0])
    assert codes[:5] == [401] * 5, codes
    assert codes[5] == 429, codes
    code, body = env.curl("--interface", "127.0.0.5", "-D", "-", "-X", "POST",
                          env.url + "/login", "-u", "%s:%s" % who)
    assert code == 429, (code, body)
    assert "retry-after:" in body.lower(), body


def test_guessing_across_accounts_from_one_address_is_throttled():
    # Fresh accounts, one wrong guess each, from one address.
    codes = []
    for i in range(8):
        email = "spray%d@v2m.test" % i
        env.admin("user", "add", email, "--password-stdin", stdin="Spray-pass-%d\n" % i)
        codes.append(env.curl("--interface", "127.0.0.6", "-X", "POST", env.url + "/login",
                              "-u", "%s:wrong-password" % email)[0])
    assert 429 in codes, codes
    # Another address is not held back by it.
    code, _ = env.curl("--interface", "127.0.0.7", "-X", "POST", env.url + "/login", "-u",
                       "%s:%s" % secenv.ALICE)
    assert code == 200, code


def test_deleting_a_user_revokes_their_tokens():
    env.admin("user", "add", "gone@v2m.test", "--password-stdin", stdin="Gone-pass-1\n")
    tok = env.login(("gone@v2m.test", "Gone-pass-1"))
    assert jobs_status(tok) == 200
    env.admin("user", "del", "gone@v2m.test")
    until_refused(tok, "user del")


def test_changing_a_password_revokes_older_tokens():
    env.admin("user", "add", "moved@v2m.test", "--password-stdin", stdin="Moved-pass-1\n")
    old = env.login(("moved@v2m.test", "Moved-pass-1"))
    time.sleep(1.1)  # a new token in a later second than the old one
    env.admin("user", "passwd", "moved@v2m.test", "--password-stdin", stdin="Moved-pass-2\n")
    until_refused(old, "user passwd")
    new = env.login(("moved@v2m.test", "Moved-pass-2"))
    assert jobs_status(new) == 200


def test_taking_admin_away_revokes_older_tokens():
    env.admin("user", "add", "boss@v2m.test", "--admin", "--password-stdin",
              stdin="Boss-pass-12\n")
    tok = env.login(("boss@v2m.test", "Boss-pass-12"))
    st, _, _ = GW.request("GET", "/jobs?all=1", {"Authorization": "Bearer " + tok})
    assert st == 200
    env.admin("user", "admin", "boss@v2m.test", "off")
    until_refused(tok, "user admin off")


def test_email_case_does_not_make_a_second_account():
    rc, out, err = env.admin("user", "add", secenv.ALICE[0].upper(), "--password-stdin",
                             stdin="Other-pass-1\n", check=False)
    assert rc != 0 and err.strip(), (rc, out, err)
    code, tok = env.curl("-X", "POST", env.url + "/login", "-u",
                         "%s:%s" % (secenv.ALICE[0].upper(), secenv.ALICE[1]))
    assert code == 200, (code, tok)


def test_short_passwords_are_refused():
    rc, out, err = env.admin("user", "add", "short@v2m.test", "--password-stdin",
                             stdin="abc\n", check=False)
    assert rc != 0 and "8" in err, (rc, out, err)


def teardown():
    env.stop()


t.run(globals(), "security_accounts")
