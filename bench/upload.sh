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
. bench/stack.inc
big=$dir/upload-1g.wav
noise_wav "$big" 1073741868

work=$(mktemp -d /tmp/v2m-bench-upload.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The gateway, embedded (no converter: the upload alone).
embedded_env "$work"
export V2M_MAX_UPLOAD=2G
mkdir -p "$work/nginx-body"
# nginx's workers run as another user when it starts as root.
chmod 755 "$work"
chmod 777 "$work/nginx-body"
np=$(free_port); bp=$(free_port)
start_front

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
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$np/" && break; sleep 0.1; done

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
