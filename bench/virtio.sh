#!/usr/bin/env bash
# Benchmark: the virtio-driver check on a cloud-image-sized initramfs. Builds, in a temporary
# directory, a guest (whole-disk ext4) whose /boot/initramfs-VER.img is a dracut-like image of
# ~2500 stand-in modules (~100 MiB unpacked, pieces of the host's shared libraries, sorted as
# dracut's `find | sort | cpio` writes them, virtio_blk/virtio_net/virtio_pci among them) behind
# an early-microcode cpio, compressed with zstd -15, xz and gzip -9 in turn; then times
# `vinspect --glance` and `vsysprep --audit` beside the floor a shell script pays to learn the
# same (`zstd -dc`/`xz -dc`/`gzip -dc` of the image piped to `cpio -t`).
# Needs hyperfine, cpio, zstd, xz, gzip, mkfs.ext4.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release -q --bin vinspect --bin vsysprep
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=${1:-bench/results-virtio.md}
: > "$out"
v=5.14.0-427.el9.x86_64
python3 - "$tmp/main" "$v" <<'PY'
import glob, os, sys
root, ver = sys.argv[1], sys.argv[2]
pool = b"".join(open(f, "rb").read() for f in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*.so*"))[:200] if os.path.isfile(f))
dirs = ["arch/x86", "crypto", "drivers/ata", "drivers/block", "drivers/gpu", "drivers/md", "drivers/net", "drivers/scsi", "drivers/usb", "drivers/virtio", "fs", "net", "sound"]
base = f"{root}/usr/lib/modules/{ver}/kernel"
off = 0
for i in range(2500):
    d = f"{base}/{dirs[i % len(dirs)]}"
    os.makedirs(d, exist_ok=True)
    n = 40000
    off = (off + 65537) % (len(pool) - n)
    open(f"{d}/mod{i:04}.ko", "wb").write(pool[off:off + n])
for m, d in [("virtio_blk", "drivers/block"), ("virtio_net", "drivers/net"), ("virtio_pci", "drivers/virtio")]:
    open(f"{base}/{d}/{m}.ko", "wb").write(pool[:40000])
os.makedirs(f"{root}/usr/bin", exist_ok=True)
open(f"{root}/init", "wb").write(b"#!/bin/sh\n")
PY
mkdir -p "$tmp/early/kernel/x86/microcode"
head -c 200000 /usr/bin/true > "$tmp/early/kernel/x86/microcode/GenuineIntel.bin"
(cd "$tmp/early" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$tmp/early.cpio"
(cd "$tmp/main" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$tmp/main.cpio"
echo "unpacked main archive: $(( $(stat -c %s "$tmp/main.cpio") >> 20 )) MiB, $(cpio -t < "$tmp/main.cpio" 2>/dev/null | wc -l) entries" >> "$out"
for comp in zstd xz gzip; do
  case $comp in zstd) c="zstd -q -15 -T0 -c" ;; xz) c="xz --check=crc32 --lzma2=dict=1MiB -T0 -c" ;; gzip) c="gzip -9 -n -c" ;; esac
  t="$tmp/tree-$comp"
  cp -a fixtures/trees/el9 "$t"; mkdir -p "$t/boot/loader/entries" "$t/usr/bin" "$t/usr/lib/modules/$v"
  ln -s usr/bin "$t/bin"; cp /usr/bin/true "$t/usr/bin/true"
  printf 'kernel\n' > "$t/boot/vmlinuz-$v"
  printf 'title EL\nversion %s\nlinux /vmlinuz-%s\ninitrd /initramfs-%s.img\n' "$v" "$v" "$v" > "$t/boot/loader/entries/x-$v.conf"
  { cat "$tmp/early.cpio"; $c < "$tmp/main.cpio"; } > "$t/boot/initramfs-$v.img"
  img="$tmp/guest-$comp.raw"; truncate -s 512M "$img"; mkfs.ext4 -q -F -d "$t" "$img"
  echo "## $comp: initramfs of $(( $(stat -c %s "$t/boot/initramfs-$v.img") >> 20 )) MiB" >> "$out"
  hyperfine -N -i --warmup 2 --min-runs 10 \
    -n "vinspect --glance" "$bin/vinspect --glance -a $img" \
    -n "vsysprep --audit" "$bin/vsysprep --audit -a $img" \
    -n "floor: $comp -dc | cpio -t" "sh -c 'tail -c +$(( $(stat -c %s "$tmp/early.cpio") + 1 )) $t/boot/initramfs-$v.img | $comp -dc | cpio -t >/dev/null 2>&1'" \
    --export-markdown "$tmp/r.md" >/dev/null
  cat "$tmp/r.md" >> "$out"
  /usr/bin/time -f %M -o "$tmp/rss" "$bin/vinspect" --glance -a "$img" >/dev/null 2>&1
  rss=$(tail -1 "$tmp/rss")
  echo "peak RSS of vinspect --glance: ${rss} KiB" >> "$out"
  echo >> "$out"
done
cat "$out"
