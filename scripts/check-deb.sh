#!/usr/bin/env bash
# Installs the packages into a clean Debian 12 and runs them there (./dev.sh test runs it;
# root, for debootstrap and chroot):
#
#   scripts/check-deb.sh target/deb/eufy-hw_0.1.0_amd64.deb [target/deb/eufy-hw_0.1.0_arm64.deb]
#
# A minimal Debian 12 (debootstrap --variant=minbase) in target/deb/clean, made afresh (from
# a tar of debootstrap's result kept for a week in target/deb); the
# amd64 package installed with apt from Debian's archive alone (so its Depends are complete
# and resolvable); then, inside it:
#  - `eufy-hw demo --headless` decodes the simulated camera;
#  - `eufy-hw demo` opens its window on an Xvfb screen of this machine (its socket bound
#    into the chroot) with the chroot's own Vulkan loader, Mesa (lavapipe) and X libraries,
#    which only the package's dependencies brought: frames shown, a clean end;
#  - the packaged boot files name the packaged paths.
# The arm64 package, when given, is checked by apt's resolver in the same root (arm64 added
# as a foreign architecture: every dependency resolvable from the archive); it is not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
deb=${1:?usage: scripts/check-deb.sh AMD64.deb [ARM64.deb]}
arm=${2:-}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$PWD/target/deb/clean
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { echo "check-deb: $*" >&2; exit 1; }

xvfb_pid=""
cleanup() {
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  for m in tmp/.X11-unix proc; do
    mountpoint -q "$root/$m" 2>/dev/null && umount "$root/$m" || true
  done
}
trap cleanup EXIT
cleanup
rm -rf "$root"

# debootstrap's root is kept as a tar (a week, per mirror) and unpacked afresh each run: the
# root is as clean, without a minute of downloads every time.
cache=$PWD/target/deb/bookworm-minbase.tar
if [ -f "$cache" ] && [ "$(cat "$cache.mirror" 2>/dev/null)" = "$mirror" ] \
    && [ -z "$(find "$cache" -mtime +7)" ]; then
  say "a clean Debian 12 (debootstrap minbase of $(date -r "$cache" +%F), unpacked from $cache)"
  mkdir -p "$root"
  tar -C "$root" -xf "$cache"
else
  say "a clean Debian 12 (debootstrap minbase)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; fail "debootstrap failed"; }
  tar -C "$root" -cf "$cache.part" . && mv "$cache.part" "$cache" && echo "$mirror" > "$cache.mirror"
fi
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
mount -t proc proc "$root/proc"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

say "apt install $(basename "$deb") (dependencies from Debian's archive only)"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" > "$root.install.log" 2>&1 \
  || { tail -20 "$root.install.log" >&2; fail "the package did not install"; }
in_root eufy-hw --version

say "eufy-hw demo --headless, in the clean root"
out=$(in_root eufy-hw demo --headless --summary json --duration 4 2>&1) || { echo "$out" >&2; fail "headless demo failed"; }
decoded=$(demo_decoded "$out")
[ "${decoded:-0}" -gt 10 ] || { echo "$out" >&2; fail "headless demo decoded ${decoded:-no} frames"; }
echo "headless: $decoded frames decoded"

say "eufy-hw demo in a window (Xvfb of this machine; Vulkan, Mesa and X from the package's dependencies)"
xvfb_start 1280x720 || fail "no X screen for the window demo"
mkdir -p "$root/tmp/.X11-unix"
mount --bind /tmp/.X11-unix "$root/tmp/.X11-unix"
in_root mkdir -p -m 700 /tmp/xdg
out=$(in_root env DISPLAY="$xvfb_display" XDG_RUNTIME_DIR=/tmp/xdg HOME=/root RUST_LOG=info \
  eufy-hw demo --no-audio --duration 5 2>&1) || { echo "$out" | tail -20 >&2; fail "window demo failed"; }
shown=$(echo "$out" | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/.* \([0-9]*\) frames shown.*/\1/p' | tail -1)
[ "${shown:-0}" -gt 10 ] || { echo "$out" | tail -20 >&2; fail "the window showed ${shown:-no} frames"; }
echo "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 -o 'adapter[^,]*' || true
echo "window: $shown frames shown"

say "packaged boot files"
for f in lib/systemd/system/eufy-hw-kiosk.service lib/systemd/system/eufy-hw-cage.service \
         usr/lib/systemd/user/eufy-hw.service usr/share/eufy-hw/eufy-hw-xsession; do
  [ -f "$root/$f" ] || fail "$f not installed"
  ! grep -v '^#' "$root/$f" | grep -q /usr/local || fail "$f still runs something in /usr/local"
done
[ -x "$root/usr/share/eufy-hw/eufy-hw-xsession" ] || fail "the X session is not executable"
[ -f "$root/usr/share/doc/eufy-hw/examples/wall.toml" ] || fail "no example wall file"

if [ -n "$arm" ]; then
  say "$(basename "$arm"): dependencies resolvable for arm64"
  cp "$arm" "$root/tmp/"
  in_root dpkg --add-architecture arm64
  in_root apt-get update -qq
  in_root apt-get install -s -qq --no-install-recommends "/tmp/$(basename "$arm")" > "$root.arm64.log" 2>&1 \
    || { tail -20 "$root.arm64.log" >&2; fail "the arm64 package's dependencies do not resolve"; }
  grep -q '^Inst eufy-hw:arm64' "$root.arm64.log" || { tail -5 "$root.arm64.log" >&2; fail "apt would not install the arm64 package"; }
  echo "arm64: $(grep -c '^Inst' "$root.arm64.log") packages would be installed, eufy-hw:arm64 among them"
fi
say "packages checked"
