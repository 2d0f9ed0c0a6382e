#!/usr/bin/env bash
# Benchmark: `vfilesystems --long --all` (whole process, wall clock) on the demo image and the
# largest fixture, against a floor of `qemu-img info` + `sfdisk -d` on the same image, which
# read only headers and tables. Needs the fixtures (fixtures/build.sh) and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --bin vfilesystems
bin=target/release/vfilesystems
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-vfilesystems.md}
: > "$out"
largest=$(ls -S fixtures/build/*.raw fixtures/build/*.img fixtures/build/*.qcow2 2>/dev/null | head -1)
for img in fixtures/demo.qcow2 fixtures/build/mbr-lvm.raw fixtures/build/gpt-esp-ext4.qcow2 $largest; do
  [ -e "$img" ] || { echo "skip $img (not built)"; continue; }
  raw="$img"
  case "$img" in *.qcow2) raw="$tmp/$(basename "$img").raw"; qemu-img convert -O raw "$img" "$raw" ;; esac
  echo "## $img ($(stat -c %s "$img") bytes)" >> "$out"
  hyperfine -N --warmup 5 --min-runs 30 \
    -n vfilesystems "$bin --long --all -a $img" \
    -n "qemu-img info + sfdisk -d (floor)" "bash -c 'qemu-img info $img >/dev/null; sfdisk -d $raw >/dev/null 2>&1; true'" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
  rss=$( { /usr/bin/time -f %M "$bin" --long --all -a "$img" >/dev/null; } 2>&1 | tail -1 )
  echo "peak RSS of vfilesystems: ${rss} KiB" >> "$out"; echo >> "$out"
done
cat "$out"
