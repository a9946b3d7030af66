#!/usr/bin/env bash
# POST /upload of a 1 GiB file (multipart, as curl -F sends it) to the
# gateway on the embedded backends (the file store on this disk), against
# nginx receiving the same POST to disk (client_body_in_file_only: the body
# goes to a file, then a tiny request is passed on). Release build. Prints
# the rates, gateway / nginx (goal >= 0.5), and the gateway's RSS growth
# during the upload. The two alternate, BENCH_RUNS (3) rounds.
# Environment: V2M_BENCH_DIR (shared with bench/e2e.sh), BENCH_RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${V2M_BIN:-build/bin}
dir=${V2M_BENCH_DIR:-/tmp/v2m-bench}
runs=${BENCH_RUNS:-3}
for t in nginx curl bc; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || { echo "upload.sh: $t is required" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$BIN/v2m-gateway" ] || { echo "upload.sh: $BIN/v2m-gateway missing; run make build" >&2; exit 1; }
mkdir -p "$dir"
big=$dir/upload-1g.wav
[ -s "$big" ] || { echo "== generating $big"
  { /usr/bin/python3 -c 'import struct,sys; n=1073741824; sys.stdout.buffer.write(b"RIFF"+struct.pack("<I",n+36)+b"WAVEfmt "+struct.pack("<IHHIIHH",16,1,2,48000,192000,4,16)+b"data"+struct.pack("<I",n))'
    head -c 1073741824 /dev/urandom; } > "$big.part" && mv "$big.part" "$big"; }

work=$(mktemp -d /tmp/v2m-bench-upload.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# The gateway, embedded (no converter: the upload alone).
export JWT_SECRET=bench-$RANDOM$RANDOM V2M_LOG_LEVEL=warn
export V2M_USERS="sqlite://$work/users.db" V2M_STORE="file://$work/store" \
  V2M_QUEUE="sqlite://$work/queue.db" V2M_OUTBOX="$work/outbox" V2M_MAX_UPLOAD=2G
mkdir -p "$work/store" "$work/nginx-body"
# nginx's workers run as another user when it starts as root.
chmod 755 "$work"
chmod 777 "$work/nginx-body"
echo bench-pass | "$BIN/v2m-admin" user add bench@example.com --password-stdin >/dev/null
ap=$(free_port); gp=$(free_port); np=$(free_port); bp=$(free_port)
V2M_LISTEN=127.0.0.1:$ap "$BIN/v2m-auth" & pids+=($!)
AUTH_SVC_ADDRESS=127.0.0.1:$ap V2M_LISTEN=127.0.0.1:$gp V2M_ADMIN_LISTEN=127.0.0.1:$(free_port) \
  "$BIN/v2m-gateway" & gw=$!; pids+=($gw)

cat > "$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  server {
    listen 127.0.0.1:$np;
    client_max_body_size 2g;
    location /upload {
      client_body_in_file_only clean;
      client_body_buffer_size 256k;
      proxy_pass http://127.0.0.1:$bp/ok;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Body-File \$request_body_file;
    }
  }
  server { listen 127.0.0.1:$bp; location /ok { return 200 "stored\n"; } }
}
EOF
"$NGINX" -c "$work/nginx.conf" -p "$work" & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$gp/readyz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$np/" && break; sleep 0.1; done
TOKEN=$(curl -sf -X POST -u bench@example.com:bench-pass "http://127.0.0.1:$gp/login")

rss() { awk '/VmRSS/ {print $2}' "/proc/$gw/status"; }
: > "$work/g.txt"; : > "$work/n.txt"; : > "$work/r.txt"
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $runs rounds, $(du -h "$big" | cut -f1) multipart POST"
for i in $(seq "$runs"); do
  before=$(rss); peak=$before
  ( while kill -0 $gw 2>/dev/null; do r=$(rss); echo "$r"; sleep 0.05; done ) > "$work/rss.txt" & sampler=$!
  g=$(curl -sf -o /dev/null -w '%{time_total}' -F "file=@$big" -H "Authorization: Bearer $TOKEN" \
      "http://127.0.0.1:$gp/upload")
  kill $sampler; wait $sampler 2>/dev/null || true
  peak=$(sort -n "$work/rss.txt" | tail -1)
  n=$(curl -sf -o /dev/null -w '%{time_total}' -F "file=@$big" "http://127.0.0.1:$np/upload")
  rm -rf "$work/store/videos"/* 2>/dev/null || true
  echo "$g" >> "$work/g.txt"; echo "$n" >> "$work/n.txt"
  echo "scale=3; $n / $g" | bc >> "$work/r.txt"
  printf 'round %d: gateway %.2f s (%.0f MiB/s), nginx %.2f s (%.0f MiB/s), RSS growth %d KiB\n' "$i" "$g" \
    "$(echo "1024 / $g" | bc -l)" "$n" "$(echo "1024 / $n" | bc -l)" "$((peak - before))"
done
printf 'gateway / nginx throughput: %.3f median of the rounds (goal >= 0.5)\n' "$(median < "$work/r.txt")"
