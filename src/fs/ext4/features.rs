//! Which ext2/3/4 features a writable mount accepts. `rust-fs-ext4` maintains the on-disk
//! structures of a known set of features; a volume carrying any other `INCOMPAT` or
//! `RO_COMPAT` bit is refused before anything is written (journal replay included), with
//! the features named as `mke2fs -O` spells them.

use fs_ext4::superblock::Superblock;

/// `INCOMPAT` bits a write keeps consistent: filetype, needs_recovery (replayed at mount),
/// extent, 64bit, flex_bg, metadata_csum_seed, inline_data.
const WRITABLE_INCOMPAT: u32 = 0x0002 | 0x0004 | 0x0040 | 0x0080 | 0x0200 | 0x2000 | 0x8000;

/// `RO_COMPAT` bits a write keeps consistent (the crate's maintained set): sparse_super,
/// large_file, huge_file, uninit_bg, dir_nlink, extra_isize, metadata_csum.
const WRITABLE_RO_COMPAT: u32 = 0x0001 | 0x0002 | 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0400;

/// `EXT2_ERROR_FS` in `s_state`: the kernel found an inconsistency.
const STATE_ERROR_FS: u16 = 0x0002;

/// `mke2fs -O` names of the `INCOMPAT` bits.
const INCOMPAT_NAMES: &[(u32, &str)] = &[
    (0x0001, "compression"),
    (0x0002, "filetype"),
    (0x0004, "needs_recovery"),
    (0x0008, "journal_dev"),
    (0x0010, "meta_bg"),
    (0x0040, "extent"),
    (0x0080, "64bit"),
    (0x0100, "mmp"),
    (0x0200, "flex_bg"),
    (0x0400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];

/// `mke2fs -O` names of the `RO_COMPAT` bits.
const RO_COMPAT_NAMES: &[(u32, &str)] = &[
    (0x0001, "sparse_super"),
    (0x0002, "large_file"),
    (0x0004, "btree_dir"),
    (0x0008, "huge_file"),
    (0x0010, "uninit_bg"),
    (0x0020, "dir_nlink"),
    (0x0040, "extra_isize"),
    (0x0080, "snapshot"),
    (0x0100, "quota"),
    (0x0200, "bigalloc"),
    (0x0400, "metadata_csum"),
    (0x0800, "replica"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
    (0x10000, "orphan_present"),
];

/// Why the volume described by `sb` cannot be mounted for writing, naming the features
/// (`"writing ext4 with feature(s) quota, project"`), or `None` when it can.
pub(super) fn write_refusal(sb: &Superblock) -> Option<String> {
    let incompat = sb.feature_incompat & !WRITABLE_INCOMPAT;
    let ro_compat = sb.feature_ro_compat & !WRITABLE_RO_COMPAT;
    if incompat != 0 || ro_compat != 0 {
        let mut names = names(incompat, INCOMPAT_NAMES, "INCOMPAT");
        names.extend(names_of_ro(ro_compat));
        return Some(format!("writing a filesystem with feature(s) {}", names.join(", ")));
    }
    if sb.state & STATE_ERROR_FS != 0 {
        return Some("writing a filesystem that records errors (run e2fsck on it first)".into());
    }
    None
}

fn names_of_ro(bits: u32) -> Vec<String> {
    names(bits, RO_COMPAT_NAMES, "RO_COMPAT")
}

/// The names of `bits`, then any bit without one as `SET 0x…`.
fn names(bits: u32, table: &[(u32, &str)], set: &str) -> Vec<String> {
    let mut out: Vec<String> =
        table.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| n.to_string()).collect();
    let unnamed = table.iter().fold(bits, |left, (b, _)| left & !b);
    if unnamed != 0 {
        out.push(format!("unknown {set} {unnamed:#x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_bits() {
        assert_eq!(names(0x0410, INCOMPAT_NAMES, "INCOMPAT"), ["meta_bg", "ea_inode"]);
        assert_eq!(names(0x0100 | 0x8000_0000, RO_COMPAT_NAMES, "RO_COMPAT"), [
            "quota",
            "unknown RO_COMPAT 0x80000000"
        ]);
    }

    #[test]
    fn writable_sets_are_named() {
        assert!(names(WRITABLE_INCOMPAT, INCOMPAT_NAMES, "I").iter().all(|n| !n.contains("unknown")));
        assert!(names(WRITABLE_RO_COMPAT, RO_COMPAT_NAMES, "R").iter().all(|n| !n.contains("unknown")));
    }
}
