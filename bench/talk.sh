#!/usr/bin/env bash
# Talk back's cost on this machine: the CPU of `eufy-hw talk` (decode or capture, resample,
# AAC-LC encode, paced JSON messages) against the simulator, from a 30 s WAV and from a
# real microphone (a PulseAudio null sink's monitor with a tone played into it) for 20 s.
#
#   bench/talk.sh [RUNS]     (default 3)
#
# Uses target/release/eufy-hw (cargo build --release). Prints each run's CPU (user + system
# over wall time, one core = 100 %) and the median per source. The pacing and the
# microphone-to-server delay come from the tests: cargo test --test talk -- --nocapture.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
bin=target/release/eufy-hw
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=$work HOME=$work
ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=440:duration=30" -ar 44100 -ac 2 "$work/tone.wav"
ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=500:duration=60" "$work/mic.wav"
pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
  -L "module-null-sink sink_name=bench" -L module-native-protocol-unix >/dev/null 2>&1 &
for _ in $(seq 100); do [ -S "$work/pulse/native" ] && break; sleep 0.05; done
pactl set-default-sink bench
pactl set-default-source bench.monitor
exec {fd}< <("$bin" simulate --port 0 --kind T8410P0000000001=doorbell 2>/dev/null)
read -r url <&$fd
cpu() { # CPU % of one command
  local u s r
  TIMEFORMAT='%U %S %R'
  { time "$@" >/dev/null 2>&1; } 2>"$work/time"
  read -r u s r <"$work/time"
  python3 -c "print(f'{100 * ($u + $s) / $r:.1f}')"
}
declare -A all
for n in $(seq "$runs"); do
  f=$(cpu "$bin" talk --url "$url" --serial T8410P0000000001 --file "$work/tone.wav" --log warn)
  echo "file run $n: ${f} % of a core"
  all[file]+="$f "
  paplay "$work/mic.wav" &
  player=$!
  m=$(cpu "$bin" talk --url "$url" --serial T8410P0000000001 --mic --duration 20 --log warn)
  kill "$player" 2>/dev/null || true
  echo "mic run $n: ${m} % of a core"
  all[mic]+="$m "
done
for k in file mic; do
  python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[2:]]; print(f'{sys.argv[1]}: median {statistics.median(v):.1f} % of a core over {len(v)} runs')" "$k" ${all[$k]}
done
