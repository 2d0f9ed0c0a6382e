//! Linux initramfs images (`/boot/initramfs-VER.img` of dracut, `/boot/initrd.img-VER` of
//! initramfs-tools): cpio newc archives ([`super::cpio`]), uncompressed or compressed, one
//! after the other. dracut and initramfs-tools put an uncompressed early-microcode archive
//! first and the compressed main archive last; the kernel would go on after a compressed part,
//! but both tools end the image with it, so the listing stops there.
//!
//! Compressions read: gzip (flate2), zstd (ruzstd, one frame after another) and xz (lzma-rs).
//! lz4, lzo, bzip2 and lzma are recognised and refused as unsupported. Decompressed data is
//! parsed as it is produced, never kept, and capped at [`MAX_UNPACKED`] bytes and
//! [`MAX_ENTRIES`] entries; [`list_until`] stops decompressing once the caller has seen the
//! entry it looks for.

use super::cpio::{self, Entry};
use std::io::Write;

/// The most bytes unpacked from one image (compressed parts inflated).
pub const MAX_UNPACKED: u64 = 512 << 20;
/// The most entries listed from one image.
pub const MAX_ENTRIES: usize = 1 << 20;

/// Why an initramfs cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A compression the kernel knows and this reader does not.
    #[error("unsupported compression {0} (gzip, zstd and xz are read)")]
    Unsupported(&'static str),
    /// Neither cpio nor a known compression at this offset.
    #[error("not a cpio archive nor a known compression at byte {0}")]
    Unknown(u64),
    /// A cpio archive is malformed or too large.
    #[error(transparent)]
    Cpio(#[from] cpio::Error),
    /// The compressed data is corrupt.
    #[error("{what} data at byte {at}: {msg}")]
    Corrupt {
        /// The compression.
        what: &'static str,
        /// Where the compressed part starts.
        at: u64,
        /// The decoder's message.
        msg: String,
    },
}

/// The compression of a part starting with `head`: its name, and whether it is read.
fn compression(head: &[u8]) -> Option<(&'static str, bool)> {
    const MAGICS: &[(&[u8], &str, bool)] = &[
        (&[0x1f, 0x8b], "gzip", true),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd", true),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0], "xz", true),
        (&[0x02, 0x21, 0x4c, 0x18], "lz4", false),
        (&[0x04, 0x22, 0x4d, 0x18], "lz4", false),
        (&[0x89, b'L', b'Z', b'O'], "lzo", false),
        (b"BZh", "bzip2", false),
        (&[0x5d, 0, 0], "lzma", false),
    ];
    MAGICS.iter().find(|(m, _, _)| head.starts_with(m)).map(|&(_, n, ok)| (n, ok))
}

/// The caller saw what it wanted: sent through the decoders as an io::Error to stop them.
#[derive(Debug, thiserror::Error)]
#[error("listing stopped by the caller")]
struct Stopped;

/// A cpio parser that asks `stop` about each new entry.
struct Sink<'a> {
    reader: cpio::Reader,
    seen: usize,
    stopped: bool,
    stop: &'a mut dyn FnMut(&Entry) -> bool,
}

impl Sink<'_> {
    /// Whether `stop` was true for one of the entries listed so far.
    fn stopped(&mut self) -> bool {
        let new = &self.reader.entries()[self.seen..];
        self.seen += new.len();
        self.stopped = self.stopped || new.iter().any(|e| (self.stop)(e));
        self.stopped
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.reader.write(buf)?;
        if self.stopped() {
            return Err(std::io::Error::other(Stopped));
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Inflates the compressed part `data` (starting at byte `at` of the image) into `sink`.
fn inflate(what: &'static str, data: &[u8], at: u64, sink: &mut Sink) -> Result<(), Error> {
    let corrupt = |msg: String| Error::Corrupt { what, at, msg };
    // A cpio error travels through the decoders as an io::Error: give it back as itself, and
    // a stop as success.
    let io = |e: std::io::Error| match e.get_ref() {
        Some(i) if i.is::<Stopped>() => None,
        Some(i) => match i.downcast_ref::<cpio::Error>() {
            Some(c) => Some(Error::Cpio(c.clone())),
            None => Some(corrupt(e.to_string())),
        },
        None => Some(corrupt(e.to_string())),
    };
    let r = inflate_into(what, data, sink);
    match r {
        Ok(()) => Ok(()),
        Err(Inflate::Io(e)) => io(e).map_or(Ok(()), Err),
        Err(Inflate::Other(msg)) => Err(corrupt(msg)),
    }
}

/// A decoder's failure: from the sink (or the data, for flate2) or from the data.
enum Inflate {
    Io(std::io::Error),
    Other(String),
}

/// Runs the decoder of `what` from `data` into `sink`.
fn inflate_into(what: &'static str, data: &[u8], sink: &mut Sink) -> Result<(), Inflate> {
    match what {
        "gzip" => {
            std::io::copy(&mut flate2::read::MultiGzDecoder::new(data), sink).map_err(Inflate::Io)?;
        }
        "zstd" => {
            let mut rest = data;
            while !rest.is_empty() {
                {
                    let mut frame = ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| Inflate::Other(e.to_string()))?;
                    std::io::copy(&mut frame, sink).map_err(Inflate::Io)?;
                }
                // zero padding after the last frame (some tools align the image)
                if rest.iter().all(|&b| b == 0) {
                    break;
                }
            }
        }
        _ => match lzma_rs::xz_decompress(&mut std::io::BufReader::new(data), sink) {
            Ok(()) => {}
            Err(lzma_rs::error::Error::IoError(e)) => return Err(Inflate::Io(e)),
            Err(e) => return Err(Inflate::Other(e.to_string())),
        },
    }
    Ok(())
}

/// The entries of every archive of the image `data`, in order.
pub fn list(data: &[u8]) -> Result<Vec<Entry>, Error> {
    list_capped(data, MAX_UNPACKED, &mut |_| false)
}

/// The entries of the image `data` in order, up to the first for which `stop` is true (or
/// shortly after it): nothing more is decompressed once `stop` said so.
pub fn list_until(data: &[u8], mut stop: impl FnMut(&Entry) -> bool) -> Result<Vec<Entry>, Error> {
    list_capped(data, MAX_UNPACKED, &mut stop)
}

/// [`list_until`] with a cap of `max_bytes` unpacked bytes.
fn list_capped(data: &[u8], max_bytes: u64, stop: &mut dyn FnMut(&Entry) -> bool) -> Result<Vec<Entry>, Error> {
    let mut early = cpio::Reader::new(MAX_ENTRIES, max_bytes);
    let at = early.feed(data)?;
    let mut entries = early.finish()?;
    if at == data.len() || entries.iter().any(&mut *stop) {
        return Ok(entries);
    }
    let (what, supported) = compression(&data[at..]).ok_or(Error::Unknown(at as u64))?;
    if !supported {
        return Err(Error::Unsupported(what));
    }
    let mut sink = Sink { reader: cpio::Reader::new(MAX_ENTRIES - entries.len(), max_bytes.saturating_sub(at as u64)), seen: 0, stopped: false, stop };
    inflate(what, &data[at..], at as u64, &mut sink)?;
    if sink.stopped() {
        entries.extend(sink.reader.into_entries());
    } else {
        entries.extend(sink.reader.finish()?);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(list(b"\x02\x21\x4c\x18rest"), Err(Error::Unsupported("lz4"))));
        assert!(matches!(list(b"\x89LZO\0"), Err(Error::Unsupported("lzo"))));
        assert!(matches!(list(b"initramfs\n"), Err(Error::Unknown(0))));
        assert!(matches!(list(b"\x1f\x8b\x08\0garbage"), Err(Error::Corrupt { what: "gzip", .. })));
        assert!(list(b"").unwrap().is_empty());
    }

    #[test]
    fn stops_decompressing_when_told() {
        // an entry named first, then a 4 GiB one that is never reached
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let name = "virtio_blk.ko";
        let first = format!("070701{:08X}{:08X}{}{:08X}{:08X}{name}\0", 1, 0o100644, "00000000".repeat(9), name.len() + 1, 0);
        gz.write_all(first.as_bytes()).unwrap();
        gz.write_all(&[0u8; 4][..(4 - (first.len() % 4)) % 4]).unwrap();
        let mut hdr = format!("070701{}", "00000000".repeat(13)).into_bytes();
        hdr[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"FFFFFFFF");
        hdr[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"00000002");
        gz.write_all(&hdr).unwrap();
        gz.write_all(b"x\0").unwrap();
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        let names: Vec<String> = list_until(&gz, |e| e.name.ends_with("virtio_blk.ko")).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names[0], "virtio_blk.ko");
        assert!(matches!(list(&gz), Err(Error::Cpio(cpio::Error::Truncated(_)))));
    }

    #[test]
    fn gzip_bomb_is_capped() {
        // a 4 GiB entry of zeros inflates past the cap without being kept
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut hdr = format!("070701{}", "00000000".repeat(13)).into_bytes();
        hdr[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"FFFFFFFF");
        hdr[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"00000002");
        gz.write_all(&hdr).unwrap();
        gz.write_all(b"x\0").unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..3 {
            gz.write_all(&zeros).unwrap();
        }
        let gz = gz.finish().unwrap();
        match list_capped(&gz, 2 << 20, &mut |_| false) {
            Err(Error::Cpio(cpio::Error::TooLarge(n))) => assert_eq!(n, 2 << 20),
            other => panic!("{other:?}"),
        }
    }
}
