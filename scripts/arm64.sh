#!/usr/bin/env bash
# The arm64 build, checked on this amd64 machine (./dev.sh test runs it): eufy-hw and its
# tests cross-built for aarch64-unknown-linux-gnu against Debian's arm64 FFmpeg (multiarch,
# scripts/cross.sh), then run under qemu-user: the library's unit tests, the bitstream and
# decode tests (frame for frame against FFmpeg, the Pi decoders falling back), and a
# headless demo through the simulator. Emulated: correctness only, no speed figure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
# shellcheck source=scripts/cross.sh
. scripts/cross.sh arm64
triple=aarch64-unknown-linux-gnu
export EUFY_CLIPS=${EUFY_CLIPS:-target/clips}
cargo test --locked --target "$triple" --lib --test bitstream --test decode
cargo build --locked --target "$triple" --bin eufy-hw
out=$(qemu-aarch64-static "target/$triple/debug/eufy-hw" demo --headless --summary json --duration 5 2>&1) \
  || { echo "$out" >&2; echo "arm64: the headless demo failed" >&2; exit 1; }
echo "$out" | grep -E 'access units' || true
decoded=$(demo_decoded "$out")
[ "${decoded:-0}" -gt 10 ] || { echo "$out" >&2; echo "arm64: the headless demo decoded ${decoded:-no} frames" >&2; exit 1; }
echo "arm64: $decoded frames decoded by the emulated headless demo"
