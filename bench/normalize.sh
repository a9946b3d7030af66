#!/bin/sh
# bench/normalize.sh - what loudness normalization and the video-frame cover
# cost, against a plain conversion of the same file.
#
#   bench/normalize.sh            (from the repository root)
#
# Input: ${V2M_BENCH_DIR:-/tmp/v2m-bench}/plain.mp4, the 10-minute 720p
# H.264/AAC file of bench/convert.sh (generated here the same way when
# absent). Pairs, each measured in the same run with hyperfine, alternating
# the two commands round after round so that drift of the machine hits both
# alike; the figure is the median of the rounds' A/B ratios (no thresholds):
#   - --normalize (measuring pass + encoding pass) vs a plain conversion,
#     both without a cover, so that the ratio is the loudness pass alone;
#   - the default conversion (a frame from 10 % in becomes the cover) vs
#     --no-cover.
# Uses build/bin/v2m-convert (configuring build/ as Release when absent), or
# the binary named by V2M_CONVERT.
# Environment: V2M_BENCH_DIR, V2M_BENCH_ROUNDS (default 5), V2M_CONVERT.
set -eu

cd "$(dirname "$0")/.."
dir=${V2M_BENCH_DIR:-/tmp/v2m-bench}
rounds=${V2M_BENCH_ROUNDS:-5}
bin=${V2M_CONVERT:-}
mkdir -p "$dir/out"

for t in ffmpeg hyperfine python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "normalize.sh: $t is required" >&2; exit 1; }
done
if [ -z "$bin" ]; then
    bin=build/bin/v2m-convert
    [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt ||
        echo "normalize.sh: warning: build/ is not a Release build" >&2
    cmake --build build -j"$(nproc)" --target v2m-convert >/dev/null
fi
[ -x "$bin" ] || { echo "normalize.sh: $bin not found" >&2; exit 1; }

DUR=600
if [ ! -s "$dir/plain.mp4" ]; then
    echo "== generating $dir/plain.mp4"
    ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:d=$DUR" \
        -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=48000:d=$DUR" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 160k -shortest "$dir/plain.part.mp4"
    mv "$dir/plain.part.mp4" "$dir/plain.mp4"
fi
o="$dir/out"
in="$dir/plain.mp4"

pair() { # label, command A, command B
    label=$1
    a=$2
    b=$3
    rm -f "$o"/ntimes.*
    sh -c "$a" >/dev/null 2>&1 # untimed: the input into the page cache
    i=0
    while [ $i -lt "$rounds" ]; do
        i=$((i + 1))
        hyperfine -N --runs 1 --style none --export-json "$o/ntimes.$i.json" "$a" "$b" >/dev/null
    done
    python3 - "$label" "$o" "$rounds" <<'EOF'
import json, statistics, sys
label, o, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
wall, cpu = ([], []), ([], [])
for i in range(1, rounds + 1):
    for k, r in enumerate(json.load(open(f"{o}/ntimes.{i}.json"))["results"]):
        wall[k].append(r["times"][0])
        cpu[k].append(r["user"] + r["system"])
med = [statistics.median(x) for x in wall]
cmed = [statistics.median(x) for x in cpu]
paired = statistics.median(a / b for a, b in zip(*wall))
print(f"{label:<40} ratio {paired:.3f} (median of the rounds' ratios)   "
      f"median wall {med[0]:6.2f} / {med[1]:6.2f} s   "
      f"median cpu {cmed[0]:6.2f} / {cmed[1]:6.2f} s = {cmed[0] / cmed[1]:.3f}")
EOF
}

echo "== pairs are A / B; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, $bin"
pair "--normalize vs plain (both --no-cover)" \
    "$bin -y --no-cover --normalize $in $o/norm.mp3" \
    "$bin -y --no-cover $in $o/plain.mp3"
pair "cover from a frame vs --no-cover" \
    "$bin -y $in $o/cover.mp3" \
    "$bin -y --no-cover $in $o/plain.mp3"
"$bin" -y --no-cover --normalize --progress "$in" "$o/norm.mp3" 2>&1 | grep -v '^progress=' | tail -1
rm -f "$o"/ntimes.*
