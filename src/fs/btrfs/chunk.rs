//! Chunks: the map from btrfs logical addresses to (device, physical offset). A chunk item
//! (key offset = logical start) gives the length, the block group type and profile, and one
//! stripe per copy. Only single-device SINGLE and DUP chunks are mapped: for both, every stripe
//! holds the whole chunk and the first is read. RAID profiles are refused by name.

use crate::bytes::{le16, le64};
use std::collections::BTreeMap;

/// Size of a chunk item without its stripes.
const ITEM_SIZE: usize = 48;
/// Size of one stripe.
const STRIPE_SIZE: usize = 32;
/// Most stripes a chunk item may list.
const MAX_STRIPES: u16 = 256;

/// Block group profile bits and their names.
const PROFILES: &[(u64, &str)] =
    &[(0x8, "RAID0"), (0x10, "RAID1"), (0x20, "DUP"), (0x40, "RAID10"), (0x80, "RAID5"), (0x100, "RAID6"), (0x200, "RAID1C3"), (0x400, "RAID1C4")];

/// One copy of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    /// The device holding it.
    pub devid: u64,
    /// Byte offset on that device.
    pub offset: u64,
}

/// A chunk: `length` bytes of logical space from `logical`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Logical start.
    pub logical: u64,
    /// Length in bytes.
    pub length: u64,
    /// Block group type and profile bits (DATA 1, SYSTEM 2, METADATA 4, profiles above).
    pub flags: u64,
    /// The stripes.
    pub stripes: Vec<Stripe>,
}

impl Chunk {
    /// The profile name: SINGLE, DUP, RAID1…
    pub fn profile(&self) -> &'static str {
        PROFILES.iter().find(|(b, _)| self.flags & b != 0).map(|(_, n)| *n).unwrap_or("SINGLE")
    }
}

/// Parses a chunk item starting at `b` for logical address `logical`; returns it and the bytes
/// it used.
pub fn parse_item(logical: u64, b: &[u8]) -> Result<(Chunk, usize), String> {
    if b.len() < ITEM_SIZE {
        return Err(format!("chunk item at {logical:#x}: {} bytes", b.len()));
    }
    let length = le64(b, 0);
    let flags = le64(b, 24);
    let num = le16(b, 44);
    if num == 0 || num > MAX_STRIPES {
        return Err(format!("chunk item at {logical:#x}: {num} stripes"));
    }
    let used = ITEM_SIZE + usize::from(num) * STRIPE_SIZE;
    if b.len() < used {
        return Err(format!("chunk item at {logical:#x}: {num} stripes past the item"));
    }
    if length == 0 || logical.checked_add(length).is_none() {
        return Err(format!("chunk item at {logical:#x}: length {length:#x}"));
    }
    let stripes = (0..usize::from(num))
        .map(|i| {
            let s = &b[ITEM_SIZE + i * STRIPE_SIZE..];
            Stripe { devid: le64(s, 0), offset: le64(s, 8) }
        })
        .collect();
    Ok((Chunk { logical, length, flags, stripes }, used))
}

/// Why an address could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// No chunk covers it, or the chunk is damaged.
    Corrupt(String),
    /// A profile or device layout this reader refuses.
    Unsupported(String),
}

/// The logical→physical map of one device.
#[derive(Debug, Default, Clone)]
pub struct ChunkMap {
    chunks: BTreeMap<u64, Chunk>,
}

impl ChunkMap {
    /// Adds a chunk, checked: no overlap with a chunk already known (the same chunk again, as
    /// the chunk tree repeats the sys_chunk_array, is accepted), a profile this reader maps.
    pub fn insert(&mut self, c: Chunk, devid: u64) -> Result<(), MapError> {
        let profile = c.profile();
        if profile != "SINGLE" && profile != "DUP" {
            return Err(MapError::Unsupported(format!("{profile} block groups (only SINGLE and DUP are read)")));
        }
        if let Some(s) = c.stripes.iter().find(|s| s.devid != devid) {
            return Err(MapError::Unsupported(format!("multiple devices (a chunk at {:#x} lives on device {})", c.logical, s.devid)));
        }
        if let Some((_, prev)) = self.chunks.range(..=c.logical).next_back() {
            if *prev == c {
                return Ok(());
            }
            if prev.logical + prev.length > c.logical {
                return Err(MapError::Corrupt(format!("chunk at {:#x} overlaps the chunk at {:#x}", c.logical, prev.logical)));
            }
        }
        if let Some((_, next)) = self.chunks.range(c.logical..).next() {
            if c.logical + c.length > next.logical {
                return Err(MapError::Corrupt(format!("chunk at {:#x} overlaps the chunk at {:#x}", c.logical, next.logical)));
            }
        }
        self.chunks.insert(c.logical, c);
        Ok(())
    }

    /// The chunks, by logical address.
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.chunks.values()
    }

    /// Physical offsets of every copy of `logical`, and how many bytes from there stay in the
    /// same chunk.
    pub fn map(&self, logical: u64) -> Result<(Vec<u64>, u64), MapError> {
        let (_, c) = self
            .chunks
            .range(..=logical)
            .next_back()
            .filter(|(_, c)| logical - c.logical < c.length)
            .ok_or_else(|| MapError::Corrupt(format!("no chunk maps logical address {logical:#x}")))?;
        let within = logical - c.logical;
        let phys = c.stripes.iter().map(|s| s.offset.checked_add(within).ok_or_else(|| MapError::Corrupt(format!("chunk at {:#x}: stripe offset overflows", c.logical)))).collect::<Result<Vec<_>, _>>()?;
        Ok((phys, c.length - within))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(logical: u64, length: u64, flags: u64, offs: &[u64]) -> Chunk {
        Chunk { logical, length, flags, stripes: offs.iter().map(|&o| Stripe { devid: 1, offset: o }).collect() }
    }

    #[test]
    fn maps_single_and_dup_refuses_raid() {
        let mut m = ChunkMap::default();
        m.insert(chunk(0x100000, 0x1000, 2, &[0x100000]), 1).unwrap();
        m.insert(chunk(0x200000, 0x10000, 4 | 0x20, &[0x300000, 0x400000]), 1).unwrap();
        assert_eq!(m.map(0x100010).unwrap(), (vec![0x100010], 0xff0));
        assert_eq!(m.map(0x200100).unwrap(), (vec![0x300100, 0x400100], 0xff00));
        assert!(matches!(m.map(0x101000), Err(MapError::Corrupt(_))));
        assert!(matches!(m.insert(chunk(0x100800, 0x1000, 1, &[0]), 1), Err(MapError::Corrupt(_))));
        match m.insert(chunk(0x900000, 0x1000, 1 | 0x10, &[0, 0]), 1) {
            Err(MapError::Unsupported(s)) => assert!(s.contains("RAID1 "), "{s}"),
            e => panic!("{e:?}"),
        }
        assert!(matches!(m.insert(chunk(0x900000, 0x1000, 1, &[0]).with_dev(2), 1), Err(MapError::Unsupported(_))));
    }

    impl Chunk {
        fn with_dev(mut self, d: u64) -> Chunk {
            self.stripes[0].devid = d;
            self
        }
    }
}
