//! XFS reading through `XfsFs`, judged by other people's tools: every v5 image built by
//! `fixtures/mk-xfs.sh` (mkfs.xfs variants filled through a kernel loop mount) must read back
//! as the kernel shows it through a read-only loop mount — names, types, inode numbers, modes,
//! owners, link counts, sizes, block counts, times, device numbers, symlink targets, file
//! contents (sha256), xattrs (`getfattr`), `statvfs` (`stat -f`). The v4 image (which this
//! kernel cannot mount) must read back as the tree `mkfs.xfs -p` copied into it, with the
//! inode numbers `xfs_db -r` lists. Damaged copies (made with `xfs_db -x`) fail cleanly.

mod common;

use common::view::{kernel, show, Mount, Node};
use common::{fixture, run};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::XfsFs;
use vguestfs::fs::{Error, FileType, Filesystem, Ino};

/// The v5 images, each mountable by the kernel.
const V5_IMAGES: &[&str] =
    &["xfs-v5.img", "xfs-rmap.img", "xfs-nosparse.img", "xfs-dir16k.img", "xfs-1k.img", "xfs-ag8.img", "xfs-64k.img", "xfs-4ksect.img", "xfs-nrext64.img"];

/// Every v5 image opens and its root lists (the per-image tests below compare everything).
#[test]
fn every_v5_image_opens() {
    for name in V5_IMAGES {
        let fs = open(&fixture(name));
        assert!(fs.superblock().crc, "{name}");
        assert!(!fs.read_dir(fs.root()).unwrap().is_empty(), "{name}");
    }
}

fn open(img: &Path) -> XfsFs {
    let dev: Dev = Arc::new(RawFile::open(img, false).expect("open image"));
    XfsFs::open(dev).unwrap_or_else(|e| panic!("{}: {e}", img.display()))
}

/// Every path (relative, as bytes) below the root through our reader.
fn ours(fs: &XfsFs) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(Vec::new(), fs.root())];
    let mut buf = vec![0u8; 1 << 20];
    while let Some((path, dir)) = stack.pop() {
        // Names that are not there, including one of an existing name's hash ("." is 0x2e).
        for missing in [&b"no-such-name"[..], &[0x2e][..], b"s1x"] {
            if missing != b"." {
                assert_eq!(fs.lookup(dir, missing).unwrap(), None, "{}", show(&path));
            }
        }
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
                ino: st.ino,
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
                FileType::Directory => stack.push((p.clone(), e.ino)),
                FileType::Symlink => n.target = Some(fs.readlink(e.ino).unwrap_or_else(|err| panic!("readlink {}: {err}", show(&p)))),
                FileType::Regular => {
                    let mut h = Sha256::new();
                    let mut off = 0u64;
                    loop {
                        let k = fs.read(e.ino, off, &mut buf).unwrap_or_else(|err| panic!("read {}: {err}", show(&p)));
                        if k == 0 {
                            break;
                        }
                        h.update(&buf[..k]);
                        off += k as u64;
                    }
                    assert_eq!(off, st.size, "{}", show(&p));
                    n.sha = Some(format!("{:x}", h.finalize()));
                }
                _ => {}
            }
            out.insert(p, n);
        }
    }
    out
}

fn compare_with_kernel(name: &str) {
    let img = fixture(name);
    let fs = open(&img);
    let mine = ours(&fs);
    let m = Mount::new(&img, "");
    let theirs = kernel(m.0.path());
    assert_eq!(mine.len(), theirs.len(), "{name}: path counts");
    for (p, k) in &theirs {
        let o = mine.get(p).unwrap_or_else(|| panic!("{name}: {} missing", show(p)));
        assert_eq!(o, k, "{name}: {}", show(p));
    }
    // The root itself.
    let root = fs.stat(fs.root()).unwrap();
    let rm = std::fs::metadata(m.0.path()).unwrap();
    assert_eq!((root.ino, root.mode, root.nlink, root.size), (rm.ino(), rm.mode(), rm.nlink(), rm.size()), "{name}: root");
    assert_eq!(fs.xattrs(fs.root()).unwrap(), vec![]);
    // statvfs as `stat -f` reports it.
    let sv = fs.statvfs().unwrap();
    let f = run("stat", &["-f", "-c", "%S %b %f %a %c %d %l", m.0.path().to_str().unwrap()]);
    let v: Vec<u64> = f.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let dev = RawFile::open(&img, false).unwrap();
    assert_eq!(vguestfs::fs::statfs::statvfs_size(&dev, "xfs").unwrap(), Some(v[0] * v[1]), "{name}: statvfs_size");
    // Exactly what a read-only mount reports (a read-write mount also withholds its reserve
    // pool and per-AG metadata reservations from the free blocks).
    assert_eq!(
        (sv.bsize, sv.blocks, sv.bfree, sv.bavail, sv.files, sv.ffree, sv.namemax),
        (v[0], v[1], v[2], v[3], v[4], v[5], v[6]),
        "{name}: statvfs"
    );
    assert_eq!(sv.files - sv.ffree, v[4] - v[5], "{name}: inodes in use");
}

#[test]
fn v5_default() {
    compare_with_kernel("xfs-v5.img");
}

#[test]
fn v5_rmapbt() {
    compare_with_kernel("xfs-rmap.img");
}

#[test]
fn v5_no_sparse_inodes() {
    compare_with_kernel("xfs-nosparse.img");
}

#[test]
fn v5_dir_blocks_16k() {
    compare_with_kernel("xfs-dir16k.img");
}

#[test]
fn v5_blocks_1k() {
    compare_with_kernel("xfs-1k.img");
}

#[test]
fn v5_eight_ags() {
    compare_with_kernel("xfs-ag8.img");
}

#[test]
fn v5_blocks_64k() {
    compare_with_kernel("xfs-64k.img");
}

#[test]
fn v5_sectors_4k() {
    compare_with_kernel("xfs-4ksect.img");
}

#[test]
fn v5_nrext64() {
    compare_with_kernel("xfs-nrext64.img");
}

/// The formats the fixtures are meant to exercise really are on disk (xfs_db says so).
#[test]
fn fixtures_cover_the_formats() {
    let img = fixture("xfs-v5.img");
    let fmt = |path: &str, field: &str| {
        let out = run("xfs_db", &["-r", "-c", &format!("path {path}"), "-c", &format!("print {field}"), img.to_str().unwrap()]);
        out.trim().to_string()
    };
    assert!(fmt("/dirs/short", "core.format").contains("local"));
    assert!(fmt("/dirs/block", "core.format").contains("extents"));
    assert!(fmt("/dirs/btree", "core.format").contains("btree"));
    assert!(fmt("/files/fragmented.bin", "core.format").contains("btree"));
    assert!(fmt("/links/very-long", "core.format").contains("extents"));
    assert!(fmt("/links/short", "core.format").contains("local"));
    assert!(fmt("/xattrs/short", "core.aformat").contains("local"));
    assert!(fmt("/xattrs/node", "core.aformat").contains("extents"));
    // Leaf blocks at the 32 GiB leaf offset: leaf1 (XDL3) for a leaf directory, a da node
    // (0x3ebe) for node and btree directories; attribute block 0 likewise.
    let block0 = |path: &str, cmd: &str, field: &str| {
        run("xfs_db", &["-r", "-c", &format!("path {path}"), "-c", cmd, "-c", &format!("print {field}"), img.to_str().unwrap()]).trim().to_string()
    };
    assert!(block0("/dirs/leaf", "dblock 8388608", "lhdr.info.hdr.magic").ends_with("0x3df1"));
    assert!(block0("/dirs/node", "dblock 8388608", "nhdr.info.hdr.magic").ends_with("0x3ebe"));
    assert!(block0("/dirs/btree", "dblock 8388608", "nhdr.info.hdr.magic").ends_with("0x3ebe"));
    assert!(block0("/xattrs/leaf", "ablock 0", "hdr.info.hdr.magic").ends_with("0x3bee"));
    assert!(block0("/xattrs/node", "ablock 0", "hdr.info.hdr.magic").ends_with("0x3ebe"));
    let fs = open(&img);
    let frag = lookup_path(&fs, "files/fragmented.bin");
    assert_eq!(fs.stat(frag).unwrap().size, 299 * 8192 + 4096);
}

fn lookup_path(fs: &dyn Filesystem, p: &str) -> Ino {
    let mut ino = fs.root();
    for c in p.split('/') {
        ino = fs.lookup(ino, c.as_bytes()).unwrap().unwrap_or_else(|| panic!("{p}: {c} not found"));
    }
    ino
}

/// `xfs_db -r -c 'ls DIR'` of a v4 image: name → inode.
fn xfs_db_ls(img: &Path, dir: &str) -> BTreeMap<Vec<u8>, u64> {
    let out = run("xfs_db", &["-r", "-c", &format!("ls {dir}"), img.to_str().unwrap()]);
    let mut m = BTreeMap::new();
    for line in out.lines() {
        // "8          128                directory      0x0000002e   1 . (good)"
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 7 {
            let name = f[5..f.len() - 1].join(" ");
            if name != "." && name != ".." {
                m.insert(name.into_bytes(), f[1].parse().unwrap());
            }
        }
    }
    m
}

#[test]
fn v4_reads_as_its_source_tree() {
    v4_image("xfs-v4.img");
}

#[test]
fn v4_blocks_512() {
    v4_image("xfs-v4-512.img");
}

/// An ASCII case-insensitive filesystem (`-n version=ci`, filled from the v4 tree) reads as
/// the tree, and names in every directory format are found whatever their ASCII case, with
/// the inode xfs_db lists for the exact name.
#[test]
fn ascii_ci_lookups_ignore_case() {
    proto_image("xfs-ci.img", true);
    let img = fixture("xfs-ci.img");
    let fs = open(&img);
    assert!(fs.superblock().ascii_ci);
    for d in ["short", "block", "leaf", "node"] {
        let dir = lookup_path(&fs, &d.to_uppercase());
        for (name, ino) in xfs_db_ls(&img, &format!("/{d}")).into_iter().step_by(37) {
            let upper = name.to_ascii_uppercase();
            assert_eq!(fs.lookup(dir, &upper).unwrap(), Some(ino), "/{d}/{}", show(&upper));
            assert_eq!(fs.lookup(dir, &name).unwrap(), Some(ino), "/{d}/{}", show(&name));
        }
        assert_eq!(fs.lookup(dir, b"ENTRY-NAME-99999").unwrap(), None);
    }
    // a case-sensitive filesystem does not match other cases
    let v4 = open(&fixture("xfs-v4.img"));
    assert_eq!(v4.lookup(lookup_path(&v4, "short"), b"ENTRY-NAME-00000").unwrap(), None);
}

fn v4_image(name: &str) {
    proto_image(name, false);
}

/// An image `mkfs.xfs -p` filled from the v4 tree reads back as that tree.
fn proto_image(name: &str, crc: bool) {
    let img = fixture(name);
    let tree = fixture("xfs-v4-tree");
    let fs = open(&img);
    assert_eq!(fs.superblock().crc, crc);
    let mine = ours(&fs);
    let mut count = 0;
    let mut stack = vec![tree.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(&tree).unwrap().as_os_str().as_bytes().to_vec();
            let o = mine.get(&rel).unwrap_or_else(|| panic!("v4: {} missing", show(&rel)));
            let m = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!(o.mode, m.mode(), "{}", show(&rel));
            count += 1;
            if m.is_dir() {
                stack.push(path);
            } else if m.file_type().is_symlink() {
                assert_eq!(o.target.as_deref(), Some(std::fs::read_link(&path).unwrap().as_os_str().as_bytes()));
            } else {
                assert_eq!(o.size, m.size(), "{}", show(&rel));
                assert_eq!(o.sha.as_deref(), Some(format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap())).as_str()));
            }
        }
    }
    assert_eq!(count, mine.len());
    // Inode numbers as xfs_db lists them, in every directory format.
    for d in ["", "short", "block", "leaf", "node"] {
        let db = xfs_db_ls(&img, &format!("/{d}"));
        let dir = if d.is_empty() { fs.root() } else { lookup_path(&fs, d) };
        let listed: BTreeMap<Vec<u8>, u64> = fs.read_dir(dir).unwrap().into_iter().map(|e| (e.name, e.ino)).collect();
        assert_eq!(listed, db, "/{d}");
    }
    // Inode fields as xfs_db prints them, for every inode of the root and of one big directory.
    for dir in [fs.root(), lookup_path(&fs, "leaf")] {
        for e in fs.read_dir(dir).unwrap() {
            let st = fs.stat(e.ino).unwrap();
            let out = run(
                "xfs_db",
                &["-r", "-c", &format!("inode {}", e.ino), "-c", "print core.mode core.uid core.gid core.nlinkv2 core.size core.nblocks core.mtime.nsec", img.to_str().unwrap()],
            );
            let f: Vec<&str> = out.lines().map(|l| l.rsplit(" = ").next().unwrap()).collect();
            let want = (u32::from_str_radix(f[0], 8).unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap(), f[4].parse().unwrap(), f[5].parse::<u64>().unwrap(), f[6].parse().unwrap());
            let nblocks_unit = fs.superblock().blocksize as u64 / 512;
            assert_eq!((st.mode, st.uid, st.gid, st.nlink, st.size, st.blocks / nblocks_unit, st.mtime.nsec), want, "{name}: inode {}", e.ino);
        }
    }
}

#[test]
fn dirty_log_reads_what_is_on_disk() {
    let img = fixture("xfs-dirty.img");
    let db = xfs_db_ls(&img, "/");
    let fs = open(&img);
    let listed: BTreeMap<Vec<u8>, u64> = fs.read_dir(fs.root()).unwrap().into_iter().map(|e| (e.name, e.ino)).collect();
    assert_eq!(listed, db);
    let f = lookup_path(&fs, "synced.txt");
    let mut buf = [0u8; 64];
    let n = fs.read(f, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"synced\n");
    assert!(fs.lookup(fs.root(), b"only-in-log").unwrap().is_none());
    ours(&fs);
}

/// The log state we find equals xfs_repair's verdict (it alerts about "valuable metadata
/// changes in a log" exactly when the log is dirty), on every XFS fixture: clean unmounts,
/// fresh `mkfs.xfs -p` images (v4 and v5), and the one shut down with a dirty log.
#[test]
fn dirty_log_is_found_as_xfs_repair_finds_it() {
    let mut names: Vec<&str> = V5_IMAGES.to_vec();
    names.extend(["xfs-v4.img", "xfs-v4-512.img", "xfs-dirty.img"]);
    for name in names {
        let img = fixture(name);
        let out = std::process::Command::new("xfs_repair").args(["-n", "-f"]).arg(&img).output().expect("xfs_repair");
        let repair_dirty = String::from_utf8_lossy(&out.stderr).contains("valuable metadata changes in a log");
        let fs = open(&img);
        let warnings = fs.warnings();
        assert_eq!(!warnings.is_empty(), repair_dirty, "{name}: {warnings:?}");
        assert_eq!(fs.log_state() == vguestfs::fs::xfs::log::LogState::Dirty, repair_dirty, "{name}");
        if repair_dirty {
            assert!(warnings[0].contains("log is dirty") && warnings[0].contains("mount"), "{}", warnings[0]);
        }
    }
    assert!(open(&fixture("xfs-dirty.img")).log_state() == vguestfs::fs::xfs::log::LogState::Dirty);
}

/// A sparse copy of a fixture changed with `xfs_db -x` commands (which recompute CRCs).
fn damaged(name: &str, cmds: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    run("cp", &["--sparse=always", fixture(name).to_str().unwrap(), p.to_str().unwrap()]);
    let mut args = vec!["-x"];
    for c in cmds {
        args.extend(["-c", c]);
    }
    args.push(p.to_str().unwrap());
    run("xfs_db", &args);
    (d, p)
}

fn corrupt_msg(r: Result<impl Sized, Error>) -> String {
    match r {
        Err(Error::Corrupt { msg, .. }) => msg,
        Err(e) => panic!("expected a corruption error, got {e}"),
        Ok(_) => panic!("expected a corruption error"),
    }
}

#[test]
fn damaged_images_fail_cleanly() {
    // A bmbt whose root points twice at the same leaf.
    let img = fixture("xfs-v5.img");
    let ptr = run("xfs_db", &["-r", "-c", "path /files/fragmented.bin", "-c", "print u3.bmbt.ptrs[1]", img.to_str().unwrap()]);
    let ptr = ptr.trim().rsplit(' ').next().unwrap().to_string();
    let (_d, p) = damaged("xfs-v5.img", &["path /files/fragmented.bin", &format!("write u3.bmbt.ptrs[2] {ptr}"), "write u3.bmbt.numrecs 2"]);
    let fs = open(&p);
    let ino = lookup_path(&fs, "files/fragmented.bin");
    let msg = corrupt_msg(fs.read(ino, 0, &mut [0u8; 16]));
    assert!(msg.contains("bmbt") && msg.contains("twice"), "{msg}");

    // A directory data block with a bad CRC (written without recomputing it), and one that
    // names another owner (CRC recomputed).
    for (how, want) in [("-c", "CRC"), ("-d", "owned by another")] {
        let (_d, p) = damaged("xfs-v5.img", &["path /dirs/leaf", "dblock 0", &format!("write {how} dhdr.hdr.owner 5")]);
        let fs = open(&p);
        let dir = lookup_path(&fs, "dirs");
        let leaf = fs.lookup(dir, b"leaf").unwrap().unwrap();
        let msg = corrupt_msg(fs.read_dir(leaf));
        assert!(msg.contains("data block") && msg.contains(want), "{msg}");
    }

    // A superblock with an unknown incompatible feature.
    let (_d, p) = damaged("xfs-v5.img", &["sb 0", "write -d features_incompat 0x800b"]);
    let dev: Dev = Arc::new(RawFile::open(&p, false).unwrap());
    match XfsFs::open(dev) {
        Err(Error::Unsupported { feature, .. }) => assert!(feature.contains("unknown incompatible"), "{feature}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened"),
    }

    // A damaged AGF of AG 2: files still read, statvfs (which sums every AGF) fails.
    let (_d, p) = damaged("xfs-v5.img", &["agf 2", "write -d length 5"]);
    let fs = open(&p);
    ours(&fs);
    let msg = corrupt_msg(fs.statvfs());
    assert!(msg.contains("AGF of AG 2"), "{msg}");

    // An inode whose extent points past the filesystem.
    let (_d, p) = damaged("xfs-v5.img", &["path /files/size-4096.bin", "write u3.bmx[0].startblock 0xffffffffff"]);
    let fs = open(&p);
    let ino = lookup_path(&fs, "files/size-4096.bin");
    let msg = corrupt_msg(fs.read(ino, 0, &mut [0u8; 16]));
    assert!(msg.contains("outside the filesystem"), "{msg}");
}

/// `fs::open` picks XFS by its probed type.
#[test]
fn fs_open_probes_xfs() {
    let dev: Dev = Arc::new(RawFile::open(&fixture("xfs-v5.img"), false).unwrap());
    let fs = vguestfs::fs::open(dev).unwrap();
    assert_eq!(fs.fs_type(), "xfs");
    assert!(!fs.is_writable());
}

/// The tools read XFS through `fs::open`: vcat prints a file of the v4 image as its source
/// tree holds it, vls lists a directory.
#[test]
fn tools_read_xfs() {
    let img = fixture("xfs-v4.img");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vcat")).args(["-a", img.to_str().unwrap(), "-m", "/dev/sda", "/f70000"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, std::fs::read(fixture("xfs-v4-tree").join("f70000")).unwrap());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vls")).args(["-a", img.to_str().unwrap(), "-m", "/dev/sda", "/short"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    names.sort();
    let mut want: Vec<String> = std::fs::read_dir(fixture("xfs-v4-tree").join("short")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    want.sort();
    assert_eq!(names, want);
    // a dirty log: the file reads as on disk, with one warning naming the risk and the fix
    let img = fixture("xfs-dirty.img");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vcat")).args(["-a", img.to_str().unwrap(), "-m", "/dev/sda", "/synced.txt"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"synced\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("vcat: warning: /dev/sda: the XFS log is dirty").count(), 1, "{err}");
    assert!(err.contains("mount and unmount the filesystem once with the Linux kernel"), "{err}");
}
