#!/usr/bin/env bash
# Benchmark: `vfish --ro -a IMG -i cat /etc/hostname`, whole process, on GPT + LVM qcow2 guests
# (inspection of every filesystem, fstab-driven mounts, one file read). Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q -p vfish
bin=target/release/vfish
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-vfish.md}
: > "$out"
for img in fixtures/demo.qcow2 fixtures/build/guest-ubuntu.qcow2; do
  [ -e "$img" ] || { echo "skip $img (not built)"; continue; }
  echo "## $img ($(stat -c %s "$img") bytes)" >> "$out"
  hyperfine -N --warmup 5 --min-runs 30 \
    -n "vfish -i cat /etc/hostname" "$bin --ro -a $img -i cat /etc/hostname" \
    -n "qemu-img info (floor)" "qemu-img info $img" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
  rss=$( { /usr/bin/time -f %M "$bin" --ro -a "$img" -i cat /etc/hostname >/dev/null; } 2>&1 | tail -1 )
  echo "peak RSS of vfish: ${rss} KiB" >> "$out"; echo >> "$out"
done
cat "$out"
