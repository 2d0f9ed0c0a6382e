#!/usr/bin/env bash
# Benchmark: `vresize --size 20G --expand /dev/sda1` in place on a 2 GiB qcow2 (GPT, one ext4
# partition holding a small tree) and `--size +18G --expand /dev/sda2 --lv-expand` on the
# CentOS LVM fixture (its root LV and ext4), each run on a fresh copy; beside it `qemu-img resize` alone
# (the floor: the image's own growth); and the copy mode against qemu-img convert. Needs hyperfine, the tools of fixtures/ and a release
# build. Writes bench/results-resize.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
export PATH="$PATH:/usr/sbin:/sbin"
cargo build --release -q --bin vresize
bin=$PWD/target/release/vresize
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-resize.md}
# the 2 GiB image: GPT, ext4 partition 1 with /usr/share/doc's first 20 MB as content
raw="$tmp/g.raw"; truncate -s 2G "$raw"
sgdisk -o -n 1:2048:0 -t 1:8300 "$raw" >/dev/null
tree="$tmp/tree"; mkdir -p "$tree"; cp -r /usr/share/doc "$tree/" 2>/dev/null || true
fs="$tmp/fs.img"; truncate -s $(( ($(sgdisk -i 1 "$raw" | awk '/Last sector/ {print $3}') - 2048 + 1) * 512 )) "$fs"
mkfs.ext4 -q -F -d "$tree" "$fs"
dd if="$fs" of="$raw" bs=512 seek=2048 conv=notrunc,sparse status=none
qemu-img convert -O qcow2 "$raw" "$tmp/g.qcow2"; rm -f "$raw" "$fs"
: > "$out"
echo "## 2 GiB qcow2 (GPT + ext4) → 20 GiB" >> "$out"
hyperfine -N --warmup 2 --min-runs 10 --prepare "cp $tmp/g.qcow2 $tmp/w.qcow2" \
  -n "vresize --size 20G --expand /dev/sda1" "$bin -q --size 20G --expand /dev/sda1 $tmp/w.qcow2" \
  -n "qemu-img resize (floor)" "qemu-img resize -q $tmp/w.qcow2 20G" \
  --export-markdown "$tmp/r.md" >/dev/null
cat "$tmp/r.md" >> "$out"
# copy mode: a 2 GiB qcow2 holding 1 GiB of file data (8 × 128 MiB of random bytes in its ext4)
# onto a fresh 20 GiB raw file, against qemu-img convert of the same input to raw (the
# throughput floor: both read the input's data and write it sparsely). qemu-img convert does
# not flush its output (cache=unsafe) while vresize fsyncs it as virt-resize does, so
# "qemu-img convert + sync" is the like-for-like. Run in $BENCH_DIR (default /dev/shm, so the
# host disk's writeback does not decide the result; set BENCH_DIR=/tmp for the disk).
cdir=$(mktemp -d "${BENCH_DIR:-/dev/shm}/vresize-bench.XXXXXX"); trap 'rm -rf "$tmp" "$cdir"' EXIT
mkdir "$cdir/tree"; for i in 1 2 3 4 5 6 7 8; do head -c 128M /dev/urandom > "$cdir/tree/f$i"; done
truncate -s 2G "$cdir/d.raw"; sgdisk -o -n 1:2048:0 -t 1:8300 "$cdir/d.raw" >/dev/null
truncate -s $(( ($(sgdisk -i 1 "$cdir/d.raw" | awk '/Last sector/ {print $3}') - 2048 + 1) * 512 )) "$cdir/fs.img"
mkfs.ext4 -q -F -d "$cdir/tree" "$cdir/fs.img"; rm -rf "$cdir/tree"
dd if="$cdir/fs.img" of="$cdir/d.raw" bs=1M seek=1 conv=notrunc,sparse status=none; rm -f "$cdir/fs.img"
qemu-img convert -O qcow2 "$cdir/d.raw" "$cdir/d.qcow2"; rm -f "$cdir/d.raw"
echo "## copy mode: 2 GiB qcow2 with 1 GiB of data → fresh 20 GiB raw, in ${BENCH_DIR:-/dev/shm} (vs qemu-img convert -O raw)" >> "$out"
hyperfine -N --warmup 1 --min-runs 10 --prepare "bash -c 'rm -f $cdir/o.raw; truncate -s 20G $cdir/o.raw'" \
  -n "vresize --expand /dev/sda1 IN OUT" "$bin -q --expand /dev/sda1 $cdir/d.qcow2 $cdir/o.raw" \
  -n "vresize IN OUT (copy, extra partition)" "$bin -q $cdir/d.qcow2 $cdir/o.raw" \
  -n "qemu-img convert -O raw" "qemu-img convert -O raw $cdir/d.qcow2 $cdir/o.raw" \
  -n "qemu-img convert -O raw + sync" "bash -c 'qemu-img convert -O raw $cdir/d.qcow2 $cdir/o.raw && sync $cdir/o.raw'" \
  --export-markdown "$tmp/r.md" >/dev/null
cat "$tmp/r.md" >> "$out"
if [ -e fixtures/build/sysprep-centos7.qcow2 ]; then
  echo "## CentOS 7 LVM qcow2 (128 MiB) → +18 GiB, PV, root LV and its ext4" >> "$out"
  hyperfine -N --warmup 2 --min-runs 10 --prepare "cp fixtures/build/sysprep-centos7.qcow2 $tmp/c.qcow2" \
    -n "vresize --size +18G --expand /dev/sda2 --lv-expand /dev/centos/root" "$bin -q --size +18G --expand /dev/sda2 --lv-expand /dev/centos/root $tmp/c.qcow2" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
fi
cat "$out"
