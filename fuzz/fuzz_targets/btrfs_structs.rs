//! Fuzzes the btrfs structure parsers one by one on the input bytes, without a filesystem
//! around them: the superblock (its checksum fixed up so the fields are reached) and its
//! sys_chunk_array, chunk items, tree blocks (checksum fixed up; every key, child pointer and
//! item read), inode items and refs, directory/xattr items, root items and refs, file extent
//! items, and the zlib/zstd/LZO extent decoders and the LZO1X decoder. None may panic; every
//! parser must stay inside the bytes it is given and bound what it allocates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::fs::btrfs::extent::Compression;
use vguestfs::fs::btrfs::{chunk, compress, csum, dir, extent, inode, lzo, node, root, sb};

fn with_csum(data: &[u8], len: usize) -> Vec<u8> {
    let mut b = data.to_vec();
    b.resize(len, 0);
    let c = csum::crc32c(&b);
    b[0..4].copy_from_slice(&c.to_le_bytes());
    b
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let sel = data[0];
    let rest = &data[1..];
    match sel % 8 {
        0 => {
            let mut b = rest.to_vec();
            b.resize(sb::SIZE, 0);
            b[0x40..0x48].copy_from_slice(sb::MAGIC);
            b[0xc4] = 0;
            b[0xc5] = 0;
            let _ = sb::Superblock::parse(&with_csum(&b, sb::SIZE));
            let _ = sb::parse_sys_array(rest);
        }
        1 => {
            let _ = chunk::parse_item(0x100000, rest);
            let mut m = chunk::ChunkMap::default();
            let mut a = rest;
            while a.len() >= 8 {
                let logical = u64::from_le_bytes(a[..8].try_into().unwrap());
                match chunk::parse_item(logical, &a[8..]) {
                    Ok((c, used)) => {
                        let _ = m.insert(c, 1);
                        a = &a[8 + used..];
                    }
                    Err(_) => break,
                }
            }
            for c in m.chunks() {
                let _ = m.map(c.logical.wrapping_add(c.length / 2));
            }
        }
        2 | 3 => {
            let size = if sel & 0x80 != 0 { 16384 } else { 4096 };
            let mut b = with_csum(rest, size);
            b[0x30..0x38].copy_from_slice(&0x4000u64.to_le_bytes());
            b[0x20..0x30].fill(0);
            let b = with_csum(&b, size);
            if let Ok(n) = node::Node::parse(b, 0x4000, None, &[0; 16]) {
                for i in 0..n.nritems as usize {
                    let _ = n.key(i);
                    if n.level > 0 {
                        let _ = n.child(i);
                    } else if let Ok(d) = n.item(i) {
                        let k = n.key(i);
                        let _ = inode::Inode::parse(d);
                        let _ = inode::parse_refs(d);
                        let _ = dir::parse(d);
                        let _ = extent::parse(k.offset, d);
                        let _ = root::RootItem::parse(d);
                        let _ = root::RootRef::parse(d);
                    }
                }
            }
        }
        4 => {
            let _ = inode::Inode::parse(rest);
            let _ = inode::parse_refs(rest);
            let _ = dir::parse(rest);
            let _ = root::RootItem::parse(rest);
            let _ = root::RootRef::parse(rest);
            let _ = dir::name_hash(rest);
        }
        5 => {
            let _ = extent::parse(u64::from(sel), rest);
        }
        6 => {
            let kind = [Compression::Zlib, Compression::Lzo, Compression::Zstd, Compression::None][usize::from(sel >> 6)];
            let ram = if rest.len() >= 3 { u64::from(u16::from_le_bytes([rest[0], rest[1]])) * 4 } else { 4096 };
            let _ = compress::decompress(kind, rest.get(2..).unwrap_or(&[]), ram, 4096);
        }
        _ => {
            let mut out = Vec::new();
            let _ = lzo::decompress(rest, &mut out, 1 << 17);
        }
    }
});
