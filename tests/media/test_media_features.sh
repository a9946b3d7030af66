#!/bin/sh
# test_media_features.sh - tags, cover art, chapters, track choice and loudness
# normalization, each measured on the MP3 that v2m-convert writes: ffprobe
# reads the tags, pictures and chapters back, ffmpeg decodes the picture and
# measures the loudness (its ebur128 filter, independent of the engine's
# meter), python3 finds the dominant frequency of the decoded audio.
set -u

bin=$(cd "${V2M_BIN:?V2M_BIN not set}" && pwd)/v2m-convert
src=${V2M_SRC:?V2M_SRC not set}
[ -x "$bin" ] || { echo "FAIL: $bin not built" >&2; exit 1; }
for t in ffmpeg ffprobe python3; do
    if ! command -v $t >/dev/null 2>&1; then
        echo "SKIP: $t is not installed; media feature tests NOT RUN" >&2
        exit 77
    fi
done
py=$(command -v python3)

dir=$(mktemp -d "${TMPDIR:-/tmp}/v2m-features-XXXXXX")
trap 'rm -rf "$dir"' EXIT
sh "$src/tests/media/fixtures.sh" "$dir" tags.mkv covr.mp4 covr_big.mp4 att.mkv apic.mp3 chapters.mp4 \
    chapters.mkv lang2.mkv quiet.m4a loud.m4a peaky.wav mp4_fast.mp4 audio.m4a covr_wide.mp4 ||
    { echo "FAIL: fixtures" >&2; exit 1; }
cd "$dir"

fails=0
n=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# conv IN OUT [ARGS...]: v2m-convert with --progress, its summary kept in sum.txt
conv() {
    in=$1
    out=$2
    shift 2
    n=$((n + 1))
    if ! "$bin" -y "$in" "$out" --progress "$@" 2> err.txt; then
        fail "v2m-convert $in $out $*: $(cat err.txt)"
        return 1
    fi
    grep -v '^progress=' err.txt > sum.txt
    return 0
}
# tag FILE KEY: the format tag KEY as ffprobe reads it
tag() { ffprobe -v error -show_entries "format_tags=$2" -of default=nw=1:nk=1 "$1"; }
# pic FILE: "codec width height attached_pic" of the picture stream, if any
pic() {
    ffprobe -v error -select_streams v -show_entries stream=codec_name,width,height:stream_disposition=attached_pic \
        -of csv=p=0 "$1" | tr ',' ' '
}
# picture FILE OUT: extract the picture as it is stored
picture() { ffmpeg -nostdin -v error -y -i "$1" -map 0:v -c copy -f image2 "$2"; }
# decoded dimensions of a picture file: "W H"
dims() {
    ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$1" | tr ',' ' '
}
# dominant FILE: strongest frequency (Hz) of the decoded audio, 100..3000 Hz
# in 10 Hz steps (Goertzel over 0.25 s from 1 s in, at 8 kHz)
dominant() {
    ffmpeg -nostdin -v error -i "$1" -ss 1 -t 0.25 -ac 1 -ar 8000 -f s16le - | "$py" -c '
import math, struct, sys
d = sys.stdin.buffer.read()
x = struct.unpack("<%dh" % (len(d) // 2), d)
best, hz = -1.0, 0
for f in range(100, 3001, 10):
    w = 2 * math.cos(2 * math.pi * f / 8000.0)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + w * s1 - s2, s1
    p = s1 * s1 + s2 * s2 - w * s1 * s2
    if p > best:
        best, hz = p, f
print(hz)'
}
# seconds FILE: the decoded length (libavformat drops the encoder delay and
# padding the Xing/LAME frame states)
seconds() {
    ffmpeg -nostdin -v error -i "$1" -map 0:a -ac 1 -ar 44100 -f s16le - | wc -c |
        awk '{printf "%.4f\n", $1 / 2 / 44100}'
}
# loudness FILE: "I TP" (integrated LUFS, true peak dBTP) by ffmpeg's ebur128
loudness() {
    ffmpeg -nostdin -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>&1 |
        awk '/^ +I:/ {i = $2} /^ +Peak:/ {p = $2} END {print i, p}'
}
# within A B TOL: |A - B| <= TOL
within() { "$py" -c "import sys; sys.exit(0 if abs($1 - ($2)) <= $3 else 1)"; }
# le A B: A <= B
le() { "$py" -c "import sys; sys.exit(0 if $1 <= $2 else 1)"; }

# ---- tags ----
conv tags.mkv tags.mp3 && {
    for kv in "title=Tag Test" "artist=Artist" "album=Album" "album_artist=Album Artist" "date=2023" \
              "genre=Jazz" "track=4/12" "disc=2/3" "composer=Composer" "comment=A comment" \
              "language=fre" "performer=Performer" "publisher=Publisher" "copyright=(c) 2023 Someone" \
              "lyrics=la la la"; do
        k=${kv%%=*}
        v=${kv#*=}
        got=$(tag tags.mp3 "$k")
        [ "$got" = "$v" ] || fail "tag $k: got '$got', expected '$v'"
    done
    [ -z "$(tag tags.mp3 encoded_by)" ] || fail "encoded_by copied: $(tag tags.mp3 encoded_by)"
}
conv tags.mkv over.mp3 --title "New Title" --artist "New Artist" --album "New Album" && {
    [ "$(tag over.mp3 title)" = "New Title" ] && [ "$(tag over.mp3 artist)" = "New Artist" ] &&
        [ "$(tag over.mp3 album)" = "New Album" ] || fail "overrides: $(tag over.mp3 title)/$(tag over.mp3 artist)/$(tag over.mp3 album)"
    [ "$(tag over.mp3 genre)" = "Jazz" ] || fail "overrides dropped the other tags"
}
conv audio.m4a fname.mp3 && { [ "$(tag fname.mp3 title)" = "audio" ] || fail "file name title: $(tag fname.mp3 title)"; }

# ---- cover art ----
# cover_ok FILE OUT EXPECT_SUMMARY MAX_SIDE: the MP3 has a JPEG attached picture no larger than MAX_SIDE
cover_ok() {
    conv "$1" "$2" || return
    grep -q "$3" sum.txt || fail "$1: summary says $(cat sum.txt), expected '$3'"
    p=$(pic "$2")
    case "$p" in
    "mjpeg "*" 1") ;;
    *) fail "$1: picture stream '$p', expected an attached mjpeg"; return ;;
    esac
    picture "$2" "$2.jpg" || { fail "$1: picture cannot be extracted"; return; }
    head -c 2 "$2.jpg" | od -An -tx1 | grep -q "ff d8" || fail "$1: APIC is not a JPEG"
    set -- $(dims "$2.jpg") "$4" "$1"
    [ "${1:-0}" -gt 0 ] && [ "${1:-0}" -le "$3" ] && [ "${2:-0}" -le "$3" ] ||
        fail "$4: picture decodes as ${1:-?}x${2:-?}, expected at most $3 px"
}
cover_ok covr.mp4 covr.mp3 "cover: the source's picture" 1000
cmp -s covr.mp3.jpg pic.jpg || fail "covr.mp4: the picture (under 150 KiB) is not copied as it is"
cover_ok covr_big.mp4 covr_big.mp3 "cover: the source's picture" 600
cover_ok att.mkv att.mp3 "cover: the source's picture" 1000
cover_ok apic.mp3 apic_out.mp3 "cover: the source's picture" 1000
grep -q "copied" sum.txt || fail "apic.mp3: not copied in passthrough: $(cat sum.txt)"
cover_ok mp4_fast.mp4 frame.mp3 "cover: a video frame" 600
[ "$(dims frame.mp3.jpg)" = "160 120" ] || fail "video frame picture is $(dims frame.mp3.jpg), expected 160 120"
# The picture's header comes before the Xing frame, and the MP3 still decodes to its length.
d=$(seconds frame.mp3)
within "$d" 3.0 0.03 || fail "frame.mp3 lasts $d s, expected 3.0"
# Hostile: a picture 17000 px wide is not decoded nor copied.
conv covr_wide.mp4 wide.mp3 && {
    [ -z "$(pic wide.mp3)" ] || fail "covr_wide.mp4: picture $(pic wide.mp3)"
    grep -q "no cover" sum.txt || fail "covr_wide.mp4: summary $(cat sum.txt)"
}
for f in covr.mp4 mp4_fast.mp4 apic.mp3; do
    conv "$f" "nocover_$f.mp3" --no-cover && {
        [ -z "$(pic "nocover_$f.mp3")" ] || fail "$f --no-cover: picture $(pic "nocover_$f.mp3")"
        grep -q "no cover" sum.txt || fail "$f --no-cover: summary $(cat sum.txt)"
    }
done
# From a pipe (no seek): no frame, the rest converts.
n=$((n + 1))
cat mp4_fast.mp4 | "$bin" - stdin.mp3 --progress 2> err.txt || fail "stdin: $(cat err.txt)"
[ -z "$(pic stdin.mp3)" ] || fail "stdin: a frame was taken without seeking: $(pic stdin.mp3)"
cat covr.mp4 | "$bin" - stdin_covr.mp3 2> err.txt || fail "stdin covr: $(cat err.txt)"
[ -n "$(pic stdin_covr.mp3)" ] || fail "stdin: the source's picture needs no seek, but is missing"

# ---- chapters ----
# chapters FILE: "start start start" (seconds) of the MP3's chapters
chapters() { ffprobe -v error -show_chapters -of csv=p=0 "$1" | cut -d, -f4 | tr '\n' ' '; }
for f in chapters.mp4 chapters.mkv; do
    conv "$f" "$f.mp3" && {
        set -- $(chapters "$f.mp3")
        [ $# -eq 3 ] || fail "$f: $# chapters in the MP3, expected 3"
        within "${1:-9}" 0 0.027 && within "${2:-9}" 1 0.027 && within "${3:-9}" 2 0.027 ||
            fail "$f: chapters start at $*, expected 0 1 2"
        grep -q "3 chapters" sum.txt || fail "$f: summary $(cat sum.txt)"
        t=$(ffprobe -v error -show_chapters -of csv=p=0 "$f.mp3" | cut -d, -f7 | tr '\n' ' ')
        [ "$t" = "Part 1 Part 2 Part 3 " ] || fail "$f: chapter titles '$t'"
    }
done
# An MP3 with ID3 CHAP frames (the one just made), copied in passthrough.
conv chapters.mp4.mp3 again.mp3 && {
    set -- $(chapters again.mp3)
    [ $# -eq 3 ] && within "$1" 0 0.027 && within "$2" 1 0.027 && within "$3" 2 0.027 ||
        fail "ID3 CHAP source: chapters at $*"
    grep -q "copied" sum.txt || fail "MP3 source not copied: $(cat sum.txt)"
}
# Trimmed to 0.5..2.5 s: the chapters shift by 0.5 s and are clipped.
conv chapters.mp4 trim.mp3 --start 0.5 --end 2.5 && {
    set -- $(chapters trim.mp3)
    [ $# -eq 3 ] && within "$1" 0 0.027 && within "$2" 0.5 0.027 && within "$3" 1.5 0.027 ||
        fail "trimmed chapters start at $*, expected 0 0.5 1.5"
    e=$(ffprobe -v error -show_chapters -of csv=p=0 trim.mp3 | tail -1 | cut -d, -f6)
    within "$e" 2.0 0.027 || fail "last trimmed chapter ends at $e, expected 2.0"
    d=$(seconds trim.mp3)
    within "$d" 2.0 0.027 || fail "trimmed MP3 lasts $d s, expected 2.0 (within a frame)"
}
conv chapters.mp4 trim2.mp3 --start 1.5 && {
    set -- $(chapters trim2.mp3)
    [ $# -eq 2 ] && within "$1" 0 0.027 && within "$2" 0.5 0.027 || fail "--start 1.5: chapters at $*"
}

# ---- track choice ----
hz=$(dominant lang2.mkv)
conv lang2.mkv l_default.mp3 && { f=$(dominant l_default.mp3); within "$f" 440 10 || fail "default track: $f Hz"; }
for a in "--track 2" "--language fre" "--language fr" "--language fra" "--language FRA" "--track 2 --language eng"; do
    # shellcheck disable=SC2086
    conv lang2.mkv l.mp3 $a && {
        f=$(dominant l.mp3)
        within "$f" 1000 10 || fail "$a: dominant $f Hz, expected 1000"
        grep -q "audio track 2 of 2 (fre)" sum.txt || fail "$a: summary $(cat sum.txt)"
    }
done
conv lang2.mkv l1.mp3 --language en && { f=$(dominant l1.mp3); within "$f" 440 10 || fail "--language en: $f Hz"; }
n=$((n + 1))
"$bin" lang2.mkv x.mp3 --track 3 2> err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "no audio track 3: the file has 2" err.txt || fail "--track 3: exit $rc: $(cat err.txt)"
"$bin" lang2.mkv x.mp3 --language de 2> err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "no audio track in language 'de': the file has eng, fre" err.txt ||
    fail "--language de: exit $rc: $(cat err.txt)"
[ ! -e x.mp3 ] || fail "a failed conversion left x.mp3"
echo "lang2.mkv: source default $hz Hz" >&2

# ---- loudness ----
# The targets must be met within 1 LU; the true peak must be at most -1 dBTP,
# plus 0.5 dB: the MP3 encoder (its low-pass filter and quantisation noise)
# can raise the true peak of what it was given by a few tenths of a dB.
for f in quiet.m4a loud.m4a; do
    set -- $(loudness "$f")
    echo "$f: source $1 LUFS, true peak $2 dBTP" >&2
    for t in -16 -23; do
        conv "$f" "norm.mp3" "--normalize=$t" || continue
        set -- $(loudness norm.mp3)
        echo "$f --normalize=$t: $1 LUFS, true peak $2 dBTP; $(tail -1 sum.txt | sed 's/.*chapters, //')" >&2
        within "$1" "$t" 1 || fail "$f --normalize=$t: $1 LUFS"
        le "$2" -0.5 || fail "$f --normalize=$t: true peak $2 dBTP"
    done
done
# Bare --normalize is -16; the peaks of peaky.wav hold the gain back.
conv peaky.wav peaky.mp3 --normalize && {
    set -- $(loudness peaky.mp3)
    echo "peaky.wav --normalize: $1 LUFS, true peak $2 dBTP; $(tail -1 sum.txt | sed 's/.*chapters, //')" >&2
    le "$2" -0.5 || fail "peaky.wav: true peak $2 dBTP"
    le "$1" -20 || fail "peaky.wav: $1 LUFS: the gain went past the true peak limit"
    grep -q "target -16.0 LUFS" sum.txt || fail "bare --normalize: $(cat sum.txt)"
}
# Normalizing re-encodes an MP3 source, and keeps its picture.
conv apic.mp3 napic.mp3 --normalize=-20 && {
    grep -q "^v2m-convert: encoded" sum.txt || fail "apic.mp3 --normalize was not re-encoded"
    [ -n "$(pic napic.mp3)" ] || fail "apic.mp3 --normalize lost the picture"
    set -- $(loudness napic.mp3)
    within "$1" -20 1 || fail "apic.mp3 --normalize=-20: $1 LUFS"
}
n=$((n + 1))
cat quiet.m4a | { "$bin" - x.mp3 --normalize 2> err.txt; echo $? > rc.txt; }
rc=$(cat rc.txt)
[ $rc -eq 1 ] && grep -q "needs a seekable input" err.txt || fail "--normalize from stdin: exit $rc: $(cat err.txt)"
for bad in --normalize=-80 --normalize=-3 --normalize=loud --track=0 --track=x --language=french; do
    n=$((n + 1))
    "$bin" quiet.m4a x.mp3 "$bad" 2> err.txt
    rc=$?
    [ $rc -eq 2 ] || fail "$bad: exit $rc, expected 2: $(cat err.txt)"
done

echo "$n runs, $fails failures" >&2
[ "$fails" -eq 0 ]
