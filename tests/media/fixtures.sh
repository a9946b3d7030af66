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

# Tags, cover art, chapters, track choice and loudness (made only when
# asked for by name, like long.m4a).
feature() { [ -n "$names" ] && wanted "$1"; }
# Matroska keeps any tag: every one ID3v2.4 has a frame for.
feature tags.mkv && ff -f lavfi -i "$ST" -c:a libvorbis -metadata title="Tag Test" -metadata artist="Artist" \
    -metadata album="Album" -metadata album_artist="Album Artist" -metadata date=2023 \
    -metadata genre="Jazz" -metadata track=4/12 -metadata disc=2/3 -metadata composer="Composer" \
    -metadata comment="A comment" -metadata language=fre -metadata performer="Performer" \
    -metadata publisher="Publisher" -metadata copyright="(c) 2023 Someone" -metadata lyrics="la la la" \
    -metadata encoded_by="Someone's encoder" "$(out tags.mkv)"
# Pictures: a 1000x800 JPEG (about 40 KiB: kept as it is) and a noisy
# 1600x1200 PNG (megabytes: scaled down to a JPEG).
if feature covr.mp4 || feature att.mkv || feature apic.mp3 || feature covr_big.mp4 || feature head_max.mkv; then
    ff -f lavfi -i "testsrc2=size=1000x800:rate=1:d=1" -frames:v 1 "$(out pic.jpg)"
    ff -f lavfi -i "testsrc2=size=1600x1200:rate=1:d=1,noise=alls=80:allf=u" -frames:v 1 "$(out big.png)"
fi
# MP4 with a cover (covr), AAC only.
feature covr.mp4 && ff -f lavfi -i "$ST" -i "$(out pic.jpg)" -map 0 -map 1 -c:a aac -c:v copy \
    -disposition:v attached_pic "$(out covr.mp4)"
feature covr_big.mp4 && ff -f lavfi -i "$ST" -i "$(out big.png)" -map 0 -map 1 -c:a aac -c:v copy \
    -disposition:v attached_pic "$(out covr_big.mp4)"
# A picture wider than any cover the engine takes (17000x8 PNG): left out.
feature covr_wide.mp4 && ff -f lavfi -i "color=c=red:size=17000x8:d=1" -frames:v 1 "$(out wide.png)" &&
    ff -f lavfi -i "$ST" -i "$(out wide.png)" -map 0 -map 1 -c:a aac -c:v copy -disposition:v attached_pic \
        "$(out covr_wide.mp4)"
# Matroska with the JPEG as an attachment (libavformat shows it as an attached picture).
feature att.mkv && ff -f lavfi -i "$ST" -attach "$(out pic.jpg)" -metadata:s:t mimetype=image/jpeg \
    -c:a libvorbis "$(out att.mkv)"
# MP3 with an ID3 APIC.
feature apic.mp3 && ff -f lavfi -i "$ST" -i "$(out pic.jpg)" -map 0 -map 1 -c:a libmp3lame -c:v copy \
    -disposition:v attached_pic "$(out apic.mp3)"
# Three chapters (0-1, 1-2, 2-3 s) in MP4 and Matroska, from ffmetadata.
if feature chapters.mp4 || feature chapters.mkv; then
    printf ';FFMETADATA1\n' > "$(out chapters.txt)"
    for i in 0 1 2; do
        printf '[CHAPTER]\nTIMEBASE=1/1000\nSTART=%d\nEND=%d\ntitle=Part %d\n' $((i * 1000)) $((i * 1000 + 1000)) $((i + 1))
    done >> "$(out chapters.txt)"
fi
feature chapters.mp4 && ff -f lavfi -i "$VID" -f lavfi -i "$ST" -i "$(out chapters.txt)" -map 0 -map 1 \
    -map_chapters 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac "$(out chapters.mp4)"
feature chapters.mkv && ff -f lavfi -i "$ST" -i "$(out chapters.txt)" -map 0 -map_chapters 1 -c:a libopus \
    "$(out chapters.mkv)"
# Two audio tracks: 440 Hz in English, then 1000 Hz in French.
feature lang2.mkv && ff -f lavfi -i "$VID" -f lavfi -i "sine=f=440:r=44100:d=$D" \
    -f lavfi -i "sine=f=1000:r=44100:d=$D" -map 0 -map 1 -map 2 -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p -c:a aac -metadata:s:a:0 language=eng -metadata:s:a:1 language=fre "$(out lang2.mkv)"
# Loudness: 8 s of pink noise with a tone, quiet (about -45 LUFS) and loud
# (about -8 LUFS); and one whose peaks (a 5 ms burst of 1 kHz at -1 dBFS
# every second over a quiet tone) keep it from reaching -16 LUFS with its
# true peak under -1 dBTP.
LD=8
feature quiet.m4a && ff -f lavfi -i "anoisesrc=c=pink:r=48000:a=0.01:d=$LD" -f lavfi \
    -i "sine=f=500:r=48000:d=$LD" -filter_complex "[1]volume=0.05[s];[0][s]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo" \
    -c:a aac -b:a 128k "$(out quiet.m4a)"
feature loud.m4a && ff -f lavfi -i "anoisesrc=c=pink:r=48000:a=0.5:d=$LD" -f lavfi \
    -i "sine=f=500:r=48000:d=$LD" -filter_complex "[1]volume=4[s];[0][s]amix=inputs=2:normalize=0,alimiter=limit=0.9,aformat=channel_layouts=stereo" \
    -c:a aac -b:a 128k "$(out loud.m4a)"
feature peaky.wav && ff -f lavfi \
    -i "aevalsrc=0.003*sin(2*PI*500*t)+0.9*lt(mod(t\,1)\,0.005)*sin(2*PI*1000*t):s=48000:d=$LD" -c:a pcm_s16le "$(out peaky.wav)"
# The biggest ID3 tag a source can make us write: 30 tags of 2 KiB, 300
# chapters with 1 KiB titles, a picture of megabytes.
if feature head_max.mkv; then
    long=$(head -c 2000 /dev/zero | tr '\0' 'x')
    printf ';FFMETADATA1\n' > "$(out head_max.txt)"
    for k in title artist album album_artist date genre track disc composer comment language performer \
             publisher copyright lyrics grouping compilation title-sort artist-sort album-sort \
             k1 k2 k3 k4 k5 k6 k7 k8 k9 k10; do
        printf '%s=%s\n' "$k" "$long"
    done >> "$(out head_max.txt)"
    i=0
    while [ $i -lt 300 ]; do
        printf '[CHAPTER]\nTIMEBASE=1/1000\nSTART=%d\nEND=%d\ntitle=%s\n' $((i * 10)) $((i * 10 + 10)) \
            "$(echo "$long" | head -c 1000)"
        i=$((i + 1))
    done >> "$(out head_max.txt)"
    ff -f lavfi -i "$ST" -i "$(out head_max.txt)" -map 0 -map_metadata 1 -map_chapters 1 \
        -attach "$(out big.png)" -metadata:s:t mimetype=image/png -c:a libvorbis "$(out head_max.mkv)"
fi

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
