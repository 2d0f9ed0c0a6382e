//! Allocation group headers: the AGF (free space, sector 1 of the AG) and the AGI (inodes,
//! sector 2), checked (magic, version, sequence number, length, v5 CRC and UUID). The AGFL
//! (sector 3) is not needed to read files.

use super::crc;
use super::sb::Superblock;
use crate::bytes::{be32, bytes};

const XAGF: u32 = 0x5841_4746;
const XAGI: u32 = 0x5841_4749;

/// The AGF fields the reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agf {
    /// Free blocks in the AG.
    pub freeblks: u32,
    /// Blocks in the free-space (and rmap) btrees beyond their roots.
    pub btreeblks: u32,
    /// Blocks of the rmap btree (root included).
    pub rmap_blocks: u32,
}

/// The AGI fields the reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agi {
    /// Allocated inodes in the AG.
    pub count: u32,
    /// Free inodes among them.
    pub freecount: u32,
}

/// Common checks: magic, version 1, sequence number, AG length, and on v5 the UUID and CRC.
fn check(sb: &Superblock, b: &[u8], agno: u32, magic: u32, what: &str, uuid_off: usize, crc_off: usize) -> Result<(), String> {
    let n = usize::from(sb.sectsize);
    if b.len() < n || be32(b, 0) != magic {
        return Err(format!("{what} of AG {agno}: bad magic"));
    }
    if be32(b, 4) != 1 || be32(b, 8) != agno {
        return Err(format!("{what} of AG {agno}: version {} and sequence number {}", be32(b, 4), be32(b, 8)));
    }
    let last = sb.dblocks - u64::from(agno) * u64::from(sb.agblocks);
    let want = last.min(u64::from(sb.agblocks));
    if u64::from(be32(b, 12)) != want {
        return Err(format!("{what} of AG {agno}: length {} instead of {want}", be32(b, 12)));
    }
    if sb.crc {
        if !crc::verify(&b[..n], crc_off) {
            return Err(format!("{what} of AG {agno}: bad CRC"));
        }
        if bytes(b, uuid_off, 16) != sb.meta_uuid {
            return Err(format!("{what} of AG {agno}: UUID of another filesystem"));
        }
    }
    Ok(())
}

impl Agf {
    /// Parses the AGF sector of AG `agno`.
    pub fn parse(sb: &Superblock, agno: u32, b: &[u8]) -> Result<Agf, String> {
        check(sb, b, agno, XAGF, "AGF", 64, 216)?;
        let agf = Agf { freeblks: be32(b, 52), btreeblks: be32(b, 60), rmap_blocks: be32(b, 80) };
        if agf.freeblks > be32(b, 12) {
            return Err(format!("AGF of AG {agno}: {} free blocks", agf.freeblks));
        }
        Ok(agf)
    }
}

impl Agi {
    /// Parses the AGI sector of AG `agno`.
    pub fn parse(sb: &Superblock, agno: u32, b: &[u8]) -> Result<Agi, String> {
        check(sb, b, agno, XAGI, "AGI", 296, 312)?;
        let agi = Agi { count: be32(b, 16), freecount: be32(b, 28) };
        if agi.freecount > agi.count {
            return Err(format!("AGI of AG {agno}: {} free of {} inodes", agi.freecount, agi.count));
        }
        Ok(agi)
    }
}
