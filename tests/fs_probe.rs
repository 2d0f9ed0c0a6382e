//! `fs::probe` against the oracle `blkid -p -o export` on images made by real mkfs tools
//! (fixtures/mk-fs.sh), plus hostile input: truncated and mutated images must never panic.

mod common;
use common::Rng;

use common::{fixture, run};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use vguestfs::disk::{self, BlockDev, MemDev, RawFile};
use vguestfs::fs::{probe, FsInfo};

/// Every fixture of mk-fs.sh with the blkid TYPE it must have.
const FIXTURES: &[(&str, &str)] = &[
    ("fs-ext2.img", "ext2"),
    ("fs-ext3.img", "ext3"),
    ("fs-ext4.img", "ext4"),
    ("fs-ext4-1k.img", "ext4"),
    ("fs-ext4-nojournal.img", "ext4"),
    ("fs-jbd.img", "jbd"),
    ("fs-ext2-journal.img", "ext3"),
    ("fs-ext2-extents.img", "ext4"),
    ("fs-ext4dev.img", "ext4dev"),
    ("fs-fat12.img", "vfat"),
    ("fs-fat16.img", "vfat"),
    ("fs-fat32.img", "vfat"),
    ("fs-fat16-nolabel.img", "vfat"),
    ("fs-swap.img", "swap"),
    ("fs-xfs.img", "xfs"),
    ("fs-btrfs.img", "btrfs"),
    ("fs-ntfs.img", "ntfs"),
    ("fs-iso.iso", "iso9660"),
    ("fs-iso-joliet.iso", "iso9660"),
    ("fs-luks1.img", "crypto_LUKS"),
    ("fs-luks2.img", "crypto_LUKS"),
    ("fs-squashfs.img", "squashfs"),
    ("fs-lvm-pv.img", "LVM2_member"),
];

/// Undoes blkid's export printing (`safe_print`): `\\` quotes the next character, `M-` sets the
/// high bit, `^X` is a control character. Values that are not UTF-8 compare as
/// `from_utf8_lossy`, as `probe` reports them.
fn unescape(v: &str) -> String {
    let mut out = Vec::new();
    let mut b = v.bytes().peekable();
    while let Some(mut c) = b.next() {
        let mut high = 0;
        if c == b'M' && b.peek() == Some(&b'-') {
            b.next();
            high = 0x80;
            c = b.next().unwrap_or(0);
        }
        if c == b'^' {
            c = b.next().unwrap_or(0) ^ 0x40;
        } else if c == b'\\' {
            c = b.next().unwrap_or(0);
        }
        out.push(c | high);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// blkid's low-level probe result for a file, as KEY → value; `None` when blkid refuses with
/// "ambivalent result" (several signatures), where `probe` reports the first in blkid's order.
fn blkid_answer(path: &std::path::Path) -> Option<HashMap<String, String>> {
    let p = path.to_str().expect("utf-8 fixture path");
    let out = std::process::Command::new("blkid").args(["-p", "-o", "export", p]).output().expect("run blkid");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ambivalent result") {
        return None;
    }
    // blkid exits 2 when it finds nothing; that is an answer, not a failure.
    assert!(out.status.success() || out.status.code() == Some(2), "blkid {p}: {stderr}");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect(),
    )
}

/// blkid's unambiguous answer for a file.
fn blkid(path: &std::path::Path) -> HashMap<String, String> {
    blkid_answer(path).unwrap_or_else(|| panic!("{}: blkid finds several signatures", path.display()))
}

fn open(name: &str) -> RawFile {
    RawFile::open(&fixture(name), false).expect("open fixture")
}

/// A device that counts the bytes read through it.
struct Counting<D> {
    inner: D,
    read: AtomicU64,
}

impl<D: BlockDev> BlockDev for Counting<D> {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> disk::Result<()> {
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.inner.read_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> disk::Result<()> {
        self.inner.write_at(buf, off)
    }
    fn flush(&self) -> disk::Result<()> {
        self.inner.flush()
    }
    fn is_writable(&self) -> bool {
        self.inner.is_writable()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
}

#[test]
fn matches_blkid_on_every_fixture() {
    for &(name, ty) in FIXTURES {
        let oracle = blkid(&fixture(name));
        assert_eq!(oracle.get("TYPE").map(String::as_str), Some(ty), "{name}: blkid disagrees with the fixture list");
        let dev = Counting { inner: open(name), read: AtomicU64::new(0) };
        let info = probe(&dev).unwrap_or_else(|e| panic!("{name}: {e}")).unwrap_or_else(|| panic!("{name}: not recognised"));
        let want = FsInfo {
            fs_type: ty.to_string(),
            uuid: oracle.get("UUID").cloned(),
            label: oracle.get("LABEL").cloned(),
            version: oracle.get("VERSION").cloned(),
        };
        assert_eq!(info, want, "{name}");
        let read = dev.read.load(Ordering::Relaxed);
        assert!(read <= 128 * 1024, "{name}: probe read {read} bytes");
    }
}

#[test]
fn fixtures_set_the_requested_ids() {
    // Independent of blkid: the values mk-fs.sh passed to the mkfs tools.
    let get = |n: &str| probe(&open(n)).unwrap().unwrap();
    assert_eq!(get("fs-ext4.img").uuid.as_deref(), Some("33333333-4444-5555-6666-777777777777"));
    assert_eq!(get("fs-fat32.img").uuid.as_deref(), Some("DEAD-BEEF"));
    assert_eq!(get("fs-fat12.img").label.as_deref(), Some("FAT12LBL"));
    assert_eq!(get("fs-luks2.img").label.as_deref(), Some("lukslabel"));
    assert_eq!(get("fs-lvm-pv.img").uuid.as_deref(), Some("Abcdef-1234-5678-9ABC-DEFG-hijk-lmnopq"));
}

#[test]
fn zeros_are_nothing() {
    assert!(!blkid(&fixture("fs-zero.img")).contains_key("TYPE"));
    assert_eq!(probe(&open("fs-zero.img")).unwrap(), None);
}

/// The first `max` bytes of a fixture.
fn prefix(name: &str, max: u64) -> Vec<u8> {
    let dev = open(name);
    let n = dev.len().min(max) as usize;
    disk::read_vec(&dev, 0, n).expect("read fixture")
}

#[test]
fn truncated_fixtures_never_panic() {
    let cuts: &[usize] = &[
        0, 1, 3, 11, 0x36, 0x52, 511, 512, 513, 1023, 1024, 1025, 1080, 1100, 1536, 2048, 4086, 4096, 4106, 8192,
        0x8000, 0x8001, 0x8006, 0x8800, 0x9000, 0xa000, 40960, 0x10000, 0x10040, 0x10048, 0x10100, 0x10300, 0x20000,
        0x100000, 0x400000,
    ];
    for &(name, _) in FIXTURES {
        let data = prefix(name, 4 << 20);
        for &cut in cuts.iter().filter(|&&c| c <= data.len()) {
            let dev = MemDev::new(data.get(..cut).unwrap_or(&data).to_vec());
            // A short device is "not that type" (or another type), never an error or a panic.
            let got = probe(&dev).unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            if let Some(info) = got {
                assert!(!info.fs_type.is_empty(), "{name} cut at {cut}");
            }
        }
    }
}

#[test]
fn truncated_fixtures_agree_with_blkid() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cuts: &[usize] = &[512, 1024, 1100, 2048, 4096, 8192, 0x8800, 0x9000, 40960, 0x10100, 0x10300, 0x20000, 0xfffff, 0x100000, 0x100001, 1474560, 1474561];
    for &(name, _) in FIXTURES {
        let data = prefix(name, 2 << 20);
        for &cut in cuts.iter().filter(|&&c| c < data.len()) {
            let path = tmp.path().join(format!("{name}.{cut}"));
            std::fs::write(&path, data.get(..cut).unwrap_or(&data)).expect("write prefix");
            let Some(oracle) = blkid_answer(&path) else { continue };
            let want = oracle.get("TYPE").map(|t| FsInfo {
                fs_type: t.clone(),
                uuid: oracle.get("UUID").cloned(),
                label: oracle.get("LABEL").cloned(),
                version: oracle.get("VERSION").cloned(),
            });
            let got = probe(&RawFile::open(&path, false).expect("open")).expect("probe");
            assert_eq!(got, want, "{name} cut at {cut}");
            std::fs::remove_file(&path).expect("remove prefix");
        }
    }
}


#[test]
fn mutated_superblocks_never_panic() {
    // Regions the probes read: boot sectors, ext superblock, swap page end, ISO descriptors,
    // btrfs superblock.
    let regions: &[(u64, u64)] = &[(0, 4096), (0x0ff0, 0x1000), (0x8000, 0x9800), (0x10000, 0x10300)];
    let mut rng = Rng(0x5eed_f00d_1234_5678);
    for &(name, _) in FIXTURES {
        let data = prefix(name, 16 << 20);
        let len = data.len() as u64;
        let dev = MemDev::new(data);
        for _ in 0..60 {
            let (lo, hi) = if rng.below(10) == 0 { (0, len) } else { regions[rng.below(regions.len() as u64) as usize] };
            let at = lo + rng.below(hi.saturating_sub(lo));
            let n = (1 + rng.below(4)).min(len.saturating_sub(at)) as usize;
            if n == 0 {
                continue;
            }
            let mut saved = vec![0u8; n];
            dev.read_at(&mut saved, at).unwrap();
            let fill: Vec<u8> = match rng.below(3) {
                0 => vec![0; n],
                1 => vec![0xff; n],
                _ => (0..n).map(|_| rng.next() as u8).collect(),
            };
            dev.write_at(&fill, at).unwrap();
            if let Ok(Some(info)) = probe(&dev) {
                assert!(!info.fs_type.is_empty(), "{name} mutated at {at}");
            }
            dev.write_at(&saved, at).unwrap();
        }
    }
}

/// A device whose reads fail.
struct Failing;

impl BlockDev for Failing {
    fn len(&self) -> u64 {
        1 << 20
    }
    fn read_at(&self, _buf: &mut [u8], _off: u64) -> disk::Result<()> {
        Err(disk::Error::Io { path: "/nonexistent".into(), op: "read", source: std::io::Error::other("media error") })
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
        "/dev/sdz9".into()
    }
}

#[test]
fn read_errors_name_the_device() {
    let err = probe(&Failing).expect_err("reads fail");
    let msg = err.to_string();
    assert!(msg.contains("/dev/sdz9") && msg.contains("media error"), "{msg}");
}

/// Fixtures for the differential test, with the byte ranges their headers occupy.
const DIFF_TARGETS: &[(&str, &[(u64, u64)])] = &[
    ("fs-ext2.img", &[(1024, 1024 + 0x168)]),
    ("fs-ext4.img", &[(1024 + 0x38, 1024 + 0x80), (1024 + 0x160, 1024 + 0x164)]),
    ("fs-ext4-1k.img", &[(1024 + 0x38, 1024 + 0x80)]),
    ("fs-jbd.img", &[(1024 + 0x5c, 1024 + 0x68)]),
    ("fs-fat12.img", &[(0, 0x40), (0x1fe, 0x200)]),
    ("fs-fat16.img", &[(0, 0x40)]),
    ("fs-fat16-nolabel.img", &[(0, 0x40)]),
    ("fs-fat32.img", &[(0, 0x60)]),
    ("fs-swap.img", &[(0, 8), (1024, 1024 + 48), (1024 + 172, 1024 + 180), (0xff6, 0x1000)]),
    ("fs-xfs.img", &[(0, 0x80)]),
    ("fs-btrfs.img", &[(0x10020, 0x10048), (0x1012b, 0x10140)]),
    ("fs-ntfs.img", &[(0, 0x50)]),
    ("fs-iso.iso", &[(0x8000, 0x8060), (0x832d, 0x834f)]),
    ("fs-iso-joliet.iso", &[(0x8000, 0x8060), (0x8800, 0x8860), (0x832d, 0x834f)]),
    ("fs-luks1.img", &[(0, 8), (168, 208)]),
    ("fs-luks2.img", &[(0, 0x20), (168, 208), (256, 264)]),
    ("fs-lvm-pv.img", &[(512, 512 + 72)]),
    ("fs-squashfs.img", &[(0, 32)]),
];

/// The first bytes of a FAT root directory (where the volume-label entry is), read from the
/// fixture's boot sector.
fn fat_root_dir(name: &str) -> (u64, u64) {
    let bs = prefix(name, 512);
    let le16 = |at: usize| u64::from(u16::from_le_bytes([bs[at], bs[at + 1]]));
    let le32 = |at: usize| u64::from(u32::from_le_bytes([bs[at], bs[at + 1], bs[at + 2], bs[at + 3]]));
    let (fat_len, root_cluster) = if le16(0x16) != 0 { (le16(0x16), 2) } else { (le32(0x24), le32(0x2c)) };
    let sectors = le16(0x0e) + u64::from(bs[0x10]) * fat_len + (root_cluster - 2) * u64::from(bs[0x0d]);
    let start = sectors * le16(0x0b);
    (start, start + 96)
}

/// The start of the NTFS `$Volume` MFT record (header and first attributes), read from the
/// fixture's boot sector.
fn ntfs_volume_record(name: &str) -> (u64, u64) {
    let bs = prefix(name, 512);
    let cluster = u64::from(u16::from_le_bytes([bs[0x0b], bs[0x0c]])) * u64::from(bs[0x0d]);
    let mft = u64::from_le_bytes(bs[0x30..0x38].try_into().expect("8 bytes")) * cluster;
    let record = match bs[0x40] as i8 {
        n if n < 0 => 1u64 << (-i32::from(n)),
        n => u64::from(n as u8) * cluster,
    };
    let start = mft + 3 * record;
    (start, start + 0x1a0)
}

/// Replacement bytes: field boundaries, padding, printable ASCII and FAT/ext flag values.
const FILLS: &[u8] = &[0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x30, 0x41, 0x61, 0x7a, 0x80, 0xe5, 0xf0, 0xf8, 0xff];

#[test]
fn mutated_headers_agree_with_blkid() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut compared, mut ambivalent) = (0, 0);
    let mut rng = Rng(0xb1c1_d00d_0000_0001);
    for &(name, regions) in DIFF_TARGETS {
        let mut regions = regions.to_vec();
        if name.starts_with("fs-fat") {
            regions.push(fat_root_dir(name));
        }
        if name == "fs-ntfs.img" {
            regions.push(ntfs_volume_record(name));
        }
        let path = tmp.path().join(name);
        run("cp", &["--sparse=always", fixture(name).to_str().expect("utf-8"), path.to_str().expect("utf-8")]);
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).expect("open copy");
        for _ in 0..60 {
            let (lo, hi) = regions[rng.below(regions.len() as u64) as usize];
            let at = lo + rng.below(hi - lo);
            let fill: Vec<u8> = (0..1 + rng.below(2)).map(|_| FILLS[rng.below(FILLS.len() as u64) as usize]).collect();
            let mut saved = vec![0u8; fill.len()];
            file.read_exact_at(&mut saved, at).expect("read");
            file.write_all_at(&fill, at).expect("write");
            let Some(oracle) = blkid_answer(&path) else {
                ambivalent += 1;
                file.write_all_at(&saved, at).expect("restore");
                continue;
            };
            compared += 1;
            let got = probe(&RawFile::open(&path, false).expect("open")).expect("probe");
            let want = oracle.get("TYPE").map(|t| FsInfo {
                fs_type: t.clone(),
                uuid: oracle.get("UUID").cloned(),
                label: oracle.get("LABEL").cloned(),
                version: oracle.get("VERSION").cloned(),
            });
            assert_eq!(got, want, "{name} with {fill:02x?} at {at:#x}");
            file.write_all_at(&saved, at).expect("restore");
        }
    }
    // Several signatures at once are rare; almost every case must have been compared.
    assert!(compared > 10 * ambivalent, "compared {compared}, ambivalent {ambivalent}");
}

#[test]
fn luks2_secondary_header_agrees_with_blkid() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("luks2.img");
    run("cp", &["--sparse=always", fixture("fs-luks2.img").to_str().expect("utf-8"), path.to_str().expect("utf-8")]);
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open copy");
    file.write_all_at(b"XXXX", 0).expect("wipe primary magic");
    let oracle = blkid(&path);
    assert_eq!(oracle.get("TYPE").map(String::as_str), Some("crypto_LUKS"), "blkid finds the secondary header");
    let got = probe(&RawFile::open(&path, false).expect("open")).expect("probe").expect("recognised");
    assert_eq!(got.uuid, oracle.get("UUID").cloned());
    assert_eq!(got.label, oracle.get("LABEL").cloned());
}
