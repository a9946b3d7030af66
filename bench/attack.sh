#!/usr/bin/env bash
# Service under attack, measured (figures in docs/PERFORMANCE.md):
#  1. /validate latency while 64 connections flood /login (password hashing):
#     wrk --latency on /validate beside wrk on /login. Goal: p99 < 20 ms.
#  2. Login latency of a client while another address holds 2,000 sockets
#     on the gateway, each trickling a byte every 2 s (slowloris).
#     Goal: p99 < 1 s.
#   BENCH_DURATION=10s BENCH_SOCKETS=2000 bench/attack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${V2M_BIN:-build/bin}
DUR=${BENCH_DURATION:-10s}
SOCKETS=${BENCH_SOCKETS:-2000}
command -v wrk >/dev/null || { echo "bench: wrk missing (make deps installs it with --bench)" >&2; exit 1; }
for b in v2m-auth v2m-gateway v2m-admin; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing; run make build" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/v2m-bench-attack.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
. bench/stack.inc

export JWT_SECRET=bench-secret-0123456789 V2M_USERS="sqlite://$dir/users.db" V2M_LOG_LEVEL=warn
export V2M_STORE="file://$dir/store" V2M_QUEUE="sqlite://$dir/queue.db"
echo bench-pass | "$BIN/v2m-admin" user add bench@example.com --password-stdin
ap=$(free_port); gp=$(free_port)
V2M_LISTEN=127.0.0.1:$ap "$BIN/v2m-auth" & pids+=($!)
AUTH_SVC_ADDRESS=127.0.0.1:$ap V2M_LISTEN=127.0.0.1:$gp V2M_ADMIN_LISTEN=127.0.0.1:0 \
  "$BIN/v2m-gateway" & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$gp/healthz" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -X POST -u bench@example.com:bench-pass "http://127.0.0.1:$ap/login")
basic=$(printf 'bench@example.com:bench-pass' | base64)

echo "== 1. /validate during a 64-connection login flood ($(nproc) cores, $DUR)"
printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Basic %s"\n' "$basic" > "$dir/login.lua"
printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$dir/validate.lua"
wrk -t1 -c64 -d"$DUR" -s "$dir/login.lua" "http://127.0.0.1:$ap/login" > "$dir/login.txt" &
flood=$!
sleep 1
wrk -t1 -c4 -d"$DUR" --latency -s "$dir/validate.lua" "http://127.0.0.1:$ap/validate" > "$dir/validate.txt"
wait $flood
logins=$(awk '/Requests\/sec/ {print $2}' "$dir/login.txt")
total=$(awk '/requests in/ {print $1}' "$dir/login.txt")
refused=$(awk '/Non-2xx/ {print $NF}' "$dir/login.txt")
p99=$(awk '$1 == "99%" {print $2}' "$dir/validate.txt")
p50=$(awk '$1 == "50%" {print $2}' "$dir/validate.txt")
printf 'login flood: %s answers/s, %s of %s refused at once (429: more than 8 waiting\nfrom one client), the rest hashed\n/validate during it: p50 %s, p99 %s (goal p99 < 20ms)\n' \
  "$logins" "${refused:-0}" "$total" "$p50" "$p99"

echo "== 2. login latency while one address holds $SOCKETS trickling sockets"
/usr/bin/python3 - "$gp" "$SOCKETS" <<'PY'
import base64, http.client, resource, socket, sys, threading, time
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
socks, stop = [], threading.Event()
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=("127.0.0.3", 0))
        s.setblocking(False)
        socks.append(s)
    except OSError:
        pass
def trickle():
    i = 0
    while not stop.wait(2):
        for s in list(socks):
            try:
                s.send(b"POST /login HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[i % 40:i % 40 + 1])
            except OSError:
                socks.remove(s); s.close()
        i += 1
th = threading.Thread(target=trickle, daemon=True); th.start()
auth = "Basic " + base64.b64encode(b"bench@example.com:bench-pass").decode()
lat, fails = [], 0
t_end = time.time() + 20
while time.time() < t_end:
    t0 = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
        c.request("POST", "/login", headers={"Authorization": auth})
        r = c.getresponse(); r.read(); c.close()
        if r.status != 200:
            fails += 1
    except OSError:
        fails += 1
    lat.append(time.time() - t0)
    time.sleep(0.1)
stop.set(); th.join()
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("attacker sockets opened: %d, still open after 20 s: %d" % (n, len(socks)))
print("client logins: %d, failed: %d, p50 %.0f ms, p99 %.0f ms (goal p99 < 1 s)"
      % (len(lat), fails, p(0.5) * 1000, p(0.99) * 1000))
for s in socks:
    s.close()
PY
