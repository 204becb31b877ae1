#!/usr/bin/env bash
# Builds the Debian package: target/deb/eufy-hw_VERSION_ARCH.deb, for amd64 or arm64 (the
# arm64 one cross-built, see scripts/cross.sh), from the `dist` profile (LTO, stripped).
#
#   scripts/deb.sh [amd64|arm64] [PROFILE]   (default: this machine's architecture, dist)
#
# PROFILE `dev` packages the debug build that `cargo test` and scripts/arm64.sh have already
# made (stripped, gzip): what `./dev.sh test` checks, so that a change in src/ does not pay
# for two whole-program LTO builds to test the packaging. Packages to ship are `dist`.
#
# The package holds the program (/usr/bin/eufy-hw), the boot files of packaging/ with their
# paths made the package's (the X session in /usr/share/eufy-hw, the system units in
# /lib/systemd/system, not enabled: they need User= set; the desktop unit in
# /usr/lib/systemd/user), the autostart entry and the example wall file. Its dependencies
# are the run-time ones only: the shared libraries the program links (dpkg-shlibdeps:
# FFmpeg's, ALSA, libc) and those it opens at run time (the Vulkan loader and Mesa's
# drivers, the X11 and Wayland client libraries).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch=${1:-$(dpkg --print-architecture)}
profile=${2:-dist}
# cargo's folder for the profile: `dev` builds into debug/.
dir=$profile; [ "$profile" = dev ] && dir=debug
case $arch in
  amd64) triple=x86_64-unknown-linux-gnu ;;
  arm64) triple=aarch64-unknown-linux-gnu ;;
  *) echo "unknown architecture $arch: amd64 or arm64" >&2; exit 2 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  cargo build --locked --profile "$profile" --bin eufy-hw
  bin=target/$dir/eufy-hw
  strip_with=strip
else
  # shellcheck source=scripts/cross.sh
  . scripts/cross.sh "$arch"
  cargo build --locked --profile "$profile" --bin eufy-hw --target "$triple"
  bin=target/$triple/$dir/eufy-hw
  strip_with=aarch64-linux-gnu-strip
fi

out=target/deb
root=$out/eufy-hw_${arch}
rm -rf "$root"
mkdir -p "$root/DEBIAN"
install -D -m 755 "$bin" "$root/usr/bin/eufy-hw"
# `dist` strips itself; the others' debug information is not for a package.
[ "$profile" = dist ] || "$strip_with" "$root/usr/bin/eufy-hw"
# The packaged paths instead of the hand-installed ones (/usr/local).
packaged() { sed -e 's|/usr/local/bin/eufy-hw|/usr/bin/eufy-hw|g' -e 's|/usr/local/share/eufy-hw|/usr/share/eufy-hw|g' "$1"; }
install -d "$root/usr/share/eufy-hw" "$root/lib/systemd/system" "$root/usr/lib/systemd/user" \
  "$root/usr/share/doc/eufy-hw/examples"
packaged packaging/eufy-hw-xsession > "$root/usr/share/eufy-hw/eufy-hw-xsession"
chmod 755 "$root/usr/share/eufy-hw/eufy-hw-xsession"
for unit in eufy-hw-kiosk eufy-hw-cage; do
  packaged "packaging/$unit.service" > "$root/lib/systemd/system/$unit.service"
done
packaged packaging/eufy-hw.service > "$root/usr/lib/systemd/user/eufy-hw.service"
install -m 644 packaging/eufy-hw.desktop "$root/usr/share/eufy-hw/eufy-hw.desktop"
install -m 644 packaging/wall.example.toml "$root/usr/share/doc/eufy-hw/examples/wall.toml"
cat > "$root/usr/share/doc/eufy-hw/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: eufy-hw
License: MIT or Apache-2.0
EOF
chmod -R u=rwX,go=rX "$root/usr" "$root/lib"

# The linked libraries, as Debian names them (dpkg-shlibdeps wants a debian/control).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: eufy-hw\n\nPackage: eufy-hw\nArchitecture: any\n' > "$work/debian/control"
abs_bin=$(realpath "$root/usr/bin/eufy-hw")
linked=$(cd "$work" && DEB_HOST_ARCH=$arch DEB_HOST_MULTIARCH=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null) \
  dpkg-shlibdeps -O "$abs_bin" 2>"$work/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p')
[ -n "$linked" ] || { cat "$work/shlibdeps.log" >&2; echo "dpkg-shlibdeps found no dependencies for $bin" >&2; exit 1; }
# Opened at run time (dlopen), so invisible to dpkg-shlibdeps: wgpu's Vulkan loader and
# Mesa's drivers (lavapipe where there is no GPU driver), winit's X11 and Wayland libraries.
opened="libvulkan1, mesa-vulkan-drivers, libx11-6, libx11-xcb1, libxcursor1, libxi6, libxrandr2, libxkbcommon0, libxkbcommon-x11-0, libwayland-client0, libwayland-cursor0"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: eufy-hw
Version: $version
Architecture: $arch
Maintainer: eufy-hw developers <eufy-hw@localhost>
Installed-Size: $size
Depends: $linked, $opened
Recommends: x11-xserver-utils
Suggests: xserver-xorg, xinit, cage
Section: video
Priority: optional
Description: live viewer for Eufy security cameras
 Shows the cameras that eufy-security-ws streams: hardware video decoding
 (VA-API, NVDEC, V4L2 on a Raspberry Pi) with software fallback, colour
 conversion on the GPU, a fullscreen kiosk wall of pages, events that bring
 their camera forward, Home Assistant control over MQTT, and publishing to
 RTSP servers. "eufy-hw demo" runs it against a built-in simulator.
EOF
mkdir -p "$out"
deb=$out/eufy-hw_${version}_${arch}.deb
# xz for packages to ship; a quick gzip for the others (only the tests install them).
compress=(-Zxz); [ "$profile" = dist ] || compress=(-Zgzip -z1)
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$deb" >/dev/null
echo "$deb"
