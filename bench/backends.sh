#!/usr/bin/env bash
# eufy-security-ws against the Eufy Mega bridge, the same clip through each simulated server
# into `eufy-hw bench --url`, alternated (bridge, ws, ws, bridge) on one machine: frames per
# second, arrival→rendered latency and the time from launch to the first frame, per run.
#
#   bench/backends.sh [CLIP] [FRAMES]     (default: target/clips/h264_high_1080p.h264, 300)
#
# Uses target/release/eufy-hw (cargo build --release). Prints one line per run and the
# medians per backend; the JSON reports stay in target/bench-backends/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
clip=${1:-target/clips/h264_high_1080p.h264}
frames=${2:-300}
bin=target/release/eufy-hw
out=target/bench-backends
mkdir -p "$out"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
run() {
  local backend=$1 n=$2 sim url
  exec {fd}< <("$bin" simulate --backend "$backend" --port 0 --camera "T1=$clip" 2>/dev/null)
  sim=$!
  read -r url <&$fd
  "$bin" bench --url "$url" --serial T1 --frames "$frames" --accel none \
    --json "$out/$backend-$n.json" --log warn >/dev/null
  kill "$sim" 2>/dev/null || true
  wait "$sim" 2>/dev/null || true
  python3 - "$out/$backend-$n.json" "$backend" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e2e = r["latency_ms"]["end_to_end"]
print(f"{sys.argv[2]:<6} fps {r['fps']:.1f}  first frame {r['first_frame_ms']:.0f} ms  "
      f"arrival->rendered p50 {e2e['p50']:.1f} ms p95 {e2e['p95']:.1f} ms  "
      f"client CPU {r['cpu_ms_per_frame_by_part']['client']:.2f} ms/frame  "
      f"whole CPU {r['cpu_ms_per_frame']:.1f} ms/frame")
PY
}
for step in bridge:1 ws:1 ws:2 bridge:2; do
  run "${step%:*}" "${step#*:}"
done
