#!/usr/bin/env bash
# Benchmark (issue 16): reading a 100 MB file through vmount (FUSE, our ext4 reader) against
# the kernel's own ext4 through a loop mount, on the same raw image; each run mounts, reads
# the file to /dev/null and unmounts, so both pay their mount and neither reads from a warm
# page cache of the mount. Also the time to mount and unmount alone. Needs hyperfine, root.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --bin vmount --bin vunmount
vm=$PWD/target/release/vmount; vu=$PWD/target/release/vunmount
tmp=$(mktemp -d); trap 'umount "$tmp/m" 2>/dev/null || true; rm -rf "$tmp"' EXIT
out=${1:-bench/results-vmount.md}
mkdir -p "$tmp/tree/etc" "$tmp/m"; echo bench > "$tmp/tree/etc/hostname"
head -c 100M /dev/urandom > "$tmp/tree/big.bin"
mkfs.ext4 -q -F -d "$tmp/tree" "$tmp/disk.raw" 512M
hyperfine --warmup 1 --min-runs 8 \
  -n "vmount + cat 100 MB + vunmount" "$vm -a $tmp/disk.raw -m /dev/sda $tmp/m && cat $tmp/m/big.bin >/dev/null && $vu $tmp/m" \
  -n "mount -o loop,ro + cat 100 MB + umount (kernel ext4)" "mount -o loop,ro $tmp/disk.raw $tmp/m && cat $tmp/m/big.bin >/dev/null && umount $tmp/m" \
  -n "vmount + vunmount" "$vm -a $tmp/disk.raw -m /dev/sda $tmp/m && $vu $tmp/m" \
  -n "mount -o loop,ro + umount" "mount -o loop,ro $tmp/disk.raw $tmp/m && umount $tmp/m" \
  --export-markdown "$tmp/r.md" >/dev/null
{ echo "# vmount read throughput ($(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"; echo; cat "$tmp/r.md"; } > "$out"
cat "$out"
