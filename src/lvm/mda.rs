//! Metadata areas: the `mda_header` (magic, version, start, size, `raw_locn` list, CRC) and the
//! text it points to in the circular buffer after the header (`lib/format_text/layout.h`).

use super::{lvm_crc, DiskArea, Error, Result, INITIAL_CRC};
use crate::bytes::{le32, le64};
use crate::disk::{read_vec, BlockDev};

/// Size of the header at the start of every metadata area (`MDA_HEADER_SIZE`).
pub const MDA_HEADER_SIZE: u64 = 512;
const MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
const VERSION: u32 = 1;
/// `RAW_LOCN_IGNORED`: the area is kept but not used (`pvchange --metadataignore`).
const RAW_LOCN_IGNORED: u32 = 1;
/// Largest metadata text we read (lvm2's own default area is 1 MiB).
pub const MAX_TEXT: u64 = 16 << 20;

/// Reads the current metadata text of the area `mda` on `dev` (called `name` in errors).
/// `Ok(None)` when the area holds no metadata (an orphan PV) or is marked ignored.
pub fn read_text(dev: &dyn BlockDev, name: &str, mda: DiskArea) -> Result<Option<Vec<u8>>> {
    let err = |msg: String| Error::Mda { dev: name.to_string(), offset: mda.offset, msg };
    if mda.size <= MDA_HEADER_SIZE {
        return Err(err(format!("area size {} is smaller than its header", mda.size)));
    }
    if mda.offset.checked_add(mda.size).is_none_or(|end| end > dev.len()) {
        return Err(err(format!(
            "area of {} bytes lies beyond the end of the device ({} bytes); the PV label is damaged or the image truncated",
            mda.size,
            dev.len()
        )));
    }
    let h = read_vec(dev, mda.offset, MDA_HEADER_SIZE as usize)?;
    if h.get(4..20) != Some(&MAGIC[..]) {
        return Err(err("bad magic: not an LVM2 metadata area header".into()));
    }
    let (crc, calc) = (le32(&h, 0), lvm_crc(INITIAL_CRC, h.get(4..).unwrap_or_default()));
    if crc != calc {
        return Err(err(format!("header CRC mismatch (stored {crc:#010x}, computed {calc:#010x}); the header is damaged (pvck --repair may help)")));
    }
    let version = le32(&h, 20);
    if version != VERSION {
        return Err(err(format!("header version {version} is not supported (only 1)")));
    }
    let (start, size) = (le64(&h, 24), le64(&h, 32));
    if start != mda.offset || size != mda.size {
        return Err(err(format!(
            "header says start {start} size {size}, but the PV label says start {} size {}",
            mda.offset, mda.size
        )));
    }
    // raw_locn[0] is the committed metadata; [1] would be a precommitted copy.
    let (off, len, text_crc, flags) = (le64(&h, 40), le64(&h, 48), le32(&h, 56), le32(&h, 60));
    if flags & RAW_LOCN_IGNORED != 0 || (off == 0 && len == 0) {
        return Ok(None);
    }
    if len > MAX_TEXT || len > size - MDA_HEADER_SIZE {
        return Err(err(format!("metadata text size {len} does not fit in the area ({size} bytes, limit {MAX_TEXT})")));
    }
    if off < MDA_HEADER_SIZE || off >= size {
        return Err(err(format!("metadata text offset {off} lies outside the area ({size} bytes)")));
    }
    // The text may wrap from the end of the area back to just after the header.
    let first = len.min(size - off);
    let at = start.checked_add(off).ok_or_else(|| err("metadata text offset overflows".into()))?;
    let mut text = read_vec(dev, at, first as usize)?;
    if first < len {
        text.extend(read_vec(dev, start + MDA_HEADER_SIZE, (len - first) as usize)?);
    }
    let calc = lvm_crc(INITIAL_CRC, &text);
    if calc != text_crc {
        return Err(err(format!(
            "metadata text CRC mismatch (stored {text_crc:#010x}, computed {calc:#010x}); try the other metadata copy or vgcfgrestore"
        )));
    }
    while text.last() == Some(&0) {
        text.pop();
    }
    Ok(Some(text))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::disk::MemDev;

    /// Writes a metadata area at `start` (`size` bytes) holding `text` at area offset `off`,
    /// wrapping around the end like lvm2 does.
    pub(crate) fn put_mda(img: &mut [u8], start: u64, size: u64, off: u64, text: &[u8]) {
        let (s, z) = (start as usize, size as usize);
        let h = &mut img[s..s + 512];
        h.fill(0);
        h[4..20].copy_from_slice(MAGIC);
        h[20..24].copy_from_slice(&VERSION.to_le_bytes());
        h[24..32].copy_from_slice(&start.to_le_bytes());
        h[32..40].copy_from_slice(&size.to_le_bytes());
        h[40..48].copy_from_slice(&off.to_le_bytes());
        h[48..56].copy_from_slice(&(text.len() as u64).to_le_bytes());
        h[56..60].copy_from_slice(&lvm_crc(INITIAL_CRC, text).to_le_bytes());
        let crc = lvm_crc(INITIAL_CRC, &h[4..]);
        h[0..4].copy_from_slice(&crc.to_le_bytes());
        let first = text.len().min(z - off as usize);
        img[s + off as usize..s + off as usize + first].copy_from_slice(&text[..first]);
        img[s + 512..s + 512 + text.len() - first].copy_from_slice(&text[first..]);
    }

    #[test]
    fn reads_wrapped_text() {
        let mut img = vec![0u8; 8192];
        let text = b"vg { id = \"x\" }\n\0".repeat(20);
        put_mda(&mut img, 4096, 4096, 4000, &text);
        let area = DiskArea { offset: 4096, size: 4096 };
        let got = read_text(&MemDev::new(img.clone()), "mem", area).unwrap().unwrap();
        assert_eq!(got, &text[..text.len() - 1]);
        // size pointing outside the area
        img[4096 + 48..4096 + 56].copy_from_slice(&5000u64.to_le_bytes());
        let e = read_text(&MemDev::new(img.clone()), "mem", area).unwrap_err().to_string();
        assert!(e.contains("mem: LVM metadata area at offset 4096: header CRC mismatch"), "{e}");
        let crc = lvm_crc(INITIAL_CRC, &img[4096 + 4..4096 + 512]);
        img[4096..4100].copy_from_slice(&crc.to_le_bytes());
        let e = read_text(&MemDev::new(img), "mem", area).unwrap_err().to_string();
        assert!(e.contains("does not fit in the area"), "{e}");
    }
}
