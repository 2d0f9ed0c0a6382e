//! The guest architecture from the ELF header of one of its binaries, named as libguestfs names
//! it (`x86_64`, `i386`, `aarch64`, `arm`, `ppc64le`, `s390x`, `riscv64`…).

/// Binaries looked at, in order: libguestfs's list, then `true`, which every tree has.
pub const ARCH_BINARIES: &[&str] =
    &["/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh", "/bin/true", "/usr/bin/true"];

/// Bytes of an ELF file that [`elf_arch`] needs (the identification and `e_machine`).
pub const HEADER_LEN: usize = 20;

/// The architecture of an ELF file from its first bytes (at least 20), or `None` when it is
/// not an ELF file or its machine is not one libguestfs names.
pub fn elf_arch(head: &[u8]) -> Option<&'static str> {
    if head.len() < HEADER_LEN || &head[..4] != b"\x7fELF" {
        return None;
    }
    let is64 = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let le = match head[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let m = [head[18], head[19]];
    let machine = if le { u16::from_le_bytes(m) } else { u16::from_be_bytes(m) };
    Some(match (machine, is64) {
        (3 | 6, _) => "i386",
        (62, _) => "x86_64",
        (183, _) => "aarch64",
        (40, _) => "arm",
        (2, _) => "sparc",
        (43, _) => "sparc64",
        (50, _) => "ia64",
        (20, _) => "ppc",
        (21, _) if le => "ppc64le",
        (21, _) => "ppc64",
        (22, true) => "s390x",
        (22, false) => "s390",
        (8, true) => "mips64",
        (8, false) => "mips",
        (243, true) => "riscv64",
        (243, false) => "riscv32",
        (258, _) => "loongarch64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let m = if data == 1 { machine.to_le_bytes() } else { machine.to_be_bytes() };
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn machines_map_to_libguestfs_names() {
        assert_eq!(elf_arch(&header(2, 1, 62)), Some("x86_64"));
        assert_eq!(elf_arch(&header(1, 1, 3)), Some("i386"));
        assert_eq!(elf_arch(&header(2, 1, 183)), Some("aarch64"));
        assert_eq!(elf_arch(&header(2, 1, 21)), Some("ppc64le"));
        assert_eq!(elf_arch(&header(2, 2, 21)), Some("ppc64"));
        assert_eq!(elf_arch(&header(2, 2, 22)), Some("s390x"));
        assert_eq!(elf_arch(&header(2, 1, 9999)), None);
        assert_eq!(elf_arch(b"#!/bin/sh\n echo hello there"), None);
        assert_eq!(elf_arch(b"\x7fELF"), None);
    }
}
