//! Re-making a Linux swap area over its whole (grown or shrunk) device, as re-running `mkswap`
//! with the same UUID and label would: the v1 header's `last_page` is set to the last 4 KiB page of the
//! device, the bad-page list emptied; the UUID, label and signature stay.

use super::Error;
use crate::disk::BlockDev;

const PAGE: u64 = 4096;
/// The v1 header follows 1 KiB of boot bits: version, last_page, nr_badpages, uuid, label.
const VERSION_AT: usize = 1024;
const LAST_PAGE_AT: usize = 1028;
const NR_BADPAGES_AT: usize = 1032;
/// The bad-page list after the 128-byte header fields (`badpages[1]` at 1024 + 512).
const BADPAGES_AT: usize = 1536;
const MAGIC: &[u8; 10] = b"SWAPSPACE2";

/// What [`remake`] changed: pages before and after (`last_page + 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapGrown {
    /// Usable pages before and after (counting the header page).
    pub pages: (u64, u64),
}

/// Re-makes the 4 KiB-page swap area on `dev` over the whole device (at least 10 pages, as
/// mkswap requires).
pub fn remake(dev: &dyn BlockDev) -> Result<SwapGrown, Error> {
    let bad = |feature: String| Error::Unsupported { dev: dev.name(), fs: "swap".into(), feature };
    let mut page = vec![0u8; PAGE as usize];
    dev.read_at(&mut page, 0)?;
    if page.get(PAGE as usize - MAGIC.len()..) != Some(&MAGIC[..]) {
        return Err(bad("no SWAPSPACE2 signature for 4 KiB pages (other page sizes and old SWAP-SPACE areas are not supported)".into()));
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if u32_at(&page, VERSION_AT) != 1 {
        return Err(bad(format!("header version {} (only 1)", u32_at(&page, VERSION_AT))));
    }
    let old = u64::from(u32_at(&page, LAST_PAGE_AT)) + 1;
    let pages = dev.len() / PAGE;
    let last = u32::try_from(pages.saturating_sub(1)).map_err(|_| bad(format!("{pages} pages do not fit the header")))?;
    if pages < 10 {
        return Err(bad(format!("the device holds {pages} pages; a swap area needs at least 10")));
    }
    let nbad = u32_at(&page, NR_BADPAGES_AT) as usize;
    page[LAST_PAGE_AT..LAST_PAGE_AT + 4].copy_from_slice(&last.to_le_bytes());
    page[NR_BADPAGES_AT..NR_BADPAGES_AT + 4].copy_from_slice(&0u32.to_le_bytes());
    let list_end = (BADPAGES_AT + 4 * nbad).min(PAGE as usize - MAGIC.len());
    page[BADPAGES_AT..list_end].fill(0);
    dev.write_at(&page, 0)?;
    Ok(SwapGrown { pages: (old, pages) })
}
