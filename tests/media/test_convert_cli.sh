#!/bin/sh
# test_convert_cli.sh - v2m-convert as a user runs it: exit codes, the one-line
# reasons on stderr, "-" for stdin/stdout, never a half-written OUT, never the
# input or an existing OUT overwritten (without -y), option forms, progress.
set -u

bin=$(cd "${V2M_BIN:?V2M_BIN not set}" && pwd)/v2m-convert
src=${V2M_SRC:?V2M_SRC not set}
[ -x "$bin" ] || { echo "FAIL: $bin not built" >&2; exit 1; }
if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "SKIP: the ffmpeg CLI is not installed; v2m-convert tests NOT RUN" >&2
    exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/v2m-cli-XXXXXX")
trap 'rm -rf "$dir"' EXIT
sh "$src/tests/media/fixtures.sh" "$dir" mp4_fast.mp4 mp4_end.mp4 avi_mp3.avi noaudio.mp4 \
    text.mp4 empty.mp4 long.m4a || { echo "FAIL: fixtures" >&2; exit 1; }
cd "$dir"

fails=0
n=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# run EXPECTED_EXIT ARGS...: runs v2m-convert, keeps stdout in out.txt, stderr in err.txt
run() {
    want=$1
    shift
    n=$((n + 1))
    "$bin" "$@" > out.txt 2> err.txt
    got=$?
    [ "$got" -eq "$want" ] || fail "v2m-convert $*: exit $got, expected $want; stderr: $(cat err.txt)"
}
no_leftovers() { # no temporary files next to OUT
    ls ./*.tmp-* >/dev/null 2>&1 && fail "temporary file left behind after $1: $(ls ./*.tmp-*)"
    return 0
}
is_mp3() { # file: starts with an ID3 tag and decodes
    head -c 3 "$1" | grep -q ID3 || { fail "$1 does not start with ID3"; return; }
    ffmpeg -nostdin -v error -i "$1" -f null - 2>/dev/null || fail "$1 does not decode"
}
one_line() { # stderr is exactly the given line
    [ "$(cat err.txt)" = "$1" ] || fail "stderr '$(cat err.txt)', expected '$1'"
    [ "$(wc -l < err.txt)" -eq 1 ] || fail "stderr has $(wc -l < err.txt) lines"
}

# --version, --help
run 0 --version
grep -qx 'v2m-convert [0-9][0-9.]*' out.txt || fail "--version printed '$(cat out.txt)'"
run 0 --help
grep -q '^usage: v2m-convert IN OUT' out.txt || fail "--help lacks usage"
grep -q -- '--max-duration T' out.txt || fail "--help lacks --max-duration"

# usage errors: exit 2, a reason and a hint
run 2
grep -q 'IN is required' err.txt || fail "no reason for missing arguments"
for args in "--quality 10" "--quality x" "--bitrate 500" "--rate 44000" "--channels 3" \
    "--start -1" "--end 0" "--start 5 --end 2" "--bogus" "--quality 2 --bitrate 128" \
    "--max-duration 0" "--max-duration -5" "--max-duration 5q" "--max-duration 1.5.2" \
    "--max-duration h"; do
    # shellcheck disable=SC2086
    run 2 $args mp4_fast.mp4 x.mp3
    grep -q "Try 'v2m-convert --help'" err.txt || fail "$args: no hint on stderr"
    [ -e x.mp3 ] && fail "$args: wrote x.mp3"
done
run 2 a b c
grep -q 'too many arguments' err.txt || fail "no reason for 3 arguments"

# success
run 0 mp4_fast.mp4 out.mp3
is_mp3 out.mp3
[ -s err.txt ] && fail "stderr not empty on success: $(cat err.txt)"
no_leftovers success
run 0 --quality 5 --rate 22050 --channels 1 --start 0.5 --end 2 mp4_end.mp4 opts.mp3
is_mp3 opts.mp3
info=$(ffprobe -v error -show_entries stream=sample_rate,channels -of csv=p=0 opts.mp3)
[ "$info" = "22050,1" ] || fail "options gave '$info', expected 22050,1"
run 0 --bitrate 192 mp4_end.mp4 cbr.mp3
is_mp3 cbr.mp3

# passthrough and --no-copy
run 0 --progress avi_mp3.avi copy.mp3
grep -q '^v2m-convert: copied' err.txt || fail "MP3 source not copied: $(cat err.txt)"
run 0 --progress --no-copy avi_mp3.avi enc.mp3
grep -q '^v2m-convert: encoded' err.txt || fail "--no-copy did not re-encode: $(cat err.txt)"

# --progress: fractions, ending at 1
run 0 --progress mp4_end.mp4 p.mp3
grep -q '^progress=0\.' err.txt || fail "no progress lines"
grep '^progress=' err.txt | tail -1 | grep -q '^progress=1.00 ' || fail "progress does not end at 1.00"

# stdout and stdin
n=$((n + 1))
"$bin" mp4_fast.mp4 - | cat > piped.mp3 || fail "convert to a pipe failed"
is_mp3 piped.mp3
n=$((n + 1))
cat mp4_fast.mp4 | "$bin" - stdin.mp3 2> err.txt || fail "convert from a pipe failed: $(cat err.txt)"
is_mp3 stdin.mp3
n=$((n + 1))
cat avi_mp3.avi | "$bin" - - > both.mp3 || fail "pipe to pipe failed"
is_mp3 both.mp3

# stdout is a file already holding something: the MP3 starts where stdout is
{ printf 'head'; "$bin" mp4_fast.mp4 -; } > offset.bin || fail "convert after a header failed"
[ "$(head -c 7 offset.bin)" = "headID3" ] || fail "stdout at an offset: got '$(head -c 7 offset.bin)'"
tail -c +5 offset.bin > offset.mp3
is_mp3 offset.mp3
# (after the ID3 tag, which holds the cover picture)
head -c 262144 offset.mp3 | grep -qa Xing || fail "no Xing frame when stdout is a file at an offset"
head -c 4096 piped.mp3 | grep -qa Xing && fail "a Xing frame written to a pipe"
# stdout opened for appending: no seeking back, the MP3 goes after what is there
printf 'head' > append.bin
"$bin" mp4_fast.mp4 - >> append.bin || fail "convert appending to stdout failed"
tail -c +5 append.bin > append.mp3
cmp -s append.mp3 piped.mp3 || fail "appending to stdout differs from writing to a pipe"

# failures: exit 1, one line naming the input and the cause, no OUT, no leftovers
run 1 noaudio.mp4 bad.mp3
one_line "v2m-convert: noaudio.mp4: input has no audio stream"
[ -e bad.mp3 ] && fail "bad.mp3 exists after a failure"
no_leftovers "no audio"
run 1 text.mp4 bad.mp3
one_line "v2m-convert: text.mp4: input is not a media file"
run 1 empty.mp4 bad.mp3
one_line "v2m-convert: empty.mp4: input is empty"
run 1 missing.mp4 bad.mp3
one_line "v2m-convert: missing.mp4: No such file or directory"
run 1 mp4_fast.mp4 no/such/dir/x.mp3
grep -q '^v2m-convert: no/such/dir/x.mp3: No such file or directory$' err.txt ||
    fail "unwritable OUT: $(cat err.txt)"
cat noaudio.mp4 | "$bin" - bad.mp3 2> err.txt
[ $? -eq 1 ] || fail "stdin failure: exit not 1"
one_line "v2m-convert: stdin: input has no audio stream"
no_leftovers "stdin failure"
: | "$bin" - bad.mp3 2> err.txt
[ $? -eq 1 ] || fail "empty stdin: exit not 1"
one_line "v2m-convert: stdin: input is empty"

# --max-duration: a stated duration over it is refused at once, a stream
# without one is stopped once its audio passes it; under it, nothing changes
run 1 --max-duration 1m long.m4a lim.mp3
one_line "v2m-convert: long.m4a: input is too long: 300 s of audio, the limit is 60 s"
[ -e lim.mp3 ] && fail "lim.mp3 exists after a refusal"
no_leftovers "duration refused"
ffmpeg -nostdin -v error -y -i long.m4a -c copy -f adts long.aac || fail "cannot make long.aac"
n=$((n + 1))
cat long.aac | "$bin" --max-duration 10 - lim.mp3 2> err.txt
[ $? -eq 1 ] || fail "over the limit from stdin: exit not 1"
one_line "v2m-convert: stdin: input is too long: its audio goes on past the limit of 10 s"
[ -e lim.mp3 ] && fail "lim.mp3 exists after the limit stopped it"
no_leftovers "duration stopped"
run 0 --max-duration 0.5h --progress mp4_fast.mp4 short.mp3
is_mp3 short.mp3
grep -q '^v2m-convert: encoded 3.0 s' err.txt || fail "--max-duration under the limit: $(cat err.txt)"

# a failed run leaves an existing OUT untouched
echo old > keep.mp3
run 1 -y noaudio.mp4 keep.mp3
[ "$(cat keep.mp3)" = old ] || fail "existing OUT changed by a failed run"
no_leftovers "failure over an existing OUT"

# interrupted (SIGINT, SIGTERM): exit 1, "cancelled", nothing left, an
# existing OUT as it was
for sig in INT TERM; do
    rm -f long.mp3
    [ $sig = TERM ] && echo old > long.mp3
    "$bin" -y long.m4a long.mp3 2> err.txt &
    pid=$!
    i=0
    while [ $i -lt 100 ] && ! ls ./long.mp3.tmp-* >/dev/null 2>&1; do sleep 0.02; i=$((i + 1)); done
    sleep 0.2
    kill -$sig $pid
    wait $pid
    st=$?
    n=$((n + 1))
    if [ $st -eq 0 ]; then
        fail "the conversion finished before SIG$sig arrived (make long.m4a longer)"
    else
        [ $st -eq 1 ] || fail "SIG$sig: exit $st, expected 1"
        one_line "v2m-convert: long.m4a: conversion cancelled"
        if [ $sig = TERM ]; then
            [ "$(cat long.mp3)" = old ] || fail "long.mp3 changed after SIGTERM"
        else
            [ -e long.mp3 ] && fail "long.mp3 exists after SIGINT"
        fi
    fi
    no_leftovers SIG$sig
done

# never destroys a file: OUT is not the input, however it is named
sum() { sha256sum "$1" | cut -d' ' -f1; }
before=$(sum mp4_fast.mp4)
ln -s mp4_fast.mp4 sym.mp4
ln mp4_fast.mp4 hard.mp4
for out in mp4_fast.mp4 ./mp4_fast.mp4 sym.mp4 hard.mp4; do
    for y in "" -y; do
        # shellcheck disable=SC2086
        run 2 $y mp4_fast.mp4 "$out"
        one_line "v2m-convert: $out is the input file"
        [ "$(sum mp4_fast.mp4)" = "$before" ] || fail "the input changed after OUT=$out $y"
        no_leftovers "OUT=$out $y"
    done
done
n=$((n + 1))
# shellcheck disable=SC2094 # stdout onto the input on purpose
"$bin" -y mp4_fast.mp4 - >> mp4_fast.mp4 2> err.txt
[ $? -eq 2 ] || fail "stdout appending to the input: not refused"
one_line "v2m-convert: stdout is the input file"
[ "$(sum mp4_fast.mp4)" = "$before" ] || fail "the input changed when stdout was the input"

# an existing OUT: refused without -y (and with -n), replaced with -y
echo old > exist.mp3
run 2 mp4_fast.mp4 exist.mp3
one_line "v2m-convert: exist.mp3 exists; use -y to overwrite"
[ "$(cat exist.mp3)" = old ] || fail "exist.mp3 changed without -y"
run 2 -n mp4_fast.mp4 exist.mp3
one_line "v2m-convert: exist.mp3 exists; use -y to overwrite"
run 2 -y -n mp4_fast.mp4 exist.mp3
[ "$(cat exist.mp3)" = old ] || fail "exist.mp3 changed with -n"
no_leftovers "existing OUT refused"
run 0 -y mp4_fast.mp4 exist.mp3
is_mp3 exist.mp3
[ -s err.txt ] && fail "-y: stderr not empty: $(cat err.txt)"
# a failed conversion over an existing OUT, with -y: OUT as it was, no temporary file
cp exist.mp3 exist.bak
run 1 -y text.mp4 exist.mp3
cmp -s exist.mp3 exist.bak || fail "a failed conversion changed exist.mp3"
no_leftovers "failed conversion over an existing OUT"

# OUT left out: IN's name with .mp3, beside IN; refused for an IN ending in .mp3
mkdir sub
cp mp4_fast.mp4 sub/clip.v1.mp4
run 0 sub/clip.v1.mp4
is_mp3 sub/clip.v1.mp3
run 2 sub/clip.v1.mp4
one_line "v2m-convert: sub/clip.v1.mp3 exists; use -y to overwrite"
run 2 sub/clip.v1.mp3
grep -q '^v2m-convert: sub/clip.v1.mp3 already ends in .mp3: give OUT' err.txt ||
    fail "IN ending in .mp3 without OUT: $(cat err.txt)"
run 2 -
grep -q 'OUT is required when IN is -' err.txt || fail "IN - without OUT: $(cat err.txt)"

# OUT not ending in .mp3: a warning, and the MP3 all the same
run 0 mp4_fast.mp4 sound.wav
one_line "v2m-convert: warning: sound.wav writes MP3 data; the name ends in .wav"
is_mp3 sound.wav

# option values in the forms an upload takes; refusals name the option and range
run 0 --bitrate 192k mp4_end.mp4 k192.mp3
br=$(ffprobe -v error -select_streams a:0 -show_entries stream=bit_rate -of csv=p=0 k192.mp3)
[ "$br" = 192000 ] || fail "--bitrate 192k: stream bit rate $br"
ffprobe -v error -show_frames -select_streams a:0 -show_entries frame=pkt_size -of csv=p=0 k192.mp3 \
    2>/dev/null | sort -u | awk 'END { exit !(NR <= 3) }' || fail "--bitrate 192k: frame sizes vary (not CBR)"
run 0 --rate 44.1k --start 0:02 --end 0:04 long.m4a trim.mp3
# the decoded length (ffprobe's duration counts the encoder delay as well)
d=$(ffmpeg -nostdin -v error -i trim.mp3 -ac 1 -ar 44100 -f s16le - | wc -c | awk '{ print $1 / 88200 }')
awk -v d="$d" 'BEGIN { exit !(d > 2 - 0.0262 && d < 2 + 0.0262) }' ||
    fail "--start 0:02 --end 0:04: duration $d"
r=$(ffprobe -v error -show_entries stream=sample_rate -of csv=p=0 trim.mp3)
[ "$r" = 44100 ] || fail "--rate 44.1k: $r Hz"
run 2 --bitrate 500k mp4_end.mp4 x.mp3
grep -q -- "--bitrate: must be 8 to 320 kbit/s" err.txt || fail "--bitrate 500k: $(cat err.txt)"
run 2 --end 1:02:60 mp4_end.mp4 x.mp3
grep -q -- "--end: must be a time from 0 to 30 days" err.txt || fail "--end 1:02:60: $(cat err.txt)"
run 2 --track 100 mp4_end.mp4 x.mp3
grep -q -- "--track: must be the audio track's number from 1 to 99" err.txt || fail "--track 100: $(cat err.txt)"
run 2 --start 0:04 --end 0:02 mp4_end.mp4 x.mp3
grep -q -- "--end (2 s) must be after --start (4 s)" err.txt || fail "--end before --start: $(cat err.txt)"
run 0 --end 1:02:03.5 --track 1 mp4_end.mp4 end.mp3
is_mp3 end.mp3

# --progress on a terminal: one line redrawn with \r, speed and time left
if command -v python3 >/dev/null 2>&1; then
    n=$((n + 1))
    python3 - "$bin" long.m4a > pty.txt 2>&1 <<'PY' || fail "--progress on a terminal: $(cat pty.txt)"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-y", "--progress", "--end", "4:00", sys.argv[2], "tty.mp3"])
out = b""
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))
PY
    cr=$(tr -cd '\r' < pty.txt | wc -c)
    [ "$cr" -ge 3 ] || fail "--progress on a terminal: $cr carriage returns"
    grep -q 'time=[0-9:]*/00:04:00 speed=[0-9.]*x eta=[0-9][0-9]:' pty.txt ||
        fail "--progress on a terminal lacks position, speed or ETA: $(cat pty.txt)"
    grep -q '^progress=' pty.txt && fail "--progress on a terminal printed plain lines"
fi
# through a pipe: plain lines, every few percent, the same fields
run 0 -y --progress --end 4:00 long.m4a pipe.mp3
lines=$(grep -c '^progress=' err.txt)
{ [ "$lines" -ge 2 ] && [ "$lines" -le 25 ]; } || fail "--progress through a pipe: $lines lines"
grep -q '^progress=0\.[0-9]* time=[0-9:]*/00:04:00 speed=[0-9.]*x eta=' err.txt ||
    fail "--progress through a pipe lacks the fields: $(cat err.txt)"
tr -d '\n' < err.txt | grep -q "$(printf '\r')" && fail "--progress through a pipe wrote carriage returns"
grep -q '^v2m-convert: encoded' err.txt || fail "--progress: no summary"

echo "$n runs, $fails failures" >&2
[ $fails -eq 0 ]
