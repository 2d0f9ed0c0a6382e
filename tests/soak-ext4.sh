#!/usr/bin/env bash
# Long soak of the ext2/3/4 write property test (tests/fs_ext4_props.rs): CASES random
# operation sequences (default 20000) from SEED (default: the time), release build.
# A failure prints the seed and the operations to replay it.
# Usage: tests/soak-ext4.sh [CASES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
export VGUESTFS_PROPTEST_CASES=${1:-20000}
export VGUESTFS_PROPTEST_SEED=${2:-$(date +%s)}
echo "soak-ext4: $VGUESTFS_PROPTEST_CASES sequences from seed $VGUESTFS_PROPTEST_SEED"
cargo test --release --test fs_ext4_props -- --nocapture
