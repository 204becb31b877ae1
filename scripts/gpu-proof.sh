#!/usr/bin/env bash
# The GPU-machine proofs of issues 4, 5 and 6 in one go (see ../shared/device/README.md).
#
# Here (Debian 12, with the project built):
#   scripts/gpu-proof.sh pack
# builds the release binary and the release render/memory test binaries, and packs them
# with the 1080p clips into .device/ (../shared/device/prepare.sh).
#
# On the GPU machine (the device tool's `run`, carry [".device"]):
#   bash .device/enter.sh bash .device/gpu-proof.sh run
# writes every report into $OUT (or ./gpu-proof): NVDEC against software on the same clip
# in the same run, 16 streams at 1080p30 on NVDEC, rendering on the real GPU, and the
# render and memory tests on its Vulkan adapter.
set -uo pipefail

pack() {
  set -e
  cd "$(dirname "$0")/.."
  ./dev.sh clips >/dev/null
  cargo build --release
  # The test binaries that need only a GPU (no ffmpeg CLI, no X): colour accuracy against
  # the CPU reference, geometry, sRGB target; memory growth.
  local tests=()
  for t in render memory; do
    local exe
    exe=$(cargo test --release --test "$t" --no-run --message-format=json 2>/dev/null |
      python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -1)
    strip -o "target/$t-test" "$exe"
    tests+=("target/$t-test")
  done
  cp "$0" target/gpu-proof.sh
  ../shared/device/prepare.sh target/release/eufy-hw \
    target/clips/h264_high_1080p.h264 target/clips/h265_main_1080p.h265 \
    "${tests[@]}" target/gpu-proof.sh
}

run() {
  local here out
  here=$(cd "$(dirname "$0")" && pwd)
  out=${OUT:-gpu-proof}
  mkdir -p "$out"
  nvidia-smi -L >"$out/nvidia-smi.txt" 2>&1 || true
  local h264="$here/h264_high_1080p.h264" h265="$here/h265_main_1080p.h265"
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
  # The render and memory tests on the GPU's Vulkan adapter. The two render tests that need
  # the ffmpeg CLI and the clip script (decoded frames, swscale) cannot run there.
  [ -x "$here/render-test" ] && "$here/render-test" --test-threads 1 \
    --skip decoded_frames_match_the_cpu_reference --skip rendering_agrees_with_swscale \
    >"$out/render-test.txt" 2>&1
  [ -x "$here/memory-test" ] && "$here/memory-test" >"$out/memory-test.txt" 2>&1
  grep -H -E "throughput|rounds|decoder |gpu |end-to-end|dropped|test result" "$out"/*.txt
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: $0 pack | run" >&2; exit 2 ;;
esac
