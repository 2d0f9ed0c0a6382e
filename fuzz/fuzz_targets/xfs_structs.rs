//! Fuzzes the XFS structure parsers one by one on the input bytes, without a filesystem
//! around them: superblock, AGF, AGI, inode (v4 and v5 geometry), shortform directory,
//! directory data block (v4 and v5, read and decoded for editing), directory leaf (read and
//! decoded), free index block, da node, shortform attributes (read and raw), attribute
//! leaf (read, and decoded raw for editing and re-encoded), remote attribute blocks (read,
//! and their header), symlink blocks, extent records, the log head search. None may
//! panic; every parser must stay inside the bytes it is given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::fs::xfs::{ag, attr, attr_leaf, attr_remote, attr_sf, bmap, da, dir2, inode, log, sb, symlink};

fn geometry(crc: bool, inodesize: u16) -> sb::Superblock {
    sb::Superblock {
        blocksize: 4096,
        blocklog: 12,
        dblocks: 1 << 16,
        meta_uuid: [0; 16],
        logstart: 1024,
        logblocks: 1024,
        rootino: 128,
        agblocks: 1 << 14,
        agblklog: 14,
        agcount: 4,
        sectsize: 512,
        inodesize,
        inodelog: inodesize.trailing_zeros() as u8,
        inopblog: 12 - inodesize.trailing_zeros() as u8,
        dirblksize: 4096,
        icount: 64,
        ifree: 0,
        fdblocks: 0,
        imax_pct: 25,
        crc,
        ftype: true,
        nrext64: false,
        ro_compat: 0,
        ascii_ci: false,
        attr2: true,
        inoalignmt: 0,
        sparse_inodes: false,
        spino_align: 0,
        bigtime: false,
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = sb::Superblock::parse(data);
    for crc in [false, true] {
        let g = geometry(crc, 512);
        let _ = ag::Agf::parse(&g, 0, data);
        let _ = ag::Agi::parse(&g, 0, data);
        if data.len() >= 512 {
            let _ = inode::Inode::parse(&g, 131, &data[..512]);
        }
        let g = geometry(crc, 256);
        if data.len() >= 256 {
            let _ = inode::Inode::parse(&g, 131, &data[..256]);
        }
        let uuid = [0u8; 16];
        let o = dir2::data::Owner { ino: 131, uuid: &uuid, daddr: 0 };
        let mut out = Vec::new();
        let _ = dir2::data::parse(data, crc, crc.then_some(&o), &mut out);
        if let Ok((hdr, end)) = dir2::data::header(data, crc.then_some(&o)) {
            let leaf = dir2::data::block_leaf(data, end).unwrap_or_default();
            for (_, addr) in leaf.iter().take(64) {
                let _ = dir2::data::entry_at(data, *addr as usize * 8, hdr, end, crc);
            }
        }
        let d = da::Owner { ino: 131, uuid: &uuid, daddr: 0 };
        let _ = dir2::leaf::parse(data, crc.then_some(&d));
        let _ = dir2::leaf::Leaf::decode(data, crc.then_some(&d));
        let _ = dir2::data::decode(data, crc, crc.then_some(&o));
        let _ = dir2::free::FreeBlock::decode(data, crc.then_some(&o));
        let _ = da::node(data, crc.then_some(&d), "fuzz");
        let _ = attr::leaf(data, crc.then_some(&d));
        let _ = attr::remote_block(data, &d, 0);
        if let Ok(l) = attr_leaf::decode(data, crc) {
            // what decodes re-encodes (the writer's round trip) when it fits a block
            if l.fits(4096, crc) {
                let me = attr_leaf::BlockId { daddr: 0, uuid, ino: 131 };
                let _ = attr_leaf::encode(&l, 4096, crc, &me);
            }
        }
        let _ = symlink::remote_block(data, 131, &uuid, 0, 0);
        let _ = dir2::sf::parse(data, data.len() as u64, crc);
    }
    let _ = attr_remote::decode_header(data);
    let _ = attr::shortform(data);
    let _ = attr_sf::decode(data);
    for r in data.chunks_exact(16).take(64) {
        let _ = bmap::Extent::decode(r);
    }
    let _ = dir2::hash::hashname(data);
    // the log read as a run of 512-byte blocks (the head search and record check)
    struct Log<'a>(&'a [u8]);
    impl log::LogReader for Log<'_> {
        fn block(&self, n: u64) -> Option<[u8; 512]> {
            let at = usize::try_from(n).ok()?.checked_mul(512)?;
            self.0.get(at..at + 512)?.try_into().ok()
        }
    }
    let _ = log::state(&Log(data), data.len() as u64 / 512 + 1);
});
