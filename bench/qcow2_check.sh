#!/usr/bin/env bash
# Benchmark: the metadata check that runs before a qcow2 image is opened for writing (placement,
# overlaps, every cluster's references against its refcount, COPIED flags), on a 20 GiB image
# with preallocated metadata (every L2 table and data cluster allocated: 327,680 clusters):
# `vfish --rw -a IMG run` (open for writing, nothing written) against `vfish --ro` (no check)
# and `qemu-img check IMG` (the same counting, done by QEMU). Needs hyperfine and qemu-img.
# Writes bench/results-qcow2-check.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q -p vfish
bin=$PWD/target/release/vfish
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-qcow2-check.md}
img="$tmp/big.qcow2"
qemu-img create -q -f qcow2 -o preallocation=metadata "$img" 20G
hyperfine -N -w 3 -r 20 --export-markdown "$out" \
  -n "vfish --rw run (check)" "$bin --rw -a $img run" \
  -n "vfish --ro run (no check)" "$bin --ro -a $img run" \
  -n "qemu-img check" "qemu-img check $img"
cat "$out"
