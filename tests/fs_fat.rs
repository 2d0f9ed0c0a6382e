//! FAT12/16/32 read support (`fs::fat::FatFs`) against the real tools: images built by
//! `fixtures/mk-fat.sh` with mkfs.vfat + mtools from a source tree kept beside them. Every file
//! read through `FatFs` must equal the source file and `mtype`; listings equal `mdir -a -b` in
//! order; sizes and minutes equal `mdir -a`; mtimes equal the source mtimes at FAT's 2-second
//! granularity; `statvfs` equals `fsck.fat -v`; hostile copies never panic or hang.

mod common;

use common::{fixture, run};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use vguestfs::disk::{Dev, MemDev, RawFile};
use vguestfs::fs::fat::FatFs;
use vguestfs::fs::{Errno, Error, FileType, Filesystem, Ino};

const IMAGES: [&str; 3] = ["fat-tree-12.img", "fat-tree-16.img", "fat-tree-32.img"];

fn open_path(p: &Path) -> FatFs {
    let dev: Dev = Arc::new(RawFile::open(p, false).expect("open image"));
    FatFs::open(dev).expect("FatFs::open")
}

fn open_bytes(b: Vec<u8>) -> vguestfs::fs::Result<FatFs> {
    FatFs::open(Arc::new(MemDev::new(b)))
}

fn mtools(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Resolves a `/`-separated path from the root by `lookup`.
fn resolve(fs: &FatFs, path: &str) -> Ino {
    let mut ino = fs.root();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        ino = fs.lookup(ino, c.as_bytes()).unwrap().unwrap_or_else(|| panic!("{path}: {c} not found"));
    }
    ino
}

fn read_all(fs: &FatFs, ino: Ino) -> vguestfs::fs::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 40_000]; // not a multiple of any cluster size
    loop {
        let n = fs.read(ino, out.len() as u64, &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Every path (relative, `/`-separated) of the source tree, directories first.
fn source_paths(root: &Path) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let p = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let is_dir = e.file_type().unwrap().is_dir();
            if is_dir {
                todo.push(p.clone());
            }
            out.push((p, is_dir));
        }
    }
    out
}

#[test]
fn files_equal_source_tree_and_mtype() {
    let tree = fixture("fat-tree");
    for img in IMAGES {
        let path = fixture(img);
        let fs = open_path(&path);
        let mut files = 0;
        for (rel, is_dir) in source_paths(&tree) {
            let ino = resolve(&fs, &rel);
            let st = fs.stat(ino).unwrap();
            let meta = std::fs::metadata(tree.join(&rel)).unwrap();
            if is_dir {
                assert_eq!(st.file_type(), Some(FileType::Directory), "{img}: {rel}");
                continue;
            }
            files += 1;
            let data = read_all(&fs, ino).unwrap();
            assert_eq!(st.size, meta.len(), "{img}: {rel} size");
            assert_eq!(data, std::fs::read(tree.join(&rel)).unwrap(), "{img}: {rel} differs from the source");
            // mtools writes the source mtime (UTC here) with 2-second granularity.
            assert_eq!(st.mtime.sec, meta.mtime() - meta.mtime().rem_euclid(2), "{img}: {rel} mtime");
            assert_eq!(st.ctime, st.mtime, "{img}: {rel} ctime");
            assert_eq!(st.atime.sec % 86400, 0, "{img}: {rel} atime is a date");
            assert_eq!((st.uid, st.gid, st.nlink), (0, 0, 1));
            // mtype for everything outside the 600-entry directory, and a sample inside it.
            if !rel.starts_with("many/") || rel.ends_with("0.txt") {
                let mt = mtools("mtype", &["-i", path.to_str().unwrap(), &format!("::/{rel}")]);
                assert_eq!(data, mt, "{img}: {rel} differs from mtype");
            }
        }
        assert_eq!(files, 620, "{img}: files checked");
    }
}

#[test]
fn listings_equal_mdir_in_order() {
    let tree = fixture("fat-tree");
    for img in IMAGES {
        let path = fixture(img);
        let fs = open_path(&path);
        let dirs: Vec<String> = std::iter::once(String::new())
            .chain(source_paths(&tree).into_iter().filter(|(_, d)| *d).map(|(p, _)| p))
            .collect();
        for dir in dirs {
            let target = format!("::/{dir}");
            let out = mtools("mdir", &["-a", "-b", "-i", path.to_str().unwrap(), &target]);
            let prefix = if dir.is_empty() { "::/".to_string() } else { format!("::/{dir}/") };
            let want: Vec<String> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| {
                    l.strip_prefix(&prefix).unwrap_or_else(|| panic!("{l}")).trim_end_matches('/').to_string()
                })
                .collect();
            let ino = resolve(&fs, &dir);
            let got: Vec<String> =
                fs.read_dir(ino).unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect();
            assert_eq!(got, want, "{img}: listing of /{dir}");
            // nlink: Linux counts subdirectory entries, `.` and `..` (the root: 2 more).
            let subdirs = std::fs::read_dir(tree.join(&dir))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
                .count();
            assert_eq!(fs.stat(ino).unwrap().nlink, subdirs as u64 + 2, "{img}: nlink of /{dir}");
        }
    }
}

/// `mdir -a` of the root: (name, size or None for directories, "YYYY-MM-DD HH:MM").
fn mdir_long(path: &Path) -> Vec<(String, Option<u64>, String)> {
    let out = String::from_utf8(mtools("mdir", &["-a", "-i", path.to_str().unwrap(), "::/"])).unwrap();
    let mut rows = Vec::new();
    for l in out.lines() {
        // "NAME     EXT   size-or-<DIR> YYYY-MM-DD  HH:MM  long name"
        // The 8.3 column is 12 characters (not bytes: mtools prints the OEM name as UTF-8).
        let Some((at, c)) = l.char_indices().nth(12) else { continue };
        if !c.is_whitespace() || l.starts_with(' ') {
            continue;
        }
        let (short, rest) = l.split_at(at);
        let short: Vec<char> = short.chars().collect();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || !fields[1].contains('-') {
            continue;
        }
        let long = rest.split_once(fields[2]).map_or("", |x| x.1).trim_start().to_string();
        let name = if !long.is_empty() {
            long
        } else {
            let base: String = short[..8].iter().collect();
            let ext: String = short[9..].iter().collect();
            let (base, ext) = (base.trim_end(), ext.trim_end());
            if ext.is_empty() {
                base.to_string()
            } else {
                format!("{base}.{ext}")
            }
        };
        let size = fields[0].parse().ok();
        let (h, m) = fields[2].split_once(':').unwrap();
        rows.push((name, size, format!("{} {:02}:{m}", fields[1], h.parse::<u32>().unwrap())));
    }
    rows
}

/// `YYYY-MM-DD HH:MM` of a Unix time (UTC).
fn minute(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

#[test]
fn sizes_and_times_equal_mdir() {
    for img in IMAGES {
        let path = fixture(img);
        let fs = open_path(&path);
        let rows = mdir_long(&path);
        assert_eq!(rows.len(), 22, "{img}: mdir rows {rows:?}");
        for (name, size, when) in rows {
            let ino =
                fs.lookup(fs.root(), name.as_bytes()).unwrap().unwrap_or_else(|| panic!("{img}: {name}"));
            let st = fs.stat(ino).unwrap();
            if let Some(size) = size {
                assert_eq!(st.size, size, "{img}: {name}");
            }
            assert_eq!(minute(st.mtime.sec), when, "{img}: {name}");
        }
    }
}

#[test]
fn modes_attributes_and_errors() {
    let fs = open_path(&fixture("fat-tree-16.img"));
    let root = fs.root();
    let st = fs.stat(root).unwrap();
    assert_eq!((st.mode, st.mtime.sec, st.blksize), (0o040755, 0, 2048));
    let ro = resolve(&fs, "readonly.txt");
    assert_eq!(fs.stat(ro).unwrap().mode, 0o100555);
    assert_eq!(fs.stat(resolve(&fs, "hidden.txt")).unwrap().mode, 0o100755);
    assert_eq!(fs.stat(resolve(&fs, "deep")).unwrap().mode, 0o040755);
    // vfat lookups: case-insensitive, by short name too, trailing dots ignored.
    let readme = resolve(&fs, "README.TXT");
    assert_eq!(fs.lookup(root, b"readme.txt").unwrap(), Some(readme));
    assert_eq!(fs.lookup(root, b"README.TXT...").unwrap(), Some(readme));
    assert_eq!(fs.lookup(root, b"MIXEDC~1.TEX").unwrap(), Some(resolve(&fs, "MixedCase File Name.Text")));
    assert_eq!(fs.lookup(root, b"nope").unwrap(), None);
    // Inode numbers are the entry positions / 32: the same in a fresh open, all distinct.
    let again = open_path(&fixture("fat-tree-16.img"));
    assert_eq!(resolve(&again, "deep/level 2/level3"), resolve(&fs, "deep/level 2/level3"));
    let many = resolve(&fs, "many");
    let inos: HashSet<Ino> = fs.read_dir(many).unwrap().iter().map(|e| e.ino).collect();
    assert_eq!(inos.len(), 600);
    // Blocks: whole clusters in 512-byte units.
    let big = fs.stat(resolve(&fs, "size-1048577.bin")).unwrap();
    assert_eq!(big.blocks, 1048577u64.div_ceil(2048) * 4);
    // Errors as the kernel gives them.
    let err = |r: vguestfs::fs::Result<_>| match r {
        Err(Error::Os(e)) => e,
        Err(e) => panic!("{e}"),
        Ok::<(), _>(()) => panic!("no error"),
    };
    let mut buf = [0u8; 8];
    assert_eq!(err(fs.read(many, 0, &mut buf).map(drop)), Errno::IsDir);
    assert_eq!(err(fs.read_dir(readme).map(drop)), Errno::NotDir);
    assert_eq!(err(fs.lookup(readme, b"x").map(drop)), Errno::NotDir);
    assert_eq!(err(fs.readlink(readme).map(drop)), Errno::Invalid);
    assert_eq!(err(fs.stat(12345).map(drop)), Errno::NoEntry);
    assert!(fs.xattrs(readme).unwrap().is_empty());
    assert_eq!(fs.read(readme, 11, &mut buf).unwrap(), 0);
    assert_eq!(fs.read(readme, 6, &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"file\n");
}

#[test]
fn statvfs_equals_fsck_fat() {
    let others = ["fs-fat12.img", "fs-fat16.img", "fs-fat32.img", "whole-vfat.raw", "whole-fat32.raw"];
    for img in IMAGES.iter().copied().chain(others) {
        let path = fixture(img);
        let out = run("fsck.fat", &["-n", "-v", path.to_str().unwrap()]);
        // "IMG: N files, USED/TOTAL clusters"
        let last = out.lines().rev().find(|l| l.ends_with(" clusters")).unwrap();
        let counts = last.rsplit(", ").next().unwrap().trim_end_matches(" clusters");
        let (used, total) = counts.split_once('/').unwrap();
        let (used, total): (u64, u64) = (used.parse().unwrap(), total.parse().unwrap());
        let fs = open_path(&path);
        let v = fs.statvfs().unwrap();
        assert_eq!((v.blocks, v.bfree, v.bavail), (total, total - used, total - used), "{img}");
        assert_eq!((v.files, v.ffree, v.namemax, v.flag), (0, 0, 1530, 1), "{img}");
        // The cluster size minfo reports; the size `fs::statfs` computes for virt-filesystems.
        let info = String::from_utf8(mtools("minfo", &["-i", path.to_str().unwrap(), "::"])).unwrap();
        let field = |k: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .trim()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(v.bsize, field("sector size:") * field("cluster size:"), "{img}");
        let dev = RawFile::open(&path, false).unwrap();
        assert_eq!(
            vguestfs::fs::statfs::statvfs_size(&dev, "vfat").unwrap(),
            Some(v.blocks * v.bsize),
            "{img}"
        );
    }
}

// ---- hostile images -------------------------------------------------------------------------

/// The BPB fields the mutations need: (bytes per sector, FAT byte offset, FAT bits).
fn fat_location(img: &[u8]) -> (usize, usize, u32) {
    let le16 = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as usize;
    let bps = le16(11);
    let bits = match le16(22) {
        0 => 32,
        _ if img[54..59] == *b"FAT12" => 12,
        _ => 16,
    };
    (bps, le16(14) * bps, bits)
}

fn get_fat(img: &[u8], c: u32) -> u32 {
    let (_, fat, bits) = fat_location(img);
    let c = c as usize;
    match bits {
        12 => {
            let v = u16::from_le_bytes([img[fat + c + c / 2], img[fat + c + c / 2 + 1]]);
            u32::from(if c & 1 == 0 { v & 0xFFF } else { v >> 4 })
        }
        16 => u32::from(u16::from_le_bytes([img[fat + 2 * c], img[fat + 2 * c + 1]])),
        _ => u32::from_le_bytes(img[fat + 4 * c..fat + 4 * c + 4].try_into().unwrap()) & 0x0FFF_FFFF,
    }
}

/// Sets FAT entry `c` in every FAT copy.
fn set_fat(img: &mut [u8], c: u32, v: u32) {
    let (bps, fat, bits) = fat_location(img);
    let spf = match u16::from_le_bytes([img[22], img[23]]) {
        0 => u32::from_le_bytes(img[36..40].try_into().unwrap()) as usize,
        n => n as usize,
    };
    for copy in 0..img[16] as usize {
        let f = fat + copy * spf * bps;
        let c = c as usize;
        match bits {
            12 => {
                let o = f + c + c / 2;
                let old = u16::from_le_bytes([img[o], img[o + 1]]);
                let new =
                    if c & 1 == 0 { (old & 0xF000) | v as u16 } else { (old & 0x000F) | ((v as u16) << 4) };
                img[o..o + 2].copy_from_slice(&new.to_le_bytes());
            }
            16 => img[f + 2 * c..f + 2 * c + 2].copy_from_slice(&(v as u16).to_le_bytes()),
            _ => img[f + 4 * c..f + 4 * c + 4].copy_from_slice(&v.to_le_bytes()),
        }
    }
}

fn eoc(img: &[u8]) -> u32 {
    match fat_location(img).2 {
        12 => 0xFFF,
        16 => 0xFFFF,
        _ => 0x0FFF_FFFF,
    }
}

/// First cluster of the entry of inode `ino` (inode = entry position / 32).
fn first_cluster(img: &[u8], ino: Ino) -> u32 {
    let e = ino as usize * 32;
    let lo = u32::from(u16::from_le_bytes([img[e + 26], img[e + 27]]));
    let hi =
        if fat_location(img).2 == 32 { u32::from(u16::from_le_bytes([img[e + 20], img[e + 21]])) } else { 0 };
    hi << 16 | lo
}

fn set_first_cluster(img: &mut [u8], ino: Ino, c: u32) {
    let e = ino as usize * 32;
    img[e + 26..e + 28].copy_from_slice(&(c as u16).to_le_bytes());
    img[e + 20..e + 22].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
}

fn corrupt_msg(r: vguestfs::fs::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::Corrupt { msg, fs, .. }) => {
            assert_eq!(fs, "vfat");
            msg
        }
        other => panic!("expected a corrupt-filesystem error, got {other:?}"),
    }
}

/// (image bytes, inode of a path) for each tree image.
fn with_ino(img: &str, path: &str) -> (Vec<u8>, Ino) {
    let p = fixture(img);
    let ino = resolve(&open_path(&p), path);
    (std::fs::read(p).unwrap(), ino)
}

#[test]
fn broken_boot_sectors_are_refused() {
    for img in IMAGES {
        let good = std::fs::read(fixture(img)).unwrap();
        let fat32 = fat_location(&good).2 == 32;
        let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            open_bytes(b).map(drop)
        };
        assert!(corrupt_msg(mutate(&|b| b.truncate(511))).contains("512"));
        // Linux's first check on a zeroed sector is the reserved-sector count.
        assert!(corrupt_msg(mutate(&|b| b[..512].fill(0))).contains("reserved sectors"));
        assert!(corrupt_msg(mutate(&|b| b[13] = 3)).contains("sectors per cluster"));
        corrupt_msg(mutate(&|b| b[16] = 0));
        corrupt_msg(mutate(&|b| b[510] = 0)); // fatfs wants the 0x55AA signature
                                              // A FAT as large as the sector count allows: must not overflow anything.
        corrupt_msg(mutate(&|b| if fat32 { b[36..40].fill(0xFF) } else { b[22..24].fill(0xFF) }));
        corrupt_msg(mutate(&|b| {
            b[19..21].fill(0);
            b[32..36].copy_from_slice(&40u32.to_le_bytes());
        }));
        if fat32 {
            assert!(corrupt_msg(mutate(&|b| b[44..48].fill(0xFF))).contains("root directory cluster"));
        }
    }
}

#[test]
fn cluster_chain_loops_are_detected() {
    for img in IMAGES {
        let (good, many) = with_ino(img, "many");
        let c0 = first_cluster(&good, many);
        // A directory whose chain loops to itself, and one whose last cluster loops back.
        let mut selfloop = good.clone();
        set_fat(&mut selfloop, c0, c0);
        let fs = open_bytes(selfloop).unwrap();
        let ino = resolve(&fs, "many");
        assert!(corrupt_msg(fs.read_dir(ino)).contains("loop"), "{img}");
        assert!(corrupt_msg(fs.lookup(ino, b"x")).contains("loop"), "{img}");
        let mut back = good.clone();
        let mut c = c0;
        while get_fat(&back, c) < eoc(&back) - 7 {
            c = get_fat(&back, c);
        }
        assert_ne!(c, c0, "{img}: many/ spans several clusters");
        set_fat(&mut back, c, c0);
        let fs = open_bytes(back).unwrap();
        assert!(corrupt_msg(fs.read_dir(resolve(&fs, "many"))).contains("loop"), "{img}");
        // A free entry inside a chain.
        let mut free = good.clone();
        set_fat(&mut free, c0, 0);
        let fs = open_bytes(free).unwrap();
        assert!(corrupt_msg(fs.read_dir(resolve(&fs, "many"))).contains("not a cluster"), "{img}");
        // A file whose chain loops: read as Linux reads it (the loop repeats, bounded by the
        // size); one whose chain ends early: an error, not a short file.
        let (good, big) = with_ino(img, "size-1048577.bin");
        let f0 = first_cluster(&good, big);
        let mut floop = good.clone();
        set_fat(&mut floop, f0, f0);
        let fs = open_bytes(floop).unwrap();
        let data = read_all(&fs, resolve(&fs, "size-1048577.bin")).unwrap();
        assert_eq!(data.len(), 1_048_577);
        assert_ne!(data, std::fs::read(fixture("fat-tree").join("size-1048577.bin")).unwrap());
        let mut short = good.clone();
        set_fat(&mut short, f0, eoc(&good));
        let fs = open_bytes(short).unwrap();
        assert!(corrupt_msg(read_all(&fs, resolve(&fs, "size-1048577.bin"))).contains("shorter"), "{img}");
    }
    // The FAT32 root directory looping to itself.
    let mut b = std::fs::read(fixture("fat-tree-32.img")).unwrap();
    let root = u32::from_le_bytes(b[44..48].try_into().unwrap());
    set_fat(&mut b, root, root);
    let fs = open_bytes(b).unwrap();
    assert!(corrupt_msg(fs.read_dir(fs.root())).contains("loop"));
}

#[test]
fn entries_pointing_outside_the_volume() {
    for img in IMAGES {
        let (good, readme) = with_ino(img, "README.TXT");
        let deep = resolve(&open_path(&fixture(img)), "deep");
        let empty = resolve(&open_path(&fixture(img)), "empty dir");
        let last = eoc(&good) - 8; // past the last cluster on every test image
        let mut b = good.clone();
        set_first_cluster(&mut b, readme, last);
        set_first_cluster(&mut b, deep, 1);
        set_first_cluster(&mut b, empty, 0);
        let fs = open_bytes(b.clone()).unwrap();
        assert!(corrupt_msg(fs.read_dir(resolve(&fs, "empty dir"))).contains("first cluster 0"), "{img}");
        assert!(corrupt_msg(read_all(&fs, resolve(&fs, "README.TXT"))).contains("outside"), "{img}");
        assert!(corrupt_msg(fs.read_dir(resolve(&fs, "deep"))).contains("outside"), "{img}");
        // A size beyond the volume.
        b[readme as usize * 32 + 28..readme as usize * 32 + 32].fill(0xFF);
        let fs = open_bytes(b).unwrap();
        assert!(
            corrupt_msg(read_all(&fs, resolve(&fs, "README.TXT"))).contains("larger than the volume"),
            "{img}"
        );
    }
    // A FAT32 subdirectory cross-linked to the root: lists the root's entries, and walking
    // into itself ends (inodes are entry positions; the first parent found is kept).
    let (mut b, deep) = with_ino("fat-tree-32.img", "deep");
    let root = u32::from_le_bytes(b[44..48].try_into().unwrap());
    set_first_cluster(&mut b, deep, root);
    let fs = open_bytes(b).unwrap();
    let deep = resolve(&fs, "deep");
    let inner = fs.lookup(deep, b"deep").unwrap().unwrap();
    assert_eq!(inner, deep);
    assert_eq!(fs.read_dir(deep).unwrap(), fs.read_dir(fs.root()).unwrap());
    assert_eq!(read_all(&fs, resolve(&fs, "deep/deep/deep/README.TXT")).unwrap(), b"short file\n");
}

/// Walks everything from the root, bounded; returns (inodes visited, errors met).
fn walk(fs: &FatFs) -> (usize, usize) {
    let mut seen = HashSet::new();
    let mut todo = vec![fs.root()];
    let mut errors = 0;
    let mut buf = vec![0u8; 65536];
    while let Some(dir) = todo.pop() {
        let entries = match fs.read_dir(dir) {
            Ok(e) => e,
            Err(_) => {
                errors += 1;
                continue;
            }
        };
        for e in entries.into_iter().take(40) {
            if !seen.insert(e.ino) {
                continue;
            }
            errors += usize::from(fs.stat(e.ino).is_err());
            match e.file_type {
                FileType::Directory => todo.push(e.ino),
                _ => errors += usize::from(fs.read(e.ino, 0, &mut buf).is_err()),
            }
        }
    }
    (seen.len(), errors)
}

#[test]
fn random_mutations_never_panic() {
    let good = std::fs::read(fixture("fat-tree-12.img")).unwrap();
    let (_, fat, _) = fat_location(&good);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut opened, mut errors) = (0, 0);
    for _ in 0..150 {
        let mut b = good.clone();
        // Boot sector, FAT and root directory: the first 40 KiB.
        for _ in 0..1 + rnd() % 8 {
            let at = if rnd() % 4 == 0 { (rnd() % 90) as usize } else { fat + (rnd() % 40_000) as usize };
            b[at] = rnd() as u8;
        }
        if let Ok(fs) = open_bytes(b) {
            opened += 1;
            errors += walk(&fs).1;
            let _ = fs.statvfs();
        }
    }
    assert!(opened > 50, "{opened} of 150 mutated images opened");
    assert!(errors > 0, "no mutation was noticed");
}

#[test]
fn cross_linked_directories_stay_bounded() {
    // Every file of many/ turned into a directory sharing many/'s clusters: 600 directories of
    // 600 entries each, which all list the same entries (inodes are entry positions).
    let (mut b, many) = with_ino("fat-tree-32.img", "many");
    let c0 = first_cluster(&b, many);
    let fs = open_path(&fixture("fat-tree-32.img"));
    let entries = fs.read_dir(resolve(&fs, "many")).unwrap();
    for e in &entries {
        b[e.ino as usize * 32 + 11] |= 0x10;
        set_first_cluster(&mut b, e.ino, c0);
    }
    let fs = open_bytes(b).unwrap();
    let many = resolve(&fs, "many");
    let listed = fs.read_dir(many).unwrap();
    assert_eq!(listed.len(), 600);
    for e in &listed {
        assert_eq!(e.file_type, FileType::Directory);
        assert_eq!(fs.read_dir(e.ino).unwrap(), listed);
        assert_eq!(fs.stat(e.ino).unwrap().nlink, 602);
    }
    // A walk meets the same inodes as in the intact image, and no error.
    assert_eq!(walk(&fs), walk(&open_path(&fixture("fat-tree-32.img"))));
}

/// Issue 23 item 4: boot sectors Linux refuses to mount, made from mkfs.vfat volumes by
/// patching one BPB field. Each is refused by `fs::open` with an error naming the field (not
/// "no filesystem found", and never opened at another layout), and fsck.vfat rejects it too.
#[test]
fn hostile_bpbs_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, args: &[&str]| {
        let p = dir.path().join(name);
        run("truncate", &["-s", "32M", p.to_str().unwrap()]);
        let mut a = args.to_vec();
        a.push(p.to_str().unwrap());
        run("mkfs.vfat", &a);
        std::fs::read(&p).unwrap()
    };
    let fat16 = make("fat16.img", &["-F", "16"]);
    let fat32 = make("fat32.img", &["-F", "32"]);
    let le16 = |v: u16| v.to_le_bytes().to_vec();
    let le32 = |v: u32| v.to_le_bytes().to_vec();
    /// What is patched, the base image, the offset, the bytes, the field the error names.
    type Case<'a> = (&'a str, &'a Vec<u8>, usize, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        ("bytes per sector 0", &fat16, 0x0B, le16(0), "BPB_BytsPerSec"),
        ("bytes per sector 256", &fat16, 0x0B, le16(256), "BPB_BytsPerSec"),
        ("bytes per sector 1000", &fat16, 0x0B, le16(1000), "BPB_BytsPerSec"),
        ("bytes per sector 8192", &fat32, 0x0B, le16(8192), "BPB_BytsPerSec"),
        ("sectors per cluster 0", &fat16, 0x0D, vec![0], "BPB_SecPerClus"),
        ("sectors per cluster 3", &fat16, 0x0D, vec![3], "BPB_SecPerClus"),
        ("sectors per cluster 255", &fat32, 0x0D, vec![255], "BPB_SecPerClus"),
        ("reserved sectors 0", &fat16, 0x0E, le16(0), "BPB_RsvdSecCnt"),
        ("FATs 0", &fat32, 0x10, vec![0], "BPB_NumFATs"),
        ("root entries 17", &fat16, 0x11, le16(17), "BPB_RootEntCnt"),
        ("root entries 65535", &fat16, 0x11, le16(65535), "BPB_RootEntCnt"),
        ("total sectors 0", &fat32, 0x20, le32(0), "BPB_TotSec"),
        ("total sectors huge", &fat32, 0x20, le32(0xFFFF_FF00), "BPB_TotSec"),
    ];
    for (what, base, at, bytes, field) in cases {
        let img = dir.path().join("bad.img");
        let mut data = base.clone();
        data[at..at + bytes.len()].copy_from_slice(&bytes);
        std::fs::write(&img, &data).unwrap();
        let dev: Dev = Arc::new(RawFile::open(&img, false).unwrap());
        let err = match vguestfs::fs::open(dev) {
            Ok(_) => panic!("{what}: opened"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(field) && err.contains("vfat"), "{what}: {err}");
        let fsck = std::process::Command::new("fsck.vfat").env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin").args(["-n", img.to_str().unwrap()]).output().unwrap();
        assert!(!fsck.status.success(), "{what}: fsck.vfat accepts it");
    }
}

/// Issue 18, item 7: what the campaign's remaining classes do, each as Linux's vfat does it
/// and with mtools or fsck.fat agreeing — a long name whose checksum does not match its short
/// entry is dropped (the short name shows, as `mdir` shows it); a FAT smaller than the volume
/// clamps the cluster count and refuses writing; a directory whose chain runs on past
/// `FAT_MAX_DIR_SIZE` (65536 entries) is an error, read in bounded time and memory.
#[test]
fn long_name_checksums_short_fats_and_endless_directories() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("v.img");
    run("truncate", &["-s", "32M", img.to_str().unwrap()]);
    run("mkfs.vfat", &["-F", "16", "-s", "4", img.to_str().unwrap()]);
    let src = dir.path().join("h.txt");
    std::fs::write(&src, b"hi\n").unwrap();
    run("mcopy", &["-i", img.to_str().unwrap(), src.to_str().unwrap(), "::A long file name here.txt"]);
    run("mmd", &["-i", img.to_str().unwrap(), "::d"]);
    let good = std::fs::read(&img).unwrap();
    let (bps, fat, _) = fat_location(&good);
    let spf = usize::from(u16::from_le_bytes([good[22], good[23]]));
    let root = fat + usize::from(good[16]) * spf * bps;
    assert_eq!(good[root + 11], 0x0F, "the first root entry is a long-name slot");

    // The long-name slot's checksum (byte 13) wrong.
    let mut b = good.clone();
    b[root + 13] ^= 0x55;
    std::fs::write(&img, &b).unwrap();
    let mdir = String::from_utf8(mtools("mdir", &["-i", img.to_str().unwrap(), "-b", "::/"])).unwrap();
    assert!(mdir.contains("ALONGF~1.TXT") && !mdir.contains("long file name"), "{mdir}");
    let fs = open_bytes(b).unwrap();
    let names: Vec<String> = fs.read_dir(fs.root()).unwrap().into_iter().map(|e| String::from_utf8_lossy(&e.name).into_owned()).collect();
    assert!(names.contains(&"ALONGF~1.TXT".to_string()) && !names.iter().any(|n| n.contains("long file name")), "{names:?}");

    // A FAT of one sector (254 entries) for thousands of clusters: fsck.fat refuses it, we clamp and refuse writes.
    let mut b = good.clone();
    b[22..24].copy_from_slice(&1u16.to_le_bytes());
    std::fs::write(&img, &b).unwrap();
    let fsck = std::process::Command::new("fsck.vfat").env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin").args(["-n", img.to_str().unwrap()]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&fsck.stdout), String::from_utf8_lossy(&fsck.stderr));
    assert!(!fsck.status.success() && said.contains("but only space for 254 FAT entries"), "{said}");
    let dev: Dev = Arc::new(RawFile::open(&img, true).unwrap());
    let e = vguestfs::fs::open_rw(dev).err().expect("a short FAT opened for writing");
    assert!(e.to_string().contains("FAT holds 254 of its"), "{e}");
    let _ = open_bytes(b).map(|fs| fs.read_dir(fs.root()).map(drop));

    // /d's chain runs on through 2000 free clusters (64 entries each: past 65536 entries).
    let mut b = good.clone();
    let fs = open_bytes(good.clone()).unwrap();
    let d = resolve(&fs, "d");
    let c0 = first_cluster(&b, d);
    let mut c = c0;
    for next in (c0 + 10)..(c0 + 2010) {
        set_fat(&mut b, c, next);
        c = next;
    }
    let end = eoc(&b);
    set_fat(&mut b, c, end);
    let fs = open_bytes(b).unwrap();
    let msg = corrupt_msg(fs.read_dir(resolve(&fs, "d")));
    assert!(msg.contains("longer than"), "{msg}");
}

/// Issue 23 item 4: a FAT32 volume of fewer than 65,525 clusters (mkfs.fat -F 32 made it;
/// its total sector count patched down, in the boot sector and its backup, with FSInfo's free
/// count "unknown": fsck.fat finds nothing wrong) is FAT32 as Linux decides (the 16-bit FAT
/// size is 0): it is read — listing and files as mtools wrote them, statvfs by the clusters
/// it has — and refused for writing, naming why.
#[test]
fn fat32_with_fewer_than_65525_clusters_reads_as_linux_decides() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("v.img");
    run("truncate", &["-s", "40M", img.to_str().unwrap()]);
    run("mkfs.vfat", &["-F", "32", "-s", "1", img.to_str().unwrap()]);
    let src = dir.path().join("h.txt");
    std::fs::write(&src, b"hello\n").unwrap();
    let i = img.to_str().unwrap();
    run("mmd", &["-i", i, "::dir"]);
    run("mcopy", &["-i", i, src.to_str().unwrap(), "::dir/A long name.txt"]);
    let listing = mtools("mdir", &["-i", i, "-b", "::dir"]);
    let mut b = std::fs::read(&img).unwrap();
    let le16 = |b: &[u8], o: usize| u64::from(u16::from_le_bytes([b[o], b[o + 1]]));
    let spf = u64::from(u32::from_le_bytes(b[0x24..0x28].try_into().unwrap()));
    let total = (le16(&b, 0x0E) + u64::from(b[0x10]) * spf + 65_000) as u32;
    for sector in [0, 6] {
        b[sector * 512 + 0x20..sector * 512 + 0x24].copy_from_slice(&total.to_le_bytes());
    }
    b[512 + 488..512 + 492].fill(0xFF); // FSInfo: free count unknown
    std::fs::write(&img, &b).unwrap();
    let fsck = std::process::Command::new("fsck.vfat").env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin").args(["-n", i]).output().unwrap();
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));
    let fs = open_bytes(b).unwrap();
    assert_eq!(fs.statvfs().unwrap().blocks, 65_000);
    let d = resolve(&fs, "dir");
    let names: Vec<Vec<u8>> = fs.read_dir(d).unwrap().into_iter().map(|e| e.name).collect();
    assert!(names.contains(&b"A long name.txt".to_vec()), "{names:?}");
    assert!(String::from_utf8_lossy(&listing).contains("A long name.txt"));
    assert_eq!(read_all(&fs, resolve(&fs, "dir/A long name.txt")).unwrap(), b"hello\n");
    let dev: Dev = Arc::new(RawFile::open(&img, true).unwrap());
    let e = vguestfs::fs::open_rw(dev).err().expect("opened for writing");
    assert!(e.to_string().contains("FAT32 volume of 65000 clusters"), "{e}");
}
