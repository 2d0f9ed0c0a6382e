//! Fuzzes the text editors of the sysprep operations on guest configuration files they read:
//! netplan YAML (MAC pins), systemd-networkd units, login.defs. The input is split at its first
//! NUL into two texts. Nothing may panic; each editor's output may only lose lines or gain the
//! catch-all match line, never grow otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vguestfs::sysprep::ops::net::{netplan_unpin, networkd_unpin};
use vguestfs::sysprep::ops::users::uid_range;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\0').unwrap_or((&text, ""));
    let n = netplan_unpin(a);
    assert!(n.len() <= a.len());
    let catch_all = "OriginalName=*";
    let d = networkd_unpin(b, catch_all);
    assert!(d.len() <= b.len() + (catch_all.len() + 1) * b.matches('[').count() + 1);
    let _ = uid_range(Some(a));
});
