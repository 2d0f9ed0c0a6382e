#!/usr/bin/env bash
# Offline ext4 grow timings: ours (straight to the file, and under a scratch overlay as the
# tools run it) against resize2fs on a copy, for 64 MiB -> 2 GiB and 2 GiB -> 20 GiB (4 KiB
# blocks, mkfs.ext4 defaults, sparse image files). Prints the BENCH lines of the release test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
cargo test -q --release --test fs_ext4_grow bench_grow -- --ignored --nocapture 2>&1 | grep '^BENCH'
