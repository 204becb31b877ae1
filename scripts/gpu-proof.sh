#!/usr/bin/env bash
# The GPU-machine proofs of issues 4, 5 and 6 in one go (see ../shared/device/README.md).
#
# Here (Debian 12):
#   scripts/gpu-proof.sh pack          the release binary and the 1080p clips, into .device/
#   scripts/gpu-proof.sh pack-tests    the release render and memory tests, into .device/
# (../shared/device/prepare.sh; each pack replaces the other: the carry limit is 64 MiB).
#
# Then on the GPU machine, after each pack (the device tool's `run`, carry [".device"]):
#   bash .device/enter.sh bash .device/gpu-proof.sh run
# writes what it ran into $OUT (or ./gpu-proof): after `pack`, NVDEC against FFmpeg alone
# and against software decoding of the same clip, paced latency, 16 streams at 1080p30 on
# NVDEC, and the same with rendering on the real GPU; after `pack-tests`, the colour,
# geometry, sRGB and memory tests on the GPU's Vulkan adapter.
set -uo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

# The executable of integration test $1, built in release.
test_exe() {
  cargo test --release --test "$1" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -1
}

# Two packs, because the carried tree must stay under 64 MiB and FFmpeg's libraries alone
# take about 49 MB: `pack` for the benchmarks, `pack-tests` for the GPU tests.
# prepare.sh BINARY FILES..., with this script carried along.
prepare() {
  cp "$self" target/gpu-proof.sh
  mkdir -p "$(git rev-parse --git-dir)/info" # prepare.sh records .device/ in its exclude file
  ../shared/device/prepare.sh "$@" target/gpu-proof.sh
}

pack() {
  set -e
  cd "$(dirname "$self")/.."
  ./dev.sh clips >/dev/null
  cargo build --release
  prepare target/release/eufy-hw target/clips/h264_high_1080p.h264 target/clips/h265_main_1080p.h265
}

pack_tests() {
  set -e
  cd "$(dirname "$self")/.."
  local render memory
  render=$(test_exe render)
  memory=$(test_exe memory)
  cp "$memory" target/memory-test && strip target/memory-test
  cp "$render" target/render-test
  prepare target/render-test target/memory-test
}

run() {
  local here out
  here=$(cd "$(dirname "$0")" && pwd)
  out=${OUT:-gpu-proof}
  mkdir -p "$out"
  nvidia-smi -L >"$out/nvidia-smi.txt" 2>&1 || true
  local h264="$here/h264_high_1080p.h264" h265="$here/h265_main_1080p.h265"
  if command -v eufy-hw >/dev/null; then
    # Issue 4 and 6: NVDEC vs FFmpeg alone (same decoder settings) on one stream, unpaced;
    # then software decoding of the same clip for the comparison.
    eufy-hw bench --unpaced --no-render --accel cuda --accel-strict --file "$h264" \
      --frames 1200 --rounds 3 --json "$out/cuda-1080p-h264.json" >"$out/cuda-1080p-h264.txt" 2>&1
    eufy-hw bench --unpaced --no-render --accel cuda --accel-strict --file "$h265" \
      --frames 1200 --rounds 3 --json "$out/cuda-1080p-h265.json" >"$out/cuda-1080p-h265.txt" 2>&1
    eufy-hw bench --unpaced --no-render --accel none --file "$h264" \
      --frames 600 --rounds 3 --json "$out/sw-1080p-h264.json" >"$out/sw-1080p-h264.txt" 2>&1
    # Paced latency on NVDEC, and 16 cameras at 1080p30.
    eufy-hw bench --fps 30 --no-render --accel cuda --accel-strict --file "$h264" \
      --frames 300 --json "$out/cuda-paced.json" >"$out/cuda-paced.txt" 2>&1
    eufy-hw bench --streams 16 --fps 30 --no-render --accel cuda --accel-strict --file "$h264" \
      --frames 300 --json "$out/cuda-16x30.json" >"$out/cuda-16x30.txt" 2>&1
    # Issue 5: the whole path with rendering on the real GPU (offscreen Vulkan).
    eufy-hw bench --unpaced --accel cuda --accel-strict --file "$h264" \
      --frames 1200 --rounds 3 --json "$out/cuda-render.json" >"$out/cuda-render.txt" 2>&1
    eufy-hw bench --streams 16 --fps 30 --accel cuda --accel-strict --file "$h264" \
      --frames 300 --json "$out/cuda-16x30-render.json" >"$out/cuda-16x30-render.txt" 2>&1
  fi
  # The render and memory tests on the GPU's Vulkan adapter (pack-tests). The two render
  # tests that need the ffmpeg CLI and the clip script (decoded frames, swscale) cannot run
  # there.
  if command -v render-test >/dev/null; then
    render-test --test-threads 1 \
      --skip decoded_frames_match_the_cpu_reference --skip rendering_agrees_with_swscale \
      >"$out/render-test.txt" 2>&1
    "$here/memory-test" >"$out/memory-test.txt" 2>&1
  fi
  grep -H -E "throughput|rounds|decoder |gpu |end-to-end|dropped|test result" "$out"/*.txt
}

case "${1:-}" in
  pack) pack ;;
  pack-tests) pack_tests ;;
  run) run ;;
  *) echo "usage: $0 pack | pack-tests | run" >&2; exit 2 ;;
esac
