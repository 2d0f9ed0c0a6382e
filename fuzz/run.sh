#!/usr/bin/env bash
# Runs one fuzz target with cargo-fuzz (libFuzzer): fuzz/run.sh TARGET [SECONDS] [LIBFUZZER ARGS...]
# The machine's toolchain is stable; cargo-fuzz needs nightly flags, so RUSTC_BOOTSTRAP=1 enables
# them. Seeds come from the fixture images (fixtures/build.sh) so the fuzzer starts from real
# structures. Crashes land in fuzz/artifacts/TARGET/. A dictionary fuzz/dict/TARGET.dict is used
# when present. Extra arguments go to libFuzzer (e.g. -jobs=1 -timeout=5).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [LIBFUZZER ARGS...]  (targets: $(ls fuzz_targets | sed 's/\.rs$//' | tr '\n' ' '))}
secs=${2:-60}
shift; [ $# -gt 0 ] && shift
command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz
export RUSTC_BOOTSTRAP=1
corpus="corpus/$target"; mkdir -p "$corpus"
if [ "$target" = lvm_metadata ] && [ -z "$(ls -A "$corpus")" ]; then
  # the text parser wants text: the vgcfgbackup test file and every metadata text found in the
  # fixture images (NUL-separated copies holding "physical_volumes" and "seqno")
  cp ../src/lvm/testdata/*.vg "$corpus/"
  [ -d ../fixtures/build ] && python3 - "$corpus" ../fixtures/build/*.raw ../fixtures/build/*.img <<'PY'
import os, re, sys
for f in sys.argv[2:]:
    # runs of non-NUL bytes (split(b'\0') of mostly-zero images makes millions of objects)
    for i, m in enumerate(re.finditer(rb'[^\0]{64,200000}', open(f, 'rb').read(8 << 20))):
        c = m.group()
        if b'physical_volumes' in c and b'seqno' in c:
            open(os.path.join(sys.argv[1], '%s-%d.vg' % (os.path.basename(f), i)), 'wb').write(c.strip())
PY
fi
if [ "$target" = sysprep_text ] && [ -z "$(ls -A "$corpus")" ]; then
  # netplan YAML, NUL, a systemd-networkd unit: from the sysprep fixture trees, and a flow-style pin
  i=0
  for y in ../fixtures/trees/*/etc/netplan/*.yaml; do
    for u in ../fixtures/trees/*/etc/systemd/network/*; do
      [ -f "$y" ] && [ -f "$u" ] && { cat "$y"; printf '\0'; cat "$u"; } > "$corpus/seed-$i" && i=$((i+1))
    done
  done
  printf '    eth0:\n      match: {macaddress: "52:54:00:00:00:01"}\n      set-name: eth0\n\0[Match]\nMACAddress=52:54:00:00:00:01\n[Link]\nName=eth0\n' > "$corpus/seed-flow"
fi
if [ "$target" = gpt ] && [ -z "$(ls -A "$corpus")" ] && [ -d ../fixtures/build ]; then
  # the gpt target supplies sector 0 itself: seed with the images from LBA 1 on
  for f in ../fixtures/build/*.raw ../fixtures/build/*.img; do
    # dd, not tail | head: under pipefail the SIGPIPE tail gets from head would end the script
    dd if="$f" of="$corpus/$(basename "$f")" bs=512 skip=1 count=2048 status=none
  done
fi
if [ "$target" = mbr ] || [ "$target" = gpt ]; then
  # whole small disks whose partitions lie inside the input, so growpart's grow and the copy
  # mode (grow_check.rs) get past the table checks: MBR with primaries and logicals, GPT
  export PATH="$PATH:/usr/sbin:/sbin"
  small="$corpus/small-$target.img"
  if [ ! -e "$small" ]; then
    if [ "$target" = mbr ]; then
      truncate -s 48K "$small"
      printf 'label: dos\nstart=2, size=20, type=83, bootable\nstart=22, size=10, type=8e\nstart=32, size=60, type=5\nstart=34, size=20, type=83\nstart=56, size=30, type=82\n' | sfdisk -q "$small" >/dev/null
    else
      truncate -s 64K "$small"
      sgdisk -o -n 1:34:60 -t 1:ef00 -n 2:61:90 -t 2:8300 -c 2:root "$small" >/dev/null
      tail -c +513 "$small" > "$small.lba1" && mv "$small.lba1" "$small"
    fi
  fi
fi
if [ "$target" = qcow2_check ] && [ -z "$(ls -A "$corpus")" ]; then
  # whole small qcow2 files made by qemu-img/qemu-io: cluster sizes, refcount widths, v2,
  # snapshots, compressed clusters, a persistent bitmap
  i=0
  for opts in cluster_size=512 cluster_size=4096 cluster_size=4096,refcount_bits=1 \
              cluster_size=4096,refcount_bits=64 compat=0.10,cluster_size=4096 cluster_size=65536; do
    img="$corpus/seed-$i.qcow2"; i=$((i+1))
    qemu-img create -q -f qcow2 -o "$opts" "$img" 1M
    qemu-io -f qcow2 -c "write -P 17 0 20k" -c "write -P 34 600k 9k" "$img" >/dev/null
  done
  cp "$corpus/seed-1.qcow2" "$corpus/snap.qcow2"
  qemu-img snapshot -c one "$corpus/snap.qcow2"
  qemu-io -f qcow2 -c "write -P 51 0 8k" "$corpus/snap.qcow2" >/dev/null
  qemu-img convert -c -O qcow2 -o cluster_size=4096 "$corpus/seed-1.qcow2" "$corpus/compressed.qcow2"
  cp "$corpus/seed-1.qcow2" "$corpus/bitmap.qcow2"
  qemu-img bitmap --add -f qcow2 "$corpus/bitmap.qcow2" b0
  qemu-io -f qcow2 -c "write -P 68 100k 30k" "$corpus/bitmap.qcow2" >/dev/null
fi
if [ "$target" = fat_write ] && [ -z "$(ls -A "$corpus")" ]; then
  # small FAT12 volumes that fit whole in an input (the fixture images do not), with long
  # names, a subdirectory and files over several clusters
  export MTOOLS_SKIP_CHECK=1 PATH="$PATH:/usr/sbin:/sbin"
  for kib in 64 160 512; do
    img="$corpus/fat12-$kib.img"
    mkfs.vfat -F 12 -n SEED -C "$img" "$kib" >/dev/null
    head -c 5000 /dev/urandom >"$corpus/.data"
    mmd -i "$img" "::/a directory"
    mcopy -i "$img" "$corpus/.data" "::/a long file name.bin"
    mcopy -i "$img" "$corpus/.data" "::/a directory/INNER.TXT"
    echo short | mcopy -i "$img" - ::/SHORT.TXT
    rm -f "$corpus/.data"
  done
fi
if [ "$target" = ext4_grow ] && [ -z "$(ls -A "$corpus")" ]; then
  # whole small filesystems (the target appends zeros to grow into), one per layout
  export PATH="$PATH:/usr/sbin:/sbin"
  i=0
  for opts in "-t ext4 -b 1024" "-t ext4 -b 1024 -O ^flex_bg" "-t ext4 -b 1024 -O ^64bit" \
              "-t ext4 -b 1024 -O ^metadata_csum,uninit_bg" "-t ext3 -b 1024" "-t ext2 -b 1024" \
              "-t ext4 -b 1024 -O sparse_super2" "-t ext4 -b 1024 -O meta_bg,^resize_inode" \
              "-t ext4 -b 4096 -O ^has_journal"; do
    for kib in 300 1000; do
      img="$corpus/seed-$i.img"; i=$((i+1))
      truncate -s "${kib}K" "$img"
      # shellcheck disable=SC2086
      mke2fs -q -F -N 64 -g 256 $opts "$img" >/dev/null 2>&1 || rm -f "$img"
    done
  done
fi
if { [ "$target" = xfs_read ] || [ "$target" = xfs_alloc ]; } && [ -z "$(ls -A "$corpus")" ]; then
  # small XFS filesystems (32 MiB, 2 AGs: the log lands in AG 1, so the first MiB holds the AG 0
  # headers, the root and the first files) filled by mkfs.xfs -p from a tiny tree; the QA_*
  # variables let mkfs.xfs 6.1 make filesystems under 300 MiB. The target zero-extends inputs.
  export PATH="$PATH:/usr/sbin:/sbin"
  t=$(mktemp -d); mkdir -p "$t/d"
  for i in $(seq 1 40); do echo "$i" >"$t/d/entry-$i"; done
  head -c 5000 /dev/zero | tr '\0' 'z' >"$t/f5k"; echo hi >"$t/small"
  long=$(printf 'x%.0s' $(seq 1 300))
  { echo /dev/null; echo 0 0; echo "d--755 0 0"
    echo " small ---644 0 0 $t/small"; echo " f5k ---644 0 0 $t/f5k"
    echo " l l--777 0 0 small"; echo " long l--777 0 0 $long"; echo " d d--755 0 0"
    for i in $(seq 1 40); do echo "  entry-$i ---644 0 0 $t/d/entry-$i"; done
    echo " \$"; echo "\$"; } >"$t/proto"
  i=0
  for opts in "-m crc=0" "-m crc=1" "-m crc=0 -b size=1024" "-m crc=1 -n size=8192"; do
    img="$t/x.img"; rm -f "$img"; truncate -s 32M "$img"
    # shellcheck disable=SC2086
    if TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f $opts -d agcount=2 -p "$t/proto" "$img" >/dev/null 2>&1; then
      head -c 1048576 "$img" >"$corpus/seed-$i.img"; i=$((i+1))
    fi
  done
  rm -rf "$t"
fi
if [ "$target" = ntfs_structs ] && [ -z "$(ls -A "$corpus")" ]; then
  # whole 2 MiB NTFS volumes (512-byte clusters: mkntfs's smallest volume) filled through
  # ntfs-3g: a directory with index allocation, a DOS name, LZNT1-compressed and sparse files,
  # a stream, an Interix symlink, a WSL symlink; one with 4 KiB clusters. Inputs up to 2 MiB.
  export PATH="$PATH:/usr/sbin:/sbin"
  m=$(mktemp -d); trap 'umount "$m" 2>/dev/null || true' EXIT
  for c in 512 4096; do
    img="$corpus/seed-$c.img"; size=2M; [ $c = 4096 ] && size=4M
    truncate -s $size "$img"
    mkntfs -F -Q -c $c -L SEED "$img" >/dev/null 2>&1
    ntfs-3g -o compression,streams_interface=xattr "$img" "$m"
    mkdir "$m/d" "$m/c"
    for i in $(seq 1 60); do echo "$i" > "$m/d/file-with-a-long-name-$i.txt"; done
    setfattr -n system.ntfs_dos_name -v "FILE-W~1.TXT" "$m/d/file-with-a-long-name-1.txt"
    setfattr -n system.ntfs_attrib_be -v 0x00000810 "$m/c"
    python3 -c "import sys; sys.stdout.write('hello\\n' * 4000)" > "$m/c/comp.txt"
    echo data > "$m/s.txt"; setfattr -n user.x -v stream "$m/s.txt"
    ln -s s.txt "$m/lnk"; truncate -s 100000 "$m/sparse.bin"
    : > "$m/wsl"; setfattr -h -n system.ntfs_reparse_data -v 0x1d0000a00900000002000000732e747874 "$m/wsl"
    umount "$m"
    [ $c = 4096 ] && head -c 2097152 "$img" > "$img.2m" && mv "$img.2m" "$img"
  done
  rmdir "$m"
fi
if [ "$target" = hive ] && [ -z "$(ls -A "$corpus")" ]; then
  # libguestfs's empty hive and the phony Windows guest's hives (fixtures/mk-guests-windows.sh)
  cp ../tests/data/libguestfs-windows/minimal-hive "$corpus/minimal-hive"
  for h in software system; do
    [ -f "../fixtures/build/guest-windows.$h" ] && cp "../fixtures/build/guest-windows.$h" "$corpus/$h"
  done
fi
if [ "${target#rpm}" != "$target" ] && [ -z "$(ls -A "$corpus")" ] && [ -f ../fixtures/build/rpmdb-sqlite/var/lib/rpm/rpmdb.sqlite ]; then
  # from the rpm database fixture (fixtures/mk-rpmdb.sh): rpm_header gets header blobs;
  # rpmdb_sqlite small Packages tables copied by sqlite3 (page sizes 512 to 65536, one with
  # the 470 KB header); rpmdb_bdb small hash files made by db5.3_load (page sizes 512 to 4096, one big-endian)
  fx=../fixtures/build/rpmdb-sqlite/var/lib/rpm/rpmdb.sqlite
  case $target in
    rpm_header)
      for h in $(sqlite3 "$fx" 'select hnum from Packages where length(blob) < 8000 limit 12'); do
        sqlite3 "$fx" "select hex(blob) from Packages where hnum = $h" | xxd -r -p > "$corpus/header-$h"
      done ;;
    rpmdb_sqlite)
      for ps in 512 1024 4096 65536; do
        sqlite3 "$corpus/seed-$ps.sqlite" "PRAGMA page_size=$ps; CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL); ATTACH '$fx' AS f; INSERT INTO Packages SELECT hnum, blob FROM f.Packages WHERE length(blob) < 3000 LIMIT 6;"
      done
      sqlite3 "$corpus/seed-big.sqlite" "PRAGMA page_size=4096; CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL); ATTACH '$fx' AS f; INSERT INTO Packages SELECT hnum, blob FROM f.Packages WHERE length(blob) < 2200 OR length(blob) > 100000;" ;;
    rpmdb_bdb)
      for ps in 512 1024 4096 be; do
        # "be": 1024-byte pages, big-endian (db_lorder=4321)
        lorder=1234; [ "$ps" = be ] && lorder=4321
        { printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=%s\ndb_lorder=%s\nh_ffactor=2\nHEADER=END\n 00000000\n 08000000\n' "${ps/be/1024}" "$lorder"
          sqlite3 -separator ' ' "$fx" 'select hnum, lower(hex(blob)) from Packages where length(blob) < 2200 limit 6' |
            while read -r n blob; do printf ' %02x000000\n %s\n' "$n" "$blob"; done
          printf 'DATA=END\n'; } | db5.3_load -t hash "$corpus/seed-$ps.db"
      done ;;
  esac
fi
if [ "$target" = selinux_fc ] && [ -z "$(ls -A "$corpus")" ]; then
  # the SELinux policy of the guest fixture tree: file_contexts, NUL, .local, NUL, .subs_dist,
  # NUL, lookup paths (first byte: file type); and the .homedirs part as a base alone
  fc=../fixtures/trees/selinux-el9/etc/selinux/targeted/contexts/files/file_contexts
  { cat $fc; printf '\0'; cat $fc.local; printf '\0'; cat $fc.subs_dist; printf '\0'
    printf '1etc/motd\n2root/.ssh\n1home/rocky/.ssh/authorized_keys\n3bin/sh\n1opt/legacy/x\n1run/sshd.pid\n'; } > "$corpus/seed-el9"
  { cat $fc.homedirs; printf '\0\0\0'; printf '2home/a\n1home/a/.ssh/x\n'; } > "$corpus/seed-homedirs"
fi
if [ "$target" = btrfs_structs ] && [ -z "$(ls -A "$corpus")" ] && [ -d ../fixtures/build ]; then
  # first byte selects the parser: 0 superblock, 0x82 a 16 KiB tree block (every leaf and node
  # of the fixtures' first 64 MiB, found by their fsid), 5/6/7 extent items and decoders
  python3 - "$corpus" ../fixtures/build/btrfs-*.img <<'PY'
import os, sys
out = sys.argv[1]
for f in sys.argv[2:]:
    d = open(f, 'rb').read(64 << 20)
    if len(d) < 0x11000 or d[0x10040:0x10048] != b'_BHRfS_M': continue
    base = os.path.basename(f); sb = d[0x10000:0x11000]; fsid = sb[0x20:0x30]
    nodesize = int.from_bytes(sb[0x94:0x98], 'little')
    open(os.path.join(out, base + '-sb'), 'wb').write(b'\0' + sb)
    n = 0
    for off in range(0, len(d) - nodesize, nodesize):
        if d[off + 0x20:off + 0x30] == fsid and n < 200 and nodesize == 16384:
            open(os.path.join(out, '%s-node-%d' % (base, n)), 'wb').write(b'\x82' + d[off:off + nodesize]); n += 1
PY
fi
if [ "$target" = initramfs ] && [ -z "$(ls -A "$corpus")" ]; then
  # as fixtures/mk-virtio.sh builds them: newc archives by cpio, a plain one and an uncompressed
  # early-microcode cpio followed by a gzip, xz or zstd compressed main cpio
  t=$(mktemp -d); mkdir -p "$t/early/kernel/x86/microcode" "$t/main/usr/lib/modules/5.14.0/kernel/drivers/block" "$t/main/etc"
  head -c 4096 /dev/urandom >"$t/early/kernel/x86/microcode/GenuineIntel.bin"
  printf '#!/bin/sh\nexec /sbin/init\n' >"$t/main/init"; echo NAME=initramfs >"$t/main/etc/os-release"
  echo module >"$t/main/usr/lib/modules/5.14.0/kernel/drivers/block/virtio_blk.ko"; ln -s init "$t/main/linuxrc"
  newc() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible); }
  newc "$t/main" >"$corpus/seed-plain.cpio"
  newc "$t/early" >"$t/early.cpio"
  for z in gzip xz zstd; do { cat "$t/early.cpio"; newc "$t/main" | $z -c; } >"$corpus/seed-$z.img"; done
  rm -rf "$t"
fi
if [ "$target" = boot_entries ] && [ -z "$(ls -A "$corpus")" ]; then
  # the grub.cfg files of the sysprep fixture trees, and kernel version pairs (first line, rest)
  for g in ../fixtures/trees/*/boot/grub/grub.cfg ../fixtures/trees/*/grub2/grub.cfg; do
    [ -f "$g" ] && cp "$g" "$corpus/$(echo "$g" | cut -d/ -f4)-grub.cfg"
  done
  printf '5.14.0-427.13.1.el9_4.x86_64\n5.14.0-503.el9.x86_64' >"$corpus/seed-vers-el9"
  printf '6.7.1-200.fc40.x86_64\n6.10.0-rc1~1.fc41.x86_64' >"$corpus/seed-vers-tilde"
  printf '5.15.0-91-generic\n5.15.0-101-generic' >"$corpus/seed-vers-ubuntu"
fi
if [ -z "$(ls -A "$corpus")" ] && [ -d ../fixtures/build ]; then
  # seed with the first 1 MiB of every fixture image (enough for every table and superblock)
  for f in ../fixtures/build/*.raw ../fixtures/build/*.qcow2 ../fixtures/build/*.img \
           ../fixtures/build/*.iso ../fixtures/demo.qcow2; do
    [ -e "$f" ] && head -c 1048576 "$f" > "$corpus/$(basename "$f")"
  done
fi
dict=()
[ -f "dict/$target.dict" ] && dict=(-dict="dict/$target.dict")
cargo fuzz run "$target" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=2048 \
  -max_len=1048576 -timeout=5 "${dict[@]}" "$@"
