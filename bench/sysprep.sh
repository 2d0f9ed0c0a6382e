#!/usr/bin/env bash
# Benchmark: `vsysprep IMAGE` (the default operations, committed) on the sysprep guest fixtures,
# whole process, each run on a fresh copy of the fixture; peak RSS; and, where virt-sysprep is
# installed, the same run with LIBGUESTFS_BACKEND=direct side by side and the ratio.
# Needs hyperfine and the fixtures (fixtures/build.sh). Writes bench/results-sysprep.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --bin vsysprep
bin=$PWD/target/release/vsysprep
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-sysprep.md}
: > "$out"
for img in fixtures/build/sysprep-ubuntu.qcow2 fixtures/build/sysprep-centos7.qcow2 fixtures/build/sysprep-el-xfs.qcow2 fixtures/demo.qcow2; do
  [ -e "$img" ] || { echo "skip $img (not built)"; continue; }
  copy="$tmp/$(basename "$img")"
  echo "## $img ($(stat -c %s "$img") bytes)" >> "$out"
  cmds=(-n "vsysprep" "$bin -q $copy")
  if command -v virt-sysprep >/dev/null; then
    cmds+=(-n "virt-sysprep (direct backend)" "env LIBGUESTFS_BACKEND=direct virt-sysprep -q -a $copy")
  fi
  hyperfine -N --warmup 2 --min-runs 10 --prepare "cp --sparse=always $img $copy" "${cmds[@]}" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
  cp --sparse=always "$img" "$copy"
  rss=$( { /usr/bin/time -f %M "$bin" -q "$copy" >/dev/null; } 2>&1 | tail -1 )
  echo "peak RSS of vsysprep: ${rss} KiB" >> "$out"
  command -v virt-sysprep >/dev/null || echo "virt-sysprep: not installed (guestfs-tools cannot be installed beside this machine's qemu-utils 10)" >> "$out"
  echo >> "$out"
done
cat "$out"
