//! A minimal read-only SQLite 3 reader: enough to scan a rowid table, as rpm ≥ 4.16 keeps its
//! headers in `rpmdb.sqlite` (`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT,
//! blob BLOB NOT NULL)`). The whole file is in memory; the schema table on page 1 gives the
//! table's root page, whose b-tree is walked in rowid order, payloads gathered from their
//! overflow chains. A write-ahead log beside the file is not replayed.
//!
//! Bounds for hostile files: a walk visits each page at most once (b-tree and overflow pages
//! share one visited set, so a cycle or a page used twice is an error and the work is at most
//! the file's page count), cells of a leaf page may not overlap, and the payload bytes a walk
//! gathers never exceed the file's length.

pub mod btree_page;
pub mod file_header;
pub mod record;

pub use btree_page::{local_payload, BtreePage, PageType};
pub use file_header::FileHeader;
pub use record::Value;

use super::error::{sqlite as err, Error, Record};
use crate::bytes::be32;

/// An open database file.
#[derive(Debug, Clone, Copy)]
pub struct Database<'a> {
    file: &'a [u8],
    header: FileHeader,
}

impl<'a> Database<'a> {
    /// Checks the file header of `file` (the whole database file).
    pub fn open(file: &'a [u8]) -> Result<Database<'a>, Error> {
        Ok(Database { file, header: FileHeader::parse(file)? })
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The usable bytes of page `n` (1-based).
    pub fn page(&self, n: u32) -> Result<&'a [u8], Error> {
        if n == 0 || n > self.header.pages {
            return Err(err(format!("page {n} outside the file's {} pages", self.header.pages)));
        }
        let start = (n as usize - 1) * self.header.page_size as usize;
        self.file.get(start..start + self.header.usable as usize).ok_or_else(|| err(format!("page {n} past the end of the file")))
    }

    /// Walks the table b-tree rooted at `root` in rowid order, calling `row` with each rowid and
    /// its whole payload, or with the error of a row whose overflow chain is damaged. On a
    /// damaged b-tree page the walk stops with the error, after the rows read until then.
    pub fn scan_table(&self, root: u32, row: &mut dyn FnMut(Record<'_, i64>)) -> Result<(), Error> {
        let mut visited = vec![false; self.header.pages as usize + 1];
        let mut budget = self.file.len() as u64;
        let mut stack = vec![root];
        let mut payload = Vec::new();
        while let Some(n) = stack.pop() {
            visit(&mut visited, n, "b-tree")?;
            let data = self.page(n)?;
            let page = BtreePage::parse(n, data, if n == 1 { file_header::LEN } else { 0 })?;
            match page.kind {
                PageType::TableInterior => {
                    stack.extend(page.right_child);
                    for i in (0..page.cells).rev() {
                        stack.push(page.interior_cell(i)?.0);
                    }
                }
                PageType::TableLeaf => {
                    let mut spans = Vec::with_capacity(usize::from(page.cells));
                    let mut cells = Vec::with_capacity(usize::from(page.cells));
                    for i in 0..page.cells {
                        let c = page.leaf_cell(i, self.header.usable)?;
                        spans.push(c.span);
                        cells.push(c);
                    }
                    spans.sort_unstable();
                    if spans.windows(2).any(|w| w[0].1 > w[1].0) {
                        return Err(err(format!("page {n}: leaf cells overlap")));
                    }
                    for c in cells {
                        if c.payload_len > budget {
                            return Err(err(format!("page {n}: row {}: payload of {} bytes, more than the file holds", c.rowid, c.payload_len)));
                        }
                        budget -= c.payload_len;
                        payload.clear();
                        payload.extend_from_slice(c.local);
                        match c.overflow.map_or(Ok(()), |first| self.overflow(first, c.payload_len, &mut payload, &mut visited)) {
                            Ok(()) => row(Ok((c.rowid, &payload))),
                            Err(e) => row(Err(e.context(format_args!("page {n}: row {}", c.rowid)))),
                        }
                    }
                }
                k => return Err(err(format!("page {n}: {k:?} page inside a table b-tree"))),
            }
        }
        Ok(())
    }

    /// Appends the overflow chain from page `first` to `out` until it holds `total` bytes.
    fn overflow(&self, first: u32, total: u64, out: &mut Vec<u8>, visited: &mut [bool]) -> Result<(), Error> {
        let mut next = first;
        let chunk = self.header.usable as usize - 4;
        while (out.len() as u64) < total {
            if next == 0 {
                return Err(err(format!("overflow chain ends {} bytes short of the {total}-byte payload", total - out.len() as u64)));
            }
            visit(visited, next, "overflow")?;
            let data = self.page(next)?;
            let take = chunk.min((total - out.len() as u64) as usize);
            out.extend_from_slice(data.get(4..4 + take).unwrap_or(&[]));
            next = be32(data, 0);
        }
        Ok(())
    }

    /// The root page of the table `name` (compared ignoring ASCII case, as SQL names are), from
    /// the schema table on page 1; `None` when there is no such table.
    pub fn table_root(&self, name: &str) -> Result<Option<u32>, Error> {
        let mut found = None;
        let mut bad = None;
        self.scan_table(1, &mut |r| {
            if found.is_some() {
                return;
            }
            match r.and_then(|(_, payload)| record::parse(payload)) {
                Ok(v) => {
                    if let [Value::Text(b"table"), Value::Text(n), _, Value::Integer(root), ..] = v[..] {
                        if n.eq_ignore_ascii_case(name.as_bytes()) {
                            found = Some(root);
                        }
                    }
                }
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        })
        .map_err(|e| e.context("schema table"))?;
        match found {
            Some(root) if root > 0 && root <= i64::from(self.header.pages) => Ok(Some(root as u32)),
            Some(root) => Err(err(format!("schema table: table {name} has root page {root}, outside the file"))),
            None => bad.map_or(Ok(None), |e| Err(e.context("schema table"))),
        }
    }
}

/// Marks page `n` visited, failing when it already was.
fn visit(visited: &mut [bool], n: u32, what: &str) -> Result<(), Error> {
    match visited.get_mut(n as usize) {
        Some(v) if !*v => {
            *v = true;
            Ok(())
        }
        Some(_) => Err(err(format!("{what} page {n} reached twice (a cycle or a shared page)"))),
        None => Err(err(format!("{what} page {n} outside the file"))),
    }
}

/// rpm's table of headers.
pub const PACKAGES_TABLE: &str = "Packages";

/// Reads every row of rpm's `Packages` table in `file` (a whole `rpmdb.sqlite`), calling `row`
/// with its `hnum` and header blob, or with the error of a row that cannot be read (damaged
/// overflow chain, record that is not (NULL or integer, blob)). `Ok(false)` when the database
/// has no `Packages` table; on a damaged b-tree page the rows read so far have been delivered
/// and the error is returned.
pub fn packages(file: &[u8], row: &mut dyn FnMut(Record<'_, i64>)) -> Result<bool, Error> {
    let db = Database::open(file)?;
    let Some(root) = db.table_root(PACKAGES_TABLE)? else {
        return Ok(false);
    };
    db.scan_table(root, &mut |r| match r {
        Ok((rowid, payload)) => match record::parse(payload) {
            Ok(v) => match v.get(1) {
                Some(Value::Blob(b)) => row(Ok((rowid, b))),
                other => row(Err(err(format!("Packages row {rowid}: column blob is {}, not a blob", kind(other))))),
            },
            Err(e) => row(Err(e.context(format_args!("Packages row {rowid}")))),
        },
        Err(e) => row(Err(e.context("Packages table"))),
    })
    .map_err(|e| e.context("Packages table"))?;
    Ok(true)
}

/// The type of a column value, for messages.
fn kind(v: Option<&Value>) -> &'static str {
    match v {
        None => "missing",
        Some(Value::Null) => "NULL",
        Some(Value::Integer(_)) => "an integer",
        Some(Value::Float(_)) => "a float",
        Some(Value::Text(_)) => "a text",
        Some(Value::Blob(_)) => "a blob",
    }
}
