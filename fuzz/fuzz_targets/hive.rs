//! Fuzzes the registry hive reader (guest/inspect/hive.rs): the input is a whole hive file. When
//! its last byte is even the base block's XOR checksum is repaired first (libFuzzer cannot forge
//! it), so the cells behind it are reached. `Hive::new`, then a bounded walk of every key
//! (names, values with their data, big data, subkey lists lf/lh/li/ri) and the lookups
//! inspection makes must never panic, hang or allocate without bound; every error names the
//! hive. Seeds (fuzz/run.sh): libguestfs's minimal-hive and the phony guest's SOFTWARE and SYSTEM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::guest::inspect::hive::Hive;

/// Keys visited per input.
const MAX_KEYS: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut d = data.to_vec();
    if d.len() >= 512 && d.last().is_some_and(|b| b % 2 == 0) {
        let sum = (0..127).fold(0u32, |a, i| a ^ u32::from_le_bytes(d[i * 4..i * 4 + 4].try_into().unwrap()));
        d[508..512].copy_from_slice(&sum.to_le_bytes());
    }
    let Ok(h) = Hive::new("fuzz", d) else { return };
    let named = |e: &vguestfs::guest::inspect::hive::Error| assert!(e.to_string().starts_with("fuzz: damaged registry hive: "));
    let mut stack = vec![h.root()];
    let mut seen = 0;
    while let Some(k) = stack.pop() {
        seen += 1;
        if seen > MAX_KEYS {
            break;
        }
        if let Err(e) = h.key_name(k) {
            named(&e);
        }
        match h.values(k) {
            Ok(vals) => vals.iter().for_each(|v| drop((v.as_string(), v.as_dword()))),
            Err(e) => named(&e),
        }
        match h.subkeys(k) {
            Ok(subs) => stack.extend(subs),
            Err(e) => named(&e),
        }
    }
    for path in [&["Microsoft", "Windows NT", "CurrentVersion"][..], &["Select"], &["MountedDevices"]] {
        if let Err(e) = h.path(path) {
            named(&e);
        }
    }
});
