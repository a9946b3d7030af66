#!/bin/sh
# media_seeds.sh DIR - generate the seed files of the media fuzz target with
# the ffmpeg CLI: a fraction of a second of tone, tiny video where the
# container has video, so each file is a few KiB. The committed corpus
# (tests/fuzz/corpus/media) started from these.
set -eu
dir=${1:?usage: media_seeds.sh DIR}
mkdir -p "$dir"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
A="sine=frequency=440:sample_rate=8000:duration=0.3"
A2="aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=22050:d=0.3"
V="testsrc2=size=16x16:rate=5:d=0.3"

ff -f lavfi -i "$V" -f lavfi -i "$A" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -c:a aac -b:a 16k "$dir/tone_end.mp4"
ff -f lavfi -i "$V" -f lavfi -i "$A2" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -c:a aac -b:a 24k -movflags +faststart "$dir/tone_fast.mp4"
ff -f lavfi -i "$V" -f lavfi -i "$A" -c:v libvpx -deadline realtime -b:v 20k \
   -c:a libvorbis -q:a 0 "$dir/tone_vp8_vorbis.mkv"
ff -f lavfi -i "$A2" -c:a libopus -b:a 16k "$dir/tone_opus.mkv"
ff -f lavfi -i "$V" -f lavfi -i "$A2" -c:v flv1 -c:a libmp3lame -b:a 32k "$dir/tone_mp3.flv"
ff -f lavfi -i "$A" -c:a aac -b:a 16k -f flv "$dir/tone_aac.flv"
ff -f lavfi -i "$A" -c:a libmp3lame -b:a 8k "$dir/tone_mono.mp3"
ff -f lavfi -i "$A2" -c:a libmp3lame -q:a 9 -metadata title=Tone "$dir/tone_stereo.mp3"
ff -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=0.1" -c:a pcm_s16le "$dir/tone_s16.wav"
ff -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=0.2" -c:a pcm_u8 "$dir/tone_u8.wav"
ff -f lavfi -i "$A2" -c:a adpcm_ima_wav "$dir/tone_adpcm.wav"
