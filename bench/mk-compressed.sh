#!/usr/bin/env bash
# Compressed qcow2 twins for the issue-22 benchmarks, built with real tools into bench/build/
# (not committed): for each guest fixture IMG, IMG-c.qcow2 (`qemu-img convert -c`, what cloud
# images are) beside IMG-u.qcow2 (`qemu-img convert`, uncompressed); and host-usr-c.qcow2, an
# ext4 filesystem of this host's /usr/bin (real binaries and scripts) compressed, whose clusters
# bench/inflate.sh measures the deflate crates on.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/build
mkdir -p "$out"
for src in fixtures/build/guest-ubuntu.qcow2 fixtures/build/guest-el9.qcow2 fixtures/demo.qcow2; do
  img=$(basename "$src")
  [ -e "$src" ] || { echo "skip $src (run fixtures/build.sh)"; continue; }
  base=${img%.qcow2}
  [ -e "$out/$base-c.qcow2" ] || qemu-img convert -c -O qcow2 "$src" "$out/$base-c.qcow2"
  [ -e "$out/$base-u.qcow2" ] || qemu-img convert -O qcow2 "$src" "$out/$base-u.qcow2"
done
if [ ! -e "$out/host-usr-c.qcow2" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  truncate -s 1G "$tmp/fs.img"
  mkfs.ext4 -q -F -d /usr/bin "$tmp/fs.img"
  qemu-img convert -c -f raw -O qcow2 "$tmp/fs.img" "$out/host-usr-c.qcow2"
fi
ls -l "$out"
