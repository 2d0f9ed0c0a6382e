//! Property test of FAT writes: random sequences of operations (create, mkdir, write at random
//! offsets and sizes, truncate, unlink, rmdir, rename, utimens, reopen) applied both to a
//! volume opened with `FatFs::open_rw` and to an in-memory model of what Linux's vfat would
//! hold. Every result (success or errno) must be the model's; reads after writes must be
//! exact; each sequence ends with `sync`, `fsck.vfat -n` clean, and every file equal to the
//! model through our reader (the writer and a fresh read-only open) and through `mtype`.
//!
//! Volumes: copies of the FAT12/16/32 fixtures (the sequence works under a new `/p`), and a
//! tiny FAT12 volume made by `mkfs.vfat` where clusters and root slots run out: there an
//! operation may fail with ENOSPC, and must then have changed nothing.
//!
//! `VGUESTFS_PROPTEST_CASES` sequences per volume (default 150, 600 in all: under a minute in
//! a debug build), `VGUESTFS_PROPTEST_SEED` the base seed (default fixed); a failure prints the seed of
//! its sequence. `tests/soak-fat.sh` runs many more with random seeds.

mod common;

use common::fat::{assert_fsck_clean, mtype, now, open_ro, open_rw, read_all, resolve};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vguestfs::fs::fat::FatFs;
use vguestfs::fs::{Errno, Error, Filesystem, Ino, Timespec};

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let seed = self.next();
        (0..n).map(|i| (seed.rotate_left(i as u32 % 64) as u8).wrapping_add(i as u8)).collect()
    }
}

/// Names, with case variants (EEXIST), long and unicode names, colliding 8.3 names and one
/// with trailing dots (stored without them).
const NAMES: &[&str] = &[
    "a",
    "A",
    "b.txt",
    "B.TXT",
    "long file name number one.data",
    "Long File Name Number One.DATA",
    "ünïcödé ✓.txt",
    "y y",
    "dotted...",
    "TextFile.one.txt",
    "textfile.two.txt",
    "textfile.three.txt",
    "textfile.four.txt",
    "textfile.five.txt",
    "textfile.six.txt",
    "sub",
    "SUB2",
    "deeper dir",
];

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Contents, and the modification time when set by `utimens` (else: written recently).
    File(Vec<u8>, Option<i64>),
    Dir(BTreeMap<String, Node>),
}

/// Linux vfat's view: names compare ASCII-case-insensitively, trailing dots dropped.
fn norm(name: &str) -> &str {
    name.trim_end_matches('.')
}

fn find<'a>(dir: &'a BTreeMap<String, Node>, name: &str) -> Option<(&'a String, &'a Node)> {
    dir.iter().find(|(k, _)| k.eq_ignore_ascii_case(norm(name)))
}

struct Model {
    root: Node,
}

impl Model {
    fn dir(&self, path: &[String]) -> &BTreeMap<String, Node> {
        let mut at = &self.root;
        for c in path {
            let Node::Dir(m) = at else { panic!("model: {path:?} is not a directory") };
            at = &m[c];
        }
        match at {
            Node::Dir(m) => m,
            Node::File(..) => panic!("model: {path:?} is not a directory"),
        }
    }

    fn dir_mut(&mut self, path: &[String]) -> &mut BTreeMap<String, Node> {
        let mut at = &mut self.root;
        for c in path {
            let Node::Dir(m) = at else { panic!("model: {path:?} is not a directory") };
            at = m.get_mut(c).unwrap();
        }
        match at {
            Node::Dir(m) => m,
            Node::File(..) => panic!("model: {path:?} is not a directory"),
        }
    }

    fn node(&self, path: &[String]) -> &Node {
        let (last, dir) = path.split_last().unwrap();
        &self.dir(dir)[last]
    }

    /// Every path, directories and files, depth first (the root excluded).
    fn paths(&self) -> Vec<(Vec<String>, bool)> {
        fn walk(m: &BTreeMap<String, Node>, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
            for (k, v) in m {
                at.push(k.clone());
                out.push((at.clone(), matches!(v, Node::Dir(_))));
                if let Node::Dir(sub) = v {
                    walk(sub, at, out);
                }
                at.pop();
            }
        }
        let mut out = Vec::new();
        walk(self.dir(&[]), &mut Vec::new(), &mut out);
        out
    }
}

/// One volume to run sequences on.
struct Volume {
    name: &'static str,
    /// Where a fresh copy comes from.
    base: PathBuf,
    /// The directory the model is rooted at (`""`: the volume's root).
    top: &'static str,
    /// Whether ENOSPC may happen.
    tiny: bool,
}

/// What one operation did, for the failure report.
type Log = Vec<String>;

struct Run<'a> {
    rng: Rng,
    model: Model,
    fs: FatFs,
    img: &'a Path,
    top: &'a str,
    tiny: bool,
    log: Log,
    start: i64,
    /// Outcomes seen: successes, ENOSPC, other errnos.
    stats: [u64; 3],
}

impl Run<'_> {
    fn ino(&self, path: &[String]) -> Ino {
        let full = format!("{}/{}", self.top, path.join("/"));
        resolve(&self.fs, &full).unwrap_or_else(|| panic!("{full}: not found on the volume"))
    }

    /// Checks an operation's outcome against the model's; returns whether the model is to be
    /// changed (the operation succeeded).
    fn check(&mut self, what: String, got: vguestfs::fs::Result<()>, want: Result<(), Errno>) -> bool {
        self.log.push(format!("{what} -> {got:?}"));
        match (got, want) {
            (Ok(()), Ok(())) => {
                self.stats[0] += 1;
                true
            }
            (Err(Error::Os(Errno::NoSpace)), Ok(())) if self.tiny => {
                self.stats[1] += 1;
                false
            }
            (Err(Error::Os(g)), Err(w)) if g == w => {
                self.stats[2] += 1;
                false
            }
            (g, w) => panic!("{what}: got {g:?}, the model says {w:?}"),
        }
    }

    fn random_path(&mut self, want_dir: Option<bool>) -> Option<Vec<String>> {
        let all: Vec<Vec<String>> =
            self.model.paths().into_iter().filter(|(_, d)| want_dir.is_none_or(|w| w == *d)).map(|(p, _)| p).collect();
        (!all.is_empty()).then(|| self.rng.pick(&all).clone())
    }

    fn random_dir(&mut self) -> Vec<String> {
        if self.rng.below(3) == 0 {
            return Vec::new();
        }
        self.random_path(Some(true)).unwrap_or_default()
    }

    fn step(&mut self) {
        match self.rng.below(20) {
            0..=2 => self.make(false),
            3 => self.make(true),
            4..=8 => self.write(),
            9..=10 => self.truncate(),
            11 => self.unlink(),
            12 => self.rmdir(),
            13..=15 => self.rename(),
            16 => self.utimens(),
            17 => self.reopen(),
            _ => self.read_check(),
        }
    }

    fn make(&mut self, is_dir: bool) {
        let dir = self.random_dir();
        let name = *self.rng.pick(NAMES);
        let d = self.ino(&dir);
        let want = if find(self.model.dir(&dir), name).is_some() { Err(Errno::Exists) } else { Ok(()) };
        let got = if is_dir { self.fs.mkdir(d, name.as_bytes(), 0o755) } else { self.fs.create(d, name.as_bytes(), 0o644) };
        let op = if is_dir { "mkdir" } else { "create" };
        if self.check(format!("{op} {dir:?} {name:?}"), got.map(drop), want) {
            let node = if is_dir { Node::Dir(BTreeMap::new()) } else { Node::File(Vec::new(), None) };
            self.model.dir_mut(&dir).insert(norm(name).to_string(), node);
        }
    }

    fn file(&mut self) -> Option<(Vec<String>, Vec<u8>)> {
        let path = self.random_path(Some(false))?;
        let Node::File(data, _) = self.model.node(&path) else { unreachable!() };
        Some((path, data.clone()))
    }

    fn set_file(&mut self, path: &[String], data: Vec<u8>) {
        let (last, dir) = path.split_last().unwrap();
        self.model.dir_mut(dir).insert(last.clone(), Node::File(data, None));
    }

    fn write(&mut self) {
        let Some((path, mut data)) = self.file() else { return self.make(false) };
        let off = self.rng.below(data.len() as u64 + 9000) as usize;
        let max = if self.rng.below(4) == 0 { 70_000 } else { 5000 };
        let len = self.rng.below(max) as usize;
        let bytes = self.rng.bytes(len);
        let ino = self.ino(&path);
        let got = self.fs.write(ino, off as u64, &bytes);
        if self.check(format!("write {path:?} at {off}, {len} bytes"), got, Ok(())) && len > 0 {
            if data.len() < off + len {
                data.resize(off + len, 0);
            }
            data[off..off + len].copy_from_slice(&bytes);
            self.set_file(&path, data);
        }
        self.read_back(&path);
    }

    fn truncate(&mut self) {
        let Some((path, mut data)) = self.file() else { return self.make(false) };
        let size = self.rng.below(data.len() as u64 * 2 + 5000) as usize;
        let ino = self.ino(&path);
        let got = self.fs.truncate(ino, size as u64);
        if self.check(format!("truncate {path:?} to {size}"), got, Ok(())) {
            data.resize(size, 0);
            self.set_file(&path, data);
        }
        self.read_back(&path);
    }

    fn unlink(&mut self) {
        let Some(path) = self.random_path(None) else { return };
        let (last, dir) = path.split_last().unwrap();
        let is_dir = matches!(self.model.node(&path), Node::Dir(_));
        let want = if is_dir { Err(Errno::IsDir) } else { Ok(()) };
        let got = self.fs.unlink(self.ino(dir), last.to_ascii_uppercase().as_bytes());
        if self.check(format!("unlink {path:?}"), got, want) {
            self.model.dir_mut(dir).remove(last);
        }
    }

    fn rmdir(&mut self) {
        let kind = if self.rng.below(4) == 0 { None } else { Some(true) };
        let Some(path) = self.random_path(kind) else { return };
        let (last, dir) = path.split_last().unwrap();
        let want = match self.model.node(&path) {
            Node::File(..) => Err(Errno::NotDir),
            Node::Dir(m) if !m.is_empty() => Err(Errno::NotEmpty),
            Node::Dir(_) => Ok(()),
        };
        let got = self.fs.rmdir(self.ino(dir), last.as_bytes());
        if self.check(format!("rmdir {path:?}"), got, want) {
            self.model.dir_mut(dir).remove(last);
        }
    }

    fn rename(&mut self) {
        let Some(src) = self.random_path(None) else { return };
        let to = self.random_dir();
        let name = *self.rng.pick(NAMES);
        let (last, from) = src.split_last().unwrap();
        let src_node = self.model.node(&src).clone();
        let src_dir = matches!(src_node, Node::Dir(_));
        let target = find(self.model.dir(&to), name).map(|(k, v)| (k.clone(), v.clone()));
        let want = if src_dir && to.starts_with(&src) {
            Err(Errno::Invalid)
        } else {
            match &target {
                Some((k, _)) if *from == to[..] && k == last => Ok(()),
                Some((_, Node::Dir(_))) if !src_dir => Err(Errno::IsDir),
                Some((_, Node::File(..))) if src_dir => Err(Errno::NotDir),
                Some((_, Node::Dir(m))) if !m.is_empty() => Err(Errno::NotEmpty),
                _ => Ok(()),
            }
        };
        let got = self.fs.rename(self.ino(from), last.as_bytes(), self.ino(&to), name.as_bytes());
        if self.check(format!("rename {src:?} to {to:?} {name:?}"), got, want) {
            let same = matches!(&target, Some((k, _)) if *from == to[..] && k == last);
            if !same {
                self.model.dir_mut(from).remove(last);
                let dst = self.model.dir_mut(&to);
                // A replaced target keeps its spelling of the name, as on Linux.
                let stored = match target {
                    Some((k, _)) => dst.remove_entry(&k).map(|(k, _)| k).unwrap(),
                    None => norm(name).to_string(),
                };
                dst.insert(stored, src_node);
            }
        }
    }

    fn utimens(&mut self) {
        let Some((path, data)) = self.file() else { return };
        // 1980 .. 2100, any second: stored in 2-second steps.
        let t = 315_532_800 + self.rng.below(3_786_912_000) as i64;
        let ino = self.ino(&path);
        let got = self.fs.utimens(ino, None, Some(Timespec { sec: t, nsec: 0 }));
        if self.check(format!("utimens {path:?} {t}"), got, Ok(())) {
            let (last, dir) = path.split_last().unwrap();
            self.model.dir_mut(dir).insert(last.clone(), Node::File(data, Some(t & !1)));
        }
    }

    fn reopen(&mut self) {
        self.log.push("reopen".into());
        self.fs.sync().unwrap();
        self.fs = open_rw(self.img);
    }

    fn read_check(&mut self) {
        if let Some(path) = self.random_path(Some(false)) {
            self.read_back(&path);
        }
    }

    /// Reads after writes are exact through the writer.
    fn read_back(&mut self, path: &[String]) {
        let Node::File(want, _) = self.model.node(path) else { return };
        let got = read_all(&self.fs, self.ino(path));
        assert!(got == *want, "{path:?}: read back {} bytes, the model has {}", got.len(), want.len());
    }

    /// The end of a sequence: the volume is clean and holds exactly the model.
    fn verify(&mut self) {
        self.fs.sync().unwrap();
        assert_fsck_clean(self.img);
        let ro = open_ro(self.img);
        for fs in [&self.fs, &ro] {
            self.verify_dir(fs, &[]);
        }
        for (path, is_dir) in self.model.paths() {
            if is_dir {
                continue;
            }
            let Node::File(want, mtime) = self.model.node(&path) else { unreachable!() };
            let full = format!("{}/{}", self.top, path.join("/"));
            assert!(mtype(self.img, &full) == *want, "{full}: mtype differs from the model");
            let st = ro.stat(resolve(&ro, &full).unwrap()).unwrap();
            match mtime {
                Some(t) => assert_eq!(st.mtime.sec, *t, "{full}: mtime"),
                None => assert!(st.mtime.sec >= self.start - 2 && st.mtime.sec <= now() + 2, "{full}: mtime {:?}", st.mtime),
            }
        }
    }

    fn verify_dir(&self, fs: &FatFs, path: &[String]) {
        let full = format!("{}/{}", self.top, path.join("/"));
        let ino = resolve(fs, &full).unwrap();
        let mut got: Vec<String> =
            fs.read_dir(ino).unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect();
        got.sort();
        let want: Vec<String> = self.model.dir(path).keys().cloned().collect();
        assert_eq!(got, want, "{full}: listing");
        for (k, v) in self.model.dir(path) {
            let mut p = path.to_vec();
            p.push(k.clone());
            match v {
                Node::Dir(_) => self.verify_dir(fs, &p),
                Node::File(data, _) => {
                    let f = resolve(fs, &format!("{full}/{k}")).unwrap();
                    assert!(read_all(fs, f) == *data, "{full}/{k}: our reader differs from the model");
                }
            }
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

/// Runs one sequence of `ops` operations from `seed` on a fresh copy of `vol`; returns the
/// outcome counts.
fn sequence(vol: &Volume, work: &Path, seed: u64, ops: usize) -> [u64; 3] {
    std::fs::copy(&vol.base, work).unwrap();
    let fs = open_rw(work);
    if !vol.top.is_empty() {
        fs.mkdir(fs.root(), vol.top.trim_start_matches('/').as_bytes(), 0o755).unwrap();
    }
    let mut run = Run {
        rng: Rng(seed),
        model: Model { root: Node::Dir(BTreeMap::new()) },
        fs,
        img: work,
        top: vol.top,
        tiny: vol.tiny,
        log: Vec::new(),
        start: now(),
        stats: [0; 3],
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for _ in 0..ops {
            run.step();
        }
        run.verify();
    }));
    if let Err(e) = result {
        eprintln!("--- {}: sequence with seed {seed} failed after:", vol.name);
        for l in run.log.iter().rev().take(40).rev() {
            eprintln!("  {l}");
        }
        eprintln!("rerun: VGUESTFS_PROPTEST_SEED={seed} VGUESTFS_PROPTEST_CASES=1 cargo test --test fs_fat_props");
        std::panic::resume_unwind(e);
    }
    run.stats
}

/// The tiny volume: 160 KiB of FAT12 made by mkfs.vfat.
fn tiny(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.img");
    let out = std::process::Command::new("mkfs.vfat")
        .args(["-F", "12", "-n", "TINY", "-i", "0000fa00", "-C", p.to_str().unwrap(), "160"])
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .output()
        .expect("mkfs.vfat (dosfstools)");
    assert!(out.status.success(), "mkfs.vfat: {}", String::from_utf8_lossy(&out.stderr));
    p
}

/// Runs the sequences on `vol`; returns the outcome counts (successes, ENOSPC, errnos).
fn run_volume(vol: Volume, salt: u64) -> [u64; 3] {
    let cases = env_u64("VGUESTFS_PROPTEST_CASES", 150);
    let base_seed = env_u64("VGUESTFS_PROPTEST_SEED", 0x05EE_DFA7);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work.img");
    let mut total = [0u64; 3];
    for case in 0..cases {
        let seed = if cases == 1 { base_seed } else { base_seed.wrapping_add(case).wrapping_mul(0x9E37_79B9).wrapping_add(salt) };
        let ops = 10 + (seed % 51) as usize;
        let s = sequence(&vol, &work, seed, ops);
        for (t, n) in total.iter_mut().zip(s) {
            *t += n;
        }
    }
    eprintln!("{}: {cases} sequences: {} operations succeeded, {} ENOSPC, {} refused as the model says", vol.name, total[0], total[1], total[2]);
    assert!(total[0] > total[2], "{}: too few operations succeed to test much", vol.name);
    total
}

fn fixture_volume(name: &'static str) -> Volume {
    Volume { name, base: common::fixture(name), top: "/p", tiny: false }
}

#[test]
fn random_sequences_fat12() {
    run_volume(fixture_volume("fat-tree-12.img"), 12);
}

#[test]
fn random_sequences_fat16() {
    run_volume(fixture_volume("fat-tree-16.img"), 16);
}

#[test]
fn random_sequences_fat32() {
    run_volume(fixture_volume("fat-tree-32.img"), 32);
}

#[test]
fn random_sequences_on_a_tiny_volume_hit_enospc_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny(dir.path());
    let [_, enospc, _] = run_volume(Volume { name: "tiny FAT12", base, top: "", tiny: true }, 1);
    let cases = env_u64("VGUESTFS_PROPTEST_CASES", 150);
    assert!(enospc > 0 || cases < 20, "the tiny volume never filled up");
}
