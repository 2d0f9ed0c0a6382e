#!/usr/bin/env bash
# Benchmark: RHEL-family guests on XFS (fixtures/mk-guests-el.sh): `vfish --ro -i cat
# /etc/hostname` and `vinspect` (inspection, fstab mounts, the rpm database: 41 headers) per
# image, whole process. libguestfs on the same work (guestfish --ro -i cat, virt-inspector) is
# timed too when it is installed (3 runs: an appliance boot each, TCG on this machine).
# Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --workspace
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-inspect-el.md}
: > "$out"
for img in fixtures/build/guest-el9.qcow2 fixtures/build/guest-el7.raw fixtures/build/guest-al2023.raw; do
  [ -e "$img" ] || { echo "skip $img (not built)"; continue; }
  echo "## $img ($(du -k "$img" | cut -f1) KiB allocated)" >> "$out"
  hyperfine -N --warmup 5 --min-runs 30 \
    -n "vfish -i cat /etc/hostname" "target/release/vfish --ro -a $img -i cat /etc/hostname" \
    -n "vinspect" "target/release/vinspect -a $img" \
    -n "vinspect --no-applications" "target/release/vinspect --no-applications -a $img" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
  for t in "vfish --ro -a $img -i cat /etc/hostname" "vinspect -a $img"; do
    rss=$( { /usr/bin/time -f %M target/release/$t >/dev/null; } 2>&1 | tail -1 )
    echo "peak RSS of ${t%% *}: ${rss} KiB" >> "$out"
  done
  if command -v guestfish >/dev/null && [ "${LIBGUESTFS:-1}" = 1 ]; then
    export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
    hyperfine -N --runs 3 \
      -n "guestfish --ro -i cat /etc/hostname" "guestfish --ro -a $img -i cat /etc/hostname" \
      -n "virt-inspector" "virt-inspector -a $img" \
      --export-markdown "$tmp/l.md" >/dev/null
    cat "$tmp/l.md" >> "$out"
  fi
  echo >> "$out"
done
cat "$out"
