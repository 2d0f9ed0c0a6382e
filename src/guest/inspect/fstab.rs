//! `/etc/fstab` of a root: its entries, and their first field resolved to this session's
//! device names the way libguestfs resolves them (`UUID=`, `LABEL=`, `PARTUUID=`,
//! `/dev/disk/by-*`, `/dev/[hsv]dX`/`/dev/xvdX` by disk index, `/dev/mapper/VG-LV`, `/dev/VG/LV`,
//! `/dev/root`).

/// Devices of the session, with what their first field may name.
#[derive(Debug, Default)]
pub struct Devices {
    /// Whole disks in `-a` order.
    pub disks: Vec<String>,
    /// Every existing device name (disks, partitions, LVs).
    pub names: Vec<String>,
    /// (device, UUID, label) of every filesystem found.
    pub filesystems: Vec<(String, Option<String>, Option<String>)>,
    /// (partition, GPT unique GUID).
    pub partuuids: Vec<(String, String)>,
}

/// Mountpoints libguestfs ignores.
fn ignored_mountpoint(mp: &str) -> bool {
    ["/dev", "/media", "/proc", "/selinux", "/sys"].iter().any(|p| mp == *p || mp.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

/// Decodes the `\040`-style octal escapes fstab uses for blanks.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/dev/mapper/VG-LV` → (VG, LV): a single `-` separates, `--` stands for `-`.
fn split_mapper(name: &str) -> Option<(String, String)> {
    let mut vg = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            if chars.peek() == Some(&'-') {
                chars.next();
                vg.push('-');
            } else {
                let lv: String = chars.collect::<String>().replace("--", "-");
                return (!vg.is_empty() && !lv.is_empty()).then_some((vg, lv));
            }
        } else {
            vg.push(c);
        }
    }
    None
}

/// `/dev/sdb2`, `/dev/vda`, `/dev/xvdc1`, `/dev/hda3` → (disk index, partition suffix).
fn split_xdev(dev: &str) -> Option<(usize, &str)> {
    let rest = dev.strip_prefix("/dev/")?;
    let rest = ["xvd", "hd", "sd", "vd"].iter().find_map(|p| rest.strip_prefix(p))?;
    let letters = rest.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(rest.len());
    let (l, part) = rest.split_at(letters);
    if l.is_empty() || l.len() > 3 || !part.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // bijective base 26: a = 0, z = 25, aa = 26
    let n = l.bytes().fold(0usize, |n, c| n * 26 + (c - b'a') as usize + 1);
    Some((n - 1, part))
}

impl Devices {
    /// The session device the fstab `spec` names, if any.
    pub fn resolve(&self, spec: &str, root: &str) -> Option<String> {
        let by = |key: &str, value: &str| -> Option<String> {
            let v = value.to_ascii_lowercase();
            match key {
                "UUID" => self.filesystems.iter().find(|f| f.1.as_deref().map(str::to_ascii_lowercase) == Some(v.clone())).map(|f| f.0.clone()),
                "LABEL" => self.filesystems.iter().find(|f| f.2.as_deref() == Some(value)).map(|f| f.0.clone()),
                "PARTUUID" => self.partuuids.iter().find(|p| p.1.to_ascii_lowercase() == v).map(|p| p.0.clone()),
                _ => None,
            }
        };
        if let Some((key, value)) = spec.split_once('=') {
            return by(key, value.trim_matches('"'));
        }
        for (dir, key) in [("/dev/disk/by-uuid/", "UUID"), ("/dev/disk/by-label/", "LABEL"), ("/dev/disk/by-partuuid/", "PARTUUID")] {
            if let Some(value) = spec.strip_prefix(dir) {
                return by(key, value);
            }
        }
        if spec == "/dev/root" {
            return Some(root.to_string());
        }
        if let Some((index, part)) = split_xdev(spec) {
            let name = format!("{}{part}", self.disks.get(index)?);
            return self.names.contains(&name).then_some(name);
        }
        if let Some((vg, lv)) = spec.strip_prefix("/dev/mapper/").and_then(split_mapper) {
            let name = format!("/dev/{vg}/{lv}");
            return self.names.contains(&name).then_some(name);
        }
        self.names.iter().find(|n| *n == spec).cloned()
    }
}

/// The (device, mountpoint) entries of an fstab whose first field resolves to a session
/// device, in file order; swap entries are kept (their mountpoint is not absolute).
pub fn parse(text: &str, devices: &Devices, root: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(spec), Some(mp)) = (fields.next(), fields.next()) else { continue };
        if spec.starts_with('#') {
            continue;
        }
        let (spec, mp) = (unescape(spec), unescape(mp));
        if ignored_mountpoint(&mp) {
            continue;
        }
        if let Some(dev) = devices.resolve(&spec, root) {
            // btrfs `subvol=` as libguestfs names it: btrfsvol:DEVICE/SUBVOLUME
            let (fstype, opts) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
            let subvol = opts.split(',').find_map(|o| o.strip_prefix("subvol=")).filter(|_| fstype == "btrfs" || fstype == "auto");
            match subvol {
                Some(s) => out.push((format!("btrfsvol:{dev}/{}", s.trim_matches('/')), mp)),
                None => out.push((dev, mp)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(split_mapper("centos-root"), Some(("centos".into(), "root".into())));
        assert_eq!(split_mapper("my--vg-lv--1"), Some(("my-vg".into(), "lv-1".into())));
        assert_eq!(split_mapper("novg"), None);
        assert_eq!(split_xdev("/dev/vda"), Some((0, "")));
        assert_eq!(split_xdev("/dev/xvdb2"), Some((1, "2")));
        assert_eq!(split_xdev("/dev/sdaa1"), Some((26, "1")));
        assert_eq!(split_xdev("/dev/sda1x"), None);
        assert_eq!(unescape("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(unescape("bad\\04"), "bad\\04");
    }

    #[test]
    fn resolution() {
        let d = Devices {
            disks: vec!["/dev/sda".into()],
            names: vec!["/dev/sda".into(), "/dev/sda1".into(), "/dev/vg/lv".into()],
            filesystems: vec![("/dev/sda1".into(), Some("AB-CD".into()), Some("boot".into()))],
            partuuids: vec![("/dev/sda1".into(), "0A1B-X".into())],
        };
        let fstab = "UUID=ab-cd /boot ext4 d 0 0\nLABEL=boot /b2 ext4\nPARTUUID=0a1b-x /b3 x\n\
                     /dev/vda1 /b4 x\n/dev/mapper/vg-lv / ext4\n/dev/vg/lv swap swap\nproc /proc proc\n\
                     /dev/sdb1 /nope x\n/dev/sda1 /proc/x y\n# /dev/sda1 /c x\n/dev/root /r x\n\u{fffd}\n";
        let got = parse(fstab, &d, "/dev/vg/lv");
        let want: Vec<(String, String)> = [
            ("/dev/sda1", "/boot"), ("/dev/sda1", "/b2"), ("/dev/sda1", "/b3"), ("/dev/sda1", "/b4"),
            ("/dev/vg/lv", "/"), ("/dev/vg/lv", "swap"), ("/dev/vg/lv", "/r"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
