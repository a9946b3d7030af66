#!/usr/bin/env bash
# Resumable uploads: one 1 GiB upload through v2m's /files/ (release build,
# embedded backends: the file store) and through @tus/server with
# @tus/file-store (tests/tus/server.js, Node) on the same machine, same
# client, same disk: curl creates the upload (POST, Upload-Length) and sends
# the whole file in one streamed PATCH (-T). Prints each throughput and the
# ratio v2m / @tus/server measured in this run; no thresholds.
# v2m's time includes what completion does (probe, publish, job record,
# queue message); @tus/server only stores the bytes.
# Environment: V2M_BIN (build/bin), V2M_BENCH_DIR (/tmp/v2m-bench),
# BENCH_RUNS (3), BENCH_SIZE (1073741824 bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${V2M_BIN:-build/bin}
dir=${V2M_BENCH_DIR:-/tmp/v2m-bench}
runs=${BENCH_RUNS:-3}
size=${BENCH_SIZE:-1073741824}
mkdir -p "$dir"
[ -x "$BIN/v2m-gateway" ] || { echo "tus.sh: $BIN/v2m-gateway missing; run make build" >&2; exit 1; }
command -v node >/dev/null || { echo "tus.sh: node missing" >&2; exit 1; }
[ -d tests/tus/node_modules/@tus/server ] || (cd tests/tus && npm ci --no-audit --no-fund)
. bench/stack.inc
big=$dir/tus-$size.wav
noise_wav "$big" "$size"

work=$(mktemp -d /tmp/v2m-bench-tus.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

embedded_env "$work"
export V2M_MAX_UPLOAD=2G V2M_MAX_ACTIVE_JOBS=0
mkdir -p "$work/tus-ref"
tp=$(free_port)
start_front
node tests/tus/server.js "$tp" "$work/tus-ref" & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$tp/files" && break; sleep 0.1; done

# One upload: create, then one PATCH of the whole file; prints seconds.
upload() {  # base-url
  local loc t0 t1 code
  loc=$(curl -sf -D - -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
        -H "Upload-Metadata: filename $(printf big.wav | base64)" "$1/files/" |
        tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  case $loc in http*) ;; *) loc=$1$loc ;; esac
  t0=$(date +%s.%N)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -T "$big" -H "Authorization: Bearer $TOKEN" \
         -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Expect:' \
         -H 'Content-Type: application/offset+octet-stream' "$loc")
  t1=$(date +%s.%N)
  [ "$code" = 204 ] || { echo "tus.sh: PATCH to $loc answered $code" >&2; exit 1; }
  echo "$t1 - $t0" | bc
}

echo "== $((size >> 20)) MiB upload, one PATCH each, $runs runs, alternating"
: > "$work/v2m.txt"; : > "$work/ref.txt"
for _ in $(seq "$runs"); do
  upload "http://127.0.0.1:$gp" >> "$work/v2m.txt"
  rm -rf "$work/store/videos/"*   # keep the disk's state the same for both
  upload "http://127.0.0.1:$tp" >> "$work/ref.txt"
  rm -rf "$work/tus-ref/"*
done
v=$(median < "$work/v2m.txt"); r=$(median < "$work/ref.txt")
awk -v v="$v" -v r="$r" -v s="$size" 'BEGIN {
  printf "v2m /files/:              %.2f s median, %.0f MiB/s\n", v, s / v / 1048576
  printf "@tus/server + file-store: %.2f s median, %.0f MiB/s\n", r, s / r / 1048576
  printf "throughput ratio v2m / @tus/server: %.2f\n", r / v }'
