#!/usr/bin/env bash
# Benchmark (issue 23 item 6): rm-rf of one huge hash-tree directory, as e2fsprogs'
# f_many_subdirs: fixtures/build/ext4-many-subdirs.img (made by the kernel, 1 KiB blocks):
# /htree_eq_1 holds 65,000 subdirectories, /files 20,000 empty files.
#   vfish --rw -a IMG -m /dev/sda rm-rf DIR   (raw image: overlay, atomic commit at exit)
#   the kernel: mount -o loop, rm -rf, umount  (its journal; umount writes everything back)
# Each run starts from a fresh sparse copy (hyperfine's --prepare, not timed). BEFORE=PATH adds
# one run of another vfish binary (the one before the fix: minutes). The results are checked:
# e2fsck -fn clean after ours, free block and inode counts equal to the kernel's.
# Needs root (loop mount) and hyperfine. Writes bench/results-ext4-rmrf.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q -p vfish
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/vfish
img=$PWD/fixtures/build/ext4-many-subdirs.img
[ -e "$img" ] || bash fixtures/mk-ext4-many-subdirs.sh fixtures/build
tmp=$(mktemp -d); mkdir "$tmp/mnt"
trap 'umount "$tmp/mnt" 2>/dev/null || true; rm -rf "$tmp"' EXIT
out=${1:-bench/results-ext4-rmrf.md}
copy="cp --sparse=always $img $tmp/run.img"
runs=()
for dir in htree_eq_1 files; do
  runs+=(--prepare "$copy" -n "vfish rm-rf /$dir" "$bin --rw -a $tmp/run.img -m /dev/sda rm-rf /$dir")
  runs+=(--prepare "$copy" -n "kernel rm -rf /$dir (mount, rm, umount)" \
    "sh -c 'mount -o loop $tmp/run.img $tmp/mnt && rm -rf $tmp/mnt/$dir && umount $tmp/mnt'")
done
hyperfine -w 1 -r 5 "${runs[@]}" --export-markdown "$tmp/r.md" >/dev/null
if [ -n "${BEFORE:-}" ]; then
  hyperfine -r 1 --prepare "$copy" -n "vfish before the fix: rm-rf /htree_eq_1" \
    "$BEFORE --rw -a $tmp/run.img -m /dev/sda rm-rf /htree_eq_1" --export-markdown "$tmp/before.md" >/dev/null
  tail -n 1 "$tmp/before.md" | sed "s/| 1.00 |\$/| (one run) |/" >> "$tmp/r.md"
fi
# the results are checked, not only timed
counts() { debugfs -R stats "$1" 2>/dev/null | grep -E '^Free (blocks|inodes):|free blocks, '; }
cp --sparse=always "$img" "$tmp/ours.img"; cp --sparse=always "$img" "$tmp/kernel.img"
"$bin" --rw -a "$tmp/ours.img" -m /dev/sda rm-rf /htree_eq_1
"$bin" --rw -a "$tmp/ours.img" -m /dev/sda rm-rf /files
mount -o loop "$tmp/kernel.img" "$tmp/mnt"; rm -rf "$tmp/mnt/htree_eq_1" "$tmp/mnt/files"; umount "$tmp/mnt"
e2fsck -fn "$tmp/ours.img" >/dev/null 2>&1
[ "$(counts "$tmp/ours.img")" = "$(counts "$tmp/kernel.img")" ]
cp --sparse=always "$img" "$tmp/rss.img"
rss=$( { /usr/bin/time -f %M "$bin" --rw -a "$tmp/rss.img" -m /dev/sda rm-rf /htree_eq_1 >/dev/null; } 2>&1 | tail -1 )
{ echo "## rm-rf of 65,000 subdirectories / 20,000 files in one hash-tree directory (270 MiB ext4, 1 KiB blocks)"
  cat "$tmp/r.md"
  echo "peak RSS of vfish rm-rf /htree_eq_1: ${rss} KiB; result: e2fsck -fn clean, free blocks and inodes (superblock and every group) equal to the kernel's"; } > "$out"
cat "$out"
