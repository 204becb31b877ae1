#!/usr/bin/env bash
# Soak: the camera wall for a long time, pages rotating, events bringing cameras forward,
# the network failing on schedule, watching whether memory, CPU, threads or file descriptors
# grow.
#
#   scripts/soak.sh [SECONDS] [OUT.csv]      (default 600 s, target/soak.csv)
#
# Runs `eufy-hw demo --config packaging/wall.example.toml --stats` (5 cameras on 2 pages,
# one always on) under a private Xvfb (software Vulkan where there is no GPU): pages turn
# every 10 s, a motion, person or ring event comes every 5 s (each brings a camera forward
# for 3 s after it ends, streams starting and stopping), every connection of the simulator
# drops after 200 video events (the client reconnects), and sends a corrupted unit and a
# garbage event before that, so the decoders resynchronise and the session reconnects all
# through the run. With mosquitto installed (./dev.sh setup), the wall also talks to Home
# Assistant's side through a private broker, and a command comes every 3 s (show a camera,
# back to the wall, next page, screen off and on, mute and unmute, restart a camera, a bad
# payload). Every 10 s it records resident memory, CPU time, threads and open files of the
# process. Needs a release build (cargo build --release) and xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
out=${2:-target/soak.csv}
bin=target/release/eufy-hw
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }

. scripts/lib.sh
xvfb_start 1280x720
display=$xvfb_display
trap 'kill $xvfb_pid 2>/dev/null || true' EXIT

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
wall=packaging/wall.example.toml
mosquitto=$(command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null || true)
if [ -n "$mosquitto" ] && command -v mosquitto_pub >/dev/null; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >target/soak-mosquitto.conf
  "$mosquitto" -c target/soak-mosquitto.conf >/dev/null 2>&1 &
  broker=$!
  trap 'kill $xvfb_pid $broker 2>/dev/null || true' EXIT
  wall=target/soak-wall.toml
  cp packaging/wall.example.toml "$wall"
  printf '\n[mqtt]\nurl = "mqtt://127.0.0.1:%s"\nnode_id = "soak"\nimage_seconds = 5\n' "$port" >>"$wall"
  echo "Home Assistant's side: mosquitto on port $port, a command every 3 s"
fi
DISPLAY=$display "$bin" demo --config "$wall" --stats --duration "$secs" \
  --page-seconds 10 --events-every 5 --hold 3 \
  --fault corrupt@50 --fault garbage@120 --fault close@200 \
  --log warn,eufy_hw=info 2>target/soak.log &
pid=$!

if [ -n "${port:-}" ]; then
  (
    base=eufy_hw/soak
    i=0
    while kill -0 "$pid" 2>/dev/null; do
      case $((i % 10)) in
        0) topic=$base/show/set; msg="Front door" ;;
        1) topic=$base/show/set; msg=wall ;;
        2) topic=$base/page/next; msg=PRESS ;;
        3) topic=$base/screen/set; msg=OFF ;;
        4) topic=$base/screen/set; msg=ON ;;
        5) topic=$base/mute/set; msg=ON ;;
        6) topic=$base/mute/set; msg=OFF ;;
        7) topic=$base/camera/t8410p0000000002/restart; msg=PRESS ;;
        8) topic=$base/show/set; msg='{"camera": "Garage", "seconds": 2}' ;;
        9) topic=$base/page/set; msg="no such page" ;;
      esac
      mosquitto_pub -p "$port" -t "$topic" -m "$msg" 2>/dev/null || true
      i=$((i + 1))
      sleep 3
    done
  ) &
fi

echo "seconds,rss_kib,cpu_ticks,threads,fds" >"$out"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
  # utime + stime (fields 14 and 15), in clock ticks.
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "")
  [ -n "$rss" ] && [ -n "$ticks" ] && echo "$now,$rss,$ticks,$threads,$fds" >>"$out"
  sleep 10
done
wait "$pid"
status=$?
echo "exit status $status; samples in $out; log in target/soak.log"
# First and last third: the median RSS of each, to tell growth from noise.
python3 - "$out" <<'EOF'
import csv, statistics, sys
# The first 30 s are start-up (window, GPU, decoders).
rows = [r for r in csv.DictReader(open(sys.argv[1])) if int(r["seconds"]) >= 30]
if len(rows) < 6:
    sys.exit("too few samples")
third = len(rows) // 3
first = statistics.median(int(r["rss_kib"]) for r in rows[:third])
last = statistics.median(int(r["rss_kib"]) for r in rows[-third:])
print(f"RSS median first third {first/1024:.1f} MiB, last third {last/1024:.1f} MiB "
      f"({(last - first) / 1024:+.1f} MiB); threads {min(int(r['threads']) for r in rows)}.."
      f"{max(int(r['threads']) for r in rows)}, open files {min(int(r['fds']) for r in rows)}.."
      f"{max(int(r['fds']) for r in rows)} after the first 30 s")
# CPU: share of one core over each 10 s sample, first third against last third.
cpu = [(int(b["cpu_ticks"]) - int(a["cpu_ticks"])) / 100 / max(1, int(b["seconds"]) - int(a["seconds"]))
       for a, b in zip(rows, rows[1:])]
t = max(1, len(cpu) // 3)
print(f"CPU median first third {statistics.median(cpu[:t]):.2f} of a core, "
      f"last third {statistics.median(cpu[-t:]):.2f}")
EOF
grep -ho "[0-9]* frames shown; [0-9]* frozen picture(s) restarted" target/soak.log || true
if [ -n "${port:-}" ]; then
  echo "Home Assistant: $(grep -c 'Home Assistant: [A-Z]' target/soak.log) commands carried out, $(grep -c 'ignored a message' target/soak.log) ignored (bad payloads), $(grep -c 'Home Assistant: connected' target/soak.log) connection(s)"
fi
exit $status
