//! Property test of ext2/3/4 writes: random operation sequences (create, write — small,
//! large and sparse —, truncate, unlink, mkdir, rmdir, rename, symlink, link, mknod, chmod,
//! chown, utimens, setxattr, removexattr) run against `Ext4Fs::open_rw` and an in-memory
//! model that predicts every result, errors included. Each sequence ends with `sync`, then
//! the image must pass `e2fsck -fn` untouched, and every inode must equal the model read back
//! through a fresh read-only mount of ours, through ext4-view, and (for a sample of files)
//! through `debugfs -R cat`.
//!
//! `VGUESTFS_PROPTEST_CASES` sets the total number of sequences (default 1000, spread over
//! ext2, ext3, ext4 4k and ext4 1k); `VGUESTFS_PROPTEST_SEED` the first seed. A failure
//! prints the seed and the operations, and `VGUESTFS_PROPTEST_SEED=<seed>
//! VGUESTFS_PROPTEST_CASES=4` replays it. `tests/soak-ext4.sh` runs a long soak.

mod common;

use common::ext4w::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use vguestfs::fs::ext4::Ext4Fs;
use vguestfs::fs::{Errno, Error, FileType, Filesystem, Ino, Timespec};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    File(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Ino>),
    Symlink(Vec<u8>),
    Special(FileType, u64),
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    perm: u32,
    uid: u32,
    gid: u32,
    atime: Option<Timespec>,
    mtime: Option<Timespec>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Node {
    fn new(kind: Kind, perm: u32) -> Node {
        Node { kind, perm, uid: 0, gid: 0, atime: None, mtime: None, xattrs: BTreeMap::new() }
    }
    fn file_type(&self) -> FileType {
        match &self.kind {
            Kind::File(_) => FileType::Regular,
            Kind::Dir(_) => FileType::Directory,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::Special(t, _) => *t,
        }
    }
    fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }
}

/// The model: inodes by the numbers the filesystem gave them, and each directory's parent.
struct Model {
    nodes: BTreeMap<Ino, Node>,
    parent: BTreeMap<Ino, Ino>,
    root: Ino,
}

impl Model {
    fn dir(&self, ino: Ino) -> &BTreeMap<Vec<u8>, Ino> {
        match &self.nodes[&ino].kind {
            Kind::Dir(e) => e,
            _ => panic!("not a dir"),
        }
    }
    /// The entries of `ino`, to change: its mtime moves to now, which the model leaves
    /// unchecked.
    fn dir_mut(&mut self, ino: Ino) -> &mut BTreeMap<Vec<u8>, Ino> {
        let node = self.nodes.get_mut(&ino).unwrap();
        node.mtime = None;
        match &mut node.kind {
            Kind::Dir(e) => e,
            _ => panic!("not a dir"),
        }
    }
    fn nlink(&self, ino: Ino) -> u64 {
        let node = &self.nodes[&ino];
        if let Kind::Dir(e) = &node.kind {
            return 2 + e.values().filter(|c| self.nodes[c].is_dir()).count() as u64;
        }
        self.nodes.values().filter_map(|n| match &n.kind { Kind::Dir(e) => Some(e), _ => None })
            .flat_map(|e| e.values()).filter(|&&c| c == ino).count() as u64
    }
    fn dirs(&self) -> Vec<Ino> {
        self.nodes.iter().filter(|(_, n)| n.is_dir()).map(|(i, _)| *i).collect()
    }
    fn files(&self) -> Vec<Ino> {
        self.nodes.iter().filter(|(_, n)| matches!(n.kind, Kind::File(_))).map(|(i, _)| *i).collect()
    }
    fn data_bytes(&self) -> u64 {
        self.nodes.values().map(|n| match &n.kind { Kind::File(d) => d.len() as u64, _ => 0 }).sum()
    }
    /// Whether directory `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: Ino, mut b: Ino) -> bool {
        loop {
            if a == b {
                return true;
            }
            if b == self.root {
                return false;
            }
            b = self.parent[&b];
        }
    }
    /// Drops the entry `name` of `dir`; frees the inode with its last link.
    fn remove_entry(&mut self, dir: Ino, name: &[u8]) {
        let ino = self.dir_mut(dir).remove(name).unwrap();
        if self.nodes[&ino].is_dir() || self.nlink(ino) == 0 {
            self.nodes.remove(&ino);
            self.parent.remove(&ino);
        }
    }
}

/// One flavor of filesystem the sequences run on.
struct Flavor {
    name: &'static str,
    mkfs: &'static [&'static str],
    size_mib: u64,
    /// Files are block-mapped: the crate rewrites them whole, so keep them smaller.
    block_mapped: bool,
}

const FLAVORS: &[Flavor] = &[
    Flavor { name: "ext2", mkfs: &["-t", "ext2", "-b", "1024", "-I", "256"], size_mib: 32, block_mapped: true },
    Flavor { name: "ext3", mkfs: &["-t", "ext3", "-b", "4096", "-I", "256", "-J", "size=8"], size_mib: 48, block_mapped: true },
    Flavor { name: "ext4-4k", mkfs: &["-t", "ext4", "-b", "4096"], size_mib: 48, block_mapped: false },
    Flavor { name: "ext4-1k", mkfs: &["-t", "ext4", "-b", "1024"], size_mib: 32, block_mapped: false },
];

const NAMES: &[&[u8]] = &[b"a", b"b", b"c", b"d", b"e", b"f", b"g"];

fn cases() -> u64 {
    std::env::var("VGUESTFS_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

fn first_seed() -> u64 {
    std::env::var("VGUESTFS_PROPTEST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_0000)
}

fn run_flavor(index: usize) {
    let flavor = &FLAVORS[index];
    let template = mkfs(flavor.mkfs, flavor.size_mib);
    let n = cases().div_ceil(FLAVORS.len() as u64);
    let start = std::time::Instant::now();
    for i in 0..n {
        let seed = first_seed().wrapping_add(i * FLAVORS.len() as u64 + index as u64);
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        common::run("cp", &["--sparse=always", template.path.to_str().unwrap(), img.to_str().unwrap()]);
        let mut log = Vec::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sequence(flavor, seed, &img, &mut log)));
        if let Err(e) = result {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!(
                "{}: sequence with seed {seed} failed: {}\nreplay: VGUESTFS_PROPTEST_SEED={} VGUESTFS_PROPTEST_CASES={}\noperations:\n{}",
                flavor.name,
                msg.unwrap_or_default(),
                seed - index as u64,
                FLAVORS.len(),
                log.join("\n")
            );
        }
    }
    let outcomes = OUTCOMES.with(|o| o.borrow().clone());
    eprintln!("{}: {n} sequences in {:.1?}; outcomes {outcomes:?}", flavor.name, start.elapsed());
}

#[test]
fn random_sequences_ext2() {
    run_flavor(0);
}

#[test]
fn random_sequences_ext3() {
    run_flavor(1);
}

#[test]
fn random_sequences_ext4_4k() {
    run_flavor(2);
}

#[test]
fn random_sequences_ext4_1k() {
    run_flavor(3);
}

/// The expected outcome: `Ok` or the errno the model predicts.
type Want = Result<(), Errno>;

thread_local! {
    /// Outcomes seen on this thread: "ok" or the errno, with counts.
    static OUTCOMES: std::cell::RefCell<BTreeMap<String, u64>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

fn tally(outcome: String) {
    OUTCOMES.with(|o| *o.borrow_mut().entry(outcome).or_default() += 1);
}

fn check(op: &str, want: Want, got: Result<(), Error>) -> bool {
    match (want, got) {
        (Ok(()), Ok(())) => {
            tally(format!("{} ok", op.split(' ').next().unwrap_or("")));
            true
        }
        (Err(w), Err(Error::Os(g))) if w == g => {
            tally(format!("{} {w:?}", op.split(' ').next().unwrap_or("")));
            false
        }
        (w, g) => panic!("{op}: model says {w:?}, filesystem says {g:?}"),
    }
}

/// Runs one random sequence on `img` and checks the result with every oracle.
fn sequence(flavor: &Flavor, seed: u64, img: &Path, log: &mut Vec<String>) {
    let mut rng = Rng(seed);
    let fs = open_rw(img);
    let root = fs.root();
    let lf = fs.lookup(root, b"lost+found").unwrap().unwrap();
    let mut m = Model { nodes: BTreeMap::new(), parent: BTreeMap::new(), root };
    m.nodes.insert(root, Node::new(Kind::Dir(BTreeMap::from([(b"lost+found".to_vec(), lf)])), 0o755));
    let mut lost = Node::new(Kind::Dir(BTreeMap::new()), 0o700);
    lost.perm = 0o700;
    m.nodes.insert(lf, lost);
    m.parent.insert(lf, root);
    let st = fs.statvfs().unwrap();
    let capacity = st.bfree * st.bsize;
    let bsize = st.bsize as usize;
    let max_file: u64 = if flavor.block_mapped { 1_300_000 } else { 6 << 20 };
    let ops = 10 + rng.below(25);
    for _ in 0..ops {
        step(&fs, &mut m, &mut rng, log, capacity, max_file, bsize, lf);
    }
    log.push("sync".into());
    fs.sync().unwrap();
    drop(fs);
    let (code, text) = e2fsck(img);
    assert_eq!(code, 0, "e2fsck -fn:\n{text}");
    compare(&m, img, &mut rng, flavor);
}

/// A name in `dir`: usually one it holds (not lost+found), else one from [`NAMES`].
fn name_in(m: &Model, rng: &mut Rng, dir: Ino) -> Vec<u8> {
    if m.nodes[&dir].is_dir() && rng.chance(70) {
        let names: Vec<&Vec<u8>> = m.dir(dir).keys().filter(|n| n.as_slice() != b"lost+found").collect();
        if !names.is_empty() {
            return rng.pick(&names).to_vec();
        }
    }
    rng.pick(NAMES).to_vec()
}

/// A random directory of the model other than lost+found, or sometimes a non-directory.
fn any_dir(m: &Model, rng: &mut Rng, lf: Ino) -> Ino {
    if rng.chance(5) {
        let all: Vec<Ino> = m.nodes.keys().copied().collect();
        return *rng.pick(&all);
    }
    let dirs: Vec<Ino> = m.dirs().into_iter().filter(|&d| d != lf).collect();
    *rng.pick(&dirs)
}

#[allow(clippy::too_many_arguments)]
fn step(fs: &Ext4Fs, m: &mut Model, rng: &mut Rng, log: &mut Vec<String>, capacity: u64, max_file: u64, bsize: usize, lf: Ino) {
    let name = rng.pick(NAMES).to_vec();
    let show = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
    match rng.below(100) {
        // create / mkdir / mknod / symlink
        0..=29 => {
            let dir = any_dir(m, rng, lf);
            let kind = rng.below(10);
            let perm = (rng.next() as u32) & 0o7777;
            let want: Want = if !m.nodes[&dir].is_dir() {
                Err(Errno::NotDir)
            } else if m.dir(dir).contains_key(&name) {
                Err(Errno::Exists)
            } else {
                Ok(())
            };
            let (op, node, got) = match kind {
                0..=4 => (format!("create {dir}/{} {perm:o}", show(&name)), Node::new(Kind::File(Vec::new()), perm), fs.create(dir, &name, perm)),
                5..=6 => (format!("mkdir {dir}/{} {perm:o}", show(&name)), Node::new(Kind::Dir(BTreeMap::new()), perm), fs.mkdir(dir, &name, perm)),
                7 => {
                    let (t, rdev) = *rng.pick(&[
                        (FileType::Fifo, 0),
                        (FileType::Socket, 0),
                        (FileType::CharDevice, 0x0440),
                        (FileType::BlockDevice, 0x0801),
                        (FileType::CharDevice, (300 << 8) | (70000 & 0xff) | ((70000 & !0xff) << 12)),
                    ]);
                    (format!("mknod {dir}/{} {t:?} {rdev:#x}", show(&name)), Node::new(Kind::Special(t, rdev), perm), fs.mknod(dir, &name, t.mode_bits() | perm, rdev))
                }
                _ => {
                    let len = if rng.chance(50) { 1 + rng.below(59) } else { 60 + rng.below((bsize as u64 - 60).min(400)) } as usize;
                    let target: Vec<u8> = (0..len).map(|i| if i % 40 == 39 { b'/' } else { b'a' + (rng.below(26) as u8) }).collect();
                    (format!("symlink {dir}/{} ({len} bytes)", show(&name)), Node::new(Kind::Symlink(target.clone()), 0o777), fs.symlink(dir, &name, &target))
                }
            };
            log.push(op.clone());
            let got_ino = got.as_ref().ok().copied();
            if check(&op, want, got.map(|_| ())) {
                let ino = got_ino.unwrap();
                m.dir_mut(dir).insert(name, ino);
                if node.is_dir() {
                    m.parent.insert(ino, dir);
                }
                m.nodes.insert(ino, node);
            }
        }
        // write
        30..=49 => {
            let files = m.files();
            if files.is_empty() || rng.chance(3) {
                let d = any_dir(m, rng, lf);
                let want = if m.nodes[&d].is_dir() { Err(Errno::IsDir) } else if matches!(m.nodes[&d].kind, Kind::File(_)) { Ok(()) } else { Err(Errno::Invalid) };
                if want.is_err() {
                    log.push(format!("write {d} (not a file)"));
                    check("write non-file", want, fs.write(d, 0, b"x"));
                }
                return;
            }
            let f = *rng.pick(&files);
            let cur = match &m.nodes[&f].kind { Kind::File(d) => d.len() as u64, _ => unreachable!() };
            let (off, len) = match rng.below(10) {
                0..=6 => (rng.below(cur + 65536), rng.below(8192) + 1),
                7..=8 => (rng.below(cur + 1), rng.below(256 << 10) + 1),
                _ => (rng.below(2 << 20), (1 << 20) + rng.below(1 << 20)),
            };
            let (off, len) = if off + len > max_file { (rng.below(max_file / 2), rng.below(max_file / 2) + 1) } else { (off, len) };
            let grow = (off + len).saturating_sub(cur);
            if m.data_bytes() + grow > capacity * 3 / 10 {
                log.push("write skipped (budget)".into());
                return;
            }
            let data = pattern(rng.next(), len as usize);
            log.push(format!("write {f} off {off} len {len} (size {cur})"));
            check("write", Ok(()), fs.write(f, off, &data));
            m.nodes.get_mut(&f).unwrap().mtime = None;
            if let Kind::File(d) = &mut m.nodes.get_mut(&f).unwrap().kind {
                let end = (off + len) as usize;
                if d.len() < end {
                    d.resize(end, 0);
                }
                d[off as usize..end].copy_from_slice(&data);
            }
        }
        // truncate
        50..=56 => {
            let files = m.files();
            if files.is_empty() {
                return;
            }
            let f = *rng.pick(&files);
            let cur = match &m.nodes[&f].kind { Kind::File(d) => d.len() as u64, _ => unreachable!() };
            let size = if rng.chance(50) { rng.below(cur + 1) } else { rng.below(max_file) };
            if size > cur && m.data_bytes() + size - cur > capacity * 3 / 10 {
                return;
            }
            log.push(format!("truncate {f} {size} (size {cur})"));
            check("truncate", Ok(()), fs.truncate(f, size));
            m.nodes.get_mut(&f).unwrap().mtime = None;
            if let Kind::File(d) = &mut m.nodes.get_mut(&f).unwrap().kind {
                d.resize(size as usize, 0);
            }
        }
        // unlink / rmdir
        57..=66 => {
            let dir = any_dir(m, rng, lf);
            let name = name_in(m, rng, dir);
            let rm_dir = rng.chance(40);
            let op = format!("{} {dir}/{}", if rm_dir { "rmdir" } else { "unlink" }, show(&name));
            log.push(op.clone());
            let want = if !m.nodes[&dir].is_dir() {
                Err(Errno::NotDir)
            } else {
                match m.dir(dir).get(&name) {
                    None => Err(Errno::NoEntry),
                    Some(&c) => match (rm_dir, m.nodes[&c].is_dir()) {
                        (false, true) => Err(Errno::IsDir),
                        (false, false) => Ok(()),
                        (true, false) => Err(Errno::NotDir),
                        (true, true) if !m.dir(c).is_empty() => Err(Errno::NotEmpty),
                        (true, true) => Ok(()),
                    },
                }
            };
            let got = if rm_dir { fs.rmdir(dir, &name) } else { fs.unlink(dir, &name) };
            if check(&op, want, got) {
                m.remove_entry(dir, &name);
            }
        }
        // rename
        67..=76 => {
            let (d1, d2) = (any_dir(m, rng, lf), any_dir(m, rng, lf));
            let name = name_in(m, rng, d1);
            let name2 = if rng.chance(30) { name_in(m, rng, d2) } else { rng.pick(NAMES).to_vec() };
            let op = format!("rename {d1}/{} -> {d2}/{}", show(&name), show(&name2));
            log.push(op.clone());
            let want = rename_outcome(m, d1, &name, d2, &name2);
            if check(&op, want, fs.rename(d1, &name, d2, &name2)) {
                let src = m.dir(d1)[&name];
                if d1 == d2 && name == name2 || m.dir(d2).get(&name2) == Some(&src) {
                    return;
                }
                if m.dir(d2).contains_key(&name2) {
                    m.remove_entry(d2, &name2);
                }
                m.dir_mut(d1).remove(&name);
                m.dir_mut(d2).insert(name2, src);
                if m.nodes[&src].is_dir() {
                    m.parent.insert(src, d2);
                }
            }
        }
        // link
        77..=80 => {
            let all: Vec<Ino> = m.nodes.keys().copied().filter(|&i| i != lf).collect();
            let src = *rng.pick(&all);
            let dir = any_dir(m, rng, lf);
            let op = format!("link {src} -> {dir}/{}", show(&name));
            log.push(op.clone());
            let want = if m.nodes[&src].is_dir() {
                Err(Errno::NotPermitted)
            } else if !m.nodes[&dir].is_dir() {
                Err(Errno::NotDir)
            } else if m.dir(dir).contains_key(&name) {
                Err(Errno::Exists)
            } else {
                Ok(())
            };
            if check(&op, want, fs.link(src, dir, &name)) {
                m.dir_mut(dir).insert(name, src);
            }
        }
        // chmod / chown / utimens
        81..=89 => {
            let all: Vec<Ino> = m.nodes.keys().copied().filter(|&i| i != lf).collect();
            let ino = *rng.pick(&all);
            let node = m.nodes.get_mut(&ino).unwrap();
            match rng.below(3) {
                0 => {
                    let perm = (rng.next() as u32) & 0o7777;
                    log.push(format!("chmod {ino} {perm:o}"));
                    check("chmod", Ok(()), fs.chmod(ino, perm));
                    if !matches!(node.kind, Kind::Symlink(_)) {
                        node.perm = perm;
                    }
                }
                1 => {
                    let uid = rng.chance(70).then(|| rng.below(100_000) as u32);
                    let gid = rng.chance(70).then(|| rng.below(100_000) as u32);
                    log.push(format!("chown {ino} {uid:?} {gid:?}"));
                    check("chown", Ok(()), fs.chown(ino, uid, gid));
                    node.uid = uid.unwrap_or(node.uid);
                    node.gid = gid.unwrap_or(node.gid);
                    if !node.is_dir() {
                        node.perm &= !0o4000;
                        if node.perm & 0o010 != 0 {
                            node.perm &= !0o2000;
                        }
                    }
                }
                _ => {
                    // 1970..2038: ext4-view 1.0 refuses other times (tests/fs_ext4_write.rs
                    // covers them with debugfs).
                    let mut t = || rng.chance(70).then(|| Timespec { sec: rng.below(1 << 31) as i64, nsec: rng.below(1_000_000_000) as u32 });
                    let (a, mt) = (t(), t());
                    log.push(format!("utimens {ino} {a:?} {mt:?}"));
                    check("utimens", Ok(()), fs.utimens(ino, a, mt));
                    node.atime = a.or(node.atime);
                    node.mtime = mt.or(node.mtime);
                }
            }
        }
        // setxattr / removexattr
        _ => {
            let all: Vec<Ino> = m.nodes.keys().copied().filter(|&i| i != lf).collect();
            let ino = *rng.pick(&all);
            let node = m.nodes.get_mut(&ino).unwrap();
            let ns: &[u8] = if rng.chance(60) { b"user." } else { b"trusted." };
            let user_ok_for = |k: &[u8], n: &Node| matches!(n.kind, Kind::File(_) | Kind::Dir(_)) || !k.starts_with(b"user.");
            const KEYS: &[&[u8]] = &[b"one", b"two", b"three"];
            let mut key = [ns, *rng.pick(KEYS)].concat();
            let set: Vec<Vec<u8>> = node.xattrs.keys().cloned().collect();
            if !set.is_empty() && rng.chance(50) {
                key = rng.pick(&set).clone();
            }
            let user_ok = user_ok_for(&key, node);
            if rng.chance(70) {
                let huge = rng.chance(5);
                let len = if huge { bsize + 1 } else { rng.below(48) as usize };
                let value = pattern(rng.next(), len);
                let op = format!("setxattr {ino} {} ({len} bytes)", show(&key));
                log.push(op.clone());
                let want = if !user_ok { Err(Errno::NotPermitted) } else if huge { Err(Errno::NoSpace) } else { Ok(()) };
                if check(&op, want, fs.setxattr(ino, &key, &value)) {
                    node.xattrs.insert(key, value);
                }
            } else {
                let op = format!("removexattr {ino} {}", show(&key));
                log.push(op.clone());
                let want = if !user_ok { Err(Errno::NotPermitted) } else if node.xattrs.contains_key(&key) { Ok(()) } else { Err(Errno::NoData) };
                if check(&op, want, fs.removexattr(ino, &key)) {
                    node.xattrs.remove(&key);
                }
            }
        }
    }
}

/// What `rename(2)` answers, in the order Linux checks.
fn rename_outcome(m: &Model, d1: Ino, n1: &[u8], d2: Ino, n2: &[u8]) -> Want {
    if !m.nodes[&d1].is_dir() || !m.nodes[&d2].is_dir() {
        return Err(Errno::NotDir);
    }
    let Some(&src) = m.dir(d1).get(n1) else { return Err(Errno::NoEntry) };
    let src_dir = m.nodes[&src].is_dir();
    if src_dir && m.is_ancestor(src, d2) {
        return Err(Errno::Invalid);
    }
    let Some(&dst) = m.dir(d2).get(n2) else { return Ok(()) };
    if dst == src {
        return Ok(());
    }
    match (src_dir, m.nodes[&dst].is_dir()) {
        (true, false) => Err(Errno::NotDir),
        (false, true) => Err(Errno::IsDir),
        (true, true) if !m.dir(dst).is_empty() => Err(Errno::NotEmpty),
        _ => Ok(()),
    }
}

/// Compares the model with the image through our reader, ext4-view and debugfs.
fn compare(m: &Model, img: &Path, rng: &mut Rng, flavor: &Flavor) {
    let fs = open_ro(img);
    let view = view(img);
    let mut stack = vec![(m.root, b"/".to_vec())];
    let mut sampled = 0;
    let mut seen = BTreeSet::new();
    while let Some((dir, path)) = stack.pop() {
        let want: BTreeMap<Vec<u8>, Ino> = m.dir(dir).clone();
        let got: BTreeMap<Vec<u8>, Ino> = fs.read_dir(dir).unwrap().into_iter().map(|e| (e.name, e.ino)).collect();
        assert_eq!(got, want, "entries of {}", String::from_utf8_lossy(&path));
        for (name, &ino) in &want {
            let node = &m.nodes[&ino];
            let mut p = path.clone();
            if p.len() > 1 {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            let shown = String::from_utf8_lossy(&p).into_owned();
            let st = fs.stat(ino).unwrap();
            assert_eq!(st.file_type(), Some(node.file_type()), "{shown}");
            if !matches!(node.kind, Kind::Symlink(_)) {
                assert_eq!(st.mode & 0o7777, node.perm, "{shown}: mode");
            }
            assert_eq!((st.uid, st.gid), (node.uid, node.gid), "{shown}: owner");
            assert_eq!(st.nlink, m.nlink(ino), "{shown}: nlink");
            if let Some(t) = node.atime {
                assert_eq!(st.atime, t, "{shown}: atime");
            }
            if let Some(t) = node.mtime {
                assert_eq!(st.mtime, t, "{shown}: mtime");
            }
            let xattrs: BTreeMap<Vec<u8>, Vec<u8>> = fs.xattrs(ino).unwrap().into_iter().collect();
            assert_eq!(xattrs, node.xattrs, "{shown}: xattrs");
            let vp = ext4_view::Path::try_from(p.as_slice()).unwrap();
            let vmeta = view.as_ref().map(|v| v.symlink_metadata(vp).unwrap());
            if let Some(vm) = &vmeta {
                assert_eq!((vm.uid(), vm.gid()), (node.uid, node.gid), "{shown}: ext4-view owner");
                if !matches!(node.kind, Kind::Symlink(_)) {
                    assert_eq!(u32::from(vm.mode()) & 0o7777, node.perm, "{shown}: ext4-view mode");
                }
            }
            match &node.kind {
                Kind::File(data) => {
                    assert_eq!(st.size, data.len() as u64, "{shown}: size");
                    if seen.insert(ino) {
                        assert!(read_all(&fs, ino) == *data, "{shown}: content (our reader)");
                        // ext4-view 1.0 reads a hole of a block-mapped file as block 0.
                        if let Some(v) = view.as_ref().filter(|_| !flavor.block_mapped) {
                            assert!(v.read(vp).unwrap() == *data, "{shown}: content (ext4-view)");
                        }
                        if sampled < 2 && rng.chance(30) {
                            sampled += 1;
                            let quoted = format!("cat \"{shown}\"");
                            assert!(debugfs(img, &quoted) == *data, "{shown}: content (debugfs)");
                        }
                    }
                }
                Kind::Dir(_) => stack.push((ino, p.clone())),
                Kind::Symlink(t) => {
                    assert_eq!(&fs.readlink(ino).unwrap(), t, "{shown}: target");
                    if let Some(v) = &view {
                        assert_eq!(v.read_link(vp).unwrap().as_ref(), t.as_slice(), "{shown}: ext4-view target");
                    }
                }
                Kind::Special(_, rdev) => assert_eq!(st.rdev, *rdev, "{shown}: rdev"),
            }
        }
    }
}
