#!/usr/bin/env bash
# Benchmark: RHEL-family guests on XFS (fixtures/mk-guests-el.sh): `vfish --ro -i cat
# /etc/hostname` (EL7: /etc/system-release) and `vinspect` (inspection, fstab mounts, the rpm database: 41 headers) per
# image, whole process. libguestfs on the same work (guestfish --ro -i cat, virt-inspector) is
# timed on the EL9 image when it is installed (3 runs: an appliance boot each, TCG on this
# machine; LIBGUESTFS=0 skips it).
# Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --workspace
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-inspect-el.md}
: > "$out"
for spec in guest-el9.qcow2:/etc/hostname guest-el7.raw:/etc/system-release guest-al2023.raw:/etc/hostname; do
  img=fixtures/build/${spec%%:*} file=${spec#*:}   # EL7 keeps its host name in /etc/sysconfig/network
  [ -e "$img" ] || { echo "skip $img (not built)"; continue; }
  echo "## $img ($(du -k "$img" | cut -f1) KiB allocated)" >> "$out"
  hyperfine -N --warmup 5 --min-runs 30 \
    -n "vfish -i cat $file" "target/release/vfish --ro -a $img -i cat $file" \
    -n "vinspect" "target/release/vinspect -a $img" \
    -n "vinspect --no-applications" "target/release/vinspect --no-applications -a $img" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
  for t in "vfish --ro -a $img -i cat $file" "vinspect -a $img"; do
    rss=$( { /usr/bin/time -f %M target/release/$t >/dev/null; } 2>&1 | tail -1 )
    echo "peak RSS of ${t%% *}: ${rss} KiB" >> "$out"
  done
  if command -v guestfish >/dev/null && [ "${LIBGUESTFS:-1}" = 1 ] && [ "$img" = fixtures/build/guest-el9.qcow2 ]; then
    export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
    hyperfine -N --runs 3 \
      -n "guestfish --ro -i cat $file" "guestfish --ro -a $img -i cat $file" \
      -n "virt-inspector" "virt-inspector -a $img" \
      --export-markdown "$tmp/l.md" >/dev/null
    cat "$tmp/l.md" >> "$out"
  fi
  echo >> "$out"
done
cat "$out"
