#!/usr/bin/env bash
# Benchmark: libguestfs's phony Windows guest (fixtures/mk-guests-windows.sh): `vinspect` (system
# root by case-insensitive lookups on NTFS, cmd.exe's PE header, the SOFTWARE and SYSTEM hives,
# drive letters, the Uninstall keys) on the MBR image and on its GPT virtio variant, and
# `vinspect --glance` (plus the virtio-win drivers), whole process, release build. Needs
# hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --bin vinspect
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-inspect-windows.md}
img=fixtures/build/guest-windows.raw
gpt=fixtures/build/guest-windows-virtio.raw
echo "## $img, $gpt ($(du -k "$img" | cut -f1), $(du -k "$gpt" | cut -f1) KiB allocated)" > "$out"
hyperfine -N --warmup 5 --min-runs 30 \
  -n "vinspect (MBR)" "$bin/vinspect -a $img" \
  -n "vinspect --no-applications (MBR)" "$bin/vinspect --no-applications -a $img" \
  -n "vinspect (GPT, virtio)" "$bin/vinspect -a $gpt" \
  -n "vinspect --glance (GPT, virtio)" "$bin/vinspect --glance -a $gpt" \
  --export-markdown "$tmp/r.md" >/dev/null
cat "$tmp/r.md" >> "$out"
rss=$( { /usr/bin/time -f %M "$bin/vinspect" -a "$img" >/dev/null; } 2>&1 | tail -1 )
echo "peak RSS of vinspect: ${rss} KiB" >> "$out"
cat "$out"
