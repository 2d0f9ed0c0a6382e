//! Partition tables: our reader against sfdisk/sgdisk/blkid on fixtures built by
//! `fixtures/mk-part.sh`, and hostile tables made by patching bytes of those fixtures.

mod common;
use common::Rng;

use common::{fixture, run};
use std::collections::BTreeMap;
use vguestfs::disk::{self, BlockDev, RawFile};
use std::path::{Path, PathBuf};
use vguestfs::guest::DriveOptions;
use vguestfs::part::{self, PartKind, PartitionTable, TableKind};
use vguestfs::Guest;

/// A fixture seen through a byte-level patch overlay, optionally cut short: a temp copy of
/// the image without copying 100 MB per case. Named like a guest disk so errors can be checked.
struct Patched {
    base: RawFile,
    len: u64,
    patches: BTreeMap<u64, u8>,
}

impl Patched {
    fn new(name: &str) -> Patched {
        let base = RawFile::open(&fixture(name), false).expect("open fixture");
        let len = base.len();
        Patched { base, len, patches: BTreeMap::new() }
    }

    fn set(&mut self, off: u64, bytes: &[u8]) {
        for (i, b) in (0u64..).zip(bytes) {
            self.patches.insert(off + i, *b);
        }
    }

    fn get(&self, off: u64, len: usize) -> Vec<u8> {
        disk::read_vec(self, off, len).expect("read")
    }

    fn u32_at(&self, off: u64) -> u32 {
        u32::from_le_bytes(self.get(off, 4).try_into().unwrap())
    }

    fn u64_at(&self, off: u64) -> u64 {
        u64::from_le_bytes(self.get(off, 8).try_into().unwrap())
    }

    /// Recomputes the entry-array CRC and the header CRC of the GPT header at `lba` (as a tool
    /// writing a hostile table would), when the header's sizes are sane enough to do so.
    fn fix_gpt_crcs(&mut self, lba: u64) {
        let h = lba * 512;
        let header_size = self.u32_at(h + 12).clamp(92, 512) as usize;
        let entries_lba = self.u64_at(h + 72);
        let bytes = u64::from(self.u32_at(h + 80)) * u64::from(self.u32_at(h + 84));
        if bytes <= 1 << 20 && entries_lba < self.len / 512 && entries_lba * 512 + bytes <= self.len {
            let crc = crc32fast::hash(&self.get(entries_lba * 512, bytes as usize));
            self.set(h + 88, &crc.to_le_bytes());
        }
        let mut header = self.get(h, header_size);
        header[16..20].fill(0);
        self.set(h + 16, &crc32fast::hash(&header).to_le_bytes());
    }

    fn last_lba(&self) -> u64 {
        self.len / 512 - 1
    }
}

impl BlockDev for Patched {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> disk::Result<()> {
        let end = off + buf.len() as u64;
        if end > self.len {
            return Err(disk::Error::OutOfRange { dev: self.name(), offset: off, len: buf.len() as u64, size: self.len });
        }
        self.base.read_at(buf, off)?;
        for (&at, &b) in self.patches.range(off..end) {
            buf[(at - off) as usize] = b;
        }
        Ok(())
    }

    fn write_at(&self, _buf: &[u8], _off: u64) -> disk::Result<()> {
        Err(disk::Error::ReadOnly { dev: self.name() })
    }

    fn flush(&self) -> disk::Result<()> {
        Ok(())
    }

    fn is_writable(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        "/dev/sda".into()
    }
}

fn read_fixture(name: &str) -> Option<PartitionTable> {
    let dev = RawFile::open(&fixture(name), false).expect("open fixture");
    PartitionTable::read(&dev).expect("read partition table")
}

fn sfdisk_json(name: &str) -> serde_json::Value {
    let path = fixture(name);
    let out = run("sfdisk", &["-J", path.to_str().unwrap()]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["partitiontable"].clone()
}

/// Partition number from an sfdisk node name (`/path/img.raw7` → 7).
fn node_number(node: &str) -> u32 {
    let digits: String = node.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

/// The value after `label: ` in `sgdisk -i N` output.
fn sgdisk_field(info: &str, label: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("sgdisk output has no {label:?}: {info}"))
        .trim()
        .to_string()
}

fn check_gpt_against_tools(name: &str) {
    let table = read_fixture(name).expect("a partition table");
    let oracle = sfdisk_json(name);
    assert_eq!(oracle["label"], "gpt");
    assert_eq!(table.kind, TableKind::Gpt);
    assert_eq!(table.kind.to_string(), "gpt");
    assert_eq!(table.disk_guid.as_deref(), oracle["id"].as_str());
    assert_eq!(table.mbr_signature, None);
    assert!(table.warnings.is_empty(), "{:?}", table.warnings);
    let parts = oracle["partitions"].as_array().unwrap();
    assert_eq!(table.partitions.len(), parts.len());
    let path = fixture(name);
    for (ours, theirs) in table.partitions.iter().zip(parts) {
        assert_eq!(ours.number, node_number(theirs["node"].as_str().unwrap()));
        assert_eq!(ours.start, theirs["start"].as_u64().unwrap() * 512);
        assert_eq!(ours.size, theirs["size"].as_u64().unwrap() * 512);
        let PartKind::Gpt { type_guid, guid, name, attributes } = &ours.kind else {
            panic!("GPT partition of MBR kind: {ours:?}");
        };
        assert_eq!(type_guid, theirs["type"].as_str().unwrap());
        assert_eq!(guid, theirs["uuid"].as_str().unwrap());
        assert_eq!(name, theirs["name"].as_str().unwrap_or(""));
        let info = run("sgdisk", &["-i", &ours.number.to_string(), path.to_str().unwrap()]);
        let code = sgdisk_field(&info, "Partition GUID code:");
        assert!(code.starts_with(type_guid.as_str()), "{code} vs {type_guid}");
        assert_eq!(&sgdisk_field(&info, "Partition unique GUID:"), guid);
        let flags = u64::from_str_radix(&sgdisk_field(&info, "Attribute flags:"), 16).unwrap();
        assert_eq!(*attributes, flags);
        assert_eq!(format!("'{name}'"), sgdisk_field(&info, "Partition name:"));
    }
}

#[test]
fn gpt_matches_sfdisk_and_sgdisk() {
    check_gpt_against_tools("gpt-esp-ext4.raw");
    // The fixture sets attribute bits, so the attribute comparison is not only zeros.
    let table = read_fixture("gpt-esp-ext4.raw").unwrap();
    assert!(matches!(table.partitions[1].kind, PartKind::Gpt { attributes, .. } if attributes != 0));
}

#[test]
fn gpt_with_256_entries_gaps_and_utf16_names_matches_sgdisk() {
    check_gpt_against_tools("gpt-many.raw");
    let numbers: Vec<u32> = read_fixture("gpt-many.raw").unwrap().partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 3, 5]);
}

#[test]
fn hybrid_mbr_reads_the_gpt() {
    let sector0 = std::fs::read(fixture("gpt-hybrid.raw")).unwrap()[..512].to_vec();
    // sgdisk -h made a real hybrid: a data entry besides the 0xEE one.
    let types: Vec<u8> = (0..4).map(|i| sector0[446 + 16 * i + 4]).collect();
    assert!(types.contains(&0xEE) && types.iter().any(|&t| t != 0 && t != 0xEE), "{types:x?}");
    check_gpt_against_tools("gpt-hybrid.raw");
}

fn check_mbr_against_sfdisk(name: &str) -> PartitionTable {
    let table = read_fixture(name).expect("a partition table");
    let oracle = sfdisk_json(name);
    assert_eq!(oracle["label"], "dos");
    assert_eq!(table.kind, TableKind::Mbr);
    assert_eq!(table.kind.to_string(), "msdos");
    assert_eq!(table.disk_guid, None);
    let id = oracle["id"].as_str().unwrap().trim_start_matches("0x");
    assert_eq!(table.mbr_signature, Some(u32::from_str_radix(id, 16).unwrap()));
    let parts = oracle["partitions"].as_array().unwrap();
    assert_eq!(table.partitions.len(), parts.len());
    for (ours, theirs) in table.partitions.iter().zip(parts) {
        let number = node_number(theirs["node"].as_str().unwrap());
        assert_eq!(ours.number, number);
        assert_eq!(ours.start, theirs["start"].as_u64().unwrap() * 512);
        assert_eq!(ours.size, theirs["size"].as_u64().unwrap() * 512);
        let PartKind::Mbr { id, bootable, logical, extended } = ours.kind else {
            panic!("MBR partition of GPT kind: {ours:?}");
        };
        let their_id = u8::from_str_radix(theirs["type"].as_str().unwrap(), 16).unwrap();
        assert_eq!(id, their_id);
        assert_eq!(bootable, theirs["bootable"].as_bool().unwrap_or(false));
        assert_eq!(logical, number >= 5);
        assert_eq!(extended, matches!(their_id, 0x05 | 0x0F | 0x85));
    }
    table
}

#[test]
fn mbr_with_logicals_matches_sfdisk() {
    let table = check_mbr_against_sfdisk("mbr-logical.raw");
    let numbers: Vec<u32> = table.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 5, 6, 7]);
}

#[test]
fn mbr_with_gaps_and_empty_extended_matches_sfdisk() {
    let table = check_mbr_against_sfdisk("mbr-sparse.raw");
    let numbers: Vec<u32> = table.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 4]);
}

#[test]
fn whole_disk_filesystems_have_no_table() {
    for name in ["whole-ext2.raw", "whole-vfat.raw", "whole-fat32.raw", "whole-ntfs.raw"] {
        let path = fixture(name);
        let blkid = run("blkid", &["-p", "-o", "export", path.to_str().unwrap()]);
        assert!(blkid.contains("USAGE=filesystem") && !blkid.contains("PTTYPE="), "{name}: {blkid}");
        assert_eq!(read_fixture(name), None, "{name}");
    }
    // The FAT boot sectors do carry 0x55AA: the FAT check is what rejects them.
    let fat = std::fs::read(fixture("whole-vfat.raw")).unwrap();
    assert_eq!(&fat[510..512], &[0x55, 0xAA]);
}

fn expect_err(dev: &Patched, needles: &[&str]) -> String {
    let msg = match PartitionTable::read(dev) {
        Ok(t) => panic!("expected an error containing {needles:?}, got {t:?}"),
        Err(e) => e.to_string(),
    };
    assert!(msg.starts_with("/dev/sda: "), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "{msg:?} lacks {n:?}");
    }
    msg
}

/// The EBR chain of an MBR fixture: (absolute sector of the EBR, byte offset of its link entry).
fn ebr_chain(dev: &Patched) -> (u64, Vec<(u64, u64)>) {
    let ext = (0..4u64).map(|i| 446 + 16 * i).find(|&at| matches!(dev.get(at + 4, 1)[0], 0x05 | 0x0F)).expect("extended entry");
    let ext_start = u64::from(dev.u32_at(ext + 8));
    let mut chain = Vec::new();
    let mut ebr = ext_start;
    loop {
        let link = (0..4u64).map(|i| ebr * 512 + 446 + 16 * i).find(|&at| matches!(dev.get(at + 4, 1)[0], 0x05 | 0x0F));
        chain.push((ebr, link.unwrap_or(0)));
        match link {
            Some(at) => ebr = ext_start + u64::from(dev.u32_at(at + 8)),
            None => return (ext_start, chain),
        }
    }
}

#[test]
fn ebr_loops_are_detected() {
    let base = Patched::new("mbr-logical.raw");
    let (ext_start, chain) = ebr_chain(&base);
    assert_eq!(chain.len(), 3, "three logicals: {chain:?}");
    let (second, link) = chain[1];

    let mut to_itself = Patched::new("mbr-logical.raw");
    to_itself.set(link + 8, &((second - ext_start) as u32).to_le_bytes());
    expect_err(&to_itself, &[&format!("EBR at sector {second}"), "loops"]);

    let mut to_earlier = Patched::new("mbr-logical.raw");
    let (third, link3) = chain[2];
    assert_eq!(link3, 0, "last EBR has no link");
    // Give the last EBR a link back to the first one.
    to_earlier.set(third * 512 + 446 + 16 + 4, &[0x05]);
    to_earlier.set(third * 512 + 446 + 16 + 8, &0u32.to_le_bytes());
    to_earlier.set(third * 512 + 446 + 16 + 12, &2048u32.to_le_bytes());
    expect_err(&to_earlier, &[&format!("EBR at sector {third}"), "loops"]);
}

#[test]
fn ebr_outside_extended_partition_is_an_error() {
    let mut dev = Patched::new("mbr-logical.raw");
    let (ext_start, chain) = ebr_chain(&dev);
    let (first, link) = chain[0];
    let ext_size = dev.u32_at(446 + 2 * 16 + 12);
    dev.set(link + 8, &(ext_size + 10).to_le_bytes());
    let msg = expect_err(&dev, &[&format!("EBR at sector {first}"), "outside the extended partition"]);
    assert!(msg.contains(&(ext_start + u64::from(ext_size) + 10).to_string()), "{msg}");
}

#[test]
fn ebr_chain_is_bounded() {
    // 140 EBRs, each with a 1-sector logical partition and a link to the next: longer than the
    // 128 logicals we accept, though neither looping nor leaving the extended partition.
    let mut dev = Patched::new("mbr-logical.raw");
    let (ext_start, _) = ebr_chain(&dev);
    for k in 0..140u64 {
        let ebr = (ext_start + 2 * k) * 512;
        let data = [0u8, 0, 0, 0, 0x83, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
        let mut link = [0u8, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
        link[8..12].copy_from_slice(&(2 * (k as u32 + 1)).to_le_bytes());
        dev.set(ebr + 446, &data);
        dev.set(ebr + 462, &link);
        dev.set(ebr + 510, &[0x55, 0xAA]);
    }
    expect_err(&dev, &["more than 128"]);
}

#[test]
fn mbr_partition_past_end_names_it() {
    let mut dev = Patched::new("mbr-logical.raw");
    dev.set(446 + 16 + 12, &0x00F0_0000u32.to_le_bytes());
    expect_err(&dev, &["partition 2 ", "beyond the end of the device"]);

    let mut truncated = Patched::new("mbr-logical.raw");
    truncated.len = 40 << 20; // cuts the extended partition 3 (17..61 MiB)
    expect_err(&truncated, &["partition 3 ", "truncated"]);
}

#[test]
fn logical_partition_past_end_names_it() {
    let mut dev = Patched::new("mbr-logical.raw");
    let (_, chain) = ebr_chain(&dev);
    let (second, _) = chain[1];
    // The data entry of the second EBR (logical 6) grows past the end of the disk.
    dev.set(second * 512 + 446 + 12, &0x0100_0000u32.to_le_bytes());
    expect_err(&dev, &["partition 6 ", "beyond the end of the device"]);
}

#[test]
fn ebr_without_signature_is_an_error() {
    let mut dev = Patched::new("mbr-logical.raw");
    let (_, chain) = ebr_chain(&dev);
    let (third, _) = chain[2];
    dev.set(third * 512 + 510, &[0, 0]);
    expect_err(&dev, &[&format!("EBR at sector {third}"), "0x55AA"]);
}

#[test]
fn truncated_gpt_image_is_an_error() {
    let mut dev = Patched::new("gpt-esp-ext4.raw");
    dev.len = 50 << 20;
    expect_err(&dev, &["GPT", "LBA 1", "truncated"]);
}

#[test]
fn gpt_backup_header_replaces_a_corrupt_primary() {
    let good = read_fixture("gpt-esp-ext4.raw").unwrap();

    let mut crc = Patched::new("gpt-esp-ext4.raw");
    let stored = crc.u32_at(512 + 16);
    crc.set(512 + 16, &(stored ^ 1).to_le_bytes());
    let table = PartitionTable::read(&crc).unwrap().unwrap();
    assert_eq!(table.partitions, good.partitions);
    assert_eq!(table.disk_guid, good.disk_guid);
    assert_eq!(table.warnings.len(), 1, "{:?}", table.warnings);
    assert!(table.warnings[0].contains("primary GPT header at LBA 1 corrupt"), "{:?}", table.warnings);
    assert!(table.warnings[0].contains("CRC mismatch"), "{:?}", table.warnings);

    // The primary's entry array damaged: the backup's own array is used.
    let mut entries = Patched::new("gpt-esp-ext4.raw");
    entries.set(2 * 512 + 100, b"X");
    let table = PartitionTable::read(&entries).unwrap().unwrap();
    assert_eq!(table.partitions, good.partitions);
    assert!(table.warnings[0].contains("entry array CRC mismatch"), "{:?}", table.warnings);
}

#[test]
fn gpt_corrupt_backup_is_a_warning() {
    let mut dev = Patched::new("gpt-esp-ext4.raw");
    let last = dev.last_lba();
    dev.set(last * 512 + 20, &[0xFF]);
    let table = PartitionTable::read(&dev).unwrap().unwrap();
    assert!(table.warnings.iter().any(|w| w.contains(&format!("backup GPT header at LBA {last} corrupt"))));
}

#[test]
fn gpt_both_headers_bad_is_an_error() {
    let mut dev = Patched::new("gpt-esp-ext4.raw");
    let last = dev.last_lba();
    dev.set(512 + 16, &[0, 0, 0, 0]);
    dev.set(last * 512 + 16, &[0, 0, 0, 0]);
    expect_err(&dev, &["GPT", "LBA 1: header CRC mismatch", &format!("LBA {last}: header CRC mismatch")]);

    // Entry arrays damaged behind both (valid) headers.
    let mut entries = Patched::new("gpt-esp-ext4.raw");
    let backup_entries = entries.u64_at(last * 512 + 72);
    entries.set(2 * 512 + 100, b"X");
    entries.set(backup_entries * 512 + 100, b"X");
    expect_err(&entries, &["entry array CRC mismatch"]);
}

#[test]
fn gpt_absurd_entry_count_is_refused_before_allocating() {
    let mut dev = Patched::new("gpt-esp-ext4.raw");
    let last = dev.last_lba();
    for lba in [1, last] {
        dev.set(lba * 512 + 80, &u32::MAX.to_le_bytes());
        dev.fix_gpt_crcs(lba);
    }
    expect_err(&dev, &["4294967295 partition entries of 128 bytes exceed"]);

    // Entry size not a multiple of 128, CRC made valid.
    let mut odd = Patched::new("gpt-esp-ext4.raw");
    for lba in [1, last] {
        odd.set(lba * 512 + 84, &200u32.to_le_bytes());
        odd.fix_gpt_crcs(lba);
    }
    expect_err(&odd, &["entry size 200"]);
}

#[test]
fn gpt_partition_past_end_names_it() {
    let mut dev = Patched::new("gpt-esp-ext4.raw");
    let last = dev.last_lba();
    for lba in [1, last] {
        let entries = dev.u64_at(lba * 512 + 72);
        dev.set(entries * 512 + 128 + 40, &(last + 1000).to_le_bytes()); // entry 2, last LBA
        dev.fix_gpt_crcs(lba);
    }
    expect_err(&dev, &["partition 2 ", "beyond the end of the device"]);
}

#[test]
fn protective_mbr_without_gpt_is_an_error() {
    let mut dev = Patched::new("gpt-esp-ext4.raw");
    let last = dev.last_lba();
    dev.set(512, b"NOT PART");
    dev.set(last * 512, b"NOT PART");
    let err = PartitionTable::read(&dev).unwrap_err();
    assert!(matches!(err, part::Error::Gpt { .. }), "{err}");
    assert!(err.to_string().contains("protective MBR but no valid GPT"), "{err}");
}


#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let (mut tables, mut errors) = (0, 0);
    for name in ["gpt-esp-ext4.raw", "gpt-hybrid.raw", "gpt-many.raw", "mbr-logical.raw", "mbr-sparse.raw", "whole-vfat.raw"] {
        let probe = Patched::new(name);
        let len = probe.len;
        // Metadata regions: MBR + primary GPT, backup GPT, and the EBRs of the MBR fixture.
        let mut regions = vec![(0, 34 * 512), (len - 33 * 512, 33 * 512)];
        if name.starts_with("mbr") {
            regions.extend(ebr_chain(&probe).1.iter().map(|&(ebr, _)| (ebr * 512, 512)));
        }
        for _ in 0..1000 {
            let mut dev = Patched::new(name);
            for _ in 0..1 + rng.below(8) {
                let (start, size) = regions[rng.below(regions.len() as u64) as usize];
                let off = start + rng.below(size);
                let value = match rng.below(4) {
                    0 => 0,
                    1 => 0xFF,
                    _ => rng.next() as u8,
                };
                dev.set(off, &[value]);
            }
            if name.starts_with("gpt") && rng.below(2) == 0 {
                dev.fix_gpt_crcs(1);
                let last = dev.last_lba();
                dev.fix_gpt_crcs(last);
            }
            if rng.below(8) == 0 {
                dev.len = rng.below(len + 1);
            }
            // Any result is fine; a panic, hang or huge allocation is not.
            match PartitionTable::read(&dev) {
                Ok(Some(_)) => tables += 1,
                Ok(None) => {}
                Err(_) => errors += 1,
            }
        }
    }
    // The mutations reach both the accepting and the rejecting paths.
    assert!(tables > 500 && errors > 500, "{tables} tables, {errors} errors");
}

/// `fdisk -b 4096 -l IMG`: (number, start byte, size in bytes) of each partition.
fn fdisk_4k(img: &Path) -> Vec<(u32, u64, u64)> {
    let out = common::run("fdisk", &["-b", "4096", "-l", img.to_str().unwrap()]);
    let name = img.to_str().unwrap();
    out.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let mut f = rest.split_whitespace().filter(|w| *w != "*");
            let number: u32 = f.next()?.parse().ok()?;
            let (start, _end, sectors): (u64, u64, u64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some((number, start * 4096, sectors * 4096))
        })
        .collect()
}

/// A 64 MiB image partitioned by `fdisk -b 4096` with the given commands, with an ext4 made by
/// mkfs.ext4 in the partition starting at 1 MiB.
fn disk_4k(dir: &Path, name: &str, commands: &str) -> PathBuf {
    let img = dir.join(name);
    common::run("truncate", &["-s", "64M", img.to_str().unwrap()]);
    let mut fdisk = std::process::Command::new("fdisk")
        .args(["-b", "4096", img.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut fdisk.stdin.take().unwrap(), commands.as_bytes()).unwrap();
    assert!(fdisk.wait().unwrap().success());
    let fs = dir.join("p1.ext4");
    common::run("truncate", &["-s", "16M", fs.to_str().unwrap()]);
    common::run("mkfs.ext4", &["-q", "-F", "-b", "4096", fs.to_str().unwrap()]);
    common::run("debugfs", &["-w", "-R", "write /etc/hostname hostname", fs.to_str().unwrap()]);
    let (input, output) = (format!("if={}", fs.display()), format!("of={}", img.display()));
    common::run("dd", &[&input, &output, "bs=1M", "seek=1", "conv=notrunc"]);
    img
}

/// Issue 23 item 7: disks with 4096-byte logical sectors (made with `fdisk -b 4096`) are read
/// at their real layout — the MBR's primary, extended and logical partitions 5–7, and a GPT —
/// as `fdisk -b 4096 -l` lists them, without being told; `read_with` takes the size as
/// libguestfs' `blocksize` does; the ext4 in partition 1 mounts and reads; growing a 4K
/// table is refused with an error that says why.
#[test]
fn four_k_sector_disks_read_at_their_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mbr = disk_4k(dir.path(), "mbr4k.img", "o\nn\np\n1\n256\n4351\nn\ne\n2\n4352\n12543\nn\nl\n4608\n5631\nn\nl\n5888\n6911\nn\nl\n7168\n8191\nt\n6\n82\nw\n");
    let gpt = disk_4k(dir.path(), "gpt4k.img", "g\nn\n1\n256\n4351\nn\n2\n4352\n8447\nw\n");
    for img in [&mbr, &gpt] {
        let dev = RawFile::open(img, false).unwrap();
        let want = fdisk_4k(img);
        assert!(want.len() >= 2, "{want:?}");
        for table in [PartitionTable::read(&dev).unwrap().unwrap(), PartitionTable::read_with(&dev, Some(4096)).unwrap().unwrap()] {
            assert_eq!(table.sector_size, 4096, "{}", img.display());
            let got: Vec<(u32, u64, u64)> = table.partitions.iter().map(|p| (p.number, p.start, p.size)).collect();
            assert_eq!(got, want, "{}", img.display());
            let err = vguestfs::part::grow::plan(&dev, &table, 1, &Default::default()).unwrap_err().to_string();
            assert!(err.contains("4096-byte logical sectors"), "{err}");
        }
        let mut g = Guest::new();
        g.add_drive(img, DriveOptions { readonly: true, format: Some(vguestfs::disk::Format::Raw), ..Default::default() }).unwrap();
        g.launch().unwrap();
        g.mount_ro("/dev/sda1", "/").unwrap();
        assert_eq!(g.read_file("/hostname").unwrap(), std::fs::read("/etc/hostname").unwrap());
    }
    // Read as 512-byte sectors (the old behaviour) the MBR disk is another layout altogether.
    let dev = RawFile::open(&mbr, false).unwrap();
    let at_512 = PartitionTable::read_with(&dev, Some(512)).unwrap().unwrap();
    assert_eq!(at_512.partitions[0].start, 256 * 512);
}
