#!/usr/bin/env bash
# The README's camera-wall screenshots: the example wall (packaging/wall.example.toml) with
# simulated cameras on a 1280x720 Xvfb screen — its first page, its second page (with "Back
# door", which streams on events only, showing its latest picture), and a ring bringing
# "Back door" forward — into docs/. Needs a release build and xvfb, ffmpeg.
#
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/eufy-hw
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
. scripts/lib.sh
xvfb_start 1280x720
display=$xvfb_display
trap 'kill $xvfb_pid 2>/dev/null || true' EXIT
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
mkdir -p docs
clips=${EUFY_CLIPS:-target/clips}
[ -s "$clips/still_420.jpg" ] || scripts/make-clips.sh "$clips" >/dev/null
# Pages turn every 7 s; a ring on the fifth camera (page 2) at 16 s, while page 1 shows.
XDG_CACHE_HOME=$(mktemp -d) DISPLAY=$display "$bin" demo --config packaging/wall.example.toml \
  --stats --page-seconds 7 --picture "T8410P0000000005=$clips/still_420.jpg" \
  --event ring:T8410P0000000005@16 --hold 5 --duration 24 --log warn &
pid=$!
shot() { sleep "$1"; ffmpeg -nostdin -v error -y -f x11grab -video_size 1280x720 -i "$display" -frames:v 1 "docs/$2"; }
shot 5 wall-page1.png
shot 6 wall-page2.png
shot 7 wall-ring.png
wait "$pid"
ls -l docs/wall-*.png
