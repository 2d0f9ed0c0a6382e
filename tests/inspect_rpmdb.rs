//! The rpm database readers (`guest::inspect::rpmdb`) against rpm itself: the databases of
//! `fixtures/mk-rpmdb.sh` (rpmbuild + `rpm --justdb`; the BDB one made by `db5.3_load` and
//! checked with rpm's `bdb_ro`) must read back as `rpm -qa --qf` lists them (sqlite backend,
//! and `_db_backend bdb_ro` for the Berkeley DB), damaged copies must give warnings and what
//! could be read (never a panic), and tables written by the `sqlite3` CLI (page sizes 512 and
//! 65536, reserved bytes, blobs of 0 to 200000 bytes) must read back byte for byte.
mod common;

use common::root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use vguestfs::guest::inspect::rpmdb::{self, bdb, header::Header, sqlite, Backend};
use vguestfs::guest::inspect::Application;

/// The fixture root `rpmdb-NAME`, or `None` (with a message) when fixtures/build.sh has not
/// built it.
fn fixture_root(name: &str) -> Option<PathBuf> {
    let p = root().join("fixtures/build").join(format!("rpmdb-{name}"));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} missing (run fixtures/build.sh)", p.display());
        None
    }
}

/// `rpm -qa` on the root with a query format (stderr ignored: bdb_ro complains about the
/// index files a Packages-only database lacks).
fn rpm_q(root: &Path, bdb: bool, qf: &str) -> String {
    let mut c = Command::new("rpm");
    c.args(["--root", root.to_str().unwrap(), "--dbpath", "/var/lib/rpm"]);
    if bdb {
        c.args(["--define", "_db_backend bdb_ro"]);
    }
    let out = c.args(["-qa", "--qf", qf]).env("LC_ALL", "C").output().expect("rpm");
    assert!(out.status.success(), "rpm -qa: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Our applications as rpm's query format prints them, sorted.
fn ours(apps: &[Application]) -> Vec<String> {
    let mut v: Vec<String> =
        apps.iter().map(|a| format!("{}\t{}\t{}\t{}\t{}\t{}\t{}", a.name, a.epoch, a.version, a.release, a.arch, a.url, a.summary)).collect();
    v.sort();
    v
}

/// The oracle: fields and descriptions from rpm.
fn oracle(root: &Path, bdb: bool) -> (Vec<String>, BTreeMap<String, String>) {
    let mut lines: Vec<String> =
        rpm_q(root, bdb, "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{URL}\\t%{SUMMARY}\\n").lines().map(String::from).collect();
    lines.sort();
    let text = rpm_q(root, bdb, "%{NAME}\\n%{DESCRIPTION}\\n@@END@@\\n");
    let descs = text
        .split("@@END@@\n")
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (name, desc) = s.split_once('\n').unwrap();
            (name.to_string(), desc.strip_suffix('\n').unwrap_or(desc).to_string())
        })
        .collect();
    (lines, descs)
}

fn check_against_rpm(name: &str, file: &str, backend: Backend) -> Option<Vec<u8>> {
    let root = fixture_root(name)?;
    let path = root.join("var/lib/rpm").join(file);
    let data = std::fs::read(&path).unwrap();
    let (apps, warnings) = rpmdb::read(&data, backend, file);
    assert!(warnings.is_empty(), "{warnings:?}");
    let (want, descs) = oracle(&root, backend == Backend::Bdb);
    assert_eq!(want.len(), 41);
    assert_eq!(ours(&apps), want);
    for a in &apps {
        assert_eq!(Some(&a.description), descs.get(&a.name), "{}", a.name);
        assert_eq!(a.source_package, "");
    }
    // sorted by name as libguestfs sorts; the special cases of the fixture
    assert!(apps.windows(2).all(|w| w[0].name <= w[1].name));
    let get = |n: &str| apps.iter().find(|a| a.name == n).unwrap();
    assert_eq!((get("alpha").epoch, get("alpha").url.as_str()), (3, "https://example.org/alpha"));
    assert!(get("alpha").description.contains("several lines,\n\nwith an empty line"), "{:?}", get("alpha").description);
    assert_eq!(get("beta").url, "(none)");
    assert_eq!((get("gpg-pubkey").arch.as_str(), get("gpg-pubkey").epoch), ("(none)", 0));
    Some(data)
}

#[test]
fn sqlite_equals_rpm() {
    let Some(data) = check_against_rpm("sqlite", "rpmdb.sqlite", Backend::Sqlite) else {
        return;
    };
    // the fixture has what it is meant to exercise: a Packages b-tree with interior pages, a
    // header spilling over an overflow chain of more than 100 KB
    let db = sqlite::Database::open(&data).unwrap();
    let root = db.table_root("Packages").unwrap().unwrap();
    let page = sqlite::BtreePage::parse(root, db.page(root).unwrap(), 0).unwrap();
    assert_eq!(page.kind, sqlite::PageType::TableInterior);
    let mut big = 0;
    sqlite::packages(&data, &mut |r| big = big.max(r.unwrap().1.len())).unwrap();
    assert!(big > 100_000, "{big}");
}

#[test]
fn bdb_equals_rpm_bdb_ro() {
    let Some(data) = check_against_rpm("bdb", "Packages", Backend::Bdb) else {
        return;
    };
    let db = bdb::Database::open(&data).unwrap();
    assert!(db.meta().max_bucket >= 8, "{:?}", db.meta());
    // key 0 (rpm's bookkeeping) is in the file but not a package
    let mut keys = Vec::new();
    db.scan(&mut |r| keys.push(r.unwrap().0.to_vec())).unwrap();
    assert!(keys.contains(&vec![0, 0, 0, 0]));
    let mut n = 0;
    bdb::packages(&data, &mut |r| {
        assert_ne!(r.unwrap().0, 0);
        n += 1
    })
    .unwrap();
    assert_eq!((keys.len(), n), (42, 41));
}

#[test]
fn big_endian_bdb_equals_rpm_bdb_ro() {
    let Some(data) = check_against_rpm("bdb-be", "Packages", Backend::Bdb) else { return };
    assert!(bdb::Database::open(&data).unwrap().meta().big_endian);
}

/// Offset of `inner` in `outer` (a subslice of it).
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

#[test]
fn damaged_sqlite() {
    let Some(root) = fixture_root("sqlite") else {
        return;
    };
    let data = std::fs::read(root.join("var/lib/rpm/rpmdb.sqlite")).unwrap();
    let db = sqlite::Database::open(&data).unwrap();
    let ps = db.header().page_size as usize;
    let table = db.table_root("Packages").unwrap().unwrap();
    let read = |d: &[u8]| rpmdb::read(d, Backend::Sqlite, "rpmdb.sqlite");

    // truncated: fewer packages, a warning, no panic (every length)
    for len in [0, 50, 100, ps, data.len() / 2, data.len() - 1] {
        let (apps, w) = read(&data[..len]);
        assert!(apps.len() < 41 && !w.is_empty(), "{len}: {} {w:?}", apps.len());
    }
    // the table's interior root page of an unknown type
    let mut d = data.clone();
    d[(table as usize - 1) * ps] = 0x42;
    let (apps, w) = read(&d);
    assert!(apps.is_empty());
    assert_eq!(w, [format!("rpmdb.sqlite: SQLite database: Packages table: page {table}: b-tree page type 0x42 unknown")]);
    // a child pointing back at the root: stops with a warning after what was read
    let root_page = sqlite::BtreePage::parse(table, db.page(table).unwrap(), 0).unwrap();
    let child = root_page.right_child.unwrap();
    let mut d = data.clone();
    let at = (table as usize - 1) * ps + 8;
    d[at..at + 4].copy_from_slice(&table.to_be_bytes());
    let (_, w) = read(&d);
    assert!(w.iter().any(|w| w.contains("reached twice")), "{w:?} (child {child})");

    // find the big header's first overflow page and a small header on a leaf
    let (mut first_overflow, mut small) = (None, None);
    let mut stack = vec![table];
    while let Some(n) = stack.pop() {
        let page = sqlite::BtreePage::parse(n, db.page(n).unwrap(), 0).unwrap();
        if page.kind == sqlite::PageType::TableInterior {
            stack.extend(page.right_child);
            stack.extend((0..page.cells).map(|i| page.interior_cell(i).unwrap().0));
            continue;
        }
        for i in 0..page.cells {
            let c = page.leaf_cell(i, db.header().usable).unwrap();
            if c.payload_len > 100_000 {
                first_overflow = c.overflow;
            } else if c.overflow.is_none() && small.is_none() {
                // record header [hlen, NULL, blob type]: the blob follows it
                let (hlen, _) = sqlite::record::varint(c.local, 0).unwrap();
                small = Some((n as usize - 1) * ps + offset_in(db.page(n).unwrap(), c.local) + hlen as usize);
            }
        }
    }
    // an overflow chain pointing to itself: that header is lost, with a warning
    let ov = first_overflow.unwrap() as usize;
    let mut d = data.clone();
    d[(ov - 1) * ps..(ov - 1) * ps + 4].copy_from_slice(&(ov as u32).to_be_bytes());
    let (apps, w) = read(&d);
    assert_eq!(apps.len(), 40);
    assert!(w.len() == 1 && w[0].contains(&format!("overflow page {ov} reached twice")), "{w:?}");
    // a header with il huge: skipped with a warning
    let mut d = data.clone();
    d[small.unwrap()..small.unwrap() + 4].copy_from_slice(&[0xff; 4]);
    let (apps, w) = read(&d);
    assert_eq!(apps.len(), 40);
    assert!(w.len() == 1 && w[0].contains("rpm header: header ") && w[0].contains("over the limit"), "{w:?}");
    // no Packages table
    let (apps, w) = read(&data[..ps]);
    assert!(apps.is_empty() && !w.is_empty());
}

#[test]
fn damaged_bdb() {
    let Some(root) = fixture_root("bdb") else {
        return;
    };
    let data = std::fs::read(root.join("var/lib/rpm/Packages")).unwrap();
    let db = bdb::Database::open(&data).unwrap();
    let ps = db.meta().page_size as usize;
    let read = |d: &[u8]| rpmdb::read(d, Backend::Bdb, "Packages");
    for len in [0, 100, 511, ps, ps + 100, data.len() / 2, data.len() - 1] {
        let (apps, w) = read(&data[..len]);
        assert!(apps.len() < 41 && !w.is_empty(), "{len}: {} {w:?}", apps.len());
    }
    // the largest off-page item (the 3000-file header, over many overflow pages)
    let mut offpage = Vec::new();
    for bucket in 0..=db.meta().max_bucket {
        let mut n = db.meta().bucket_page(bucket).unwrap();
        while n != 0 {
            let (page, hdr) = db.page(n).unwrap();
            for i in bdb::hash_items(page, &hdr, false).unwrap() {
                if let bdb::Item::OffPage { pgno, len } = i {
                    offpage.push((len, pgno as usize));
                }
            }
            n = hdr.next_pgno;
        }
    }
    let (len, ov) = offpage.into_iter().max().unwrap();
    assert!(len > 100_000);
    let b0 = db.meta().bucket_page(0).unwrap();
    // overflow chain pointing to itself
    let mut d = data.clone();
    d[ov * ps + 16..ov * ps + 20].copy_from_slice(&(ov as u32).to_le_bytes());
    let (apps, w) = read(&d);
    assert_eq!(apps.len(), 40);
    assert!(w.len() == 1 && w[0].contains(&format!("overflow page {ov} reached twice")), "{w:?}");
    // the header's il huge
    let mut d = data.clone();
    d[ov * ps + 26..ov * ps + 30].copy_from_slice(&[0xff; 4]);
    let (apps, w) = read(&d);
    assert_eq!(apps.len(), 40);
    assert!(w.len() == 1 && w[0].contains("over the limit"), "{w:?}");
    // a bucket page of an unknown type: the buckets before it are read
    let mut d = data.clone();
    d[b0 as usize * ps + 25] = 0x42;
    let (apps, w) = read(&d);
    assert!(apps.is_empty());
    assert!(w.len() == 1 && w[0].contains(&format!("page {b0} of type 66 is not a hash page")), "{w:?}");
    // a bucket chain looping back
    let b1 = db.meta().bucket_page(1).unwrap();
    let mut d = data.clone();
    d[b1 as usize * ps + 16..b1 as usize * ps + 20].copy_from_slice(&b1.to_le_bytes());
    let (apps, w) = read(&d);
    assert!(!apps.is_empty() && apps.len() < 41);
    assert!(w.iter().any(|w| w.contains("reached twice")), "{w:?}");
    // a bad magic
    let mut d = data.clone();
    d[12] = 0;
    let (apps, w) = read(&d);
    assert!(apps.is_empty() && w[0].contains("magic"), "{w:?}");
}

/// Rows written by the sqlite3 CLI read back exactly, at both ends of the page sizes and with
/// bytes reserved at the end of the pages.
#[test]
fn sqlite_cli_tables_read_back() {
    if Command::new("sqlite3").arg("-version").output().is_err() {
        eprintln!("skipping: sqlite3 missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // (page size, bytes reserved at the end of each page)
    for (page_size, reserved) in [(512, 0), (65536, 0), (1024, 32)] {
        let f = dir.path().join(format!("t{page_size}.db"));
        // sizes around the local-payload limits of both page sizes, and enough small rows for
        // interior pages
        let sizes = [0, 1, 477, 478, 500, 5000, 65501, 65502, 200_000];
        let mut sql = format!("PRAGMA page_size={page_size}; CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);");
        for (i, s) in sizes.iter().enumerate() {
            sql += &format!("INSERT INTO t VALUES ({}, randomblob({s}));", i + 1);
        }
        sql += "INSERT INTO t SELECT id + 100, randomblob(id % 300) FROM t;";
        for _ in 0..5 {
            sql += "INSERT INTO t SELECT id + (SELECT max(id) FROM t), randomblob(id % 700) FROM t;";
        }
        sql += "CREATE TABLE other (x TEXT); INSERT INTO other VALUES ('y');";
        let out = Command::new("sqlite3").arg(&f).arg(format!(".filectrl reserve_bytes {reserved}")).arg(&sql).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let want = Command::new("sqlite3").arg(&f).arg("SELECT id, hex(b) FROM t ORDER BY id").output().unwrap();
        let want: Vec<(i64, String)> = String::from_utf8(want.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (id, hex) = l.split_once('|').unwrap();
                (id.parse().unwrap(), hex.to_string())
            })
            .collect();
        assert!(want.len() > 280);

        let data = std::fs::read(&f).unwrap();
        let db = sqlite::Database::open(&data).unwrap();
        assert_eq!((db.header().page_size, db.header().usable), (page_size, page_size - reserved));
        let root = db.table_root("T").unwrap().unwrap();
        let mut got = Vec::new();
        db.scan_table(root, &mut |r| {
            let (rowid, payload) = r.unwrap();
            let v = sqlite::record::parse(payload).unwrap();
            assert_eq!(v[0], sqlite::Value::Null);
            let sqlite::Value::Blob(b) = v[1] else { panic!("{:?}", v[1]) };
            got.push((rowid, b.iter().map(|x| format!("{x:02X}")).collect::<String>()));
        })
        .unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "page size {page_size}: rows differ");
        assert_eq!(db.table_root("missing").unwrap(), None);
        // not an rpm database: no Packages table
        let (apps, w) = rpmdb::read(&data, Backend::Sqlite, "t.db");
        assert!(apps.is_empty() && w == ["t.db: SQLite database: no Packages table"], "{w:?}");
    }
}

/// Every header of the fixture parses, with and without the magic prefix; every truncation
/// of it fails.
#[test]
fn headers_parse_and_truncations_fail() {
    let Some(root) = fixture_root("sqlite") else {
        return;
    };
    let data = std::fs::read(root.join("var/lib/rpm/rpmdb.sqlite")).unwrap();
    let mut blobs = Vec::new();
    sqlite::packages(&data, &mut |r| blobs.push(r.unwrap().1.to_vec())).unwrap();
    for b in &blobs {
        let h = Header::parse(b).unwrap();
        assert!(!h.entries().is_empty());
        let mut m = rpmdb::header::MAGIC.to_vec();
        m.extend_from_slice(b);
        assert_eq!(Header::parse(&m).unwrap().application(), h.application());
        for cut in [0, 7, 8, 16, b.len() / 2, b.len() - 1] {
            assert!(Header::parse(&b[..cut]).is_err(), "{cut}");
        }
    }
}
