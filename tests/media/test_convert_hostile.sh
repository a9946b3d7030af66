#!/bin/sh
# test_convert_hostile.sh - v2m-convert on hostile inputs, watched from outside
# with strace: playlists (concat, HLS, DASH), an SDP description, an image
# sequence, subtitles and URLs of every kind naming real media ("canaries").
# Each run must exit 1 with the one line "v2m-convert: IN: input is not a
# supported video or audio file", and the trace of the whole process tree
# must show no open of a canary, no second open of the input, no AF_INET or
# AF_INET6 socket, and no connect or bind at all. Controls first show that
# the trace catches an open of a canary (the ffmpeg CLI following a playlist)
# and an IPv4 socket with its connect.
set -u

bin=$(cd "${V2M_BIN:?V2M_BIN not set}" && pwd)/v2m-convert
src=${V2M_SRC:?V2M_SRC not set}
[ -x "$bin" ] || { echo "FAIL: $bin not built" >&2; exit 1; }
for tool in ffmpeg ffprobe strace; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed; hostile-input tests of v2m-convert NOT RUN" >&2
        exit 77
    fi
done
if ! strace -f -qq -o /dev/null true 2>/dev/null; then
    echo "SKIP: strace cannot trace here (ptrace not permitted); hostile-input tests NOT RUN" >&2
    exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/v2m-hostile-XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fid=65f1c0ffee0000000000cafe
mkdir -p canary in var/store/videos
ff() { ffmpeg -nostdin -v error -y "$@"; }
{
    sh "$src/tests/media/fixtures.sh" canary mp4_fast.mp4 audio.m4a &&
        cp canary/mp4_fast.mp4 "var/store/videos/$fid" &&
        ff -i canary/mp4_fast.mp4 -c copy canary/seg.ts &&
        ff -f lavfi -i sine=f=440:r=44100:d=0.5 -c:a aac canary/tiny.aac &&
        ff -f lavfi -i testsrc2=size=64x48:rate=1:d=3 canary/img-%03d.png
} || { echo "FAIL: fixtures" >&2; exit 1; }
# LeakSanitizer cannot run under ptrace; leaks are test_media_inputs' business.
export ASAN_OPTIONS=detect_leaks=0

fails=0
n=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
port=$(( 47100 + $$ % 1000 ))
fx=$(pwd)
aac64=$(base64 -w0 canary/tiny.aac)

# The hostile inputs.
printf 'ffconcat version 1.0\nfile var/store/videos/%s\n' "$fid" > in/rel.ffconcat
printf 'ffconcat version 1.0\nfile %s/canary/mp4_fast.mp4\n' "$fx" > in/abs.ffconcat
printf "ffconcat version 1.0\nfile 'file:%s/canary/mp4_fast.mp4'\n" "$fx" > in/fileurl.ffconcat
printf 'ffconcat version 1.0\nfile in/self.ffconcat\nfile %s/in/self.ffconcat\n' "$fx" > in/self.ffconcat
printf "ffconcat version 1.0\nfile 'http://127.0.0.1:%s/video.mp4'\n" "$port" > in/http.ffconcat
printf "ffconcat version 1.0\nfile '%s/canary/img-%%03d.png'\n" "$fx" > in/pattern.ffconcat
printf "ffconcat version 1.0\nfile 'data:audio/aac;base64,%s'\n" "$aac64" > in/data.ffconcat
printf "ffconcat version 1.0\nfile 'tee:%s/canary/mp4_fast.mp4'\n" "$fx" > in/tee.ffconcat
printf "ffconcat version 1.0\nfile 'subfile,,start,0,end,0,,:%s/canary/mp4_fast.mp4'\n" "$fx" > in/subfile.ffconcat
printf '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\n%s/canary/seg.ts\n#EXTINF:3,\nfile://%s/canary/seg.ts\n#EXT-X-ENDLIST\n' \
    "$fx" "$fx" > in/local.m3u8
printf '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\nhttp://127.0.0.1:%s/seg.ts\n#EXT-X-ENDLIST\n' "$port" > in/http.m3u8
printf '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1,\ndata:audio/aac;base64,%s\n#EXT-X-ENDLIST\n' "$aac64" > in/data.m3u8
printf '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3,\nrtsp://127.0.0.1:%s/live\n#EXT-X-ENDLIST\n' "$port" > in/rtsp.m3u8
printf '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=128000\n%s/in/local.m3u8\n' "$fx" > in/variant.m3u8
mpd() { # mpd BASEURL-OF-THE-MPD BASEURL-OF-THE-REPRESENTATION
    printf '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" mediaPresentationDuration="PT3S" minBufferTime="PT1S">\n'
    [ -n "$1" ] && printf '<BaseURL>%s</BaseURL>\n' "$1"
    printf '<Period><AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="128000" codecs="mp4a.40.2"><BaseURL>%s</BaseURL></Representation></AdaptationSet></Period>\n</MPD>\n' "$2"
}
mpd "http://127.0.0.1:$port/x/" audio.m4a > in/http.mpd
mpd "" "file:$fx/canary/audio.m4a" > in/file.mpd
printf 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %s RTP/AVP 0\r\n' "$port" > in/stream.sdp
cp canary/img-001.png in/image.png
printf '1\n00:00:01,000 --> 00:00:02,000\nfirst\n\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n' > in/subs.srt
printf 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfirst\n' > in/subs.vtt

# traced OUT CMD...: runs CMD under strace, the trace in OUT
traced() {
    out=$1
    shift
    strace -f -qq -e trace=open,openat,openat2,creat,socket,connect,bind -o "$out" "$@"
}
canary_opens() { grep -E 'open.*(canary|var/store)' "$1"; }
net_calls() { grep -E 'socket\(AF_INET6?,|connect\(|bind\(' "$1"; }

# Controls: the trace sees the ffmpeg CLI open a canary through a playlist,
# and an IPv4 socket and its connect.
n=$((n + 1))
cp in/abs.ffconcat ctl.ffconcat
traced ctl.trace ffprobe -v error -safe 0 ctl.ffconcat
canary_opens ctl.trace | grep -q mp4_fast.mp4 || fail "control: no open of the canary in the trace of ffprobe"
n=$((n + 1))
traced net.trace ffprobe -v error "http://127.0.0.1:$port/x.mp4"
net_calls net.trace | grep -q 'socket(AF_INET' || fail "control: no AF_INET socket in the trace of ffprobe"
net_calls net.trace | grep -q 'connect(' || fail "control: no connect in the trace of ffprobe"

for f in in/rel.ffconcat in/abs.ffconcat in/fileurl.ffconcat in/self.ffconcat in/http.ffconcat \
    in/pattern.ffconcat in/data.ffconcat in/tee.ffconcat in/subfile.ffconcat in/local.m3u8 \
    in/http.m3u8 in/data.m3u8 in/rtsp.m3u8 in/variant.m3u8 in/http.mpd in/file.mpd \
    in/stream.sdp in/image.png in/subs.srt in/subs.vtt; do
    n=$((n + 1))
    t=$(basename "$f").trace
    traced "$t" "$bin" "$f" out.mp3 2> err.txt
    st=$?
    [ $st -eq 1 ] || fail "$f: exit $st, expected 1; stderr: $(cat err.txt)"
    want="v2m-convert: $f: input is not a supported video or audio file"
    [ "$(cat err.txt)" = "$want" ] || fail "$f: stderr '$(cat err.txt)', expected '$want'"
    [ -e out.mp3 ] && fail "$f: out.mp3 written"
    opens=$(canary_opens "$t")
    [ -z "$opens" ] || fail "$f: canary opened: $opens"
    net=$(net_calls "$t")
    [ -z "$net" ] || fail "$f: network calls: $net"
    self=$(grep -c "\"[^\"]*$(basename "$f")\"" "$t")
    [ "$self" -eq 1 ] || fail "$f: the input was opened $self times: $(grep "$(basename "$f")" "$t")"
done

echo "$n runs, $fails failures" >&2
[ $fails -eq 0 ]
