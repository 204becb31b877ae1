#!/usr/bin/env bash
# What showing 1080p15 cameras costs on this machine, side by side in one run, against the
# same simulated eufy-security-ws (its own CPU not counted):
#
#   1. CPU per frame: the Python approach done right (bench/python_reference.py: PyAV decode,
#      bgr24 by libswscale, no display) against `eufy-hw bench` rendering into a 1920x1080
#      target with each colour path (the shader, libswscale);
#   2. cores used for 30 s on a 1920x1080 X server (Xvfb, llvmpipe): one camera full-screen
#      in the eufy-hw kiosk against `eufy-hw record -o - | mpv --profile=low-latency --vo=x11
#      --fs -`, and four cameras in the kiosk.
#
#   bench/colour.sh [SECONDS]      (after ./dev.sh setup and clips; installs mpv, and PyAV,
#                                   numpy and websocket-client into target/bench-venv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-30}
frames=$((secs * 15 / 2))
clips=${EUFY_CLIPS:-target/clips}
clip=$clips/h264_high_1080p.h264
bin=$PWD/target/release/eufy-hw
export RUST_LOG=warn

cargo build --release --locked --quiet
if ! command -v mpv >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq --no-install-recommends mpv >/dev/null
fi
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import av, numpy, websocket' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q av numpy websocket-client
fi

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
# Four 1080p15 cameras.
"$bin" simulate --port 0 --fps 15 --camera "T1=$clip" --camera "T2=$clip" --camera "T3=$clip" \
  --camera "T4=$clip" >target/colour-sim.url 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s target/colour-sim.url ] && break; sleep 0.1; done
url=$(head -1 target/colour-sim.url)

# CPU seconds (user + system) of a command and everything it started.
cpu_of() {
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.2f}")' "$@"
}

echo "== CPU per frame, one 1080p15 stream, $frames frames"
py=$("$venv/bin/python" bench/python_reference.py "$url" T1 "$frames" | python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["cpu_ms_per_frame"])')
echo "python reference (PyAV + bgr24)            $py ms"
for colour in gpu cpu; do
  "$bin" bench --url "$url" --serial T1 --frames "$frames" --size 1920x1080 --accel none \
    --colour "$colour" --json "target/colour-$colour.json" >/dev/null 2>&1
  python3 - "$colour" "target/colour-$colour.json" "$py" <<'EOF'
import json, sys
colour, path, py = sys.argv[1], sys.argv[2], float(sys.argv[3])
r = json.load(open(path))
s = r["render_split_ms"] or {}
render = r["latency_ms"]["render"]["p50"]
print(f"eufy-hw bench --colour {colour:<4} into 1920x1080  {r['cpu_ms_per_frame']:.2f} ms"
      f"  ({r['cpu_ms_per_frame'] / py:.2f}x python; render p50 {render:.2f} ms:"
      f" convert {s.get('convert', 0):.2f}, submit {s.get('submit', 0):.2f},"
      f" GPU {s.get('wait') or 0:.2f}; decoder {r['cpu_ms_per_frame_by_part']['decoder']:.2f})")
EOF
done

echo "== cores used over $secs s on a 1920x1080 X server (llvmpipe)"
. scripts/lib.sh
xvfb_start 1920x1080
display=$xvfb_display
pids+=("$xvfb_pid")
export DISPLAY=$display
cores() { python3 -c "print(f'{$1 / $secs:.3f}')"; }
c=$(cpu_of "$bin" --url "$url" --serial T1 --kiosk --no-audio --duration "$secs")
echo "eufy-hw kiosk, 1 camera full-screen          $(cores "$c") of a core"
c=$(cpu_of bash -c "'$bin' record --url '$url' --serial T1 --duration $secs -o - | mpv --profile=low-latency --vo=x11 --fs --no-audio --really-quiet -")
echo "eufy-hw record | mpv --vo=x11 --fs           $(cores "$c") of a core"
c=$(cpu_of "$bin" --url "$url" --serial T1 --serial T2 --serial T3 --serial T4 --kiosk --no-audio --duration "$secs")
echo "eufy-hw kiosk, 4 cameras                     $(cores "$c") of a core"
