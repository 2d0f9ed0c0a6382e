//! Fuzzes the SELinux `file_contexts` reader and matcher (`guest::selinux::file_contexts`) on
//! guest policy text. The input is split at NULs into: file_contexts, file_contexts.local,
//! file_contexts.subs, and lookup paths (one a line; the first byte of each picks the file
//! type; an even last byte compiles every regex up front, an odd one lazily as a guest session
//! does). Nothing may panic or hang (the regex engine is linear-time with a compiled-size cap);
//! a lookup answers the same twice, and a path with doubled or trailing slashes answers as its
//! clean form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::selinux::file_contexts::FileContexts;

const MODES: [u32; 8] = [0, 0o100000, 0o040000, 0o120000, 0o020000, 0o060000, 0o010000, 0o140000];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0);
    let (base, local, subs, paths) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""), parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    let mut fc = FileContexts::new();
    fc.add_specs("file_contexts", base);
    fc.add_specs("file_contexts.local", local);
    fc.set_subs(subs, false);
    // as a guest session loads it (lazy regexes), or everything compiled up front (even last byte)
    if data.last().is_some_and(|b| b % 2 == 0) {
        fc.compile_all();
    } else {
        fc.prepare();
    }
    for line in paths.split(|&b| b == b'\n').take(64) {
        let Some((&m, rest)) = line.split_first() else { continue };
        let mode = MODES[usize::from(m) % MODES.len()];
        let mut path = b"/".to_vec();
        path.extend_from_slice(rest);
        let a = fc.lookup_sorted(&path, mode);
        assert_eq!(a, fc.lookup_sorted(&path, mode));
        let mut messy = path.clone();
        messy.insert(0, b'/');
        messy.push(b'/');
        assert_eq!(a, fc.lookup_sorted(&messy, mode), "{:?}", String::from_utf8_lossy(&path));
    }
});
