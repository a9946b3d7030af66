#!/bin/sh
# bench/parallel.sh - one input on all the cores: v2m-convert's segments
# against the ffmpeg CLI (one core: LAME has no threads) and against itself
# on one core, the quality cost of the joins, and the memory.
#
#   bench/parallel.sh           (from the repository root; after bench/convert.sh,
#                                which makes the inputs)
#
# Pairs alternate round after round (bench/lib.inc):
#   - v2m-convert (default threads: the cores) vs `ffmpeg -i IN -vn -c:a
#     libmp3lame -q:a 2 OUT`, plain.mp4 and rich.mp4 (10 min, VBR V2), and
#     the same at CBR 192 kbit/s;
#   - the same on rich.mkv (rich.mp4 remuxed: Matroska's millisecond
#     timestamps, segments placed on the AAC frame grid), and on
#     rich-opus.mkv (its audio as Opus 128 kbit/s, 20 ms frames, as a WebM
#     from a browser or a video site has it: segments on the Opus grid);
#   - v2m-convert on the cores vs v2m-convert --threads 1 (rich.mp4);
#   - split_min: a 2-minute and a 1-minute cut of rich.mp4, the cores vs one
#     core, to see where splitting starts to pay (V2M_MEDIA_SPLIT_MIN);
# then the SNR of the parallel output against the one-encoder output (both
# decoded by ffmpeg; the difference signal's RMS against the signal's), and
# the peak RSS on plain.mp4 and big.mp4 (2 GiB).
# Environment: V2M_BENCH_DIR, V2M_BENCH_ROUNDS (default 5), V2M_CONVERT.
set -eu

cd "$(dirname "$0")/.."
dir=${V2M_BENCH_DIR:-/tmp/v2m-bench}
rounds=${V2M_BENCH_ROUNDS:-5}
bin=${V2M_CONVERT:-build/bin/v2m-convert}
o="$dir/out"
mkdir -p "$o"
for t in ffmpeg hyperfine /usr/bin/time python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "parallel.sh: $t is required" >&2; exit 1; }
done
for f in plain.mp4 rich.mp4 big.mp4; do
    [ -s "$dir/$f" ] || { echo "parallel.sh: $dir/$f is missing: run bench/convert.sh first" >&2; exit 1; }
done
if [ -z "${V2M_CONVERT:-}" ]; then
    [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)" --target v2m-convert >/dev/null
fi
. bench/lib.inc
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
[ -s "$dir/rich2m.m4a" ] || ff -i "$dir/rich.mp4" -t 120 -vn -c:a copy "$dir/rich2m.m4a"
[ -s "$dir/rich1m.m4a" ] || ff -i "$dir/rich.mp4" -t 60 -vn -c:a copy "$dir/rich1m.m4a"
[ -s "$dir/rich.mkv" ] || ff -i "$dir/rich.mp4" -c copy "$dir/rich.mkv"
[ -s "$dir/rich-opus.mkv" ] || ff -i "$dir/rich.mp4" -c:v copy -c:a libopus -b:a 128k "$dir/rich-opus.mkv"

echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $bin"
echo "== pairs are v2m / reference"
for src in plain rich; do
    pair "VBR V2 $src.mp4, cores vs ffmpeg" \
        "$bin -y --no-cover $dir/$src.mp4 $o/v2m.mp3" \
        "ffmpeg -nostdin -loglevel error -y -i $dir/$src.mp4 -vn -c:a libmp3lame -q:a 2 $o/ff.mp3"
done
for src in rich rich-opus; do
    pair "VBR V2 $src.mkv, cores vs ffmpeg" \
        "$bin -y --no-cover $dir/$src.mkv $o/v2m.mp3" \
        "ffmpeg -nostdin -loglevel error -y -i $dir/$src.mkv -vn -c:a libmp3lame -q:a 2 $o/ff.mp3"
done
pair "CBR 192k rich.mp4, cores vs ffmpeg" \
    "$bin -y --no-cover --bitrate 192 $dir/rich.mp4 $o/v2m.mp3" \
    "ffmpeg -nostdin -loglevel error -y -i $dir/rich.mp4 -vn -c:a libmp3lame -b:a 192k $o/ff.mp3"
pair "VBR V2 rich.mp4, cores vs 1 thread" \
    "$bin -y --no-cover $dir/rich.mp4 $o/v2m.mp3" \
    "$bin -y --no-cover --threads 1 $dir/rich.mp4 $o/v2m1.mp3"
for cut in 2m 1m; do
    pair "rich $cut, cores vs 1 thread" \
        "$bin -y --no-cover --split-min 1 $dir/rich$cut.m4a $o/v2m.mp3" \
        "$bin -y --no-cover --threads 1 $dir/rich$cut.m4a $o/v2m1.mp3"
done

# The quality cost: the parallel output against the one-encoder output.
snr() { # label, options...
    label=$1
    shift
    "$bin" -y --no-cover "$@" "$dir/rich.mp4" "$o/par.mp3" 2>/dev/null
    "$bin" -y --no-cover --threads 1 "$@" "$dir/rich.mp4" "$o/one.mp3" 2>/dev/null
    sig=$(ffmpeg -nostdin -hide_banner -i "$o/one.mp3" -af astats=measure_perchannel=none:measure_overall=RMS_level \
        -f null - 2>&1 | awk '/RMS level dB/ {v = $NF} END {print v}')
    dif=$(ffmpeg -nostdin -hide_banner -i "$o/one.mp3" -i "$o/par.mp3" -filter_complex \
        "[1]volume=-1[n];[0][n]amix=inputs=2:normalize=0,astats=measure_perchannel=none:measure_overall=RMS_level" \
        -f null - 2>&1 | awk '/RMS level dB/ {v = $NF} END {print v}')
    echo "$label: signal $sig dBFS, difference $dif dBFS, SNR $(echo "$sig - ($dif)" | bc) dB" \
         "(-inf: bit-identical decodes)"
}
snr "quality, VBR V2 rich.mp4"
snr "quality, CBR 192k rich.mp4" --bitrate 192

rss "v2m-convert plain.mp4, cores" "$bin" -y --no-cover "$dir/plain.mp4" "$o/v2m.mp3"
rss "v2m-convert plain.mp4, 1 thread" "$bin" -y --no-cover --threads 1 "$dir/plain.mp4" "$o/v2m.mp3"
rss "v2m-convert big.mp4, cores" "$bin" -y --no-cover "$dir/big.mp4" "$o/v2m.mp3"
rm -f "$o"/times.* "$o/time.txt" "$o/par.mp3" "$o/one.mp3"
