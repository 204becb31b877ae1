#!/usr/bin/env bash
# The latency eufy-hw publish adds, end to end: the simulated camera → publish (FFmpeg's
# RTSP muxer) → a restreaming RTSP server (GStreamer's, scripts/rtsp-relay.py, standing in
# for go2rtc/MediaMTX) → a reader (eufy-hw's --source path: FFmpeg's RTSP demuxer, the
# decoder, the GPU) — each frame the reader shows paired with the unit pushed.
#
#   scripts/bench-publish.sh [FRAMES]      (after ./dev.sh setup and clips)
#
# Prints the bench's report for the bundled H.264 clip and the 1080p H.265 test clip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
frames=${1:-300}
clips=${EUFY_CLIPS:-target/clips}
cargo build --release --locked --quiet
bin=target/release/eufy-hw
port=$((20000 + RANDOM % 20000))
relay=""
trap '[ -n "$relay" ] && kill "$relay" 2>/dev/null; true' EXIT
run() { # codec, extra bench args
  local codec=$1
  shift
  /usr/bin/python3 scripts/rtsp-relay.py "$port" "$codec" >/dev/null 2>&1 &
  relay=$!
  sleep 1
  echo "== $codec"
  RUST_LOG=warn "$bin" bench --publish "rtsp://127.0.0.1:$port/in" --source "rtsp://127.0.0.1:$port/out" \
    --frames "$frames" --accel none "$@" 2>/dev/null
  kill "$relay"
  wait "$relay" 2>/dev/null || true
  relay=""
}
run h264
run h265 --file "$clips/h265_main_1080p.h265"
