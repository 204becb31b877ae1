#!/usr/bin/env bash
# Two builds of eufy-hw side by side in one run, for a change that must not slow anything
# down (the machines are noisy: only figures taken together compare):
#
#   1. `bench --unpaced --no-render --rounds 3` on 1080p H.264: pipeline/baseline ratio;
#   2. `bench --colour cpu` into 1920x1080 from an external simulator (its CPU not counted):
#      CPU per frame and render p50, the CPU colour path;
#   3. cores used for SECONDS on a 1920x1080 Xvfb: the kiosk with 1 and 4 cameras (1080p15),
#      and with 16 (720p15: sixteen 1080p streams are more than 2 cores decode in software).
#
#   bench/compare.sh BEFORE_BIN AFTER_BIN [SECONDS]
#
# e.g. `git worktree add /tmp/before HEAD~1 && (cd /tmp/before && CARGO_TARGET_DIR=$PWD/target
# cargo build --release) && cp target/release/eufy-hw /tmp/eufy-hw-before`, then this with
# target/release/eufy-hw as AFTER. Each figure is taken for BEFORE, AFTER, AFTER, BEFORE and
# both pairs printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
before=$(realpath "$1")
after=$(realpath "$2")
secs=${3:-20}
clips=${EUFY_CLIPS:-target/clips}
clip=$clips/h264_high_1080p.h264
export RUST_LOG=warn
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$3"; }

ratio() {
  "$1" bench --unpaced --no-render --file "$clip" --frames 300 --rounds 3 --json "$tmp/r.json" >/dev/null 2>&1
  json "" "'ratio %.3f (rounds %s)' % (r['ratio'], ', '.join('%.2f' % x['ratio'] for x in r['rounds']))" "$tmp/r.json"
}

"$after" simulate --port 0 --fps 15 --camera "T1=$clip" --camera "T2=$clip" --camera "T3=$clip" \
  --camera "T4=$clip" >"$tmp/sim.url" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/sim.url" ] && break; sleep 0.1; done
url=$(head -1 "$tmp/sim.url")
# Sixteen 720p cameras on a second simulator.
sixteen=()
for i in $(seq 16); do sixteen+=(--camera "S$i=$clips/h264_baseline_720p.h264"); done
"$after" simulate --port 0 --fps 15 "${sixteen[@]}" >"$tmp/sim16.url" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/sim16.url" ] && break; sleep 0.1; done
url16=$(head -1 "$tmp/sim16.url")

cpu_path() {
  "$1" bench --url "$url" --serial T1 --frames $((secs * 15 / 2)) --size 1920x1080 --accel none \
    --colour cpu --json "$tmp/c.json" >/dev/null 2>&1
  json "" "'cpu %.2f ms per frame, render p50 %.2f ms' % (r['cpu_ms_per_frame'], r['latency_ms']['render']['p50'])" "$tmp/c.json"
}

. scripts/lib.sh
xvfb_start 1920x1080
display=$xvfb_display
pids+=("$xvfb_pid")
cores() {
  local bin=$1; shift
  DISPLAY=$display python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f of a core" % ((r.ru_utime + r.ru_stime) / float(sys.argv[1])))' "$secs" \
    "$bin" --url "${URL:-$url}" "$@" --kiosk --no-audio --duration "$secs"
}
serials16=()
for i in $(seq 16); do serials16+=(--serial "S$i"); done

for what in ratio cpu_path kiosk1 kiosk4 kiosk16; do
  for pass in 1 2; do
    if [ $pass = 1 ]; then order="before after"; else order="after before"; fi
    for which in $order; do
      if [ $which = before ]; then bin=$before; else bin=$after; fi
      case $what in
        ratio) out=$(ratio "$bin") ;;
        cpu_path) out=$(cpu_path "$bin") ;;
        kiosk1) out=$(cores "$bin" --serial T1) ;;
        kiosk4) out=$(cores "$bin" --serial T1 --serial T2 --serial T3 --serial T4) ;;
        kiosk16) out=$(URL=$url16 cores "$bin" "${serials16[@]}") ;;
      esac
      printf '%-9s %-7s %s\n' "$what" "$which" "$out"
    done
  done
done
