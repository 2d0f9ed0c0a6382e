//! SQLite b-tree pages: an 8-byte (leaf) or 12-byte (interior) header — type, first
//! freeblock, cell count, cell content start, fragmented bytes, and for interior pages the
//! right-most child — then the cell pointer array (2-byte offsets from the page start).
//! Table interior cells (0x05) are a 4-byte left child and a rowid varint; table leaf cells
//! (0x0d) a payload length varint, a rowid varint, the local part of the payload and, when the
//! payload spills, the first overflow page number. Page 1 has its b-tree header after the
//! 100-byte file header.

use super::super::error::{sqlite as err, Error};
use super::record::varint;
use crate::bytes::{be16, be32};

/// Page types (the first byte of the b-tree header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageType {
    /// 0x02.
    IndexInterior,
    /// 0x05.
    TableInterior,
    /// 0x0a.
    IndexLeaf,
    /// 0x0d.
    TableLeaf,
}

/// Bytes of a table-leaf payload of `payload` bytes stored on the page itself, the rest going
/// to overflow pages, for pages of `usable` bytes (the file-format formulas: X = U−35,
/// M = ((U−12)·32/255)−23, K = M+((P−M) mod (U−4)); all of P when P ≤ X, else K when K ≤ X,
/// else M). `usable` must be at least 480, as [`super::FileHeader`] ensures.
pub fn local_payload(usable: u32, payload: u64) -> u64 {
    let u = u64::from(usable.max(480));
    let x = u - 35;
    if payload <= x {
        return payload;
    }
    let m = ((u - 12) * 32 / 255) - 23;
    let k = m + (payload - m) % (u - 4);
    if k <= x {
        k
    } else {
        m
    }
}

/// A table leaf cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafCell<'a> {
    /// The row's rowid (for rpm's `Packages`, `hnum`).
    pub rowid: i64,
    /// Total payload length.
    pub payload_len: u64,
    /// The part of the payload on this page.
    pub local: &'a [u8],
    /// First overflow page, when the payload spills.
    pub overflow: Option<u32>,
    /// Byte range of the cell in the page (start, end), to check cells do not overlap.
    pub span: (usize, usize),
}

/// A b-tree page: its header and cell pointers checked against the page.
#[derive(Debug, Clone, Copy)]
pub struct BtreePage<'a> {
    /// Page number (for messages).
    pub number: u32,
    /// Page type.
    pub kind: PageType,
    /// Number of cells.
    pub cells: u16,
    /// Right-most child (interior pages).
    pub right_child: Option<u32>,
    data: &'a [u8],
    pointers: usize,
    content_min: usize,
}

impl<'a> BtreePage<'a> {
    /// Parses page `number` from its usable bytes `data` (the page minus its reserved tail),
    /// its b-tree header at `header_at` (100 on page 1, else 0).
    pub fn parse(number: u32, data: &'a [u8], header_at: usize) -> Result<BtreePage<'a>, Error> {
        let bad = |what: String| err(format!("page {number}: {what}"));
        let t = *data.get(header_at).ok_or_else(|| bad("b-tree header past the page end".into()))?;
        let kind = match t {
            0x02 => PageType::IndexInterior,
            0x05 => PageType::TableInterior,
            0x0a => PageType::IndexLeaf,
            0x0d => PageType::TableLeaf,
            t => return Err(bad(format!("b-tree page type {t:#04x} unknown"))),
        };
        let interior = matches!(kind, PageType::IndexInterior | PageType::TableInterior);
        let hlen = if interior { 12 } else { 8 };
        let cells = be16(data, header_at + 3);
        let pointers = header_at + hlen;
        let content_min = pointers + 2 * usize::from(cells);
        if content_min > data.len() {
            return Err(bad(format!("{cells} cell pointers do not fit in the page")));
        }
        let right_child = interior.then(|| be32(data, header_at + 8));
        if right_child == Some(0) {
            return Err(bad("interior page with right-most child 0".into()));
        }
        Ok(BtreePage { number, kind, cells, right_child, data, pointers, content_min })
    }

    /// Offset of cell `i` in the page, checked to lie after the pointer array.
    pub fn cell_offset(&self, i: u16) -> Result<usize, Error> {
        let off = usize::from(be16(self.data, self.pointers + 2 * usize::from(i)));
        if i >= self.cells || off < self.content_min || off >= self.data.len() {
            return Err(err(format!("page {}: cell {i} at offset {off} outside the cell content area", self.number)));
        }
        Ok(off)
    }

    /// Table interior cell `i`: (left child page, rowid key).
    pub fn interior_cell(&self, i: u16) -> Result<(u32, i64), Error> {
        let off = self.cell_offset(i)?;
        let child = be32(self.data, off);
        let key = varint(self.data, off + 4);
        match key {
            Some((key, _)) if child != 0 && off + 4 <= self.data.len() => Ok((child, key as i64)),
            _ => Err(err(format!("page {}: interior cell {i} truncated or with child 0", self.number))),
        }
    }

    /// Table leaf cell `i`, for pages of `usable` bytes.
    pub fn leaf_cell(&self, i: u16, usable: u32) -> Result<LeafCell<'a>, Error> {
        let off = self.cell_offset(i)?;
        let bad = |what: &str| err(format!("page {}: leaf cell {i}: {what}", self.number));
        let (payload_len, a) = varint(self.data, off).ok_or_else(|| bad("payload length truncated"))?;
        let (rowid, b) = varint(self.data, off + a).ok_or_else(|| bad("rowid truncated"))?;
        let start = off + a + b;
        let local_len = local_payload(usable, payload_len) as usize;
        let local = self
            .data
            .get(start..start.saturating_add(local_len))
            .ok_or_else(|| bad(&format!("{local_len} local payload bytes run past the page")))?;
        let mut end = start + local_len;
        let overflow = if (local_len as u64) < payload_len {
            let page = be32(self.data, end);
            end += 4;
            if end > self.data.len() || page == 0 {
                return Err(bad("overflow page number missing or 0"));
            }
            Some(page)
        } else {
            None
        };
        Ok(LeafCell { rowid: rowid as i64, payload_len, local, overflow, span: (off, end) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_payload_edges() {
        // U = 4096: X = 4061, M = ((4084·32)/255)−23 = 489, U−4 = 4092
        assert_eq!(local_payload(4096, 0), 0);
        assert_eq!(local_payload(4096, 4061), 4061);
        // P = X+1: K = 489 + (4062−489) mod 4092 = 4062 > X → M
        assert_eq!(local_payload(4096, 4062), 489);
        // P = M + U−4: K = M
        assert_eq!(local_payload(4096, 489 + 4092), 489);
        // P = M + U−4 + 100: K = M + 100 ≤ X
        assert_eq!(local_payload(4096, 489 + 4092 + 100), 589);
        // P = M + 2(U−4) + (X−M): K = X exactly, stays local
        assert_eq!(local_payload(4096, 489 + 2 * 4092 + (4061 - 489)), 4061);
        assert_eq!(local_payload(4096, 489 + 2 * 4092 + (4061 - 489) + 1), 489);
        // U = 512 (X = 477, M = (500·32)/255−23 = 39) and U = 65536 (X = 65501, M = 8199)
        assert_eq!((local_payload(512, 477), local_payload(512, 478)), (477, 39));
        assert_eq!(local_payload(512, 39 + 508 + 100), 139);
        assert_eq!((local_payload(65536, 65502), local_payload(65536, 200_000)), (8199, 8199));
        assert_eq!(local_payload(65536, 8199 + 65532 + 5), 8204);
        // huge lengths do not overflow
        assert!(local_payload(480, u64::MAX) <= 445);
    }

    fn leaf(cells: &[&[u8]]) -> Vec<u8> {
        let mut p = vec![0u8; 512];
        p[0] = 0x0d;
        p[3..5].copy_from_slice(&(cells.len() as u16).to_be_bytes());
        let mut at = 512;
        for (i, c) in cells.iter().enumerate() {
            at -= c.len();
            p[at..at + c.len()].copy_from_slice(c);
            p[8 + 2 * i..10 + 2 * i].copy_from_slice(&(at as u16).to_be_bytes());
        }
        p
    }

    #[test]
    fn leaf_cells() {
        let p = leaf(&[&[3, 7, 1, 2, 3]]);
        let page = BtreePage::parse(2, &p, 0).unwrap();
        let c = page.leaf_cell(0, 512).unwrap();
        assert_eq!((c.rowid, c.payload_len, c.local, c.overflow), (7, 3, &[1u8, 2, 3][..], None));
        assert!(page.leaf_cell(1, 512).is_err());
        // a payload of 1000 bytes keeps 39 + (1000−39) mod 508 = 492 > X = 477 → 39 local bytes
        let mut cell = vec![0x87, 0x68, 9];
        cell.extend([0xab; 39]);
        cell.extend(5u32.to_be_bytes());
        let p = leaf(&[&cell]);
        let c = BtreePage::parse(2, &p, 0).unwrap().leaf_cell(0, 512).unwrap();
        assert_eq!((c.payload_len, c.local.len(), c.overflow), (1000, 39, Some(5)));
        // unknown type, pointer into the header, too many cells
        let mut bad = p.clone();
        bad[0] = 0x42;
        assert_eq!(BtreePage::parse(17, &bad, 0).unwrap_err().to_string(), "SQLite database: page 17: b-tree page type 0x42 unknown");
        let mut bad = p.clone();
        bad[8..10].copy_from_slice(&4u16.to_be_bytes());
        assert!(BtreePage::parse(2, &bad, 0).unwrap().leaf_cell(0, 512).is_err());
        let mut bad = p;
        bad[3..5].copy_from_slice(&300u16.to_be_bytes());
        assert!(BtreePage::parse(2, &bad, 0).is_err());
    }
}
