#!/usr/bin/env bash
# Throughput of v2m-auth's /validate beside nginx answering a static 200 on the
# same machine, measured in one run with the same wrk settings (keep-alive).
# Prints both req/s and the ratio v2m/nginx. Goal: ratio >= 0.5.
#   BENCH_DURATION=10s BENCH_CONNECTIONS=64 bench/auth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${V2M_BIN:-build/bin}
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
for t in wrk nginx; do command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "bench: $t missing (make deps installs it with --bench)" >&2; exit 1; }; done
[ -x "$BIN/v2m-auth" ] || { echo "bench: $BIN/v2m-auth missing; run make build" >&2; exit 1; }

dir=$(mktemp -d /tmp/v2m-bench-auth.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

. bench/stack.inc

# v2m-auth on SQLite with one user.
export JWT_SECRET=bench-secret-0123456789 V2M_USERS="sqlite://$dir/users.db" V2M_LOG_LEVEL=warn
echo bench-pass | "$BIN/v2m-admin" user add bench@example.com --password-stdin
aport=$(free_port)
V2M_LISTEN=127.0.0.1:$aport "$BIN/v2m-auth" & pids+=($!)

# nginx: static 200 with a body of about the same size as /validate's JSON.
nport=$(free_port)
mkdir -p "$dir/nginx"
cat > "$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx; proxy_temp_path $dir/nginx; fastcgi_temp_path $dir/nginx;
  uwsgi_temp_path $dir/nginx; scgi_temp_path $dir/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$nport; location / { return 200 '{"username":"bench@example.com","exp":1,"iat":1,"admin":false}'; } }
}
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -g 'daemon off;' & pids+=($!)
sleep 1

token=$(curl -sf -X POST -u bench@example.com:bench-pass "http://127.0.0.1:$aport/login")
cat > "$dir/validate.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $token"
LUA
curl -sf -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$aport/validate" >/dev/null

rps() { awk '/Requests\/sec/ {print $2}'; }
echo "wrk -t$THREADS -c$CONNS -d$DUR (keep-alive), $(nproc) cores"
v2m=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$dir/validate.lua" "http://127.0.0.1:$aport/validate" | tee "$dir/v2m.txt" | rps)
ngx=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$dir/validate.lua" "http://127.0.0.1:$nport/validate" | tee "$dir/nginx.txt" | rps)
grep -E "Latency|Non-2xx|Socket errors" "$dir/v2m.txt" | sed 's/^/  v2m  /' || true
grep -E "Latency|Non-2xx|Socket errors" "$dir/nginx.txt" | sed 's/^/  nginx/' || true
printf 'v2m-auth /validate: %s req/s\nnginx static 200:   %s req/s\nratio v2m/nginx:    %s (goal >= 0.5)\n' \
  "$v2m" "$ngx" "$(awk -v a="$v2m" -v b="$ngx" 'BEGIN { printf "%.2f", a / b }')"
