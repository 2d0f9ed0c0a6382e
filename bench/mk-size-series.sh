#!/usr/bin/env bash
# Guests of growing disk size and file count for the issue-22 flatness series, built with real
# tools into bench/build/size/ (not committed): a GPT disk (ESP + ext4 root holding the Ubuntu
# fixture tree and two of this host's binaries) of VSIZE virtual bytes, with NFILES small files (1000 per directory, under
# /srv/data) added through the kernel on a loop mount, shipped as a compressed qcow2 as cloud
# images are. The series: 2, 20 and 200 GiB with 10^3 files; 20 GiB with 10^5 and 10^6 files.
# Needs root (losetup, mount), sgdisk, mkfs.ext4, mkfs.vfat, qemu-img, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/build/size
mkdir -p "$out"
export E2FSPROGS_FAKE_TIME=1700000000
build() { # NAME VSIZE NFILES
  local name=$1 vsize=$2 nfiles=$3 dst="$out/$1.qcow2"
  [ -e "$dst" ] && return
  local tmp; tmp=$(mktemp -d)
  local img=$tmp/disk.raw loop="" mnt=$tmp/mnt
  truncate -s "$vsize" "$img"
  sgdisk -o -n 1:2048:+16M -t 1:EF00 -n 2:0:0 -t 2:8300 "$img" >/dev/null
  truncate -s 16M "$tmp/esp"; mkfs.vfat -F 16 -i 5A1B2C3D -n UEFI "$tmp/esp" >/dev/null
  dd if="$tmp/esp" of="$img" bs=512 seek=2048 conv=notrunc,sparse status=none
  local start=$((2048 + 32768)) sectors
  sectors=$(( $(stat -c %s "$img") / 512 - start - 34 ))
  loop=$(losetup --find --show -o $((start * 512)) --sizelimit $((sectors * 512)) "$img")
  local t=$tmp/tree; cp -a fixtures/trees/ubuntu "$t"
  mkdir -p "$t"/{dev,proc,sys,run,tmp,root,var/tmp,boot/efi,srv/data,usr/bin}
  cp /usr/bin/ls /usr/bin/cat "$t/usr/bin/"; [ -e "$t/bin" ] || ln -s usr/bin "$t/bin"
  mkfs.ext4 -q -F -L cloudimg-rootfs -d "$t" "$loop"
  mkdir -p "$mnt"; mount "$loop" "$mnt"
  python3 - "$mnt/srv/data" "$nfiles" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:04d}")
    if i % 1000 == 0:
        os.mkdir(d)
    with open(os.path.join(d, f"f{i:07d}"), "w") as f:
        f.write(f"file {i}\n")
PY
  umount "$mnt"; losetup -d "$loop"
  qemu-img convert -c -f raw -O qcow2 "$img" "$dst"
  rm -rf "$tmp"
}
build s2g-1k 2G 1000
build s20g-1k 20G 1000
build s200g-1k 200G 1000
build s20g-100k 20G 100000
build s20g-1m 20G 1000000
ls -l "$out"
