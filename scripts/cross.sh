#!/usr/bin/env bash
# The environment for cross-building eufy-hw for arm64 on an amd64 Debian 12 (sourced by
# scripts/deb.sh and scripts/arm64.sh; ./dev.sh test installs what it names):
#   . scripts/cross.sh arm64
# Debian's arm64 FFmpeg and ALSA libraries through multiarch (libavcodec-dev:arm64 …), the
# cross C compiler and linker (gcc-aarch64-linux-gnu), Rust's aarch64 standard library
# (rustup), pkg-config pointed at the arm64 .pc files, bindgen told the target. Tests and
# programs built so run under qemu-user (qemu-aarch64-static), with the arm64 libraries
# from the same multiarch directories.
case ${1:-arm64} in
  arm64) ;;
  *) echo "cross.sh: only arm64" >&2; return 2 2>/dev/null || exit 2 ;;
esac
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_PATH=
export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--target=aarch64-linux-gnu -I/usr/include/aarch64-linux-gnu"
