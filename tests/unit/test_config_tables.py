#!/usr/bin/python3
"""Every setting a program reads is in its table and in README.md's; out-of-range values are refused.

Each program prints its settings tables with --config-table (name, kind, default, min, max, help).
This test checks, against the sources and the README:
  - every variable the sources read (getenv, table rows, v2m_cfg_* look-ups) is in the table of
    each program built from those sources;
  - every variable of every table is in README.md's configuration table, and the README lists no
    variable that no program reads;
  - --help shows every row;
  - each bounded default lies within its row's range;
  - each service refuses values just outside every bounded row's range, a malformed number, a
    port above 65535, an unknown V2M_LOG_LEVEL, and V2M_RETRY_DELAY=50d and 25d, exiting 1 with
    a message that names the variable.
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ.get("V2M_BIN") or sys.exit("V2M_BIN is not set")
SRC = os.environ.get("V2M_SRC") or sys.exit("V2M_SRC is not set")

SERVICES = ["v2m-gateway", "v2m-auth", "v2m-converter", "v2m-notification"]
PROGRAMS = SERVICES + ["v2m-admin", "v2m"]

# Which programs each source file is built into (the settings it reads must be in their tables).
OWNERS = [
    ("src/gateway/", ["v2m-gateway"]),
    ("src/auth/", ["v2m-auth"]),
    ("src/converter/", ["v2m-converter"]),
    ("src/notification/", ["v2m-notification"]),
    ("src/worker/", ["v2m-converter", "v2m-notification"]),
    ("src/common/httpd.c", ["v2m-gateway", "v2m-auth"]),
    ("src/common/link.c", ["v2m-gateway", "v2m-notification"]),
    ("src/common/args.c", SERVICES),
    ("src/common/log.c", SERVICES),
    ("src/ports/users.c", ["v2m-auth", "v2m-admin"]),
    ("src/tools/admin.c", ["v2m-admin"]),
    ("src/tools/backup.c", ["v2m-admin"]),
    ("src/tools/v2m.c", ["v2m"]),
]
# The system's own variables, not v2m settings: v2m finds its token and unfinished uploads with them.
SYSTEM = {"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def table(prog):
    out = subprocess.run([os.path.join(BIN, prog), "--config-table"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    rows = {}
    for line in out.splitlines():
        name, kind, default, lo, hi, help_ = line.split("\t")
        rows[name] = dict(kind=kind, default=default, min=int(lo), max=int(hi), help=help_)
    if not rows:
        fail(f"{prog} --config-table printed no rows")
    return rows


READ_PATTERNS = [
    re.compile(r'getenv\("([A-Za-z0-9_]+)"\)'),
    re.compile(r'\.name = "([A-Z0-9_]+)"'),
    re.compile(r'v2m_cfg_(?:text|num|get)\([^,]+, "([A-Z0-9_]+)"\)'),
    re.compile(r'V2M_WORKER_VARS\([^,]+,\s*"([A-Z0-9_]+)"'),
]


def source_reads():
    reads = {}
    for root, _, files in os.walk(os.path.join(SRC, "src")):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SRC)
            text = open(path, encoding="utf-8").read()
            for pat in READ_PATTERNS:
                for name in pat.findall(text):
                    reads.setdefault(name, set()).add(rel)
    return reads


def readme_names():
    text = open(os.path.join(SRC, "README.md"), encoding="utf-8").read()
    sect = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in sect.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def scaled(text):
    m = re.fullmatch(r"(\d+)([smhdKMGT]?)", text)
    if not m:
        return None
    mult = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "K": 1 << 10, "M": 1 << 20,
            "G": 1 << 30, "T": 1 << 40}
    return int(m.group(1)) * mult[m.group(2)]


def run_service(prog, env_extra, args=()):
    with tempfile.TemporaryDirectory() as d:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "JWT_SECRET": "s" * 32,
               "V2M_STORE": f"file://{d}/store", "V2M_QUEUE": f"sqlite://{d}/queue.db",
               "V2M_USERS": f"sqlite://{d}/users.db", "V2M_OUTBOX": f"{d}/outbox",
               "V2M_LISTEN": "127.0.0.1:0", "V2M_ADMIN_LISTEN": "off",
               **{k: v for k, v in os.environ.items() if k.endswith("SAN_OPTIONS")}}
        env.update(env_extra)
        try:
            p = subprocess.run([os.path.join(BIN, prog), *args], env=env, cwd=d,
                               capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return None, "(still running after 30 s: the value was accepted)"
        return p.returncode, p.stderr


def main():
    tables = {p: table(p) for p in PROGRAMS}

    # 1. The sources' reads are in the tables of the programs built from them.
    reads = source_reads()
    everywhere = set().union(*tables.values())
    for name, files in sorted(reads.items()):
        if name in SYSTEM:
            continue
        if name not in everywhere:
            fail(f"{name} is read in {sorted(files)} but is in no program's table")
        for f in files:
            for prefix, progs in OWNERS:
                if f.startswith(prefix):
                    for prog in progs:
                        if name not in tables[prog]:
                            fail(f"{name} is read in {f} but is not in {prog}'s table")
    unowned = {f for fs in reads.values() for f in fs
               if not any(f.startswith(p) for p, _ in OWNERS)}
    for f in sorted(unowned):
        if f not in ("src/common/config.c",):
            fail(f"{f} reads settings but this test does not know which program runs it")

    # 2. The README documents every table's rows, and nothing else.
    documented = readme_names()
    for prog, rows in tables.items():
        for name in rows:
            if name not in documented:
                fail(f"{name} ({prog}) is missing from README.md's configuration table")
    for name in sorted(documented - everywhere):
        fail(f"README.md documents {name}, which no program reads")

    # 3. --help is generated from the tables.
    for prog in PROGRAMS:
        out = subprocess.run([os.path.join(BIN, prog), "--help"], capture_output=True, text=True,
                             timeout=30).stdout
        for name in tables[prog]:
            if not re.search(r"^\s+" + name + r"\s", out, re.M):
                fail(f"{prog} --help does not show {name}")

    # 4. Defaults lie within the ranges.
    for prog, rows in tables.items():
        for name, r in rows.items():
            if r["kind"] in ("int", "duration", "size"):
                v = scaled(r["default"])
                if v is not None and not r["min"] <= v <= r["max"]:
                    fail(f"{prog}: {name}'s default {r['default']} is outside {r['min']}..{r['max']}")

    # 5. Out-of-range values stop each service with a message naming the variable.
    # Two programs start at once: each start is mostly the loading of libraries.
    cases = []
    for prog in SERVICES + ["v2m-admin"]:
        args = ["user", "list"] if prog == "v2m-admin" else []
        for name, r in tables[prog].items():
            if r["kind"] in ("int", "duration", "size") and r["max"] > 0:
                cases.append((prog, args, name, str(r["max"] + 1)))
                if r["min"] > 0:
                    cases.append((prog, args, name, str(r["min"] - 1)))
                cases.append((prog, args, name, "x" + str(r["min"])))
            elif r["kind"] == "hostport":
                cases.append((prog, args, name, "127.0.0.1:65536"))
        if "V2M_LOG_LEVEL" in tables[prog]:
            cases.append((prog, args, "V2M_LOG_LEVEL", "loud"))
        if "V2M_RETRY_DELAY" in tables[prog]:
            cases += [(prog, args, "V2M_RETRY_DELAY", "50d"), (prog, args, "V2M_RETRY_DELAY", "25d")]

    def refused(case):
        prog, args, name, value = case
        rc, err = run_service(prog, {name: value}, args)
        if rc != 1 or name not in err:
            return (f"{prog} with {name}={value}: exit {rc}, stderr {err.strip()!r}; "
                    "expected exit 1 naming the variable")
        return None

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for msg in pool.map(refused, cases):
            if msg:
                fail(msg)
    checked = len(cases)
    if checked < 60:
        fail(f"only {checked} out-of-range cases ran")

    print(f"{sum(len(r) for r in tables.values())} rows in {len(tables)} programs, "
          f"{len(reads)} variables read in the sources, {checked} refusals checked")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("test_config_tables: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
