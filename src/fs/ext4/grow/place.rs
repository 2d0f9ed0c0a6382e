//! Where the new groups' block bitmaps, inode bitmaps and inode tables go. Without flex_bg
//! each group holds its own, right after its superblock/descriptor copies (as mke2fs lays out
//! ext2/ext3). With flex_bg the new groups of one flex group share one run, block bitmaps
//! first, then inode bitmaps, then inode tables, starting in the first new group of that flex
//! group. New metadata only ever lands in the new groups, so no block of the existing
//! filesystem is touched and no old bitmap has to be searched for free space.

use crate::fs::ext4::geo::Geo;

/// The metadata locations of one new group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
}

/// A run of new groups laid out together: `first..end` (one flex group's new groups, or one
/// group without flex_bg).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Window {
    pub first: u64,
    pub end: u64,
    /// Metadata of groups `first..end`, in order.
    pub meta: Vec<Meta>,
}

/// Lays out the metadata of groups `old_groups..geo.groups` of the grown filesystem `geo`,
/// window by window. Fails, naming the group, when a window's metadata does not fit its
/// groups (the caller turns that into "not supported" before anything is written).
pub(super) fn place(geo: &Geo, old_groups: u64) -> Result<Vec<Window>, String> {
    let mut out = Vec::new();
    let mut first = old_groups;
    while first < geo.groups {
        let end = ((first / geo.window + 1) * geo.window).min(geo.groups);
        out.push(place_window(geo, first, end)?);
        first = end;
    }
    Ok(out)
}

fn place_window(geo: &Geo, first: u64, end: u64) -> Result<Window, String> {
    let limit = geo.group_first(end - 1) + geo.group_blocks(end - 1);
    let mut cur = Cursor { geo, next: geo.group_first(first), limit };
    let n = (end - first) as usize;
    let mut meta = vec![Meta { block_bitmap: 0, inode_bitmap: 0, inode_table: 0 }; n];
    let fail = |g: u64| format!("the metadata of new group {g} does not fit groups {first}..{end}");
    for (i, m) in meta.iter_mut().enumerate() {
        m.block_bitmap = cur.alloc(1).ok_or_else(|| fail(first + i as u64))?;
        if geo.window == 1 {
            m.inode_bitmap = cur.alloc(1).ok_or_else(|| fail(first))?;
            m.inode_table = cur.alloc(geo.itb).ok_or_else(|| fail(first))?;
        }
    }
    if geo.window > 1 {
        for (i, m) in meta.iter_mut().enumerate() {
            m.inode_bitmap = cur.alloc(1).ok_or_else(|| fail(first + i as u64))?;
        }
        for (i, m) in meta.iter_mut().enumerate() {
            m.inode_table = cur.alloc(geo.itb).ok_or_else(|| fail(first + i as u64))?;
        }
    }
    Ok(Window { first, end, meta })
}

/// Hands out blocks in ascending order, stepping over every group's superblock/descriptor
/// copies and never past `limit`.
struct Cursor<'a> {
    geo: &'a Geo,
    next: u64,
    limit: u64,
}

impl Cursor<'_> {
    /// `n` contiguous blocks (n ≥ 1), or `None` when they do not fit before `limit`.
    fn alloc(&mut self, n: u64) -> Option<u64> {
        let geo = self.geo;
        // each pass moves `next` past one more group's copies, so this ends within the window
        loop {
            let g = geo.group_of(self.next);
            let after_prefix = geo.group_first(g) + geo.prefix(g).len();
            if self.next < after_prefix {
                self.next = after_prefix;
            }
            let end = self.next.checked_add(n)?;
            if end > self.limit {
                return None;
            }
            let last = geo.group_of(end - 1);
            let blocked = (g + 1..=last).find(|&h| geo.prefix(h).len() > 0);
            match blocked {
                Some(h) => self.next = geo.group_first(h),
                None => {
                    let at = self.next;
                    self.next = end;
                    return Some(at);
                }
            }
        }
    }
}
