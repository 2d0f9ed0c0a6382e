#!/usr/bin/env bash
# Benchmark: the Fedora guest on btrfs subvolumes (fixtures/mk-guests-fedora.sh): `vfish --ro -i
# cat /etc/hostname` and `vinspect` (inspection of every subvolume, fstab subvol= mounts, the
# rpm database: 41 headers), whole process, release build. Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --workspace
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-inspect-fedora.md}
img=fixtures/build/guest-fedora.raw
echo "## $img ($(du -k "$img" | cut -f1) KiB allocated)" > "$out"
hyperfine -N --warmup 5 --min-runs 30 \
  -n "vfish -i cat /etc/hostname" "$bin/vfish --ro -a $img -i cat /etc/hostname" \
  -n "vinspect" "$bin/vinspect -a $img" \
  -n "vinspect --no-applications" "$bin/vinspect --no-applications -a $img" \
  --export-markdown "$tmp/r.md" >/dev/null
cat "$tmp/r.md" >> "$out"
for t in "vfish --ro -a $img -i cat /etc/hostname" "vinspect -a $img"; do
  rss=$( { /usr/bin/time -f %M $bin/$t >/dev/null; } 2>&1 | tail -1 )
  echo "peak RSS of ${t%% *}: ${rss} KiB" >> "$out"
done
cat "$out"
