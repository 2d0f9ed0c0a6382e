#!/usr/bin/env bash
# Soak test of FAT writes: the property test of tests/fs_fat_props.rs (random operation
# sequences on FAT12/16/32 and a tiny FAT12 volume, judged by fsck.vfat and mtype) with a new
# random seed each round, in a release build, until a round fails or ROUNDS rounds pass.
#   tests/soak-fat.sh [ROUNDS=10] [SEQUENCES_PER_VOLUME=1000]
# A failure prints the seed of the failing sequence and the command that reruns it alone.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
cases=${2:-1000}
export PATH="$PATH:/usr/sbin:/sbin"
cargo test --release -q --test fs_fat_props --no-run || exit 1
for r in $(seq 1 "$rounds"); do
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  echo "soak-fat: round $r/$rounds: $cases sequences per volume, base seed $seed"
  VGUESTFS_PROPTEST_SEED=$seed VGUESTFS_PROPTEST_CASES=$cases \
    cargo test --release -q --test fs_fat_props -- --nocapture 2>&1 | grep -vE '^\s+[0-9]+: |^\s+at '
  status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    echo "soak-fat: round $r failed (base seed $seed; the failing sequence's seed is above)"
    exit 1
  fi
done
echo "soak-fat: $rounds rounds passed"
