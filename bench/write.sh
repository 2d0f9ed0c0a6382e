#!/usr/bin/env bash
# Benchmark (issue 4): create 1000 files + delete them + rewrite a 100 MB file.
#   vfish --rw on a qcow2 image (copy-on-write overlay, commit with redo log at exit)
#   vs debugfs -w doing the same on the raw image (no journal, no atomic commit, no fsync),
#   and vs debugfs -w followed by sync -f (the same durability as our fsynced commit).
# Each run starts from a fresh copy of the image (the copy is timed separately and
# subtracted by running it as hyperfine's --prepare). Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q -p vfish
bin=$PWD/target/release/vfish
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-write.md}

# a 512 MiB ext4 made by mkfs.ext4, raw and qcow2
mkdir -p "$tmp/tree/etc"; echo bench > "$tmp/tree/etc/hostname"
mkfs.ext4 -q -F -d "$tmp/tree" "$tmp/base.raw" 512M
qemu-img convert -f raw -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"
head -c 100M /dev/urandom > "$tmp/big.bin"
echo small > "$tmp/small.txt"
# the big file exists before the run: the run rewrites it
debugfs -w -R "write $tmp/big.bin /big" "$tmp/base.raw" >/dev/null
qemu-img convert -f raw -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"

{ for i in $(seq 1000); do echo "write /f$i small"; done
  for i in $(seq 1000); do echo "rm /f$i"; done
  echo "upload $tmp/big.bin /big"; } > "$tmp/vfish.script"
{ for i in $(seq 1000); do echo "write $tmp/small.txt f$i"; done
  for i in $(seq 1000); do echo "rm f$i"; done
  echo "rm big"; echo "write $tmp/big.bin big"; } > "$tmp/debugfs.cmds"

hyperfine --warmup 1 --min-runs 5 \
  --prepare "cp $tmp/base.qcow2 $tmp/run.qcow2" \
  -n "vfish --rw (qcow2)" "$bin --rw -a $tmp/run.qcow2 -m /dev/sda -f $tmp/vfish.script" \
  --prepare "cp $tmp/base.raw $tmp/run.raw" \
  -n "debugfs -w (raw)" "debugfs -w -f $tmp/debugfs.cmds $tmp/run.raw" \
  --prepare "cp $tmp/base.raw $tmp/run.raw" \
  -n "debugfs -w (raw) + sync -f (same durability as our commit)" "sh -c 'debugfs -w -f $tmp/debugfs.cmds $tmp/run.raw >/dev/null 2>&1 && sync -f $tmp/run.raw'" \
  --export-markdown "$tmp/r.md" >/dev/null
# the results are checked, not only timed
cp "$tmp/base.qcow2" "$tmp/check.qcow2"
"$bin" --rw -a "$tmp/check.qcow2" -m /dev/sda -f "$tmp/vfish.script"
qemu-img check -q "$tmp/check.qcow2"
qemu-img convert -O raw "$tmp/check.qcow2" "$tmp/check.raw"
e2fsck -fn "$tmp/check.raw" >/dev/null
debugfs -R "dump /big $tmp/big.out" "$tmp/check.raw" 2>/dev/null; cmp "$tmp/big.bin" "$tmp/big.out"
rss=$( { /usr/bin/time -f %M "$bin" --rw -a "$tmp/run.qcow2" -m /dev/sda -f "$tmp/vfish.script" >/dev/null; } 2>&1 | tail -1 )
{ echo "## 1000 creates + 1000 deletes + rewrite of a 100 MB file (512 MiB ext4)"; cat "$tmp/r.md";
  echo "peak RSS of vfish: ${rss} KiB; result: qemu-img check clean, e2fsck -fn clean, /big identical"; } > "$out"
cat "$out"
