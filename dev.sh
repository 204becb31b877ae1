#!/usr/bin/env bash
# eufy-hw developer entry point. The two commands a new user needs:
#
#   ./dev.sh demo    install what is missing, build, stream the bundled clip through the
#                    built-in simulator into the viewer
#   ./dev.sh test    install what is missing, make the test clips, run every check CI runs
#
# Other verbs: setup (only install), clips DIR (only make the test clips), check (fmt +
# clippy). Everything is idempotent: a second run installs nothing and reuses target/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian/Ubuntu packages, with what each is for.
#  - FFmpeg development headers and libraries: ffmpeg-next links against them
#  - clang/libclang: bindgen (ffmpeg-sys-next) reads the FFmpeg headers
#  - pkg-config: finds FFmpeg
#  - ffmpeg (CLI with libx264/libx265): makes the test clips, reference decodes in tests
#  - mesa-vulkan-drivers: software Vulkan (lavapipe) for rendering without a GPU
#  - libvulkan1: the Vulkan loader wgpu opens at run time
#  - libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 libx11-xcb1: X11 libraries winit loads
#    at run time
#  - xvfb, xauth: a virtual X display for window tests; xdotool: keys and resizes sent to
#    the window in those tests; matchbox-window-manager: the small window manager kiosks
#    run, for the fullscreen tests with a window manager; x11-xserver-utils: xset, with which
#    the kiosk keeps the screen from blanking (and the tests read the screensaver settings)
#  - libasound2-dev: cpal's ALSA backend (sound) links against it; pulseaudio,
#    pulseaudio-utils: a real sound server with a null sink for the sound tests (parec
#    captures what was played)
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
PKGS=(pkg-config clang libclang-dev
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
      libavfilter-dev libavdevice-dev ffmpeg
      mesa-vulkan-drivers libvulkan1
      libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 libx11-xcb1
      xvfb xauth xdotool matchbox-window-manager x11-xserver-utils systemd xinit cage xwayland desktop-file-utils
      libasound2-dev pulseaudio pulseaudio-utils
      gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      mosquitto mosquitto-clients openssl
      xserver-xorg-core xserver-xorg-video-dummy)

setup() {
  local missing=()
  for p in "${PKGS[@]}"; do
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
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "system packages installed"
  else
    say "system packages: all present"
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs), then run this again" >&2; exit 1; }
}

clips() {
  local dir=${1:-target/clips}
  scripts/make-clips.sh "$dir"
}

case "${1:-}" in
  setup) setup ;;
  clips) setup; clips "${2:-}" ;;
  demo)
    setup
    say "building eufy-hw (release; the first build takes a few minutes)"
    cargo build --release --locked
    say "running the demo: simulator -> WebSocket -> access units -> decoder -> window"
    shift; exec target/release/eufy-hw demo "$@" ;;
  check)
    setup
    say "cargo fmt --check"; cargo fmt --all -- --check
    say "cargo clippy -D warnings"; cargo clippy --locked --all-targets -- -D warnings ;;
  test)
    setup
    say "making test clips (cached in target/clips)"
    clips target/clips
    say "cargo fmt --check"; cargo fmt --all -- --check
    say "cargo clippy -D warnings"; cargo clippy --locked --all-targets -- -D warnings
    say "cargo test (GPU tests on the first wgpu adapter, Mesa's software Vulkan without a GPU;"
    say "window tests under Xvfb)"
    # Vulkan WSI and winit look for a runtime dir; CI shells may not have one.
    export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
    EUFY_CLIPS=target/clips cargo test --locked --all-targets ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
