#!/usr/bin/env bash
# eufy-hw developer entry point. The two commands a new user needs:
#
#   ./dev.sh demo    install what is missing, build, stream the bundled clip through the
#                    built-in simulator into the viewer
#   ./dev.sh test    install what is missing, make the test clips, run every check CI runs
#                    (`./dev.sh test --quick`: fmt, clippy, unit and loopback tests only)
#
# `demo` installs only what building and running need; `test` adds the test tools, the arm64
# cross toolchain and qemu-user (and runs as root: it installs the packages it builds into a
# clean Debian root). Other verbs: setup (install what `test` needs), clips DIR (only make the
# test clips), check (fmt + clippy). Everything is idempotent: a second run installs nothing
# and reuses target/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Each step's line carries the time since the start (the suite's phases, measured).
say() { printf '\033[1m==> [%dm%02ds] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

# Debian/Ubuntu packages, with what each is for. `demo` installs only what building and
# running need; `test` adds the test tools.
#  - FFmpeg development headers and libraries: ffmpeg-next links against them
#  - clang/libclang: bindgen (ffmpeg-sys-next) reads the FFmpeg headers
#  - pkg-config: finds FFmpeg
#  - mesa-vulkan-drivers: software Vulkan (lavapipe) for rendering without a GPU
#  - libvulkan1: the Vulkan loader wgpu opens at run time
#  - libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 libx11-xcb1: X11 libraries winit loads
#    at run time
#  - libasound2-dev: cpal's ALSA backend (sound) links against it
#  - x11-xserver-utils: xset, with which the kiosk keeps the screen from blanking and powers
#    it down at night
BUILD_PKGS=(pkg-config clang libclang-dev
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
      libavfilter-dev libavdevice-dev
      mesa-vulkan-drivers libvulkan1
      libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 libx11-xcb1
      libasound2-dev x11-xserver-utils)
# What the tests add:
#  - ffmpeg (CLI with libx264/libx265): makes the test clips, reference decodes in tests
#  - xvfb, xauth: a virtual X display for window tests; xdotool: keys and resizes sent to
#    the window in those tests; matchbox-window-manager: the small window manager kiosks
#    run, for the fullscreen tests with a window manager
#  - pulseaudio, pulseaudio-utils: a real sound server with a null sink for the sound tests
#    (parec captures what was played)
#  - gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad:
#    GStreamer's RTSP server (scripts/rtsp-server.py), the real RTSP server the --source tests
#    read from
#  - systemd, xinit, cage, desktop-file-utils: the tests verify the boot files in packaging/
#    (systemd-analyze verify, desktop-file-validate), run the X session script under xinit,
#    and the kiosk under cage (Wayland, headless; cage needs xwayland)
#  - mosquitto, mosquitto-clients: a real MQTT broker and its clients (mosquitto_sub,
#    mosquitto_pub) for the Home Assistant tests, started and stopped by the tests; openssl:
#    the certificates of its TLS listener in the mqtts:// test
#  - xserver-xorg-core, xserver-xorg-video-dummy: an X server with two monitors (Xorg's
#    dummy driver, its second output turned on with xrandr) for the several-monitor test;
#    Xvfb has one screen and no RandR outputs
#  - dpkg-dev (dpkg-shlibdeps), debootstrap: the .deb packages are built (scripts/deb.sh),
#    then installed and run in a clean Debian 12 root (scripts/check-deb.sh)
#  - gcc-aarch64-linux-gnu, qemu-user-static, and the arm64 FFmpeg and ALSA libraries
#    (multiarch, ARM64_PKGS): the arm64 cross build and its tests under qemu (scripts/arm64.sh)
TEST_PKGS=(ffmpeg
      xvfb xauth xdotool matchbox-window-manager systemd xinit cage xwayland desktop-file-utils
      pulseaudio pulseaudio-utils
      gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      mosquitto mosquitto-clients openssl
      xserver-xorg-core xserver-xorg-video-dummy
      dpkg-dev debootstrap gcc-aarch64-linux-gnu qemu-user-static)
ARM64_PKGS=(libc6-dev:arm64 libavcodec-dev:arm64 libavformat-dev:arm64 libavutil-dev:arm64
      libswscale-dev:arm64 libswresample-dev:arm64 libavfilter-dev:arm64 libavdevice-dev:arm64
      libasound2-dev:arm64)

# Installs the packages named that are missing.
setup() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing missing system packages: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
      sudo="sudo"
    fi
    if ! command -v apt-get >/dev/null; then
      echo "this script installs with apt-get (Debian 12 / Ubuntu 24.04); install these by hand: ${missing[*]}" >&2
      exit 1
    fi
    if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! dpkg --print-foreign-architectures | grep -qx arm64; then
      $sudo dpkg --add-architecture arm64
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "system packages installed"
  else
    say "system packages: all present"
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs), then run this again" >&2; exit 1; }
}

# What the tests need besides the packages: Rust's standard library for arm64.
test_setup() {
  setup "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${ARM64_PKGS[@]}"
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    say "adding Rust's aarch64-unknown-linux-gnu standard library (rustup)"
    rustup target add aarch64-unknown-linux-gnu
  fi
}

clips() {
  local dir=${1:-target/clips}
  scripts/make-clips.sh "$dir"
}

case "${1:-}" in
  setup) test_setup ;;
  clips) setup "${BUILD_PKGS[@]}" ffmpeg; clips "${2:-}" ;;
  demo)
    setup "${BUILD_PKGS[@]}"
    say "building eufy-hw (release; the first build takes a few minutes)"
    cargo build --release --locked
    say "running the demo: simulator -> WebSocket -> access units -> decoder -> window"
    shift; exec target/release/eufy-hw demo "$@" ;;
  check)
    setup "${BUILD_PKGS[@]}"
    say "cargo fmt --check"; cargo fmt --all -- --check
    say "cargo clippy -D warnings"; cargo clippy --locked --all-targets -- -D warnings ;;
  test)
    if [ "${2:-}" = --quick ]; then
      # The edit-test loop: no display, broker, sound server, qemu or package root; only the
      # packages `demo` installs (and FFmpeg's command line for the clips). CI runs it all.
      setup "${BUILD_PKGS[@]}" ffmpeg
      say "making test clips (cached in target/clips)"
      clips target/clips
      say "cargo fmt --check"; cargo fmt --all -- --check
      say "cargo clippy -D warnings"; cargo clippy --locked --all-targets -- -D warnings
      say "quick tests: unit tests, the parsers, decoding, sessions and simulators on loopback"
      EUFY_CLIPS=target/clips cargo test --locked --lib --test architecture --test bitstream \
        --test decode --test session --test simulator --test bridge --test ptz --test record
      say "quick checks passed"
      exit 0
    fi
    test_setup
    say "making test clips (cached in target/clips)"
    clips target/clips
    say "cargo fmt --check"; cargo fmt --all -- --check
    say "cargo clippy -D warnings"; cargo clippy --locked --all-targets -- -D warnings
    # Vulkan WSI and winit look for a runtime dir; CI shells may not have one.
    export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
    export EUFY_CLIPS=target/clips
    say "cargo test --no-run: every test program (debug)"
    built=$(cargo test --locked --all-targets --no-run --message-format=json)
    # The window tests (real windows under Xvfb, two at a time: ~4 minutes, mostly waiting on
    # streams and screens) run beside everything else: the other tests, the arm64 build under qemu and
    # the packages. Their output is shown when they end.
    window=$(printf '%s\n' "$built" | grep '"name":"window","src_path"' \
      | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
    [ -x "$window" ] || { echo "dev.sh: no window test program in cargo's output" >&2; exit 1; }
    say "window tests under Xvfb (GPU tests on the first wgpu adapter, Mesa's software Vulkan"
    say "without a GPU), beside the rest; output in target/window-tests.log"
    "$window" > target/window-tests.log 2>&1 &
    window_pid=$!
    trap 'kill "$window_pid" 2>/dev/null || true' EXIT
    others=(--lib --bins --benches)
    for t in tests/*.rs; do
      [ "$(basename "$t" .rs)" = window ] || others+=(--test "$(basename "$t" .rs)")
    done
    say "cargo test: every other test program"
    cargo test --locked "${others[@]}"
    say "arm64: cross-built, the decode tests and a headless demo under qemu-user"
    scripts/arm64.sh
    # The debug builds just tested, stripped: the packaging is what is checked here (the
    # packages to ship are `scripts/deb.sh ARCH`, the dist profile's LTO build).
    say "packages: .deb for amd64 and arm64 (of the debug builds), installed and run in a clean Debian 12"
    amd64_deb=$(scripts/deb.sh amd64 dev | tail -1)
    arm64_deb=$(scripts/deb.sh arm64 dev | tail -1)
    ls -l "$amd64_deb" "$arm64_deb"
    scripts/check-deb.sh "$amd64_deb" "$arm64_deb"
    say "waiting for the window tests"
    window_rc=0
    wait "$window_pid" || window_rc=$?
    trap - EXIT
    cat target/window-tests.log
    [ "$window_rc" -eq 0 ] || { echo "dev.sh: the window tests failed (target/window-tests.log)" >&2; exit 1; }
    say "every check passed" ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
