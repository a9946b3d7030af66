#!/usr/bin/env bash
# The whole pipeline on the embedded backends, release build:
#  1. time from the end of an upload (curl got its 200: stored, recorded,
#     queued) until the MP3 is downloadable (job done), for the 10-minute
#     720p video of bench/convert.sh, beside v2m-convert on the same file;
#     goal: pipeline <= conversion + 0.5 s.
#  2. the gateway's memory growth while it streams a 1 GiB upload into the
#     store (peak RSS during minus RSS before); goal <= 16 MiB.
# Environment: V2M_BENCH_DIR (shared with bench/convert.sh), BENCH_RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${V2M_BIN:-build/bin}
dir=${V2M_BENCH_DIR:-/tmp/v2m-bench}
runs=${BENCH_RUNS:-3}
mkdir -p "$dir"
[ -x "$BIN/v2m-gateway" ] || { echo "e2e.sh: $BIN/v2m-gateway missing; run make build" >&2; exit 1; }
video=$dir/plain.mp4
if [ ! -s "$video" ]; then
  echo "== generating $video"
  ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:d=600" \
    -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=48000:d=600" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 160k -shortest "$video.part.mp4"
  mv "$video.part.mp4" "$video"
fi
. bench/stack.inc
# 1 GiB of noise: the memory figure needs the whole body streamed.
big=$dir/upload-1g.wav
noise_wav "$big" 1073741868

work=$(mktemp -d /tmp/v2m-bench-e2e.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

embedded_env "$work"
export V2M_MAX_UPLOAD=2G
V2M_LISTEN=127.0.0.1:$(free_port) "$BIN/v2m-converter" & pids+=($!)
V2M_LISTEN=127.0.0.1:$(free_port) "$BIN/v2m-notification" & pids+=($!)
start_front

echo "== upload end -> MP3 downloadable, $(basename "$video") ($(du -h "$video" | cut -f1)), $runs runs"
: > "$work/pipe.txt"; : > "$work/conv.txt"
for i in $(seq "$runs"); do
  fid=$(curl -sf -X POST -F "file=@$video" -H "Authorization: Bearer $TOKEN" "$GW/upload" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["video_fid"])')
  t0=$(now)
  # Poll lightly (the machine has few cores; a busy poller would slow the
  # converter) and take the finish time from the job record itself.
  while :; do
    j=$(curl -sf -H "Authorization: Bearer $TOKEN" "$GW/jobs/$fid")
    case $j in *'"status":"done"'*) break ;; *'"status":"failed"'*) echo "conversion failed" >&2; exit 1 ;; esac
    sleep 0.25
  done
  done_at=$(printf '%s' "$j" | /usr/bin/python3 -c 'import json,sys,datetime; j=json.load(sys.stdin)
print(datetime.datetime.strptime(j["updated_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())')
  echo "$done_at - $t0" | bc >> "$work/pipe.txt"
  t0=$(now)
  "$BIN/v2m-convert" -y "$video" "$work/out.mp3"
  echo "$(now) - $t0" | bc >> "$work/conv.txt"
done
p=$(median < "$work/pipe.txt"); c=$(median < "$work/conv.txt")
printf 'pipeline (upload end -> done): %.2f s median\nv2m-convert same file:         %.2f s median\ndifference:                    %+.2f s (goal <= +0.5 s)\n' "$p" "$c" "$(echo "$p - $c" | bc)"
curl -sf "http://127.0.0.1:$mp/metrics" | awk '/^v2m_gateway_auth_(calls|seconds)_total/ {v[$1]=$2} END {
  if (v["v2m_gateway_auth_calls_total"] > 0) printf "token check per gateway request: %.3f ms (%d calls)\n",
    1000 * v["v2m_gateway_auth_seconds_total"] / v["v2m_gateway_auth_calls_total"], v["v2m_gateway_auth_calls_total"] }'

echo "== gateway memory during a 1 GiB upload"
rss_before=$(awk '/^VmRSS/ {print $2}' /proc/$gw/status)
peak=$rss_before
curl -s -o /dev/null -X POST -F "file=@$big" -H "Authorization: Bearer $TOKEN" "$GW/upload" & up=$!
t0=$(now)
while kill -0 $up 2>/dev/null; do
  r=$(awk '/^VmRSS/ {print $2}' /proc/$gw/status); [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.05
done
wait $up
secs=$(echo "$(now) - $t0" | bc)
printf 'gateway RSS before %d KiB, peak during %d KiB: growth %.1f MiB (goal <= 16 MiB); upload took %.1f s (%.0f MiB/s)\n' \
  "$rss_before" "$peak" "$(echo "($peak - $rss_before) / 1024" | bc -l)" "$secs" "$(echo "1024 / $secs" | bc -l)"
