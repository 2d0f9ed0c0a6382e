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

/// A metadata area as lvm2's reports count it (`pv_mda_count`, `pv_mda_free`, `vg_mda_free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MdaInfo {
    /// Size of the area, its header included, in bytes.
    pub size: u64,
    /// Size of the committed metadata text (`raw_locn[0].size`, as written: its terminating
    /// NUL included); 0 when the area holds none.
    pub text_size: u64,
    /// Marked ignored (`pvchange --metadataignore y`): kept but not used.
    pub ignored: bool,
}

impl MdaInfo {
    /// Free space as lvm2 reports it (`read_metadata_location_summary` in
    /// `lib/format_text/format-text.c`): one copy of the metadata may take half of the
    /// circular buffer less a sector, so free = that half - 512 - the current text size,
    /// rounded down to whole sectors, 0 when full. An ignored area is never read: 0.
    pub fn free(&self) -> u64 {
        if self.ignored {
            return 0;
        }
        let max = (self.size.saturating_sub(MDA_HEADER_SIZE) / 2).saturating_sub(512);
        max.saturating_sub(self.text_size) / 512 * 512
    }
}

/// Reads the current metadata text of the area `mda` on `dev` (called `name` in errors),
/// with what lvm2's reports say about the area. The text is `None` when the area holds no
/// metadata (an orphan PV) or is marked ignored.
pub fn read_text(dev: &dyn BlockDev, name: &str, mda: DiskArea) -> Result<(MdaInfo, Option<Vec<u8>>)> {
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
    if flags & RAW_LOCN_IGNORED != 0 {
        return Ok((MdaInfo { size, text_size: 0, ignored: true }, None));
    }
    if off == 0 && len == 0 {
        return Ok((MdaInfo { size, text_size: 0, ignored: false }, None));
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
    Ok((MdaInfo { size, text_size: len, ignored: false }, Some(text)))
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
    fn free_space_follows_lvm2() {
        // lvm2's default 1 MiB area at 4 KiB: (1044480 - 512) / 2 - 512 = 521472 for one copy
        let free = |text_size| MdaInfo { size: 1044480, text_size, ignored: false }.free();
        assert_eq!(free(0), 521216); // whole sectors: 1018 × 512
        assert_eq!(free(2000), 519168);
        assert_eq!(free(521472), 0);
        assert_eq!(free(u64::MAX), 0);
        assert_eq!(MdaInfo { size: 1044480, text_size: 0, ignored: true }.free(), 0);
        assert_eq!(MdaInfo { size: 0, text_size: 0, ignored: false }.free(), 0);
    }

    #[test]
    fn reads_wrapped_text() {
        let mut img = vec![0u8; 8192];
        let text = b"vg { id = \"x\" }\n\0".repeat(20);
        put_mda(&mut img, 4096, 4096, 4000, &text);
        let area = DiskArea { offset: 4096, size: 4096 };
        let (info, got) = read_text(&MemDev::new(img.clone()), "mem", area).unwrap();
        assert_eq!(got.unwrap(), &text[..text.len() - 1]);
        assert_eq!(info, MdaInfo { size: 4096, text_size: text.len() as u64, ignored: false });
        // (4096 - 512) / 2 - 512 = 1280 bytes for one copy; the text takes 340: 940 → 512
        assert_eq!(info.free(), 512);
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
