//! Renames and hard links (`XfsWriter::rename`/`link`, issue 14) between directories of every
//! format — shortform, block, leaf and node, made by the kernel — judged against a kernel twin
//! that does the same sequence through a loop mount: the same paths, types, inode numbers and
//! link counts, `xfs_repair -n` clean after each batch. Files replace files, directories move
//! between parents (their `..` and both parents' link counts follow), a directory never moves
//! into itself (`EINVAL`), a non-empty target directory stays (`ENOTEMPTY`), a directory is
//! not hard-linked (`EPERM`); refusals write nothing.

mod common;

use common::xfs::{mkfs, repair_clean, with_kernel};
use common::Rng;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use vguestfs::disk::{Dev, RawFile};
use vguestfs::fs::xfs::writer::XfsWriter;
use vguestfs::fs::{Errno, Error};

/// Directories and how many files the kernel puts in each (shortform, block, leaf, node).
const DIRS: [(&str, usize); 4] = [("sf", 3), ("blk", 30), ("lf", 300), ("nd", 1500)];

/// Path → (type, inode, links) of everything under `root`.
fn tree(root: &Path) -> BTreeMap<String, (char, u64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.path().symlink_metadata().unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.insert(rel, (if m.is_dir() { 'd' } else { 'f' }, m.ino(), m.nlink()));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// One operation, applied to both sides: (kind, source path, target dir path, target name).
#[derive(Debug, Clone)]
enum Op {
    Rename(String, String, String),
    Link(String, String, String),
}

#[test]
fn renames_and_links_match_a_kernel_twin() {
    let (_d, img) = mkfs(&[]);
    with_kernel(&img, |m| {
        for (dir, n) in DIRS {
            std::fs::create_dir(m.join(dir)).unwrap();
            for i in 0..n {
                std::fs::write(m.join(format!("{dir}/f{i:04}-{}", "x".repeat(i % 13))), b"").unwrap();
            }
            std::fs::create_dir(m.join(format!("{dir}/sub"))).unwrap();
            std::fs::write(m.join(format!("{dir}/sub/inner")), b"").unwrap();
        }
    });
    let twin = img.with_file_name("twin.img");
    std::fs::copy(&img, &twin).unwrap();
    let mut rng = Rng(0x7e4a_3c19_0bd5_2f61);
    let (mut done, mut refused) = (0, 0);
    for batch in 0..5 {
        // pick operations on the twin's current tree (the kernel is the model), run them there
        let mut ops = Vec::new();
        with_kernel(&twin, |m| {
            for _ in 0..30 {
                let t = tree(m);
                let paths: Vec<&String> = t.keys().collect();
                let src = paths[rng.below(paths.len() as u64) as usize].clone();
                let dirs: Vec<&String> = t.iter().filter(|(_, v)| v.0 == 'd').map(|(k, _)| k).collect();
                let to_dir = if rng.below(5) == 0 { String::new() } else { dirs[rng.below(dirs.len() as u64) as usize].clone() };
                // sometimes onto an existing name (a replacement), else a new one
                let existing: Vec<&String> = t.keys().filter(|k| Path::new(k).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default() == to_dir).collect();
                let name = if !existing.is_empty() && rng.below(4) == 0 {
                    Path::new(existing[rng.below(existing.len() as u64) as usize]).file_name().unwrap().to_string_lossy().into_owned()
                } else {
                    format!("n{batch}-{}-{}", rng.below(1000), "y".repeat(rng.below(20) as usize))
                };
                let dst = if to_dir.is_empty() { name.clone() } else { format!("{to_dir}/{name}") };
                let op = if rng.below(4) == 0 { Op::Link(src.clone(), to_dir.clone(), name) } else { Op::Rename(src.clone(), to_dir.clone(), name) };
                let r = match &op {
                    Op::Rename(..) => std::fs::rename(m.join(&src), m.join(&dst)),
                    Op::Link(..) => std::fs::hard_link(m.join(&src), m.join(&dst)),
                };
                ops.push((op, r.map_err(|e| e.raw_os_error().unwrap_or(0))));
            }
        });
        // the same on ours, by path: both sides started identical
        let dev: Dev = Arc::new(RawFile::open(&img, true).unwrap());
        let mut w = XfsWriter::open(dev).unwrap();
        let root = w.superblock().rootino;
        for (op, want) in &ops {
            let (src, to_dir, name, link) = match op {
                Op::Rename(s, d, n) => (s, d, n, false),
                Op::Link(s, d, n) => (s, d, n, true),
            };
            let parent_of = |p: &str| Path::new(p).parent().map(|x| x.to_string_lossy().into_owned()).unwrap_or_default();
            let resolve = |w: &XfsWriter, p: &str| -> Option<u64> { lookup_path(w, root, p) };
            let (Some(sdir), Some(tdir)) = (resolve(&w, &parent_of(src)), resolve(&w, to_dir)) else { panic!("{op:?}: a directory is missing on our side") };
            let sname = Path::new(src).file_name().unwrap().to_string_lossy().into_owned();
            let r = if link {
                let Some(i) = resolve(&w, src) else { panic!("{op:?}: missing on our side") };
                w.link(i, tdir, name.as_bytes())
            } else {
                w.rename(sdir, sname.as_bytes(), tdir, name.as_bytes())
            };
            match (&r, want) {
                (Ok(()), Ok(())) => done += 1,
                (Err(Error::Os(e)), Err(code)) => {
                    let expect = match *code {
                        libc::EINVAL => Errno::Invalid,
                        libc::ENOTEMPTY => Errno::NotEmpty,
                        libc::EPERM => Errno::NotPermitted,
                        libc::EISDIR => Errno::IsDir,
                        libc::ENOTDIR => Errno::NotDir,
                        libc::EEXIST => Errno::Exists,
                        other => panic!("{op:?}: the kernel said errno {other}"),
                    };
                    assert_eq!(*e, expect, "{op:?}");
                    refused += 1;
                }
                _ => panic!("{op:?}: ours {r:?}, the kernel {want:?}"),
            }
        }
        drop(w);
        repair_clean(&img);
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        with_kernel(&img, |m| a = tree(m));
        with_kernel(&twin, |m| b = tree(m));
        assert_eq!(a, b, "batch {batch}");
    }
    eprintln!("{done} renames and links done, {refused} refused as the kernel refused them");
    assert!(done > 80 && refused > 0, "{done} done, {refused} refused");
}

/// The inode at `path` (relative, `""` for the root), through the writer's own lookups.
fn lookup_path(w: &XfsWriter, root: u64, path: &str) -> Option<u64> {
    let mut at = root;
    for c in path.split('/').filter(|c| !c.is_empty()) {
        at = w.lookup(at, c.as_bytes()).ok()??;
    }
    Some(at)
}
