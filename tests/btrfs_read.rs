//! Btrfs reading through `BtrfsFs`, judged by the kernel: every image built by
//! `fixtures/mk-btrfs.sh` (mkfs.btrfs variants filled through kernel loop mounts, including
//! zlib/lzo/zstd-compressed files, subvolumes and a changed default subvolume) must read back as
//! the kernel shows it through a read-only loop mount — names, types, modes, owners, link
//! counts, sizes, block counts, times, device numbers, symlink targets, file contents (sha256),
//! xattrs (`getfattr`) — for the default subvolume, the top level (`subvolid=5`) and by path
//! (`subvol=home`). The subvolume list equals `btrfs subvolume list`. Refused layouts (RAID1 over
//! two devices, xxhash checksums) and damaged tree blocks fail cleanly, naming what.

mod common;

use common::view::{kernel, show, Mount, Node};
use common::{fixture, run};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::btrfs::{BtrfsFs, Subvol};
use vguestfs::fs::{Error, FileType, Filesystem};

/// Inode numbers below this bit are the kernel's (the subvolume index is above).
const OBJ_MASK: u64 = (1 << 48) - 1;

/// Kernel mounts of one image at a time (btrfs refuses the same filesystem on two devices).
static MOUNTS: Mutex<()> = Mutex::new(());

fn dev(img: &Path) -> Dev {
    Arc::new(RawFile::open(img, false).expect("open image"))
}

fn open(img: &Path, which: Subvol) -> BtrfsFs {
    BtrfsFs::open_subvol(dev(img), which).unwrap_or_else(|e| panic!("{}: {e}", img.display()))
}

/// Every path (relative, as bytes) below the root through our reader; every regular file is
/// read twice: in 1 MiB pieces and in odd 12345-byte pieces.
fn ours(fs: &BtrfsFs) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(Vec::new(), fs.root())];
    let mut buf = vec![0u8; 1 << 20];
    let mut small = vec![0u8; 12345];
    let mut seen_dirs = std::collections::HashSet::new();
    while let Some((path, dir)) = stack.pop() {
        assert!(seen_dirs.insert(dir), "directory {} reached twice (ino {dir:#x})", show(&path));
        assert_eq!(fs.lookup(dir, b"no-such-name").unwrap(), None, "{}", show(&path));
        for e in fs.read_dir(dir).unwrap_or_else(|err| panic!("read_dir {}: {err}", show(&path))) {
            let mut p = path.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(&e.name);
            assert_eq!(fs.lookup(dir, &e.name).unwrap(), Some(e.ino), "lookup {}", show(&p));
            let st = fs.stat(e.ino).unwrap_or_else(|err| panic!("stat {}: {err}", show(&p)));
            assert_eq!(st.file_type(), Some(e.file_type), "{}", show(&p));
            let mut n = Node {
                ino: st.ino & OBJ_MASK,
                mode: st.mode,
                uid: st.uid,
                gid: st.gid,
                nlink: st.nlink,
                size: st.size,
                blocks: st.blocks,
                rdev: st.rdev,
                times: [(st.atime.sec, st.atime.nsec), (st.mtime.sec, st.mtime.nsec), (st.ctime.sec, st.ctime.nsec)],
                target: None,
                sha: None,
                xattrs: fs.xattrs(e.ino).unwrap_or_else(|err| panic!("xattrs {}: {err}", show(&p))).into_iter().collect(),
            };
            match e.file_type {
                FileType::Directory => {
                    assert_eq!(fs.lookup(e.ino, b"..").unwrap(), Some(dir), "{}/..", show(&p));
                    stack.push((p.clone(), e.ino))
                }
                FileType::Symlink => n.target = Some(fs.readlink(e.ino).unwrap_or_else(|err| panic!("readlink {}: {err}", show(&p)))),
                FileType::Regular => {
                    let mut hashes = Vec::new();
                    for b in [&mut buf, &mut small] {
                        let mut h = Sha256::new();
                        let mut off = 0u64;
                        loop {
                            let k = fs.read(e.ino, off, b).unwrap_or_else(|err| panic!("read {}: {err}", show(&p)));
                            if k == 0 {
                                break;
                            }
                            h.update(&b[..k]);
                            off += k as u64;
                        }
                        assert_eq!(off, st.size, "{}", show(&p));
                        hashes.push(format!("{:x}", h.finalize()));
                    }
                    assert_eq!(hashes[0], hashes[1], "{}: read in pieces", show(&p));
                    n.sha = hashes.pop();
                }
                _ => {}
            }
            out.insert(p, n);
        }
    }
    out
}

/// Compares the whole tree of `which` with the kernel's mount with `opts`; returns the count
/// of paths compared.
fn compare_with_kernel(name: &str, which: Subvol, opts: &str) -> usize {
    let img = fixture(name);
    let fs = open(&img, which);
    let mine = ours(&fs);
    let _g = MOUNTS.lock().unwrap_or_else(|p| p.into_inner());
    let m = Mount::new(&img, opts);
    let theirs = kernel(m.0.path());
    for (p, k) in &theirs {
        let o = mine.get(p).unwrap_or_else(|| panic!("{name} {opts}: {} missing", show(p)));
        assert_eq!(o, k, "{name} {opts}: {}", show(p));
    }
    assert_eq!(mine.len(), theirs.len(), "{name} {opts}: path counts");
    let root = fs.stat(fs.root()).unwrap();
    let rm = std::fs::metadata(m.0.path()).unwrap();
    assert_eq!((root.ino, root.mode, root.nlink, root.size, root.uid), (rm.ino(), rm.mode(), rm.nlink(), rm.size(), rm.uid()), "{name}: root");
    assert_eq!(fs.lookup(fs.root(), b"..").unwrap(), Some(fs.root()));
    eprintln!("{name} {opts}: {} paths equal the kernel's", theirs.len());
    theirs.len()
}

#[test]
fn main_default_subvolume() {
    let n = compare_with_kernel("btrfs-main.img", Subvol::Default, "");
    assert!(n > 3300, "{n}");
}

#[test]
fn main_top_level() {
    compare_with_kernel("btrfs-main.img", Subvol::Id(5), "subvolid=5");
}

#[test]
fn main_subvol_by_path() {
    compare_with_kernel("btrfs-main.img", Subvol::Path("home".into()), "subvol=home");
    compare_with_kernel("btrfs-main.img", Subvol::Path("/root/var/lib/machines".into()), "subvol=/root/var/lib/machines");
}

#[test]
fn data_dup() {
    compare_with_kernel("btrfs-ddup.img", Subvol::Default, "");
    let fs = open(&fixture("btrfs-ddup.img"), Subvol::Default);
    assert!(fs.chunk_map().chunks().any(|c| c.flags & 1 != 0 && c.profile() == "DUP"), "a DUP data chunk");
}

#[test]
fn made_with_rootdir() {
    compare_with_kernel("btrfs-rootdir.img", Subvol::Default, "");
}

#[test]
fn nodes_64k() {
    compare_with_kernel("btrfs-64k.img", Subvol::Default, "");
}

/// Compressed files are compressed on disk (so the comparison above covered the decoders).
#[test]
fn compressed_extents_are_there() {
    let img = fixture("btrfs-main.img");
    let dump = run("btrfs", &["inspect-internal", "dump-tree", "-t", "fs", img.to_str().unwrap()]);
    let full = run("btrfs", &["inspect-internal", "dump-tree", img.to_str().unwrap()]);
    for c in ["compression 1", "compression 2", "compression 3"] {
        assert!(full.contains(c) || dump.contains(c), "{c}");
    }
    assert!(full.contains("inline extent data size") && full.contains("prealloc"));
}

/// `btrfs subvolume list` and `get-default` on the kernel's mount.
#[test]
fn subvolume_list() {
    let img = fixture("btrfs-main.img");
    let fs = open(&img, Subvol::Id(5));
    let mut mine: Vec<(u64, u64, String)> = fs.subvolumes().unwrap().into_iter().map(|s| (s.id, s.parent, s.path)).collect();
    mine.sort();
    let _g = MOUNTS.lock().unwrap_or_else(|p| p.into_inner());
    let m = Mount::new(&img, "subvolid=5");
    let text = run("btrfs", &["subvolume", "list", m.0.path().to_str().unwrap()]);
    let mut theirs = Vec::new();
    for l in text.lines() {
        // ID 256 gen 9 top level 5 path root
        let w: Vec<&str> = l.split_whitespace().collect();
        theirs.push((w[1].parse::<u64>().unwrap(), w[6].parse::<u64>().unwrap(), w[8..].join(" ")));
    }
    theirs.sort();
    assert_eq!(mine, theirs);
    assert_eq!(mine.len(), 3);
    let def = run("btrfs", &["subvolume", "get-default", m.0.path().to_str().unwrap()]);
    assert_eq!(fs.default_subvol().unwrap(), def.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap());
    // the default subvolume is `root`; its /etc/fstab is there
    let d = open(&img, Subvol::Default);
    let etc = d.lookup(d.root(), b"etc").unwrap().unwrap();
    assert!(d.lookup(etc, b"fstab").unwrap().is_some());
    assert_eq!(d.subvol_id(), mine.iter().find(|s| s.2 == "root").unwrap().0);
    // missing ones
    assert!(matches!(BtrfsFs::open_subvol(dev(&img), Subvol::Path("nope".into())), Err(Error::Unsupported { .. })));
    assert!(matches!(BtrfsFs::open_subvol(dev(&img), Subvol::Id(999)), Err(Error::Unsupported { .. })));
    assert!(matches!(BtrfsFs::open_subvol(dev(&img), Subvol::Id(2)), Err(Error::Unsupported { .. })), "the extent tree");
}

/// Inode numbers stay unique across subvolumes: the top level holds `root` and `home`, both
/// with root directory 256 and files 257….
#[test]
fn inode_numbers_unique_across_subvolumes() {
    let fs = open(&fixture("btrfs-main.img"), Subvol::Id(5));
    let root = fs.lookup(fs.root(), b"root").unwrap().unwrap();
    let home = fs.lookup(fs.root(), b"home").unwrap().unwrap();
    assert_ne!(root, home);
    assert_eq!((root & OBJ_MASK, home & OBJ_MASK), (256, 256));
    assert_ne!(root, fs.root());
}

/// fs::open reads btrfs; fs::open_rw refuses it naming btrfs.
#[test]
fn generic_open() {
    let img = fixture("btrfs-main.img");
    let fs = vguestfs::fs::open(dev(&img)).unwrap();
    assert_eq!(fs.fs_type(), "btrfs");
    assert!(fs.warnings().is_empty());
    let rw: Dev = Arc::new(RawFile::open(&img, false).unwrap());
    match vguestfs::fs::open_rw(rw) {
        Err(Error::Unsupported { feature, .. }) => assert!(feature.contains("writing btrfs"), "{feature}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("btrfs opened for writing"),
    }
}

#[test]
fn xxhash_checksums_refused() {
    match BtrfsFs::open(dev(&fixture("btrfs-xxhash.img"))) {
        Err(Error::Unsupported { feature, .. }) => assert!(feature.contains("xxhash64"), "{feature}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened"),
    }
}

#[test]
fn raid1_refused() {
    for half in ["btrfs-raid1-a.img", "btrfs-raid1-b.img"] {
        match BtrfsFs::open(dev(&fixture(half))) {
            Err(Error::Unsupported { feature, .. }) => assert!(feature.contains("RAID1"), "{feature}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened"),
        }
    }
}

/// A damaged copy of a DUP tree block: the other copy is read. Both damaged: a corruption
/// error naming the block and its checksum.
#[test]
fn damaged_tree_block() {
    let src = fixture("btrfs-main.img");
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("damaged.img");
    std::fs::copy(&src, &img).unwrap();
    let fs = open(&img, Subvol::Default);
    let before = ours(&fs);
    let root = fs.superblock().root;
    let (copies, _) = fs.chunk_map().map(root).unwrap();
    assert_eq!(copies.len(), 2, "DUP metadata");
    drop(fs);
    let smash = |at: u64| {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&[0x5a; 64], at + 2000).unwrap();
    };
    smash(copies[0]);
    let fs = open(&img, Subvol::Default);
    assert_eq!(ours(&fs), before, "the second copy is read");
    drop(fs);
    smash(copies[1]);
    match BtrfsFs::open(dev(&img)) {
        Err(e @ Error::Corrupt { .. }) => {
            let s = e.to_string();
            assert!(s.contains(&format!("tree block {root:#x}: checksum")) && s.contains("btrfs check --readonly"), "{s}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened"),
    }
}

/// Truncated and zeroed images fail cleanly.
#[test]
fn truncated_images() {
    let src = fixture("btrfs-rootdir.img");
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("t.img");
    let data = std::fs::read(&src).unwrap();
    for len in [70 << 10, 1 << 20, 8 << 20, 40 << 20] {
        std::fs::write(&img, &data[..len]).unwrap();
        let r = BtrfsFs::open(dev(&img));
        if let Ok(fs) = r {
            // whatever opens must not panic on a walk
            let _ = fs.read_dir(fs.root());
        }
    }
}

/// A damaged primary superblock: the mirror at 64 MiB is read (`btrfs rescue super-recover`'s
/// source); all copies damaged: a corruption error naming the superblock checksum.
#[test]
fn superblock_mirror() {
    use std::os::unix::fs::FileExt;
    let src = fixture("btrfs-rootdir.img");
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("sb.img");
    std::fs::copy(&src, &img).unwrap();
    let before = ours(&open(&img, Subvol::Default));
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xa5; 16], (64 << 10) + 0x200).unwrap();
    assert_eq!(ours(&open(&img, Subvol::Default)), before);
    f.write_all_at(&[0xa5; 16], (64 << 20) + 0x200).unwrap();
    match BtrfsFs::open(dev(&img)) {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("superblock at 0x10000: superblock checksum"), "{e}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened"),
    }
}
