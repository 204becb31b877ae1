#!/usr/bin/env bash
# Makes the test clips: real x264/x265 encodes of FFmpeg's test pattern, as raw Annex-B.
#
#   scripts/make-clips.sh [DIR]      (default target/clips; existing clips are kept)
#
# Reproducible: same FFmpeg build, same bytes. Each clip is written to a temporary name and
# renamed, so a concurrent reader never sees half a file.
set -euo pipefail
dir=${1:-target/clips}
mkdir -p "$dir"
command -v ffmpeg >/dev/null || { echo "ffmpeg not found: run ./dev.sh setup" >&2; exit 1; }

# Bump when a clip's recipe changes: existing clips are then made again.
VERSION=2
if [ "$(cat "$dir/.version" 2>/dev/null)" != "$VERSION" ]; then
  rm -f "$dir"/*.h264 "$dir"/*.h265
  echo "$VERSION" > "$dir/.version"
fi

# Cameras send no B-frames (low latency); one H.264 clip has them to test reordering.
# name, then ffmpeg arguments after the input. 1080p clips are 1 s at 30 fps: short enough
# to make in seconds on 2 cores, long enough to hold several GOPs (keyint 10).
X264="-c:v libx264 -preset veryfast -tune zerolatency -x264-params keyint=10:min-keyint=10:scenecut=0"
clip() {
  local name=$1 src=$2; shift 2
  [ -s "$dir/$name" ] && return 0
  local tmp="$dir/.$name.$$"
  local fmt=h264; [ "${name##*.}" = h265 ] && fmt=hevc
  ffmpeg -nostdin -loglevel error -y -f lavfi -i "$src" "$@" -f "$fmt" "$tmp"
  mv "$tmp" "$dir/$name"
  echo "  $dir/$name ($(stat -c %s "$dir/$name") bytes)"
}
T1080="testsrc2=size=1920x1080:rate=30:duration=1"
T720="testsrc2=size=1280x720:rate=30:duration=1"

clip h264_high_1080p.h264     "$T1080" $X264 -profile:v high -pix_fmt yuv420p
clip h264_high_1080p_bframes.h264 "$T1080" -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 3 -x264-params keyint=10:min-keyint=10:scenecut=0
clip h264_baseline_720p.h264  "$T720"  $X264 -profile:v baseline -pix_fmt yuv420p
clip h264_slices4_720p.h264   "$T720"  $X264 -profile:v main -pix_fmt yuv420p -slices 4
clip h264_aud_720p.h264       "$T720"  -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -x264-params keyint=10:min-keyint=10:scenecut=0:aud=1
clip h264_full_range_720p.h264 "$T720" $X264 -pix_fmt yuvj420p -color_range pc
clip h265_main_1080p.h265     "$T1080" -c:v libx265 -preset ultrafast -pix_fmt yuv420p -x265-params keyint=10:min-keyint=10:scenecut=0:bframes=0:log-level=error

# 3-byte start codes everywhere: rewrite every 00 00 00 01 of an x264 stream.
if [ ! -s "$dir/h264_3byte_720p.h264" ]; then
  perl -0777 -pe 's/\x00\x00\x00\x01/\x00\x00\x01/g' "$dir/h264_baseline_720p.h264" > "$dir/.3b.$$"
  mv "$dir/.3b.$$" "$dir/h264_3byte_720p.h264"
  echo "  $dir/h264_3byte_720p.h264"
fi

# A resolution change mid-stream: 720p then 480p, concatenated (each part starts with SPS+IDR).
if [ ! -s "$dir/h264_res_change.h264" ]; then
  clip .part_a.h264 "testsrc2=size=1280x720:rate=30:duration=0.5" $X264 -pix_fmt yuv420p
  clip .part_b.h264 "testsrc2=size=854x480:rate=30:duration=0.5" $X264 -pix_fmt yuv420p
  cat "$dir/.part_a.h264" "$dir/.part_b.h264" > "$dir/.rc.$$"
  mv "$dir/.rc.$$" "$dir/h264_res_change.h264"
  rm -f "$dir/.part_a.h264" "$dir/.part_b.h264"
  echo "  $dir/h264_res_change.h264"
fi
# Camera-like audio: AAC LC in ADTS frames, 16 kHz mono, 4 s.
if [ ! -s "$dir/aac_16k_mono.aac" ]; then
  ffmpeg -nostdin -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=4" \
    -c:a aac -b:a 32k -ac 1 -f adts "$dir/.aac.$$"
  mv "$dir/.aac.$$" "$dir/aac_16k_mono.aac"
  echo "  $dir/aac_16k_mono.aac"
fi
# The A/V sync pair: a white flash (one frame) and a 100 ms 1 kHz beep at every whole
# second, 10 s, 15 fps 640x360 and 16 kHz mono AAC (the beep made 64 ms early: the AAC
# encoder's 1024 samples of priming put it back on the second when decoded); `bench --file sync_flash.h264 --audio
# sync_beep.aac` measures where the flash is drawn against where the beep reaches the device.
clip sync_flash.h264 "color=c=0x202020:size=640x360:rate=15:duration=10,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\,1)\,0.05)'" \
  -c:v libx264 -preset veryfast -tune zerolatency -x264-params keyint=15:min-keyint=15:scenecut=0 -pix_fmt yuv420p
if [ ! -s "$dir/sync_beep.aac" ]; then
  ffmpeg -nostdin -loglevel error -y -f lavfi \
    -i "aevalsrc='if(lt(mod(t+0.064\,1)\,0.1)\,0.5*sin(2*PI*1000*t)\,0)':s=16000:d=10" \
    -c:a aac -b:a 48k -ac 1 -f adts "$dir/.beep.$$"
  mv "$dir/.beep.$$" "$dir/sync_beep.aac"
  echo "  $dir/sync_beep.aac"
fi
# Cameras' still pictures (their `picture` property): JPEG of the test pattern, 4:2:0 as
# cameras send them, and 4:2:2.
for sub in 420 422; do
  if [ ! -s "$dir/still_$sub.jpg" ]; then
    ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=1" -frames:v 1 \
      -pix_fmt "yuvj${sub}p" -f image2 "$dir/.still.$$.jpg"
    mv "$dir/.still.$$.jpg" "$dir/still_$sub.jpg"
    echo "  $dir/still_$sub.jpg"
  fi
done
echo "clips ready in $dir"
