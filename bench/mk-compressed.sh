#!/usr/bin/env bash
# Compressed qcow2 twins for the issue-22 benchmarks, built with real tools into bench/build/
# (not committed): for each guest fixture IMG, IMG-c.qcow2 (`qemu-img convert -c`, what cloud
# images are) beside IMG-u.qcow2 (`qemu-img convert`, uncompressed); cloud-ubuntu-{c,u}.qcow2,
# a cloud-image-sized guest (2 GiB disk: GPT, ESP, ext4 root with the Ubuntu fixture tree and
# this host's /usr/bin, ~340 MiB of real binaries); and host-usr-c.qcow2, an ext4 filesystem
# of /usr/bin alone, compressed, whose clusters bench/inflate.sh measures the deflate crates on.
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
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ ! -e "$out/cloud-ubuntu-c.qcow2" ]; then
  export E2FSPROGS_FAKE_TIME=1700000000
  t=$tmp/tree; cp -a fixtures/trees/ubuntu "$t"
  mkdir -p "$t"/{dev,proc,sys,run,tmp,root,var/tmp,boot/efi}
  cp -a /usr/bin "$t/usr/"; [ -e "$t/bin" ] || ln -s usr/bin "$t/bin"
  img=$tmp/cloud.raw; truncate -s 2G "$img"
  sgdisk -o -n 1:2048:+16M -t 1:EF00 -n 2:0:0 -t 2:8300 "$img" >/dev/null
  truncate -s 16M "$tmp/esp"; mkfs.vfat -F 16 -i 5A1B2C3D -n UEFI "$tmp/esp" >/dev/null
  dd if="$tmp/esp" of="$img" bs=512 seek=2048 conv=notrunc,sparse status=none
  root_start=$((2048 + 32768)); root_mib=$(( ($(stat -c %s "$img") / 512 - root_start - 34) * 512 / 1048576 ))
  truncate -s "${root_mib}M" "$tmp/root"
  mkfs.ext4 -q -F -L cloudimg-rootfs -d "$t" "$tmp/root"
  dd if="$tmp/root" of="$img" bs=512 seek=$root_start conv=notrunc,sparse status=none
  qemu-img convert -c -f raw -O qcow2 "$img" "$out/cloud-ubuntu-c.qcow2"
  qemu-img convert -f raw -O qcow2 "$img" "$out/cloud-ubuntu-u.qcow2"
  rm -rf "$t" "$img" "$tmp/root" "$tmp/esp"
fi
if [ ! -e "$out/host-usr-c.qcow2" ]; then
  truncate -s 1G "$tmp/fs.img"
  mkfs.ext4 -q -F -d /usr/bin "$tmp/fs.img"
  qemu-img convert -c -f raw -O qcow2 "$tmp/fs.img" "$out/host-usr-c.qcow2"
fi
ls -l "$out"
