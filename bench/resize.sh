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
# copy mode: the 2 GiB qcow2 onto a fresh 20 GiB raw file, against qemu-img convert of the same
# input to raw (the throughput floor: both read the whole input and write its data sparsely)
echo "## copy mode: 2 GiB qcow2 → fresh 20 GiB raw (vs qemu-img convert -O raw)" >> "$out"
hyperfine -N --warmup 1 --min-runs 5 --prepare "bash -c 'rm -f $tmp/o.raw; truncate -s 20G $tmp/o.raw'" \
  -n "vresize --expand /dev/sda1 IN OUT" "$bin -q --expand /dev/sda1 $tmp/g.qcow2 $tmp/o.raw" \
  -n "vresize IN OUT (copy only)" "$bin -q $tmp/g.qcow2 $tmp/o.raw" \
  -n "qemu-img convert -O raw" "qemu-img convert -O raw $tmp/g.qcow2 $tmp/o.raw" \
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
