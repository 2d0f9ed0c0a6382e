//! The reverse-mapping btree kept exact by every XFS write (issue 14): on the rmapbt fixtures
//! of fixtures/mk-xfs-rmap.sh (reflink and not, 4 KiB blocks and 1 KiB blocks in 8 AGs, each
//! with a multi-level rmapbt the kernel built), every kind of write — create, write, append,
//! truncate, unlink (of btree-mapped and reflinked files), mkdir, rmdir, rename, setxattr,
//! symlink, hundreds of creates allocating inode chunks, a file crossing extents → btree and
//! back, a directory growing to leaf and node formats, and offline grow (new AGs, the last
//! AG extended) — is followed by the judges:
//! - `xfs_repair -n` clean;
//! - exactness: `xfs_repair` (rebuilding every rmapbt from what it finds) on a copy, and the
//!   copy's records (xfs_db `btdump`) equal ours, but for the AG btrees' and AGFL's (repair
//!   rebuilds those trees elsewhere and refills the AGFL its own way), whose totals must be
//!   the trees' blocks as xfs_db walks them (`OWN_AG`: free-space and rmap btrees and the
//!   AGFL; `OWN_INOBT`: inode and free inode btrees; `OWN_REFC`: refcount btree) — with
//!   `xfs_repair -n`, which finds every such block without its record, exact too;
//! - the AGF counters: `rmapblocks` the rmapbt's blocks, `btreeblks` the free-space and rmap
//!   btrees' blocks beyond their roots, as xfs_db walks them.

mod common;

use common::copy_fixture;
use common::xfs::{judge_rmap as judge, with_kernel};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::grow::{grow, Size};
use vguestfs::fs::xfs::writer::XfsWriter;

const FIXTURES: [&str; 3] = ["xfs-rmap/reflink.img", "xfs-rmap/noreflink.img", "xfs-rmap/1k-ag8.img"];
fn open(img: &Path) -> XfsWriter {
    let dev: Dev = Arc::new(RawFile::open(img, true).expect("open image rw"));
    XfsWriter::open(dev).expect("XfsWriter::open")
}

fn gen(n: usize, seed: u64) -> Vec<u8> {
    (0..n).map(|i| ((i as u64).wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8 | 1).collect()
}

fn path_ino(w: &XfsWriter, p: &str) -> u64 {
    let mut at = w.superblock().rootino;
    for c in p.split('/').filter(|c| !c.is_empty()) {
        at = w.lookup(at, c.as_bytes()).unwrap().unwrap_or_else(|| panic!("{p}: no {c}"));
    }
    at
}

/// Runs `f` on a writer over `img`, then the judges.
fn step(img: &Path, what: &str, f: impl FnOnce(&mut XfsWriter)) {
    let mut w = open(img);
    f(&mut w);
    drop(w);
    judge(img, what);
    // The writer's own structural check: interior low and high keys, free space and counters.
    let mut w = open(img);
    for agno in 0..w.superblock().agcount {
        w.rmap_records(agno).unwrap_or_else(|e| panic!("{what}: AG {agno}: {e}"));
        w.free_extents(agno).unwrap_or_else(|e| panic!("{what}: AG {agno}: {e}"));
    }
}

/// Every kind of write, each judged, on a copy of `fixture`; the kernel reads back the files
/// written.
fn sequence(fixture: &str) {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_fixture(fixture, dir.path(), "t.img");
    judge(&img, &format!("{fixture}: as the kernel made it"));
    let bs = u64::from(open(&img).superblock().blocksize);
    let w_ = |s: &str| format!("{fixture}: {s}");
    let mut expect: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    step(&img, &w_("create and write"), |w| {
        let root = w.superblock().rootino;
        let f = w.create(root, b"new", 0o100644, 0, 0).unwrap();
        w.write(f, 0, &gen(10_000, 1)).unwrap();
    });
    expect.insert("new".into(), gen(10_000, 1));
    step(&img, &w_("append"), |w| {
        let f = path_ino(w, "new");
        w.write(f, 10_000, &gen(1 << 20, 2)).unwrap();
    });
    expect.get_mut("new").unwrap().extend(gen(1 << 20, 2));
    // One block every other block: extents → btree (bmbt blocks get their rmaps).
    let mut frag = vec![0u8; 0];
    step(&img, &w_("extents to btree"), |w| {
        let root = w.superblock().rootino;
        let f = w.create(root, b"fragfile", 0o100644, 0, 0).unwrap();
        let (a, b) = (w.create(root, b"spacer-a", 0o100644, 0, 0).unwrap(), w.create(root, b"spacer-b", 0o100644, 0, 0).unwrap());
        for i in 0..120u64 {
            let d = gen(bs as usize, i);
            w.write(f, 2 * i * bs, &d).unwrap();
            // Spacers in between so that the file's blocks do not merge.
            w.write(if i % 2 == 0 { a } else { b }, i * bs, &gen(bs as usize, 1000 + i)).unwrap();
            if frag.len() < (2 * i * bs) as usize {
                frag.resize((2 * i * bs) as usize, 0);
            }
            frag.extend(&d);
        }
    });
    expect.insert("fragfile".into(), frag.clone());
    step(&img, &w_("holes filled"), |w| {
        let f = path_ino(w, "fragfile");
        for i in 0..119u64 {
            w.write(f, (2 * i + 1) * bs, &gen(bs as usize, 500 + i)).unwrap();
            frag[((2 * i + 1) * bs) as usize..((2 * i + 2) * bs) as usize].copy_from_slice(&gen(bs as usize, 500 + i));
        }
    });
    expect.insert("fragfile".into(), frag.clone());
    step(&img, &w_("truncate"), |w| {
        let f = path_ino(w, "fragfile");
        w.truncate(f, 3 * bs + 17).unwrap();
        let n = path_ino(w, "new");
        w.truncate(n, 0).unwrap();
        w.truncate(n, 5000).unwrap();
    });
    frag.truncate((3 * bs + 17) as usize);
    expect.insert("fragfile".into(), frag.clone());
    expect.insert("new".into(), vec![0; 5000]);
    step(&img, &w_("unlink a btree-mapped file"), |w| {
        let d = path_ino(w, "frag");
        w.remove(d, b"big.bin").unwrap();
    });
    if fixture != "xfs-rmap/noreflink.img" {
        step(&img, &w_("copy-on-write of reflinked blocks"), |w| {
            let f = path_ino(w, "files/large.bin");
            w.write(f, 100_000, &gen(20_000, 9)).unwrap();
            let g = path_ino(w, "frag/reflinked-f0.bin");
            w.truncate(g, 5 * bs + 100).unwrap();
        });
        step(&img, &w_("unlink and truncate reflinked files"), |w| {
            let d = path_ino(w, "files");
            w.remove(d, b"reflinked.bin").unwrap();
            let f = path_ino(w, "files/large.bin");
            w.truncate(f, 1 << 20).unwrap();
            let d = path_ino(w, "frag");
            let f = path_ino(w, "frag/f0.bin");
            w.truncate(f, 7 * bs).unwrap();
            w.remove(d, b"reflinked-f0.bin").unwrap();
        });
    }
    step(&img, &w_("mkdir and many creates"), |w| {
        let root = w.superblock().rootino;
        let d = w.create(root, b"many", 0o40755, 0, 0).unwrap();
        for i in 0..500 {
            let f = w.create(d, format!("file-with-a-longer-name-{i:05}").as_bytes(), 0o100644, 0, 0).unwrap();
            if i % 50 == 0 {
                w.write(f, 0, &gen(3000, i)).unwrap();
            }
        }
        let e = w.create(d, b"subdir", 0o40755, 0, 0).unwrap();
        w.create(e, b"inner", 0o100644, 0, 0).unwrap();
    });
    step(&img, &w_("unlink, rmdir, rename"), |w| {
        let d = path_ino(w, "many");
        for i in (0..500).filter(|i| i % 3 != 0) {
            w.remove(d, format!("file-with-a-longer-name-{i:05}").as_bytes()).unwrap();
        }
        let e = path_ino(w, "many/subdir");
        w.remove(e, b"inner").unwrap();
        w.remove(d, b"subdir").unwrap();
        let root = w.superblock().rootino;
        w.rename(d, b"file-with-a-longer-name-00000", root, b"moved").unwrap();
        let node = path_ino(w, "dirs/node");
        for i in 0..1500 {
            w.remove(node, format!("n{i:05}").as_bytes()).unwrap();
        }
    });
    step(&img, &w_("setxattr and symlinks"), |w| {
        let root = w.superblock().rootino;
        let f = path_ino(w, "new");
        w.setxattr(f, b"user.one", b"value").unwrap();
        w.setxattr(f, b"security.selinux", b"system_u:object_r:etc_t:s0\0").unwrap();
        w.symlink(root, b"long-link", "long/target/".repeat(25).as_bytes(), 0, 0).unwrap();
        w.symlink(root, b"short-link", b"new", 0, 0).unwrap();
    });
    step(&img, &w_("attributes past the inode (a leaf block) and back"), |w| {
        let f = path_ino(w, "files/size-4097.bin");
        for i in 0..10 {
            w.setxattr(f, format!("user.attribute-number-{i:03}").as_bytes(), &[b'v'; 30]).unwrap();
        }
    });
    step(&img, &w_("attribute leaf block freed"), |w| {
        let f = path_ino(w, "files/size-4097.bin");
        for i in 0..10 {
            w.removexattr(f, format!("user.attribute-number-{i:03}").as_bytes()).unwrap();
        }
    });
    step(&img, &w_("whole inode chunks freed, rmdir"), |w| {
        let d = path_ino(w, "many");
        for i in (1..500).filter(|i| i % 3 == 0) {
            w.remove(d, format!("file-with-a-longer-name-{i:05}").as_bytes()).unwrap();
        }
        let root = w.superblock().rootino;
        w.remove(root, b"many").unwrap();
    });
    step(&img, &w_("unwritten extents written (converted and split)"), |w| {
        let f = path_ino(w, "files/unwritten.bin");
        w.write(f, 4096, &gen(10_000, 5)).unwrap();
        w.write(f, 600_000, &gen(3000, 6)).unwrap();
        w.truncate(f, 700_000).unwrap();
    });
    step(&img, &w_("writes into a kernel-made fragmented file"), |w| {
        let f = path_ino(w, "frag/f1.bin");
        w.write(f, bs, &gen(bs as usize * 3, 77)).unwrap();
        w.write(f, 200 * bs, &gen(bs as usize, 78)).unwrap();
    });
    with_kernel(&img, |m| {
        for (p, want) in &expect {
            let got = std::fs::read(m.join(p)).unwrap();
            assert!(got == *want, "{fixture}: {p}: content differs");
        }
        assert_eq!(std::fs::read_link(m.join("long-link")).unwrap().to_str().unwrap(), "long/target/".repeat(25));
    });
}

#[test]
fn every_write_keeps_the_rmapbt_exact_reflink() {
    sequence(FIXTURES[0]);
}

#[test]
fn every_write_keeps_the_rmapbt_exact_noreflink() {
    sequence(FIXTURES[1]);
}

#[test]
fn every_write_keeps_the_rmapbt_exact_1k_ag8() {
    sequence(FIXTURES[2]);
}

/// Offline grow on rmapbt filesystems: a short new AG (its rmapbt root as mkfs/growfs write
/// it), then that AG extended, then whole new AGs; writes after each grow.
#[test]
fn grow_keeps_the_rmapbt_exact() {
    for fixture in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        let img = copy_fixture(fixture, dir.path(), "g.img");
        let len = std::fs::metadata(&img).unwrap().len();
        for (k, add) in [(0, 30u64 << 20), (1, 30 << 20), (2, 400 << 20)] {
            let size = std::fs::metadata(&img).unwrap().len() + add;
            std::fs::OpenOptions::new().write(true).open(&img).and_then(|f| f.set_len(size)).unwrap();
            let dev: Dev = Arc::new(RawFile::open(&img, true).unwrap());
            let r = grow(&dev, Size::Device, None).unwrap();
            assert!(r.changed(), "{fixture}: grow {k}");
            drop(dev);
            judge(&img, &format!("{fixture}: grow {k} from {len}"));
            step(&img, &format!("{fixture}: writes after grow {k}"), |w| {
                let root = w.superblock().rootino;
                for i in 0..6 {
                    let d = w.create(root, format!("after-grow-{k}-{i}").as_bytes(), 0o40755, 0, 0).unwrap();
                    for j in 0..80 {
                        let f = w.create(d, format!("f{j}").as_bytes(), 0o100644, 0, 0).unwrap();
                        w.write(f, 0, &gen(5000, j)).unwrap();
                    }
                }
            });
        }
    }
}
