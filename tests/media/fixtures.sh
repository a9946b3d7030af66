#!/bin/sh
# fixtures.sh DIR [NAME...] - generate the media engine's test inputs into DIR
# with the ffmpeg CLI (all but long.m4a, or only the NAMEs given, e.g. mp4_end.mp4).
#
# Good inputs carry known tones so a test can check the MP3 that comes out:
# left 440 Hz, right 1000 Hz (mono inputs: 440 Hz), 3 s unless said otherwise.
# Video is tiny (160x120) to keep generation fast. Exit 77 without ffmpeg.
set -eu

dir=${1:?usage: fixtures.sh DIR [NAME...]}
shift
command -v ffmpeg >/dev/null 2>&1 || { echo "fixtures.sh: ffmpeg CLI not found" >&2; exit 77; }
mkdir -p "$dir"

D=3
ST="aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=44100:d=$D"
VID="testsrc2=size=160x120:rate=15:d=$D"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

names="$*"
wanted() {
    [ -z "$names" ] && return 0
    for n in $names; do [ "$n" = "$1" ] && return 0; done
    return 1
}
out() { printf '%s/%s' "$dir" "$1"; }

# MP4 H.264/AAC, moov at the end (ffmpeg's default) and at the start.
wanted mp4_end.mp4 && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p -c:a aac -b:a 128k -metadata title="Tone Test" -metadata artist="v2m" \
    -metadata album="Fixtures" -metadata date=2024 "$(out mp4_end.mp4)"
wanted mp4_fast.mp4 && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart "$(out mp4_fast.mp4)"
# MKV VP9/Opus (48 kHz), WebM VP8/Vorbis.
wanted mkv_vp9_opus.mkv && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libvpx-vp9 -deadline realtime \
    -cpu-used 8 -b:v 200k -c:a libopus -b:a 96k "$(out mkv_vp9_opus.mkv)"
wanted webm_vp8_vorbis.webm && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libvpx -deadline realtime \
    -cpu-used 8 -b:v 200k -c:a libvorbis -q:a 4 "$(out webm_vp8_vorbis.webm)"
# AVI MPEG-4 part 2 / MP3: the engine copies the MP3 frames.
wanted avi_mp3.avi && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v mpeg4 -q:v 10 \
    -c:a libmp3lame -b:a 128k "$(out avi_mp3.avi)"
# MOV with 16-bit PCM at 48 kHz.
wanted mov_pcm.mov && ff -f lavfi -i "$VID" -f lavfi -i "$(echo "$ST" | sed 's/s=44100/s=48000/')" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a pcm_s16le "$(out mov_pcm.mov)"
# FLV H.264/AAC.
wanted flv_aac.flv && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p -c:a aac -b:a 128k "$(out flv_aac.flv)"
# 5.1 AAC: 440 Hz on the left channels (FL, BL), 1000 Hz on the right (FR, BR).
wanted aac51.mp4 && ff -f lavfi -i "$VID" -f lavfi \
    -i "aevalsrc=0.4*sin(2*PI*440*t)|0.4*sin(2*PI*1000*t)|0|0|0.4*sin(2*PI*440*t)|0.4*sin(2*PI*1000*t):c=5.1:s=48000:d=$D" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 256k "$(out aac51.mp4)"
# 8 kHz mono AAC.
wanted mono8k.mp4 && ff -f lavfi -i "$VID" -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t):s=8000:d=$D" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 32k "$(out mono8k.mp4)"
# 96 kHz stereo FLAC in Matroska (MP3 cannot do 96 kHz: 48 kHz comes out).
wanted hi96k.mkv && ff -f lavfi -i "$VID" -f lavfi -i "$(echo "$ST" | sed 's/s=44100/s=96000/')" \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a flac "$(out hi96k.mkv)"
# Two audio tracks: the default one has the usual tones, the second 2000 Hz mono.
wanted two_tracks.mkv && ff -f lavfi -i "$VID" -f lavfi -i "$ST" \
    -f lavfi -i "aevalsrc=0.5*sin(2*PI*2000*t):s=44100:d=$D" -map 0 -map 1 -map 2 \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 96k "$(out two_tracks.mkv)"
# Audio only, M4A.
wanted audio.m4a && ff -f lavfi -i "$ST" -c:a aac -b:a 128k "$(out audio.m4a)"

# 20 s of PCM in a MOV with the index at the end: bigger than what probing
# buffers, so reading it from a stream that cannot seek fails.
wanted mov_pcm_long.mov && ff -f lavfi -i "$(echo "$ST" | sed "s/d=$D/d=20/")" -c:a pcm_s16le \
    "$(out mov_pcm_long.mov)"
# 5 minutes of a 440 Hz tone: long enough to interrupt a conversion (made
# only when asked for by name).
[ -n "$names" ] && wanted long.m4a && ff -f lavfi -i "sine=f=440:r=44100:d=300" -c:a aac -b:a 64k "$(out long.m4a)"

# Bad inputs.
wanted empty.mp4 && : > "$(out empty.mp4)"
wanted text.mp4 && for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    echo "This is a text file with a video extension, line $i."
done > "$(out text.mp4)"
wanted random.bin && head -c 262144 /dev/urandom > "$(out random.bin)"
wanted noaudio.mp4 && ff -f lavfi -i "$VID" -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$(out noaudio.mp4)"
# Truncated at half: faststart (the index survives, the data does not) and
# moov at the end (the index is lost).
if wanted trunc_fast.mp4 || wanted trunc_end.mp4; then
    t=$(mktemp -d)
    ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
        -c:a aac -movflags +faststart "$t/f.mp4"
    ff -f lavfi -i "$VID" -f lavfi -i "$ST" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
        -c:a aac "$t/e.mp4"
    for p in fast:f end:e; do
        src="$t/${p#*:}.mp4"
        head -c $(( $(wc -c < "$src") / 2 )) "$src" > "$(out "trunc_${p%%:*}.mp4")"
    done
    rm -rf "$t"
fi
# WAV whose format tag (0x7777) names no codec anyone decodes.
wanted unknown_codec.wav && {
    printf 'RIFF\044\175\000\000WAVEfmt \020\000\000\000\167\167\002\000\104\254\000\000\020\261\002\000\004\000\020\000data\000\175\000\000'
    head -c 32000 /dev/zero
} > "$(out unknown_codec.wav)"
exit 0
