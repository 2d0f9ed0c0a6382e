//! LVM2: physical volume labels, text metadata, volume groups and logical volumes.
//!
//! [`scan`] finds PV labels on devices ([`label`]), reads the newest metadata text from each
//! PV's metadata areas ([`mda`]), parses it ([`metadata`]) and assembles volume groups
//! ([`vg`]); [`VolumeGroup::open_lv`] builds an LV as a block device (`disk::Linear` pieces and
//! [`striped::Striped`] maps). [`pvresize_in`] writes new metadata for a grown PV and
//! [`lvextend`] for a longer LV ([`write`](mod@write), allocating as lvm2 does: [`alloc`]).

pub mod alloc;
pub mod label;
pub mod mda;
pub mod metadata;
pub mod report;
pub mod striped;
pub mod vg;
pub mod write;

pub use label::{read_label, DiskArea, PvLabel};
pub use write::{lvextend, pvresize, pvresize_in, LvExtended, PvResized};
pub use vg::{scan, LogicalVolume, PhysicalVolume, Segment, SegmentKind, VolumeGroup};

/// Result of LVM operations.
pub type Result<T> = std::result::Result<T, Error>;

/// The initial value of LVM's CRC32 (`INITIAL_CRC` in lvm2's `lib/misc/crc.h`).
pub const INITIAL_CRC: u32 = 0xf597_a6cf;

/// LVM's CRC32 (`calc_crc`): the reflected IEEE polynomial, seeded with `seed`, with no
/// inversion before or after.
pub fn lvm_crc(seed: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!seed);
    h.update(data);
    !h.finalize()
}

/// Errors of the LVM layer. Each names the device or volume group and the structure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block layer failed underneath.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// A PV label (`LABELONE` sector) that is damaged or of an unknown kind.
    #[error("{dev}: LVM label in sector {sector}: {msg}")]
    Label {
        /// Device name.
        dev: String,
        /// Sector of the label (0..3).
        sector: u64,
        /// What is wrong.
        msg: String,
    },
    /// A damaged metadata area header or metadata location.
    #[error("{dev}: LVM metadata area at offset {offset}: {msg}")]
    Mda {
        /// Device name.
        dev: String,
        /// Byte offset of the metadata area on the device.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// Metadata text that does not parse or does not describe a valid volume group.
    #[error("{dev}: LVM metadata text: {msg}")]
    Metadata {
        /// Device the text came from.
        dev: String,
        /// What is wrong (with the line number where known).
        msg: String,
    },
    /// An LV whose segments use a type we cannot map.
    #[error("unsupported LV type {seg_type} ({lv}); only linear and striped LVs can be opened")]
    Unsupported {
        /// The segment type (`thin`, `raid1`, `mirror`, …).
        seg_type: String,
        /// `/dev/VG/LV`.
        lv: String,
    },
    /// An LV that needs a PV whose device was not found.
    #[error("{lv}: physical volume {pv} (uuid {uuid}) is missing; add the disk that holds it")]
    MissingPv {
        /// `/dev/VG/LV`.
        lv: String,
        /// PV name in the metadata (`pv1`).
        pv: String,
        /// PV uuid.
        uuid: String,
    },
    /// An LV whose lvm2 report row (`lvs-full`) we cannot compute.
    #[error("{lv}: lvs-full cannot describe {what} (lvm2's attributes for it are not modelled)")]
    UnsupportedReport {
        /// `/dev/VG/LV`.
        lv: String,
        /// The kind of LV (`LV type raid1`, `snapshot origin`…).
        what: String,
    },
    /// No LV of that name in the volume group.
    #[error("/dev/{vg}/{lv}: no such logical volume")]
    NoSuchLv {
        /// Volume group name.
        vg: String,
        /// Requested LV name.
        lv: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_lvm_reference() {
        // lvm2's calc_crc over nothing is the seed; one known value computed bit by bit here.
        assert_eq!(lvm_crc(INITIAL_CRC, &[]), INITIAL_CRC);
        let bitwise = |seed: u32, data: &[u8]| {
            let mut crc = seed;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
                }
            }
            crc
        };
        let data = b"LVM2 001 some bytes to check";
        assert_eq!(lvm_crc(INITIAL_CRC, data), bitwise(INITIAL_CRC, data));
    }
}
