#!/usr/bin/python3
"""v2m-auth end to end, against SQLite or the real MariaDB (argv[1]).

Starts the real v2m-auth binary, manages users with the real v2m-admin, and
checks the wire contract: /login and /validate status codes and bodies, token
claims (verified by PyJWT), refusals, legacy plaintext rows, and (MariaDB)
a database outage and recovery.
"""
import base64
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
env = {"JWT_SECRET": SECRET}

try:
    import jwt as pyjwt  # Debian's python3-jwt
except ImportError:
    pyjwt = None

if BACKEND == "mysql":
    host = t.need_env("V2M_TEST_MYSQL_HOST", "MariaDB for the MySQL users backend")
    port = os.environ["V2M_TEST_MYSQL_PORT"]
    root_pw = os.environ.get("V2M_TEST_MYSQL_PASSWORD", "")

    def sql(stmt, db=None):
        args = ["mysql", "-h", host, "-P", port, "-uroot", "--batch", "--skip-column-names"]
        if root_pw:
            args.append("-p" + root_pw)
        if db:
            args.append(db)
        rc, out, err = t.run_cmd(args, stdin=stmt)
        assert rc == 0, "mysql: " + err
        return out

    sql("DROP DATABASE IF EXISTS auth;")
    sql(open(os.path.join(t.SRC, "deploy/sql/init.sql")).read())
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


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def login(user, pw):
    return srv.request("POST", "/login", {"Authorization": basic(user, pw)})


def validate(token, scheme="Bearer"):
    return srv.request("POST", "/validate", {"Authorization": "%s %s" % (scheme, token)})


def admin(*args, stdin=None):
    return t.run_cmd([os.path.join(t.BIN, "v2m-admin")] + list(args), stdin=stdin, env=admin_env)


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


def test_pyjwt_verifies_a_v2m_token():
    if pyjwt is None:
        raise AssertionError("python3-jwt is not installed (make deps installs it)")
    st, tok, _ = login("georgio@email.com", "Admin123")
    assert st == 200
    c = pyjwt.decode(tok, SECRET, algorithms=["HS256"])
    assert set(c) >= {"username", "exp", "iat", "admin"}, c
    assert c["username"] == "georgio@email.com" and c["admin"] is True
    try:
        pyjwt.decode(tok, "wrong-secret", algorithms=["HS256"])
        raise AssertionError("PyJWT accepted a wrong secret")
    except pyjwt.InvalidSignatureError:
        pass


def claims(**over):
    now = int(time.time())
    c = {"username": "georgio@email.com", "exp": now + 600, "iat": now, "admin": True}
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
    }
    # alg "none" by hand: PyJWT refuses to make one with a key.
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    forged["alg none"] = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + "."
    good = pyjwt.encode(claims(), SECRET, algorithm="HS256")
    forged["tampered"] = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for name, tok in forged.items():
        st, body, _ = validate(tok)
        assert st == 403 and body.strip() == "not authorized", (name, st, body)
    st, body, _ = validate(good, scheme="Basic")
    assert st == 403, (st, body)


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
    rc, _, err = admin("user", "add", "cli@email.com", "--password-stdin", stdin="first\n")
    assert rc == 0, err
    rc, _, err = admin("user", "add", "cli@email.com", "--password-stdin", stdin="again\n")
    assert rc != 0 and "already exists" in err, err
    rc, out, _ = admin("user", "list")
    assert rc == 0 and "cli@email.com" in out and "georgio@email.com\tadmin" in out, out
    assert "$y$" not in out and "first" not in out
    assert login("cli@email.com", "first")[0] == 200
    rc, _, err = admin("user", "passwd", "cli@email.com", "--password-stdin", stdin="second\n")
    assert rc == 0, err
    assert login("cli@email.com", "first")[0] == 401
    assert login("cli@email.com", "second")[0] == 200
    rc, _, err = admin("user", "del", "cli@email.com")
    assert rc == 0, err
    assert login("cli@email.com", "second")[0] == 401
    rc, _, err = admin("user", "del", "cli@email.com")
    assert rc != 0 and "no such user" in err, err
    rc, _, err = admin("user", "add", "not-an-email", "--password-stdin", stdin="x\n")
    assert rc == 2 and "email" in err, err
    rc, _, err = admin("user", "add", "empty@email.com", "--password-stdin", stdin="\n")
    assert rc != 0 and "empty" in err, err
    rc, _, err = admin("user", "frobnicate", "x@y.z")
    assert rc == 2, err


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


def test_database_outage_gives_503_then_recovers():
    if BACKEND != "mysql":
        return  # an embedded SQLite file has no outage to simulate
    rc, _, err = t.run_cmd([t.HARNESS, "mysql-stop"], timeout=120)
    assert rc == 0, err
    try:
        t0 = time.time()
        st, body, _ = login("georgio@email.com", "Admin123")
        assert st == 503 and "unavailable" in body, (st, body)
        assert time.time() - t0 < 25, "login hung while the database was down"
        st, body, _ = srv.request("GET", "/readyz")
        assert st == 503 and "unavailable" in body, (st, body)
        # Tokens need no database.
        tok = pyjwt.encode(claims(), SECRET, algorithm="HS256")
        assert validate(tok)[0] == 200
    finally:
        rc, _, err = t.run_cmd([t.HARNESS, "mysql-start"], timeout=120)
        assert rc == 0, err
    st, body, _ = login("georgio@email.com", "Admin123")
    assert st == 200, (st, body)
    assert srv.request("GET", "/readyz")[0] == 200


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
    rc, out, _ = t.run_cmd(base + ["--version"])
    assert rc == 0 and out.startswith("v2m-auth "), out


def teardown():
    srv.stop()


t.run(globals(), "test_auth_" + BACKEND)
