//! NTFS reading through `NtfsFs`, judged by ntfs-3g: every path of the images built by
//! `fixtures/mk-ntfs.sh` (mkntfs, filled through an ntfs-3g mount) must read back as a
//! read-only ntfs-3g mount showed it at build time (the golden listing beside each image):
//! names, types, inode numbers, modes, link counts, sizes, mtimes, contents (sha256), link
//! targets and alternate data streams (`user.*` xattrs), plus `statvfs` (`stat -f`). Damaged
//! copies fail with `Corrupt` errors, never panics.

mod common;

use common::fixture;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile, Slice};
use vguestfs::fs::ntfs::NtfsFs;
use vguestfs::fs::{Error, FileType, Filesystem, Ino};

fn raw(img: &Path) -> Dev {
    Arc::new(RawFile::open(img, false).expect("open image"))
}

/// The golden listing: path → the other columns joined by tabs.
fn golden(img: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("{}.golden", img.display())).expect("golden listing");
    text.lines()
        .map(|l| {
            let (path, rest) = l.split_once('\t').expect("tab");
            (path.to_string(), rest.to_string())
        })
        .collect()
}

fn read_all(fs: &dyn Filesystem, ino: Ino, size: u64) -> Vec<u8> {
    let mut out = vec![0u8; size as usize];
    let mut done = 0;
    // Odd-sized reads cross compression units, runs and clusters.
    while done < out.len() {
        let end = (done + 300_007).min(out.len());
        let n = fs.read(ino, done as u64, &mut out[done..end]).unwrap();
        assert!(n > 0, "short read of {ino} at {done}");
        done += n;
    }
    let mut extra = [0u8; 4];
    assert_eq!(fs.read(ino, size, &mut extra).unwrap(), 0);
    out
}

/// Our reader's listing in the golden format; checks on the way that `read_dir`'s types agree
/// with `stat`.
fn walk(fs: &dyn Filesystem, dir: Ino, prefix: &str, out: &mut BTreeMap<String, String>) {
    for e in fs.read_dir(dir).unwrap() {
        let name = String::from_utf8(e.name.clone()).unwrap();
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let st = fs.stat(e.ino).unwrap();
        assert_eq!(st.file_type(), Some(e.file_type), "{path}: read_dir type vs stat");
        assert_eq!(fs.lookup(dir, &e.name).unwrap(), Some(e.ino), "{path}: lookup");
        let (kind, what) = match e.file_type {
            FileType::Directory => ("d", "-".to_string()),
            FileType::Symlink => ("l", String::from_utf8(fs.readlink(e.ino).unwrap()).unwrap()),
            FileType::Fifo => ("p", "-".to_string()),
            FileType::Regular => ("f", format!("{:x}", Sha256::digest(read_all(fs, e.ino, st.size)))),
            other => panic!("{path}: unexpected type {other:?}"),
        };
        let streams = if kind == "l" {
            "-".to_string()
        } else {
            let mut s: Vec<String> = fs
                .xattrs(e.ino)
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{}={:x}", String::from_utf8_lossy(k), Sha256::digest(v)))
                .collect();
            s.sort();
            if s.is_empty() { "-".to_string() } else { s.join(",") }
        };
        let row = [
            kind.to_string(),
            st.ino.to_string(),
            format!("{:o}", st.mode),
            st.nlink.to_string(),
            st.size.to_string(),
            format!("{}.{:09}", st.mtime.sec, st.mtime.nsec),
            what,
            streams,
        ]
        .join("\t");
        out.insert(path.clone(), row);
        if e.file_type == FileType::Directory {
            walk(fs, e.ino, &path, out);
        }
    }
}

fn compare(fs: &dyn Filesystem, img: &Path) -> usize {
    let want = golden(img);
    let mut got = BTreeMap::new();
    walk(fs, fs.root(), "", &mut got);
    for (path, row) in &want {
        assert_eq!(got.get(path), Some(row), "{}: {path}", img.display());
    }
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "listed but not by ntfs-3g: {extra:?}");
    want.len()
}

#[test]
fn whole_device_image_reads_as_ntfs3g_shows_it() {
    let img = fixture("ntfs.img");
    let fs = vguestfs::fs::open(raw(&img)).unwrap();
    assert_eq!(fs.fs_type(), "ntfs");
    let n = compare(fs.as_ref(), &img);
    assert!(n > 3000, "{n} paths");
    eprintln!("ntfs.img: {n} paths compared with ntfs-3g");
}

#[test]
fn partitioned_image_reads_as_ntfs3g_shows_it() {
    let img = fixture("ntfs-part.img");
    let dev = raw(&img);
    let table = vguestfs::part::PartitionTable::read(dev.as_ref()).unwrap().expect("partition table");
    let p = &table.partitions[0];
    let slice: Dev = Arc::new(Slice::new(dev.clone(), p.start, p.size, "sda1").unwrap());
    let fs = vguestfs::fs::open(slice).unwrap();
    let n = compare(fs.as_ref(), &img);
    eprintln!("ntfs-part.img: {n} paths compared with ntfs-3g");
}

#[test]
fn statvfs_matches_ntfs3g() {
    let img = fixture("ntfs.img");
    let fs = NtfsFs::open(raw(&img)).unwrap();
    let v = fs.statvfs().unwrap();
    let text = std::fs::read_to_string(format!("{}.statfs", img.display())).unwrap();
    let got = format!("{} {} {} {} {} {} {}", v.bsize, v.blocks, v.bfree, v.bavail, v.files, v.ffree, v.namemax);
    assert_eq!(got, text.trim());
}

#[test]
fn dos_names_are_hidden_but_found_and_case_insensitive_lookup() {
    let img = fixture("ntfs.img");
    let fs = NtfsFs::open(raw(&img)).unwrap();
    let dir = fs.lookup(fs.root(), b"dosnames").unwrap().unwrap();
    let long = fs.lookup(dir, b"Long File Name.txt").unwrap().unwrap();
    assert_eq!(fs.lookup(dir, b"LONGFI~1.TXT").unwrap(), Some(long));
    assert!(fs.read_dir(dir).unwrap().iter().all(|e| !e.name.contains(&b'~')));
    // Case-sensitive lookups, as ntfs-3g; the $UpCase helper finds any case.
    assert_eq!(fs.lookup(fs.root(), b"WINDOWS").unwrap(), None);
    let win = fs.lookup_nocase(fs.root(), b"WINDOWS").unwrap().unwrap();
    assert_eq!(win.0, b"Windows");
    let sys32 = fs.lookup_nocase(win.1, b"system32").unwrap().unwrap();
    assert_eq!(sys32.0, b"System32");
    assert_eq!(fs.lookup_nocase(win.1, b"nothere").unwrap(), None);
    // A DOS name in any case gives the long name; non-ASCII letters fold through $UpCase.
    assert_eq!(fs.lookup_nocase(dir, b"longfi~1.txt").unwrap(), Some((b"Long File Name.txt".to_vec(), long)));
    let files = fs.lookup(fs.root(), b"files").unwrap().unwrap();
    let uni = fs.lookup_nocase(files, "UNICODE-ÜNÏCØDÉ—名前-日本語.TXT".as_bytes()).unwrap().unwrap();
    assert_eq!(uni.0, "unicode-ünïcødé—名前-日本語.txt".as_bytes());
    // Metadata files are neither listed nor looked up.
    assert_eq!(fs.lookup(fs.root(), b"$MFT").unwrap(), None);
    assert!(fs.stat(0).is_err());
}

#[test]
fn writing_is_refused() {
    let img = fixture("ntfs.img");
    let dev: Dev = Arc::new(RawFile::open(&img, false).unwrap());
    let err = vguestfs::fs::open_rw(dev).err().expect("refused");
    assert!(err.to_string().contains("writing ntfs"), "{err}");
}

/// A copy of the image with `f` applied to the MFT record numbered `ino` (found by its
/// header: "FILE" and the record number at 0x2C).
fn damaged(ino: u32, f: impl Fn(&mut [u8])) -> (tempfile::TempDir, std::path::PathBuf) {
    let mut data = std::fs::read(fixture("ntfs.img")).unwrap();
    let at = (0..data.len() - 1024)
        .step_by(1024)
        .find(|&o| &data[o..o + 4] == b"FILE" && u32::from_le_bytes(data[o + 0x2c..o + 0x30].try_into().unwrap()) == ino)
        .expect("record");
    f(&mut data[at..at + 1024]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.img");
    std::fs::write(&path, data).unwrap();
    (dir, path)
}

fn ino_of(path: &str) -> u32 {
    let g = golden(&fixture("ntfs.img"));
    g[path].split('\t').nth(1).unwrap().parse().unwrap()
}

#[test]
fn damaged_records_are_corrupt_errors() {
    let file = ino_of("files/size-65537.bin");
    // An attribute offset past the record.
    let (_d, img) = damaged(file, |r| r[0x14..0x16].copy_from_slice(&0x3f0u16.to_le_bytes()));
    let fs = NtfsFs::open(raw(&img)).unwrap();
    let dir = fs.lookup(fs.root(), b"files").unwrap().unwrap();
    let ino = fs.lookup(dir, b"size-65537.bin").unwrap().unwrap();
    let err = fs.stat(ino).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    // A broken update-sequence (fixup) value.
    let (_d, img) = damaged(file, |r| r[0x1fe] ^= 0xff);
    let fs = NtfsFs::open(raw(&img)).unwrap();
    assert!(matches!(fs.stat(ino).unwrap_err(), Error::Corrupt { .. }));
    // Every byte of the data attribute's runlist garbled: errors or other bytes, no panic.
    for seed in 0..16u8 {
        let (_d, img) = damaged(file, |r| {
            for (i, b) in r[0x100..0x1f0].iter_mut().enumerate() {
                *b = b.wrapping_mul(31).wrapping_add(seed ^ i as u8);
            }
        });
        let fs = NtfsFs::open(raw(&img)).unwrap();
        let mut buf = vec![0u8; 70000];
        let _ = fs.stat(ino).map(|_| fs.read(ino, 0, &mut buf));
    }
    // The root directory's record damaged: open fails naming it.
    let (_d, img) = damaged(5, |r| r[0..4].copy_from_slice(b"BAAD"));
    let err = NtfsFs::open(raw(&img)).err().expect("refused");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

/// The tools reach NTFS through `fs::open`: vcat prints a compressed file and a file behind a
/// junction, vls lists links with their targets, vfilesystems names the type and label.
#[test]
fn tools_read_ntfs_images() {
    use std::process::Command;
    let img = fixture("ntfs.img");
    let img = img.to_str().unwrap();
    let want = golden(Path::new(img));
    let sha = |path: &str| want[path].split('\t').nth(6).unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_vcat")).args(["-a", img, "-m", "/dev/sda", "/compressed/text.txt"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(format!("{:x}", Sha256::digest(&out.stdout)), sha("compressed/text.txt"));
    let out = Command::new(env!("CARGO_BIN_EXE_vcat")).args(["-a", img, "-m", "/dev/sda", "/links/junction/Vendor App/app.exe"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(format!("{:x}", Sha256::digest(&out.stdout)), sha("Program Files/Vendor App/app.exe"));
    let out = Command::new(env!("CARGO_BIN_EXE_vls")).args(["-a", img, "-m", "/dev/sda", "-l", "/links"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("junction -> /Program Files"), "{text}");
    assert!(text.contains("wsl -> ../files/size-1.bin"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_vfilesystems")).args(["-a", img, "--long"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.contains("/dev/sda") && l.contains("ntfs") && l.contains("NTFSFIX")), "{text}");
}

/// A directory B-tree whose inner node points back at itself: listing it is a `Corrupt`
/// error naming the loop, not a hang (the crate would descend forever).
#[test]
fn looping_directory_index_is_corrupt() {
    let mut data = std::fs::read(fixture("ntfs.img")).unwrap();
    let le16 = |d: &[u8], at: usize| usize::from(u16::from_le_bytes([d[at], d[at + 1]]));
    let mut patched = 0;
    for block in (0..data.len() - 4096).step_by(4096) {
        let b = &data[block..block + 4096];
        // INDX with children (index header flags bit 0 at 0x18 + 0x0C).
        if &b[..4] != b"INDX" || b[0x18 + 0x0c] & 1 == 0 {
            continue;
        }
        let first = 0x18 + u32::from_le_bytes(b[0x18..0x1c].try_into().unwrap()) as usize;
        let (len, flags) = (le16(b, first + 8), le16(b, first + 12));
        let at = first + len - 8;
        // The entry has a subnode whose VCN field avoids the update-sequence slots (510, 511).
        if flags & 1 == 0 || (at..at + 8).any(|o| o % 512 >= 510) {
            continue;
        }
        let own = b[0x10..0x18].to_vec();
        data[block + at..block + at + 8].copy_from_slice(&own);
        patched += 1;
    }
    assert!(patched > 0, "no inner index node found");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.img");
    std::fs::write(&path, data).unwrap();
    let fs = NtfsFs::open(raw(&path)).unwrap();
    let big = fs.lookup(fs.root(), b"bigdir").unwrap().unwrap();
    let err = fs.read_dir(big).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("loop"), "{err}");
}

/// An index entry shorter than its header (the `ntfs` crate panics slicing it; found by
/// fuzz/ntfs_structs): a `Corrupt` error, and the volume still reads elsewhere.
#[test]
fn short_index_entry_is_corrupt() {
    let mut data = std::fs::read(fixture("ntfs.img")).unwrap();
    let mut patched = 0;
    for block in (0..data.len() - 4096).step_by(4096) {
        let b = &data[block..block + 4096];
        if &b[..4] != b"INDX" {
            continue;
        }
        let first = 0x18 + u32::from_le_bytes(b[0x18..0x1c].try_into().unwrap()) as usize;
        if (first + 8..first + 10).any(|o| o % 512 >= 510) {
            continue;
        }
        data[block + first + 8..block + first + 10].copy_from_slice(&4u16.to_le_bytes());
        patched += 1;
    }
    assert!(patched > 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.img");
    std::fs::write(&path, data).unwrap();
    let fs = NtfsFs::open(raw(&path)).unwrap();
    // The root's index has an allocation too: every large directory fails, and again.
    for _ in 0..2 {
        let err = fs.read_dir(fs.root()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
    // Records are still read (the guard on reads was reset).
    let windows = ino_of("Windows");
    assert!(fs.stat(u64::from(windows)).unwrap().file_type() == Some(FileType::Directory));
    fs.read_dir(u64::from(windows)).unwrap();
}
