#!/usr/bin/env bash
# Helpers the scripts share (sourced: `. scripts/lib.sh`).

# xvfb_start WIDTHxHEIGHT: starts an Xvfb screen on a free display number and waits for its
# socket; sets xvfb_display (":N") and xvfb_pid (the caller kills it when done).
xvfb_start() {
  local size=$1 n
  xvfb_display="" xvfb_pid=""
  for n in $(seq 200 299); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then xvfb_display=":$n"; break; fi
  done
  [ -n "$xvfb_display" ] || { echo "no free X display number" >&2; return 1; }
  # -noreset: a client that connects while the server resets (its last client left) can be
  # refused.
  Xvfb "$xvfb_display" -screen 0 "${size}x24" -nolisten tcp -noreset >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 100); do
    [ -e "/tmp/.X11-unix/X${xvfb_display#:}" ] && return 0
    kill -0 "$xvfb_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "Xvfb $xvfb_display did not start" >&2
  return 1
}

# demo_decoded OUTPUT: the frames decoded, from a headless demo's `--summary json` line
# ({"frames": N, "cameras": {...}}), or nothing.
demo_decoded() {
  printf '%s\n' "$1" | sed -n 's/^{.*"frames":\([0-9]*\)[,}].*/\1/p' | tail -1
}
