#!/usr/bin/env bash
# Offline XFS grow, 2 GiB -> 20 GiB (4 -> 40 AGs; fixtures/mk-xfs-grow.sh's src-2g.img, a
# populated mkfs.xfs default filesystem on a sparse file): `vresize --size 20G` on the bare
# filesystem image (whole process: lock, overlay, grow, commit) against the kernel on a copy
# (loop mount + xfs_growfs -d + umount; needs root) and, when installed, libguestfs
# (guestfish --rw -a IMG run : mount /dev/sda / : xfs-growfs / datasec:true; TCG, 3 runs;
# LIBGUESTFS=0 skips it). Each run gets a fresh copy (hyperfine --prepare). Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --workspace
src=fixtures/build/xfs-grow/src-2g.img
[ -e "$src" ] || bash fixtures/mk-xfs-grow.sh fixtures/build
tmp=$(mktemp -d); trap 'umount "$tmp/mnt" 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir "$tmp/mnt"
out=${1:-bench/results-xfs-grow.md}
prep="cp --sparse=always $src $tmp/img && truncate -s 20G $tmp/img"
hyperfine -N --warmup 2 --min-runs 20 --prepare "sh -c '$prep'" \
  -n "vresize --size 20G (ours)" "target/release/vresize -q --size 20G $tmp/img" \
  --export-markdown "$tmp/ours.md" >/dev/null
hyperfine --warmup 2 --min-runs 10 --prepare "$prep" \
  -n "kernel: mount + xfs_growfs -d + umount" "mount -o loop $tmp/img $tmp/mnt && xfs_growfs -d $tmp/mnt >/dev/null && umount $tmp/mnt" \
  --export-markdown "$tmp/kernel.md" >/dev/null
{ cat "$tmp/ours.md"; echo; cat "$tmp/kernel.md"; } > "$out"
rss=$( { eval "$prep"; /usr/bin/time -f %M target/release/vresize -q --size 20G "$tmp/img" >/dev/null; } 2>&1 | tail -1 )
if command -v guestfish >/dev/null && [ "${LIBGUESTFS:-1}" = 1 ]; then
  export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
  hyperfine --runs 3 --prepare "$prep" \
    -n "guestfish xfs-growfs (libguestfs, TCG)" "guestfish --rw -a $tmp/img run : mount /dev/sda / : xfs-growfs / datasec:true" \
    --export-markdown "$tmp/l.md" >/dev/null
  { echo; cat "$tmp/l.md"; } >> "$out"
fi
echo "peak RSS of vresize: ${rss} KiB" >> "$out"
cat "$out"
