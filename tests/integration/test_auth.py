#!/usr/bin/python3
"""v2m-auth end to end, against SQLite or the real MariaDB (argv[1]).

Starts the real v2m-auth binary (and a gateway in front of it), manages users
with the real v2m-admin, and checks the wire contract: /login and /validate
status codes and bodies, token claims (verified by PyJWT), refusals, legacy
plaintext rows, login throttling (per account, per client address, through
the gateway), revocation of tokens by v2m-admin, case-insensitive emails, the
password policy, and (MariaDB) the upgrade of the original's table and a
database outage and recovery.
"""
import base64
import itertools
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
SECRET = "integration-secret-0123456789abcdef"
tmp = t.tempdir("v2m-auth-test-")
# A first delay long enough that the attempts right after the fifth failure
# surely fall inside it, even on a loaded machine.
LOGIN_DELAY = 5
env = {"JWT_SECRET": SECRET, "V2M_LOGIN_DELAY": "%ds" % LOGIN_DELAY}
# The most /validate may keep accepting a revoked token (docs/API.md).
REVOKE_WITHIN = 5.0

try:
    import jwt as pyjwt  # Debian's python3-jwt
except ImportError:
    pyjwt = None

if BACKEND == "mysql":
    host = t.need_env("V2M_TEST_MYSQL_HOST", "MariaDB for the MySQL users backend")
    port = os.environ["V2M_TEST_MYSQL_PORT"]
    root_pw = os.environ.get("V2M_TEST_MYSQL_PASSWORD", "")

    def sql(stmt, db="auth"):
        args = ["mysql", "-h", host, "-P", port, "-uroot", "--batch", "--skip-column-names"]
        if root_pw:
            args.append("-p" + root_pw)
        if db:
            args.append(db)
        rc, out, err = t.run_cmd(args, stdin=stmt)
        assert rc == 0, "mysql: " + err
        return out

    sql("DROP DATABASE IF EXISTS auth;", None)
    sql(open(os.path.join(t.SRC, "deploy/sql/init.sql")).read(), None)
    # The original's variables, as its Kubernetes manifests set them.
    env.update({"MYSQL_HOST": host, "MYSQL_PORT": port, "MYSQL_USER": "auth_user",
                "MYSQL_PASSWORD": "Auth123", "MYSQL_DB": "auth"})
    admin_env = dict(env)
else:
    db = os.path.join(tmp, "users.db")
    env["V2M_USERS"] = "sqlite://" + db
    admin_env = dict(env)

    def sql(stmt, db=None):
        rc, out, err = t.run_cmd(["sqlite3", os.path.join(tmp, "users.db")], stdin=stmt)
        assert rc == 0, "sqlite3: " + err
        return out

    # The demo user of init.sql, made with v2m-admin here.
    rc, out, err = t.run_cmd([os.path.join(t.BIN, "v2m-admin"), "user", "add",
                              "georgio@email.com", "--admin", "--password-stdin"],
                             stdin="Admin123\n", env=admin_env)
    assert rc == 0, err

srv = t.Service("v2m-auth", env)
# The gateway in front, with the embedded store and queue: logins through it
# carry the client's address to auth.
gw_env = dict(env)
gw_env.update({"AUTH_SVC_ADDRESS": "127.0.0.1:%d" % srv.port, "V2M_STORE": "file://%s/store" % tmp,
               "V2M_QUEUE": "sqlite://%s/queue.db" % tmp})
gw_env.pop("V2M_USERS", None)
os.makedirs(tmp + "/store")
gw = t.Service("v2m-gateway", gw_env)

# Each login comes from its own address (auth trusts X-Forwarded-For from
# loopback by default), so that only the throttling tests meet the
# per-address limit. 198.18.0.0/15 is for benchmarks and tests.
_addrs = ("198.18.%d.%d" % (i // 250, 1 + i % 250) for i in itertools.count())


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def login(user, pw, addr=None, via=None):
    h = {"Authorization": basic(user, pw), "X-Forwarded-For": addr or next(_addrs)}
    return (via or srv).request("POST", "/login", h)


def validate(token, scheme="Bearer"):
    return srv.request("POST", "/validate", {"Authorization": "%s %s" % (scheme, token)})


def admin(*args, stdin=None):
    return t.run_cmd([os.path.join(t.BIN, "v2m-admin")] + list(args), stdin=stdin, env=admin_env)


def add_user(email, pw, *flags):
    rc, _, err = admin("user", "add", email, "--password-stdin", *flags, stdin=pw + "\n")
    assert rc == 0, err


def token_for(email, pw):
    st, tok, _ = login(email, pw)
    assert st == 200, (email, st, tok)
    return tok


def gen_of(email):
    nocase = " COLLATE NOCASE" if BACKEND == "sqlite" else ""
    out = sql("SELECT token_gen FROM user WHERE email = '%s'%s;" % (email, nocase), "auth")
    return int(out.strip())


def metric(name):
    body = srv.request("GET", "/metrics")[1]
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_refused(tok):
    """The token is refused with 403 at the latest REVOKE_WITHIN seconds after
    now (the change that revokes it is committed). Returns how long it took."""
    t0 = time.time()
    while True:
        started = time.time() - t0
        st, body, _ = validate(tok)
        if st == 403:
            assert body.strip() == "not authorized", body
            return started
        assert st == 200, (st, body)
        assert started <= REVOKE_WITHIN, "token still accepted %.1fs after revocation" % started
        time.sleep(0.2)


def test_demo_user_logs_in_and_token_has_the_four_claims():
    st, body, _ = login("georgio@email.com", "Admin123")
    assert st == 200, (st, body)
    assert body.count(".") == 2 and "\n" not in body, body
    st, claims, hdrs = validate(body)
    assert st == 200, (st, claims)
    assert hdrs.get("Content-Type", "").startswith("application/json")
    c = json.loads(claims)
    assert c["username"] == "georgio@email.com"
    assert c["admin"] is True
    assert isinstance(c["iat"], int) and isinstance(c["exp"], int)
    assert c["exp"] - c["iat"] == 86400
    assert abs(c["iat"] - time.time()) < 120
    assert c["gen"] == gen_of("georgio@email.com")


def test_pyjwt_verifies_a_v2m_token():
    if pyjwt is None:
        raise AssertionError("python3-jwt is not installed (make deps installs it)")
    st, tok, _ = login("georgio@email.com", "Admin123")
    assert st == 200
    c = pyjwt.decode(tok, SECRET, algorithms=["HS256"])
    assert set(c) >= {"username", "exp", "iat", "admin", "gen"}, c
    assert pyjwt.get_unverified_header(tok)["alg"] == "HS256"
    assert c["username"] == "georgio@email.com" and c["admin"] is True
    try:
        pyjwt.decode(tok, "wrong-secret", algorithms=["HS256"])
        raise AssertionError("PyJWT accepted a wrong secret")
    except pyjwt.InvalidSignatureError:
        pass


GEORGIO_GEN = gen_of("georgio@email.com")


def claims(**over):
    now = int(time.time())
    c = {"username": "georgio@email.com", "exp": now + 600, "iat": now, "admin": True,
         "gen": GEORGIO_GEN}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def test_v2m_validates_a_pyjwt_token():
    tok = pyjwt.encode(claims(), SECRET, algorithm="HS256")
    st, body, _ = validate(tok)
    assert st == 200, (st, body)
    assert json.loads(body)["username"] == "georgio@email.com"


def test_forged_tokens_are_refused_with_403():
    now = int(time.time())
    forged = {
        "expired": pyjwt.encode(claims(exp=now - 5, iat=now - 100), SECRET, algorithm="HS256"),
        "hs512": pyjwt.encode(claims(), SECRET, algorithm="HS512"),
        "hs384": pyjwt.encode(claims(), SECRET, algorithm="HS384"),
        "other secret": pyjwt.encode(claims(), "not-the-secret", algorithm="HS256"),
        "no admin claim": pyjwt.encode(claims(admin=None), SECRET, algorithm="HS256"),
        "no username": pyjwt.encode(claims(username=None), SECRET, algorithm="HS256"),
        "no exp": pyjwt.encode(claims(exp=None), SECRET, algorithm="HS256"),
        "garbage": "abc.def.ghi",
        "not a jwt": "hello",
        "iat 2 minutes ahead": pyjwt.encode(claims(iat=now + 120, exp=now + 600), SECRET,
                                            algorithm="HS256"),
        "lifetime over the ttl": pyjwt.encode(claims(iat=now - 10, exp=now - 10 + 86401),
                                              SECRET, algorithm="HS256"),
        "never expires": pyjwt.encode(claims(exp=2 ** 63 - 1), SECRET, algorithm="HS256"),
        "crit header": pyjwt.encode(claims(), SECRET, algorithm="HS256",
                                    headers={"crit": ["exp"]}),
        "gen as text": pyjwt.encode(claims(gen="0"), SECRET, algorithm="HS256"),
        "other gen": pyjwt.encode(claims(gen=GEORGIO_GEN + 1), SECRET, algorithm="HS256"),
        "admin claim false for an admin": pyjwt.encode(claims(admin=False), SECRET,
                                                       algorithm="HS256"),
        "deleted user": pyjwt.encode(claims(username="nobody@email.com"), SECRET,
                                     algorithm="HS256"),
    }
    # alg "none" by hand: PyJWT refuses to make one with a key.
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    forged["alg none"] = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + "."
    # Claim names twice: PyJWT keeps the last one; v2m refuses the token.
    import hashlib
    import hmac
    def signed(header_json, payload_json):
        b = lambda s_: base64.urlsafe_b64encode(s_.encode()).rstrip(b"=").decode()
        msg = b(header_json) + "." + b(payload_json)
        sig = hmac.new(SECRET.encode(), msg.encode(), hashlib.sha256).digest()
        return msg + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    body = json.dumps(claims())[:-1]
    forged["duplicate claim"] = signed('{"alg":"HS256","typ":"JWT"}',
                                       body + ', "username": "someone@else.com"}')
    forged["duplicate header member"] = signed('{"alg":"none","alg":"HS256"}', json.dumps(claims()))
    assert validate(signed('{"alg":"HS256","typ":"JWT"}', json.dumps(claims())))[0] == 200
    good = pyjwt.encode(claims(), SECRET, algorithm="HS256")
    forged["tampered"] = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for name, tok in forged.items():
        st, body, _ = validate(tok)
        assert st == 403 and body.strip() == "not authorized", (name, st, body)
    st, body, _ = validate(good, scheme="Basic")
    assert st == 403, (st, body)
    st, body, _ = validate(good, scheme="Bearer\t")
    assert st == 200, (st, body)


def test_bearer_with_several_spaces_is_accepted():
    tok = pyjwt.encode(claims(), SECRET, algorithm="HS256")
    for scheme in ["Bearer", "Bearer ", "Bearer    ", "bearer", "BEARER  "]:
        st, body, _ = validate(tok, scheme=scheme)
        assert st == 200, (scheme, st, body)
    for h in ["Bearer", "Bearer   ", "Bearer" + tok, "Token " + tok]:
        st, body, _ = srv.request("POST", "/validate", {"Authorization": h})
        assert st == 403, (h, st, body)
    # Through the gateway too.
    st, body, _ = gw.request("GET", "/jobs", {"Authorization": "Bearer   " + tok})
    assert st == 200, (st, body)


def test_original_token_without_gen_works_for_an_original_row():
    # Rows made by the original's init.sql (or INSERT) have generation 0, as
    # its tokens, which carry no gen claim.
    sql("INSERT INTO user (email, password) VALUES ('orig@email.com', 'Orig1234');", "auth")
    assert gen_of("orig@email.com") == 0
    tok = pyjwt.encode(claims(username="orig@email.com", admin=False, gen=None), SECRET,
                       algorithm="HS256")
    st, body, _ = validate(tok)
    assert st == 200, (st, body)
    assert "gen" not in json.loads(body)
    rc, _, err = admin("user", "passwd", "orig@email.com", "--password-stdin", stdin="Orig-new-1\n")
    assert rc == 0, err
    wait_refused(tok)


def test_validate_without_header_is_401():
    st, body, _ = srv.request("POST", "/validate")
    assert st == 401 and body.strip() == "missing credentials", (st, body)


def test_bad_basic_headers_are_401_missing_credentials():
    cases = [None, "Basic", "Basic !!!!", "Basic " + base64.b64encode(b"nocolon").decode(),
             "Bearer xyz", basic("", "pw"), basic("georgio@email.com", ""), "Basic a"]
    for h in cases:
        st, body, hdrs = srv.request("POST", "/login", {"Authorization": h} if h else {})
        assert st == 401 and body.strip() == "missing credentials", (h, st, body)
        assert hdrs.get("WWW-Authenticate", "").startswith("Basic"), hdrs


def test_wrong_password_and_unknown_user_are_401_invalid_credentials():
    for user, pw in [("georgio@email.com", "admin123"), ("georgio@email.com", "Admin1234"),
                     ("nobody@email.com", "Admin123"), ("x" * 300 + "@a.b", "pw")]:
        st, body, _ = login(user, pw)
        assert st == 401 and body.strip() == "invalid credentials", (user, st, body)


def test_sql_metacharacters_are_plain_data():
    for user in ["' OR '1'='1", "georgio@email.com' --", "a@b.c'; DROP TABLE user; --",
                 "\" OR \"\"=\"", "%", "_@%"]:
        st, body, _ = login(user, "' OR '1'='1")
        assert st == 401 and body.strip() == "invalid credentials", (user, st, body)
    assert "georgio@email.com" in sql("SELECT email FROM user;", "auth")
    rc, _, err = admin("user", "add", "o'brien@x.org", "--password-stdin", stdin="p'w\"; --\n")
    assert rc == 0, err
    st, tok, _ = login("o'brien@x.org", "p'w\"; --")
    assert st == 200, (st, tok)


def test_huge_headers_are_refused():
    st, body, _ = srv.request("POST", "/login", {"Authorization": "Basic " + "A" * 9000})
    assert st == 431 and "too large" in body, (st, body)
    st, body, _ = srv.request("POST", "/validate", {"X-Junk": "y" * 20000})
    assert st == 431, st


def test_big_body_is_refused():
    st, body, _ = srv.request("POST", "/login", {"Authorization": basic("a@b.c", "x")},
                              body=b"z" * 200000)
    assert st == 413 and "too large" in body, (st, body)


def test_legacy_plaintext_row_logs_in_and_is_rehashed():
    sql("INSERT INTO user (email, password) VALUES ('legacy@email.com', 'Plain123');", "auth")
    st, body, _ = login("legacy@email.com", "Wrong")
    assert st == 401
    assert sql("SELECT password FROM user WHERE email='legacy@email.com';", "auth").strip() == "Plain123"
    st, body, _ = login("legacy@email.com", "Plain123")
    assert st == 200, (st, body)
    stored = sql("SELECT password FROM user WHERE email='legacy@email.com';", "auth").strip()
    assert stored.startswith("$y$"), stored
    st, body, _ = login("legacy@email.com", "Plain123")
    assert st == 200, (st, body)
    c = json.loads(validate(body)[1])
    assert c["admin"] is False


def test_admin_cli_add_list_passwd_del():
    rc, _, err = admin("user", "add", "cli@email.com", "--password-stdin", stdin="first-pw\n")
    assert rc == 0, err
    rc, _, err = admin("user", "add", "cli@email.com", "--password-stdin", stdin="again-pw\n")
    assert rc != 0 and "already exists" in err, err
    rc, out, _ = admin("user", "list")
    assert rc == 0 and "cli@email.com" in out and "georgio@email.com\tadmin" in out, out
    assert "$y$" not in out and "first" not in out
    assert login("cli@email.com", "first-pw")[0] == 200
    rc, _, err = admin("user", "passwd", "cli@email.com", "--password-stdin", stdin="second-pw\n")
    assert rc == 0, err
    assert login("cli@email.com", "first-pw")[0] == 401
    assert login("cli@email.com", "second-pw")[0] == 200
    rc, _, err = admin("user", "del", "cli@email.com")
    assert rc == 0, err
    assert login("cli@email.com", "second-pw")[0] == 401
    rc, _, err = admin("user", "del", "cli@email.com")
    assert rc != 0 and "no such user" in err, err
    rc, _, err = admin("user", "add", "not-an-email", "--password-stdin", stdin="x\n")
    assert rc == 2 and "email" in err, err
    rc, _, err = admin("user", "add", "empty@email.com", "--password-stdin", stdin="\n")
    assert rc != 0 and "empty" in err, err
    rc, _, err = admin("user", "frobnicate", "x@y.z")
    assert rc == 2, err
    rc, _, err = admin("user", "admin", "x@y.z")
    assert rc == 2 and "on or off" in err, err
    rc, _, err = admin("user", "admin", "x@y.z", "maybe")
    assert rc == 2 and "on or off" in err, err
    rc, _, err = admin("user", "admin", "nobody@email.com", "on")
    assert rc == 1 and "no such user" in err, err
    rc, out, _ = admin("--help")
    assert rc == 0 and "user admin EMAIL on|off" in out and "8" in out, out


def test_short_new_passwords_are_refused():
    for pw in ["", "Short12", "1234567", "\u00e9\u00e9\u00e9\u00e9"]:
        rc, _, err = admin("user", "add", "short@email.com", "--password-stdin", stdin=pw + "\n")
        assert rc != 0, (pw, err)
        assert ("at least 8 characters" in err) or (pw == "" and "empty" in err), err
        assert err.count("\n") == 1, err  # one line
    rc, out, _ = admin("user", "list")
    assert "short@email.com" not in out
    add_user("short@email.com", "Long-enough")
    rc, _, err = admin("user", "passwd", "short@email.com", "--password-stdin", stdin="1234567\n")
    assert rc != 0 and "at least 8 characters" in err, err
    assert login("short@email.com", "Long-enough")[0] == 200
    assert login("short@email.com", "1234567")[0] == 401
    add_user("unicode@email.com", "\u00e9" * 8)
    assert login("unicode@email.com", "\u00e9" * 8)[0] == 200


def test_emails_are_not_case_sensitive():
    add_user("Mixed.Case@Email.COM", "Mixed-Case-1")
    rc, out, _ = admin("user", "list")
    assert "mixed.case@email.com" in out and "Mixed.Case" not in out, out
    for spelling in ["mixed.case@email.com", "MIXED.CASE@EMAIL.COM", "Mixed.Case@Email.com"]:
        st, tok, _ = login(spelling, "Mixed-Case-1")
        assert st == 200, (spelling, st, tok)
        st, body, _ = validate(tok)
        assert st == 200 and json.loads(body)["username"] == "mixed.case@email.com", body
    rc, _, err = admin("user", "add", "mixed.CASE@email.com", "--password-stdin", stdin="Another-1\n")
    assert rc != 0 and "already exists" in err, err
    rc, _, err = admin("user", "passwd", "MIXED.case@EMAIL.com", "--password-stdin",
                       stdin="Mixed-Case-2\n")
    assert rc == 0, err
    assert login("mixed.case@email.com", "Mixed-Case-2")[0] == 200
    # A row written with capitals by an older version still logs in, in any
    # spelling, and a second spelling of it cannot be added.
    sql("INSERT INTO user (email, password) VALUES ('Old.Caps@Email.com', 'OldCaps1');", "auth")
    st, tok, _ = login("old.caps@email.com", "OldCaps1")
    assert st == 200, (st, tok)
    assert validate(tok)[0] == 200
    rc, _, err = admin("user", "add", "old.caps@email.com", "--password-stdin", stdin="Another-1\n")
    assert rc != 0 and "already exists" in err, err
    rc, _, err = admin("user", "del", "OLD.CAPS@EMAIL.COM")
    assert rc == 0, err
    assert login("Old.Caps@Email.com", "OldCaps1")[0] == 401


def test_login_throttled_per_account():
    add_user("throttle@email.com", "Throttle-1")
    refused0 = metric('v2m_auth_logins_total{result="refused"}')
    throttled0 = metric('v2m_auth_logins_total{result="throttled"}')
    # Five failures from five addresses: each one is checked.
    for _ in range(5):
        st, body, _ = login("throttle@email.com", "wrong-password")
        assert st == 401 and body.strip() == "invalid credentials", (st, body)
    # The sixth is refused without a look at the password, from anywhere.
    st, body, hdrs = login("THROTTLE@email.com", "wrong-password")
    assert st == 429, (st, body)
    retry = int(hdrs["Retry-After"])
    assert 1 <= retry <= LOGIN_DELAY, hdrs
    assert "too many failed logins" in body and "try again in %d second" % retry in body, body
    # The right password does not help while the delay runs.
    st, body, hdrs = login("throttle@email.com", "Throttle-1")
    assert st == 429 and 1 <= int(hdrs["Retry-After"]) <= LOGIN_DELAY, (st, body, hdrs)
    assert metric('v2m_auth_logins_total{result="refused"}') - refused0 == 5
    assert metric('v2m_auth_logins_total{result="throttled"}') - throttled0 == 2
    # Once it is over, the right password works...
    time.sleep(int(hdrs["Retry-After"]) + 0.3)
    st, tok, _ = login("throttle@email.com", "Throttle-1")
    assert st == 200, (st, tok)
    # ...and clears the count: a new failure is checked again.
    st, body, _ = login("throttle@email.com", "wrong-password")
    assert st == 401, (st, body)


def test_login_throttled_per_address_across_accounts():
    add_user("victim@email.com", "Victim-123")
    here, elsewhere = "203.0.113.20", "203.0.113.21"
    for user in ["a1@email.com", "a2@email.com", "victim@email.com", "a3@email.com",
                 "a4@email.com"]:
        st, body, _ = login(user, "guess-123", addr=here)
        assert st == 401, (user, st, body)
    st, body, hdrs = login("a5@email.com", "guess-123", addr=here)
    assert st == 429 and "Retry-After" in hdrs, (st, body, hdrs)
    # Even the right password for an account the address did not touch.
    add_user("bystander@email.com", "Bystander-1")
    assert login("bystander@email.com", "Bystander-1", addr=here)[0] == 429
    # Other addresses are not held back, and the accounts only once they
    # have failed five times themselves.
    assert login("bystander@email.com", "Bystander-1", addr=elsewhere)[0] == 200
    assert login("victim@email.com", "Victim-123", addr=elsewhere)[0] == 200
    # An IPv6 client is one /64.
    for i in range(5):
        assert login("b%d@email.com" % i, "guess-123", addr="2001:db8:7:7::%x" % (i + 1))[0] == 401
    assert login("b9@email.com", "guess-123", addr="2001:db8:7:7:ffff::1")[0] == 429
    assert login("b9@email.com", "guess-123", addr="2001:db8:7:8::1")[0] == 401


def test_gateway_passes_the_client_address_and_retry_after():
    here, elsewhere = "198.51.100.77", "198.51.100.78"
    for i in range(5):
        st, body, _ = login("gw%d@email.com" % i, "guess-123", addr=here, via=gw)
        assert st == 401 and body.strip() == "invalid credentials", (st, body)
    st, body, hdrs = login("gw9@email.com", "guess-123", addr=here, via=gw)
    assert st == 429 and "too many failed logins" in body, (st, body)
    assert 1 <= int(hdrs["Retry-After"]) <= LOGIN_DELAY, hdrs
    # Without the address the gateway passes on, every login through it would
    # share the gateway's own address and be held back now.
    st, tok, _ = login("georgio@email.com", "Admin123", addr=elsewhere, via=gw)
    assert st == 200, (st, tok)


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy():
    # A second auth that trusts no proxy, on a database of its own: every
    # attempt comes from 127.0.0.1, whatever X-Forwarded-For says.
    own = dict(env)
    own.update({"V2M_TRUSTED_PROXIES": "", "V2M_USERS": "sqlite://%s/untrusting.db" % tmp})
    for k in ["MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DB"]:
        own.pop(k, None)
    other = t.Service("v2m-auth", own)
    try:
        for i in range(5):
            st, _, _ = login("u%d@email.com" % i, "guess-123", via=other)
            assert st == 401, st
        st, body, _ = login("u9@email.com", "guess-123", via=other)
        assert st == 429, (st, body)
    finally:
        other.stop()
    rc, _, err = t.run_cmd([os.path.join(t.BIN, "v2m-auth")],
                           env={"JWT_SECRET": "s", "V2M_TRUSTED_PROXIES": "10.0.0.0/8,nowhere"})
    assert rc != 0 and "V2M_TRUSTED_PROXIES" in err and "nowhere" in err, err


def test_passwd_revokes_earlier_tokens():
    add_user("rev-passwd@email.com", "Revoke-me-1")
    old = token_for("rev-passwd@email.com", "Revoke-me-1")
    assert validate(old)[0] == 200
    rc, _, err = admin("user", "passwd", "rev-passwd@email.com", "--password-stdin",
                       stdin="Revoke-me-2\n")
    assert rc == 0, err
    wait_refused(old)
    # A token issued after the change works at once.
    new = token_for("rev-passwd@email.com", "Revoke-me-2")
    st, body, _ = validate(new)
    assert st == 200, (st, body)
    assert json.loads(body)["gen"] == gen_of("rev-passwd@email.com")
    assert validate(old)[0] == 403
    # Through the gateway as well.
    assert gw.request("GET", "/jobs", {"Authorization": "Bearer " + old})[0] == 403
    assert gw.request("GET", "/jobs", {"Authorization": "Bearer " + new})[0] == 200


def test_del_revokes_tokens_and_adding_again_does_not_revive_them():
    add_user("rev-del@email.com", "Revoke-me-1")
    tok = token_for("rev-del@email.com", "Revoke-me-1")
    assert validate(tok)[0] == 200
    rc, _, err = admin("user", "del", "rev-del@email.com")
    assert rc == 0, err
    wait_refused(tok)
    add_user("rev-del@email.com", "Revoke-me-1")
    # The new user's token is checked against the new row at once...
    assert validate(token_for("rev-del@email.com", "Revoke-me-1"))[0] == 200
    # ...which carries a new generation: the old token stays refused.
    assert validate(tok)[0] == 403


def test_admin_off_and_on_revoke_tokens():
    add_user("rev-admin@email.com", "Revoke-me-1", "--admin")
    tok = token_for("rev-admin@email.com", "Revoke-me-1")
    st, body, _ = validate(tok)
    assert st == 200 and json.loads(body)["admin"] is True, body
    rc, _, err = admin("user", "admin", "rev-admin@email.com", "off")
    assert rc == 0, err
    rc, out, _ = admin("user", "list")
    assert "rev-admin@email.com\tadmin" not in out and "rev-admin@email.com" in out, out
    wait_refused(tok)
    tok = token_for("rev-admin@email.com", "Revoke-me-1")
    st, body, _ = validate(tok)
    assert st == 200 and json.loads(body)["admin"] is False, body
    rc, _, err = admin("user", "admin", "REV-ADMIN@email.com", "on")
    assert rc == 0, err
    wait_refused(tok)
    st, body, _ = validate(token_for("rev-admin@email.com", "Revoke-me-1"))
    assert st == 200 and json.loads(body)["admin"] is True, body


def test_admin_flag_changed_in_the_database_revokes_tokens():
    # Even without a new generation (an UPDATE by hand), a token whose admin
    # claim no longer matches the row is refused.
    add_user("rev-sql@email.com", "Revoke-me-1", "--admin")
    tok = token_for("rev-sql@email.com", "Revoke-me-1")
    assert validate(tok)[0] == 200
    sql("UPDATE user SET admin = 0 WHERE email = 'rev-sql@email.com';", "auth")
    wait_refused(tok)


def test_health_ready_metrics():
    assert srv.request("GET", "/healthz")[0] == 200
    st, body, _ = srv.request("GET", "/readyz")
    assert st == 200, body
    st, body, _ = srv.request("GET", "/metrics")
    assert st == 200 and 'v2m_auth_logins_total{result="ok"}' in body, body
    assert 'route="/login",code="2xx"' in body
    assert srv.request("GET", "/login")[0] == 405
    assert srv.request("GET", "/nope")[0] == 404


def test_secrets_stay_out_of_logs():
    log = srv.logtext()
    assert SECRET not in log
    assert "Admin123" not in log and "Auth123" not in log and "Plain123" not in log
    assert "Throttle-1" not in log and "Revoke-me" not in log and "guess-123" not in log


def test_database_outage_gives_503_then_recovers():
    if BACKEND != "mysql":
        raise t.Skip("an embedded SQLite file has no outage to simulate")
    rc, _, err = t.run_cmd([t.HARNESS, "mysql-stop"], timeout=120)
    assert rc == 0, err
    try:
        t0 = time.time()
        st, body, _ = login("georgio@email.com", "Admin123")
        assert st == 503 and "unavailable" in body, (st, body)
        assert time.time() - t0 < 25, "login hung while the database was down"
        st, body, _ = srv.request("GET", "/readyz")
        assert st == 503 and "unavailable" in body, (st, body)
        # Tokens need the user's row (revocation): once the cached one is
        # older than the cache keeps rows, auth says so, and no token passes.
        tok = pyjwt.encode(claims(), SECRET, algorithm="HS256")
        time.sleep(2.5)
        st, body, _ = validate(tok)
        assert st == 503 and "unavailable" in body, (st, body)
        st, body, _ = gw.request("GET", "/jobs", {"Authorization": "Bearer " + tok})
        assert st == 503, (st, body)
    finally:
        rc, _, err = t.run_cmd([t.HARNESS, "mysql-start"], timeout=120)
        assert rc == 0, err
    st, body, _ = login("georgio@email.com", "Admin123")
    assert st == 200, (st, body)
    assert srv.request("GET", "/readyz")[0] == 200
    assert validate(body)[0] == 200


def test_original_table_is_upgraded():
    if BACKEND != "mysql":
        raise t.Skip("the SQLite upgrade is tested in tests/unit/test_users_sqlite.c")
    sql("DROP DATABASE IF EXISTS auth_orig; CREATE DATABASE auth_orig;", None)
    # The original's table, with a row it wrote.
    sql("CREATE TABLE user (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " email VARCHAR(255) NOT NULL UNIQUE, password VARCHAR(255) NOT NULL);"
        "INSERT INTO user (email, password) VALUES ('Orig.User@Email.com', 'Orig1234');",
        "auth_orig")
    from urllib.parse import quote
    url = "mysql://root:%s@%s:%s/auth_orig" % (quote(root_pw, safe=""), host, port)
    cli = lambda *a, **kw: t.run_cmd([os.path.join(t.BIN, "v2m-admin")] + list(a),
                                     env={"V2M_USERS": url}, **kw)
    rc, out, err = cli("user", "list")
    assert rc == 0 and "Orig.User@Email.com" in out, (out, err)
    cols = sql("SHOW COLUMNS FROM user;", "auth_orig")
    assert "admin" in cols and "token_gen" in cols and "webhook_secret" in cols, cols
    assert "login_throttle" in sql("SHOW TABLES;", "auth_orig")
    rc, _, err = cli("user", "passwd", "orig.user@email.com", "--password-stdin",
                     stdin="Orig-new-1\n")
    assert rc == 0, err
    assert sql("SELECT token_gen FROM user;", "auth_orig").strip() == "1"
    rc, _, err = cli("user", "add", "ORIG.USER@email.com", "--password-stdin", stdin="Orig-new-2\n")
    assert rc != 0 and "already exists" in err, err
    rc, out, err = cli("webhook-secret", "orig.user@email.com")
    assert rc == 0 and len(out.strip()) == 64, (out, err)
    sql("DROP DATABASE auth_orig;", None)


def test_init_sql_upgrades_an_older_table():
    if BACKEND != "mysql":
        raise t.Skip("init.sql is MySQL's")
    sql("DROP DATABASE IF EXISTS auth_old; CREATE DATABASE auth_old;", None)
    sql("CREATE TABLE user (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " email VARCHAR(255) NOT NULL UNIQUE, password VARCHAR(255) NOT NULL,"
        " admin BOOLEAN NOT NULL DEFAULT FALSE, token_gen BIGINT NOT NULL DEFAULT 0);", "auth_old")
    init = open(os.path.join(t.SRC, "deploy/sql/init.sql")).read()
    init = init.replace("CREATE DATABASE IF NOT EXISTS auth;", "").replace("USE auth;", "")
    init = init.replace("ON auth.*", "ON auth_old.*")
    for _ in range(2):  # safe to run twice
        sql(init, "auth_old")
    assert "webhook_secret" in sql("SHOW COLUMNS FROM user;", "auth_old")
    sql("DROP DATABASE auth_old;", None)


def test_webhook_secret_is_made_shown_once_and_rotated():
    add_user("hooks@email.com", "Hooks1234")
    rc, s1, err = admin("webhook-secret", "Hooks@Email.com")
    assert rc == 0, err
    s1 = s1.strip()
    assert len(s1) == 64 and all(c in "0123456789abcdef" for c in s1), s1
    col = sql("SELECT webhook_secret FROM user WHERE email = 'hooks@email.com';", "auth").strip()
    assert col == s1, col
    rc, _, err = admin("webhook-secret", "nobody@email.com")
    assert rc != 0 and "no such user" in err, err
    # Through auth with the user's token (the gateway forwards POST /webhook-secret).
    tok = token_for("hooks@email.com", "Hooks1234")
    for via in (srv, gw):
        st, body, h = via.request("POST", "/webhook-secret", {"Authorization": "Bearer " + tok})
        assert st == 200, (st, body)
        assert h.get("Cache-Control") == "no-store", h
        s2 = json.loads(body)["secret"]
        assert len(s2) == 64 and s2 != s1, body
        s1 = s2
    st, body, _ = gw.request("POST", "/webhook-secret", {})
    assert st == 401, (st, body)
    st, body, _ = srv.request("POST", "/webhook-secret", {"Authorization": "Bearer nonsense"})
    assert st == 403, (st, body)
    # A revoked token rotates nothing.
    rc, _, err = admin("user", "passwd", "hooks@email.com", "--password-stdin",
                       stdin="Hooks5678\n")
    assert rc == 0, err
    wait_refused(tok)
    st, body, _ = srv.request("POST", "/webhook-secret", {"Authorization": "Bearer " + tok})
    assert st == 403, (st, body)
    col = sql("SELECT webhook_secret FROM user WHERE email = 'hooks@email.com';", "auth").strip()
    assert col == s1
    for svc in (srv, gw):
        assert s1 not in svc.logtext(), svc.name


def test_bad_configuration_is_refused_at_start():
    base = [os.path.join(t.BIN, "v2m-auth")]
    rc, _, err = t.run_cmd(base, env={"JWT_SECRET": "", "V2M_USERS": "sqlite:///tmp/x.db"})
    assert rc != 0 and "JWT_SECRET" in err, err
    rc, _, err = t.run_cmd(base, env={"JWT_SECRET": "s", "V2M_LISTEN": "nowhere"})
    assert rc != 0 and "V2M_LISTEN" in err, err
    rc, _, err = t.run_cmd(base, env={"JWT_SECRET": "s", "V2M_USERS": "postgres://x/y"})
    assert rc != 0 and "users URL" in err, err
    rc, _, err = t.run_cmd(base, env={"JWT_SECRET": "s", "V2M_TOKEN_TTL": "forever"})
    assert rc != 0 and "V2M_TOKEN_TTL" in err, err
    rc, _, err = t.run_cmd(base, env={"JWT_SECRET": "s", "V2M_LOGIN_DELAY": "2m",
                                      "V2M_LOGIN_DELAY_MAX": "1m"})
    assert rc != 0 and "V2M_LOGIN_DELAY_MAX" in err, err
    rc, out, _ = t.run_cmd(base + ["--help"])
    assert rc == 0 and "V2M_TRUSTED_PROXIES" in out and "V2M_LOGIN_DELAY" in out, out
    rc, out, _ = t.run_cmd(base + ["--version"])
    assert rc == 0 and out.startswith("v2m-auth "), out


def teardown():
    gw.stop()
    srv.stop()


t.run(globals(), "test_auth_" + BACKEND)
