//! ext2/ext3/ext4/ext4dev and external journal devices (`jbd`), told apart by their feature
//! flags exactly as libblkid does.

use super::{array, bytes, label, le16, le32, uuid, FsInfo, Reader, Result};

/// The superblock lies 1 KiB into the device.
const SB_OFF: u64 = 1024;
/// Bytes of the superblock we read (everything up to `s_flags` and beyond).
const SB_LEN: usize = 512;
/// Magic 0xEF53, little endian, at 0x38.
const MAGIC: &[u8] = &[0x53, 0xef];

const COMPAT_HAS_JOURNAL: u32 = 0x0004;
const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
const FLAGS_TEST_FILESYS: u32 = 0x0004;
/// ro_compat features ext2 and ext3 understand: sparse_super, large_file, btree_dir.
const RO_COMPAT_EXT23: u32 = 0x0001 | 0x0002 | 0x0004;
/// incompat features ext2 understands: filetype, meta_bg.
const INCOMPAT_EXT2: u32 = 0x0002 | 0x0010;
/// incompat features ext3 understands: filetype, recover, meta_bg.
const INCOMPAT_EXT3: u32 = 0x0002 | 0x0004 | 0x0010;

/// Feature words of an ext superblock.
#[derive(Debug, Clone, Copy)]
struct Features {
    compat: u32,
    incompat: u32,
    ro_compat: u32,
    /// `s_flags`.
    flags: u32,
}

/// The blkid type for these features, trying ext4dev, ext4, ext3, ext2, jbd in blkid's order.
fn ext_type(f: Features) -> Option<&'static str> {
    let journal_dev = f.incompat & INCOMPAT_JOURNAL_DEV != 0;
    let journal = f.compat & COMPAT_HAS_JOURNAL != 0;
    let test_fs = f.flags & FLAGS_TEST_FILESYS != 0;
    let beyond_ext3 = f.ro_compat & !RO_COMPAT_EXT23 != 0 || f.incompat & !INCOMPAT_EXT3 != 0;
    let beyond_ext2 = f.ro_compat & !RO_COMPAT_EXT23 != 0 || f.incompat & !INCOMPAT_EXT2 != 0;
    if !journal_dev && test_fs {
        Some("ext4dev")
    } else if !journal_dev && beyond_ext3 {
        Some("ext4")
    } else if journal && !beyond_ext3 {
        Some("ext3")
    } else if !journal && !beyond_ext2 {
        Some("ext2")
    } else if journal_dev {
        Some("jbd")
    } else {
        None
    }
}

/// Probes for an ext superblock.
pub(super) fn probe(r: &Reader) -> Result<Option<FsInfo>> {
    let Some(sb) = r.read(SB_OFF, SB_LEN)? else { return Ok(None) };
    if bytes(&sb, 0x38, 2) != MAGIC {
        return Ok(None);
    }
    let features = Features {
        compat: le32(&sb, 0x5c),
        incompat: le32(&sb, 0x60),
        ro_compat: le32(&sb, 0x64),
        flags: le32(&sb, 0x160),
    };
    let Some(fs_type) = ext_type(features) else { return Ok(None) };
    let mut info = FsInfo::new(fs_type);
    info.uuid = uuid(&array(&sb, 0x68));
    info.label = label(bytes(&sb, 0x78, 16));
    info.version = Some(format!("{}.{}", le32(&sb, 0x4c), le16(&sb, 0x3e)));
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(compat: u32, incompat: u32, ro_compat: u32, flags: u32) -> Option<&'static str> {
        ext_type(Features { compat, incompat, ro_compat, flags })
    }

    // Feature bits as mke2fs sets them.
    const EXT_ATTR: u32 = 0x0008;
    const RESIZE_INODE: u32 = 0x0010;
    const DIR_INDEX: u32 = 0x0020;
    const FILETYPE: u32 = 0x0002;
    const RECOVER: u32 = 0x0004;
    const EXTENTS: u32 = 0x0040;
    const BIT64: u32 = 0x0080;
    const FLEX_BG: u32 = 0x0200;
    const SPARSE_SUPER: u32 = 0x0001;
    const LARGE_FILE: u32 = 0x0002;
    const HUGE_FILE: u32 = 0x0008;
    const METADATA_CSUM: u32 = 0x0400;

    #[test]
    fn classic_ext2() {
        let compat = EXT_ATTR | RESIZE_INODE | DIR_INDEX;
        assert_eq!(t(compat, FILETYPE, SPARSE_SUPER | LARGE_FILE, 0), Some("ext2"));
    }

    #[test]
    fn journal_makes_ext3() {
        let compat = COMPAT_HAS_JOURNAL | EXT_ATTR | DIR_INDEX;
        assert_eq!(t(compat, FILETYPE, SPARSE_SUPER | LARGE_FILE, 0), Some("ext3"));
        // A journal needing recovery is still ext3.
        assert_eq!(t(compat, FILETYPE | RECOVER, SPARSE_SUPER, 0), Some("ext3"));
    }

    #[test]
    fn ext4_features_make_ext4_with_or_without_journal() {
        let inc = FILETYPE | EXTENTS | BIT64 | FLEX_BG;
        assert_eq!(t(COMPAT_HAS_JOURNAL, inc, SPARSE_SUPER | HUGE_FILE, 0), Some("ext4"));
        assert_eq!(t(0, inc, SPARSE_SUPER, 0), Some("ext4"));
        // An ro_compat feature beyond ext3 alone is enough.
        assert_eq!(t(COMPAT_HAS_JOURNAL, FILETYPE, METADATA_CSUM, 0), Some("ext4"));
        assert_eq!(t(0, FILETYPE, HUGE_FILE, 0), Some("ext4"));
    }

    #[test]
    fn test_filesys_flag_is_ext4dev() {
        assert_eq!(t(COMPAT_HAS_JOURNAL, FILETYPE | EXTENTS, 0, FLAGS_TEST_FILESYS), Some("ext4dev"));
    }

    #[test]
    fn journal_device_is_jbd() {
        assert_eq!(t(0, INCOMPAT_JOURNAL_DEV, 0, 0), Some("jbd"));
        assert_eq!(t(0, INCOMPAT_JOURNAL_DEV | EXTENTS, 0, FLAGS_TEST_FILESYS), Some("jbd"));
    }

    #[test]
    fn recover_without_journal_is_nothing() {
        // ext2 does not understand `recover`, ext3 needs a journal, ext4 needs more.
        assert_eq!(t(0, FILETYPE | RECOVER, 0, 0), None);
    }
}
