#!/bin/sh
# bench/convert.sh - the media engine against the ffmpeg CLI.
#
#   bench/convert.sh            (from the repository root)
#
# Generates once, under ${V2M_BENCH_DIR:-/tmp/v2m-bench}:
#   plain.mp4      10 min 1280x720 30 fps H.264 (x264 ultrafast) + AAC stereo 48 kHz (two tones)
#   rich.mp4       the same video with a richer signal (pink noise + sweeps)
#   plain_mp3.mp4  the same video with MP3 audio (for the passthrough figure)
#   big.mp4        about 2 GiB: 10 min of 720p at ~28 Mbit/s (noisy video) + AAC
# then measures, alternating the two programs round after round so that drift
# of the machine hits both alike (hyperfine, one run per command per round).
# v2m-convert runs on one core (--threads 1; bench/parallel.sh measures more)
# and with --no-cover: the ffmpeg command makes no cover art, so
# both do the same job (the cover's own cost is in bench/normalize.sh); the
# peak RSS is also given with the default cover from a video frame:
#   - v2m-convert vs `ffmpeg -i IN -vn -c:a libmp3lame -q:a 2 OUT` (VBR V2), plain and rich
#   - the same at CBR 192 kbit/s
#   - peak RSS of both (/usr/bin/time -v), and of v2m-convert on big.mp4
#   - passthrough (MP3 source copied) vs re-encoding the same file
# Uses build/bin/v2m-convert (configuring build/ as Release when absent, and
# bringing the target up to date), or the binary named by V2M_CONVERT.
# Environment: V2M_BENCH_DIR, V2M_BENCH_ROUNDS (default 5), V2M_CONVERT.
set -eu

cd "$(dirname "$0")/.."
dir=${V2M_BENCH_DIR:-/tmp/v2m-bench}
rounds=${V2M_BENCH_ROUNDS:-5}
bin=${V2M_CONVERT:-}
mkdir -p "$dir/out"

for t in ffmpeg hyperfine /usr/bin/time python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "convert.sh: $t is required" >&2; exit 1; }
done
if [ -z "$bin" ]; then
    bin=build/bin/v2m-convert
    [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt ||
        echo "convert.sh: warning: build/ is not a Release build" >&2
    cmake --build build -j"$(nproc)" --target v2m-convert >/dev/null
fi
[ -x "$bin" ] || { echo "convert.sh: $bin not found" >&2; exit 1; }

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
DUR=600
RICH="anoisesrc=c=pink:r=48000:a=0.25:d=$DUR[n];\
aevalsrc=0.3*sin(2*PI*(100*mod(t\,10)+390*mod(t\,10)*mod(t\,10)))|0.3*sin(2*PI*(8000*mod(t\,7)-560*mod(t\,7)*mod(t\,7))):s=48000:d=$DUR[s];\
[n][s]amerge=inputs=2,pan=stereo|c0=c0+c1|c1=c0+c2[a]"

gen() { # name, then the ffmpeg arguments producing it
    f="$dir/$1"
    shift
    [ -s "$f" ] && return 0
    echo "== generating $f"
    ff "$@" "$f.part.mp4" && mv "$f.part.mp4" "$f"
}
gen plain.mp4 -f lavfi -i "testsrc2=size=1280x720:rate=30:d=$DUR" \
    -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=48000:d=$DUR" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 160k -shortest
gen rich.mp4 -i "$dir/plain.mp4" -filter_complex "$RICH" -map 0:v -map '[a]' \
    -c:v copy -c:a aac -b:a 160k
gen plain_mp3.mp4 -i "$dir/plain.mp4" -map 0:v -map 0:a -c:v copy -c:a libmp3lame -q:a 2
if [ ! -s "$dir/big.mp4" ]; then
    gen big_seg.mp4 -f lavfi -i "testsrc2=size=1280x720:rate=30:d=60" -f lavfi \
        -i "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=48000:d=60" \
        -vf noise=alls=30:allf=t -c:v libx264 -preset ultrafast -b:v 28M -pix_fmt yuv420p \
        -c:a aac -b:a 160k -shortest
    for i in 1 2 3 4 5 6 7 8 9 10; do echo "file 'big_seg.mp4'"; done > "$dir/big.txt"
    gen big.mp4 -f concat -safe 0 -i "$dir/big.txt" -c copy
    rm -f "$dir/big_seg.mp4" "$dir/big.txt"
fi
o="$dir/out"

. bench/lib.inc

echo "== pairs are v2m / reference"
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $bin"
for src in plain rich; do
    pair "VBR V2 $src.mp4" \
        "$bin -y --threads 1 --no-cover $dir/$src.mp4 $o/v2m.mp3" \
        "ffmpeg -nostdin -loglevel error -y -i $dir/$src.mp4 -vn -c:a libmp3lame -q:a 2 $o/ff.mp3"
done
pair "CBR 192k plain.mp4" \
    "$bin -y --threads 1 --no-cover --bitrate 192 $dir/plain.mp4 $o/v2m.mp3" \
    "ffmpeg -nostdin -loglevel error -y -i $dir/plain.mp4 -vn -c:a libmp3lame -b:a 192k $o/ff.mp3"
pair "passthrough vs re-encode (mp3 src)" \
    "$bin -y --threads 1 --no-cover $dir/plain_mp3.mp4 $o/v2m.mp3" \
    "$bin -y --threads 1 --no-cover --no-copy $dir/plain_mp3.mp4 $o/v2m2.mp3"

rss "v2m-convert plain.mp4" "$bin" -y --threads 1 --no-cover "$dir/plain.mp4" "$o/v2m.mp3"
rss "v2m-convert plain.mp4, cover" "$bin" -y --threads 1 "$dir/plain.mp4" "$o/v2m.mp3"
rss "ffmpeg plain.mp4" ffmpeg -nostdin -loglevel error -y -i "$dir/plain.mp4" -vn -c:a libmp3lame -q:a 2 "$o/ff.mp3"
printf '%-34s %s bytes\n' "big.mp4" "$(wc -c < "$dir/big.mp4")"
rss "v2m-convert big.mp4" "$bin" -y --threads 1 --no-cover "$dir/big.mp4" "$o/v2m.mp3"
rss "ffmpeg big.mp4" ffmpeg -nostdin -loglevel error -y -i "$dir/big.mp4" -vn -c:a libmp3lame -q:a 2 "$o/ff.mp3"
rm -f "$o"/times.* "$o/time.txt"
