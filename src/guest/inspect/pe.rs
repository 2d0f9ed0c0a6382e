//! The guest architecture from the PE header of a Windows program (`System32\cmd.exe`), named
//! as libguestfs names it.

/// Bytes of a PE file [`pe_arch`] looks at: the DOS header's `e_lfanew` must point inside them.
pub const HEADER_LEN: usize = 4096;

/// The architecture of a PE file from its first bytes: the COFF header's machine field
/// (`i386`, `x86_64`, `aarch64`, `arm`, `ia64`), else, for machines we do not name, what
/// libguestfs derives from the optional header's magic (PE32 → `i386`, PE32+ → `x86_64`).
/// `None` when it is not a PE file.
pub fn pe_arch(head: &[u8]) -> Option<&'static str> {
    if head.get(..2)? != b"MZ" {
        return None;
    }
    let pe = u32::from_le_bytes(head.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if head.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let machine = u16::from_le_bytes(head.get(pe + 4..pe + 6)?.try_into().ok()?);
    Some(match machine {
        0x14c => "i386",
        0x8664 => "x86_64",
        0xaa64 => "aarch64",
        0x1c0 | 0x1c4 => "arm",
        0x200 => "ia64",
        _ => match u16::from_le_bytes(head.get(pe + 24..pe + 26)?.try_into().ok()?) {
            0x10b => "i386",
            0x20b => "x86_64",
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe(machine: u16, magic: u16) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..2].copy_from_slice(b"MZ");
        h[0x3c..0x40].copy_from_slice(&128u32.to_le_bytes());
        h[128..132].copy_from_slice(b"PE\0\0");
        h[132..134].copy_from_slice(&machine.to_le_bytes());
        h[152..154].copy_from_slice(&magic.to_le_bytes());
        h
    }

    #[test]
    fn machines() {
        assert_eq!(pe_arch(&pe(0x14c, 0x10b)), Some("i386"));
        assert_eq!(pe_arch(&pe(0x8664, 0x20b)), Some("x86_64"));
        assert_eq!(pe_arch(&pe(0xaa64, 0x20b)), Some("aarch64"));
        assert_eq!(pe_arch(&pe(0x5032, 0x20b)), Some("x86_64"));
        assert_eq!(pe_arch(&pe(0x5032, 0x999)), None);
        let mut far = pe(0x14c, 0x10b);
        far[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(pe_arch(&far), None);
        assert_eq!(pe_arch(b"MZ"), None);
        assert_eq!(pe_arch(b"\x7fELF"), None);
    }

    /// libguestfs's test programs (tests/data/libguestfs-windows), which `file` calls
    /// "PE32 executable (console) Intel 80386" and "PE32+ executable (console) x86-64".
    #[test]
    fn libguestfs_test_binaries() {
        let win32 = include_bytes!("../../../tests/data/libguestfs-windows/bin-win32.exe");
        let win64 = include_bytes!("../../../tests/data/libguestfs-windows/bin-win64.exe");
        assert_eq!(pe_arch(&win32[..HEADER_LEN]), Some("i386"));
        assert_eq!(pe_arch(&win64[..HEADER_LEN]), Some("x86_64"));
    }
}
