//! Handlers of the mount and file-reading commands (`mount`…`mountpoints`, `cat`, `ls`, `ll`,
//! `stat`, `checksum`, `head`, `grep`, `find`…), printing as guestfish does: string lists one
//! per line, booleans `true`/`false`, structs as `field: value` lines.

use crate::command::Args;
use crate::error::{CmdError, CmdResult};
use vguestfs::guest::listing::{self, Row};
use crate::session::Session;
use flate2::read::MultiGzDecoder;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use vguestfs::fs::{FileType, Stat};
use vguestfs::Guest;

fn lines(out: &mut dyn Write, items: &[String]) -> CmdResult {
    for i in items {
        writeln!(out, "{i}")?;
    }
    Ok(())
}

/// `mount mountable mountpoint`
pub fn mount(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.guest.mount(a.str(0), a.str(1))?;
    Ok(())
}

/// `mount-options options mountable mountpoint`
pub fn mount_options(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.guest.mount_options(a.str(0), a.str(1), a.str(2))?;
    Ok(())
}

/// `btrfs-subvolume-list fs`
pub fn btrfs_subvolume_list(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let rows: Vec<crate::structs::Fields> = s
        .guest
        .btrfs_subvolume_list(a.str(0))?
        .into_iter()
        .map(|v| {
            vec![
                ("btrfssubvolume_id", v.id.to_string()),
                ("btrfssubvolume_top_level_id", v.parent.to_string()),
                ("btrfssubvolume_path", v.path),
            ]
        })
        .collect();
    crate::structs::print_list(out, &rows)
}

/// `mount-ro mountable mountpoint`
pub fn mount_ro(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.guest.mount_ro(a.str(0), a.str(1))?;
    Ok(())
}

/// `umount pathordevice`
pub fn umount(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.guest.umount(a.str(0))?;
    Ok(())
}

/// `umount-all`
pub fn umount_all(s: &mut Session, _a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.guest.umount_all()?;
    Ok(())
}

/// `mounts`: mounted devices.
pub fn mounts(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.mounts())
}

/// `mountpoints`: `device: mountpoint` lines.
pub fn mountpoints(s: &mut Session, _a: &Args, out: &mut dyn Write) -> CmdResult {
    for (dev, mp) in s.guest.mountpoints() {
        writeln!(out, "{dev}: {mp}")?;
    }
    Ok(())
}

/// `cat path`: the file's bytes, streamed.
pub fn cat(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let mut f = s.guest.open_file(a.str(0))?;
    std::io::copy(&mut f, out)?;
    Ok(())
}

/// `zcat path`: a gzip-compressed file, decompressed.
pub fn zcat(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let f = s.guest.open_file(a.str(0))?;
    let mut z = MultiGzDecoder::new(BufReader::new(f));
    std::io::copy(&mut z, out).map_err(|e| CmdError::Failed(format!("{}: {e}", a.str(0))))?;
    Ok(())
}

/// `ls directory`: the names, sorted.
pub fn ls(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let mut names: Vec<Vec<u8>> = s
        .guest
        .read_dir(a.str(0))?
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    for n in names {
        out.write_all(&n)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// GNU ls's mark after the mode: `+` for a POSIX ACL, `.` for an SELinux context only.
fn access_mark(attrs: &[(Vec<u8>, Vec<u8>)]) -> char {
    let has = |n: &[u8]| attrs.iter().any(|(k, _)| k == n);
    if has(b"system.posix_acl_access") || has(b"system.posix_acl_default") {
        '+'
    } else if has(b"security.selinux") {
        '.'
    } else {
        ' '
    }
}

/// `ll directory`: `ls -la` (see [`vguestfs::guest::listing`]).
pub fn ll(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let g = &s.guest;
    let dir = g.realpath(a.str(0))?;
    let parent = match dir.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => dir[..i].to_string(),
    };
    let mark = |path: &str| -> Result<char, CmdError> { Ok(access_mark(&g.xattrs(path, true)?)) };
    let mut rows = vec![
        Row {
            stat: g.stat(&dir)?,
            mark: mark(&dir)?,
            name: b".".to_vec(),
            target: None,
        },
        Row {
            stat: g.stat(&parent)?,
            mark: mark(&parent)?,
            name: b"..".to_vec(),
            target: None,
        },
    ];
    for e in g.list_dir(&dir)? {
        let target = if e.stat.file_type() == Some(FileType::Symlink) {
            Some(e.readlink()?)
        } else {
            None
        };
        let mark = access_mark(&e.xattrs()?);
        let name = e.components.last().cloned().unwrap_or_default();
        rows.push(Row {
            stat: e.stat,
            mark,
            name,
            target,
        });
    }
    rows.sort_by(|x, y| x.name.cmp(&y.name));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    out.write_all(&listing::render(&rows, now))?;
    Ok(())
}

/// Linux `makedev`.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

/// The `st_dev` the appliance would report for a file on `device`: `/dev/sdXN` is block
/// major 8 (16 minors a disk), an LV is device-mapper major 253 numbered in `lvs` order.
fn device_number(g: &Guest, device: &str) -> u64 {
    if let Some(rest) = device.strip_prefix("/dev/sd") {
        let letters: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        let part: u64 = rest[letters.len()..].parse().unwrap_or(0);
        let index = letters
            .bytes()
            .fold(0u64, |n, c| n * 26 + u64::from(c - b'a') + 1)
            .saturating_sub(1);
        return makedev(8, index * 16 + part);
    }
    let lv = g.lvs().unwrap_or_default().iter().position(|l| l == device);
    lv.map_or(0, |i| makedev(253, i as u64))
}

/// `stat` or `lstat` of `path`, with the `st_dev` of the device holding it.
fn stat_of(g: &Guest, path: &str, follow: bool) -> Result<(u64, Stat), CmdError> {
    let r = g.resolve(path, follow)?;
    let dev = g
        .mountpoints()
        .get(r.mount)
        .map_or(0, |(d, _)| device_number(g, d));
    let st = if follow {
        g.stat(path)?
    } else {
        g.lstat(path)?
    };
    Ok((dev, st))
}

fn print_stat(out: &mut dyn Write, dev: u64, st: &Stat) -> CmdResult {
    writeln!(
        out,
        "dev: {dev}\nino: {}\nmode: {}\nnlink: {}\nuid: {}\ngid: {}\nrdev: {}\nsize: {}\nblksize: {}\nblocks: {}\natime: {}\nmtime: {}\nctime: {}",
        st.ino, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.size, st.blksize, st.blocks, st.atime.sec, st.mtime.sec, st.ctime.sec
    )?;
    Ok(())
}

fn print_statns(out: &mut dyn Write, dev: u64, st: &Stat) -> CmdResult {
    writeln!(
        out,
        "st_dev: {dev}\nst_ino: {}\nst_mode: {}\nst_nlink: {}\nst_uid: {}\nst_gid: {}\nst_rdev: {}\nst_size: {}\nst_blksize: {}\nst_blocks: {}\n\
         st_atime_sec: {}\nst_atime_nsec: {}\nst_mtime_sec: {}\nst_mtime_nsec: {}\nst_ctime_sec: {}\nst_ctime_nsec: {}\n\
         st_spare1: 0\nst_spare2: 0\nst_spare3: 0\nst_spare4: 0\nst_spare5: 0\nst_spare6: 0",
        st.ino, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.size, st.blksize, st.blocks,
        st.atime.sec, st.atime.nsec, st.mtime.sec, st.mtime.nsec, st.ctime.sec, st.ctime.nsec
    )?;
    Ok(())
}

/// `stat path`
pub fn stat(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (dev, st) = stat_of(&s.guest, a.str(0), true)?;
    print_stat(out, dev, &st)
}

/// `lstat path`
pub fn lstat(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (dev, st) = stat_of(&s.guest, a.str(0), false)?;
    print_stat(out, dev, &st)
}

/// `statns path`
pub fn statns(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (dev, st) = stat_of(&s.guest, a.str(0), true)?;
    print_statns(out, dev, &st)
}

/// `lstatns path`
pub fn lstatns(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let (dev, st) = stat_of(&s.guest, a.str(0), false)?;
    print_statns(out, dev, &st)
}

/// `statvfs path`
pub fn statvfs(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let v = s.guest.statvfs(a.str(0))?;
    writeln!(
        out,
        "bsize: {}\nfrsize: {}\nblocks: {}\nbfree: {}\nbavail: {}\nfiles: {}\nffree: {}\nfavail: {}\nfsid: {}\nflag: {}\nnamemax: {}",
        v.bsize, v.frsize, v.blocks, v.bfree, v.bavail, v.files, v.ffree, v.favail, v.fsid, v.flag, v.namemax
    )?;
    Ok(())
}

/// `exists path` (a dangling symlink does not exist, as with `access`).
pub fn exists(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.file_type(a.str(0), true)?.is_some())?;
    Ok(())
}

/// `is-*`: whether `path` is of type `want`, following a final symlink only with
/// `followsymlinks:true`.
fn is_type(s: &Session, a: &Args, out: &mut dyn Write, want: FileType) -> CmdResult {
    let follow = a.opt_bool("followsymlinks").unwrap_or(false);
    writeln!(
        out,
        "{}",
        s.guest.file_type(a.str(0), follow)? == Some(want)
    )?;
    Ok(())
}

/// `is-file path [followsymlinks:true|false]`
pub fn is_file(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    is_type(s, a, out, FileType::Regular)
}

/// `is-dir path [followsymlinks:true|false]`
pub fn is_dir(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    is_type(s, a, out, FileType::Directory)
}

/// `is-chardev path [followsymlinks:true|false]`
pub fn is_chardev(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    is_type(s, a, out, FileType::CharDevice)
}

/// `is-blockdev path [followsymlinks:true|false]`
pub fn is_blockdev(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    is_type(s, a, out, FileType::BlockDevice)
}

/// `is-fifo path [followsymlinks:true|false]`
pub fn is_fifo(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    is_type(s, a, out, FileType::Fifo)
}

/// `is-socket path [followsymlinks:true|false]`
pub fn is_socket(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    is_type(s, a, out, FileType::Socket)
}

/// `is-symlink path`
pub fn is_symlink(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(
        out,
        "{}",
        s.guest.file_type(a.str(0), false)? == Some(FileType::Symlink)
    )?;
    Ok(())
}

/// `readlink path`
pub fn readlink(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    out.write_all(&s.guest.readlink(a.str(0))?)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `case-sensitive-path path`
pub fn case_sensitive_path(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.case_sensitive_path(a.str(0))?)?;
    Ok(())
}

/// `realpath path`
pub fn realpath(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.realpath(a.str(0))?)?;
    Ok(())
}

/// `find directory`: every path below it, relative, sorted.
pub fn find(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    lines(out, &s.guest.find(a.str(0))?)
}

/// `du path`: KiB used.
pub fn du(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    writeln!(out, "{}", s.guest.du(a.str(0))?)?;
    Ok(())
}

/// Prints `(name, value)` pairs as guestfish prints a `struct xattr` list: the value as a
/// buffer, printable bytes as they are and others as `\xNN`.
fn print_xattrs(out: &mut dyn Write, attrs: &[(Vec<u8>, Vec<u8>)]) -> CmdResult {
    for (i, (name, value)) in attrs.iter().enumerate() {
        let mut v = String::new();
        for &b in value {
            if (0x20..0x7f).contains(&b) {
                v.push(char::from(b));
            } else {
                v.push_str(&format!("\\x{b:02x}"));
            }
        }
        writeln!(
            out,
            "[{i}] = {{\n  attrname: {}\n  attrval: {v}\n}}",
            String::from_utf8_lossy(name)
        )?;
    }
    Ok(())
}

/// `getxattrs path`
pub fn getxattrs(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    print_xattrs(out, &s.guest.xattrs(a.str(0), true)?)
}

/// `getxattr path name`: the value, raw.
pub fn getxattr(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    one_xattr(s, a, out, true)
}

/// `lgetxattr path name`
pub fn lgetxattr(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    one_xattr(s, a, out, false)
}

fn one_xattr(s: &mut Session, a: &Args, out: &mut dyn Write, follow: bool) -> CmdResult {
    let (path, name) = (a.str(0), a.str(1));
    match s.guest.xattrs(path, follow)?.into_iter().find(|(n, _)| n.as_slice() == name.as_bytes()) {
        Some((_, v)) => Ok(out.write_all(&v)?),
        None => Err(vguestfs::guest::Error::Path { path: path.to_string(), errno: vguestfs::fs::Errno::NoData }.into()),
    }
}

/// `lgetxattrs path`
pub fn lgetxattrs(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    print_xattrs(out, &s.guest.xattrs(a.str(0), false)?)
}

/// The POSIX `cksum` CRC (polynomial 0x04C11DB7, MSB first, the length appended).
#[derive(Default)]
struct Cksum {
    crc: u32,
    len: u64,
}

/// The CRC of each byte value, for [`Cksum`].
const CKSUM_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

impl Cksum {
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.byte(b);
        }
        self.len += data.len() as u64;
    }

    fn byte(&mut self, b: u8) {
        self.crc = (self.crc << 8) ^ CKSUM_TABLE[usize::from((self.crc >> 24) as u8 ^ b)];
    }

    fn finish(mut self) -> u32 {
        let mut n = self.len;
        while n > 0 {
            self.byte((n & 0xff) as u8);
            n >>= 8;
        }
        !self.crc
    }
}

/// Feeds all of `r` to `f`, a buffer at a time.
fn stream(mut r: impl Read, mut f: impl FnMut(&[u8])) -> Result<(), CmdError> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        f(&buf[..n]);
    }
}

fn hex_digest<D: Digest>(r: impl Read) -> Result<String, CmdError> {
    let mut d = D::new();
    stream(r, |b| d.update(b))?;
    Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `checksum csumtype path`: md5, sha1, sha224, sha256, sha384, sha512 in hex, or crc as the
/// decimal `cksum` value.
pub fn checksum(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let f = s.guest.open_file(a.str(1))?;
    let sum = match a.str(0) {
        "md5" => hex_digest::<Md5>(f)?,
        "sha1" => hex_digest::<Sha1>(f)?,
        "sha224" => hex_digest::<Sha224>(f)?,
        "sha256" => hex_digest::<Sha256>(f)?,
        "sha384" => hex_digest::<Sha384>(f)?,
        "sha512" => hex_digest::<Sha512>(f)?,
        "crc" => {
            let mut c = Cksum::default();
            stream(f, |b| c.update(b))?;
            c.finish().to_string()
        }
        other => {
            return Err(CmdError::Failed(format!(
            "unknown checksum type, expecting crc|md5|sha1|sha224|sha256|sha384|sha512: {other}"
        )))
        }
    };
    writeln!(out, "{sum}")?;
    Ok(())
}

/// Calls `f` with each line of `r` (without its `\n`; a last line without one counts).
fn each_line(r: impl Read, mut f: impl FnMut(&[u8]) -> Result<bool, CmdError>) -> CmdResult {
    let mut r = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if !f(&line)? {
            return Ok(());
        }
    }
}

fn put_line(out: &mut dyn Write, line: &[u8]) -> CmdResult {
    out.write_all(line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The first `n` lines; with `n` negative, all but the last `-n` (`head -n -N`).
fn head_lines(s: &Session, path: &str, n: i64, out: &mut dyn Write) -> CmdResult {
    let f = s.guest.open_file(path)?;
    if n >= 0 {
        let mut left = n;
        return each_line(f, |l| {
            if left == 0 {
                return Ok(false);
            }
            left -= 1;
            put_line(out, l)?;
            Ok(true)
        });
    }
    let keep = n.unsigned_abs() as usize;
    let mut held: VecDeque<Vec<u8>> = VecDeque::new();
    each_line(f, |l| {
        held.push_back(l.to_vec());
        if held.len() > keep {
            if let Some(first) = held.pop_front() {
                put_line(out, &first)?;
            }
        }
        Ok(true)
    })
}

/// The last `n` lines; with `n` negative, from line `-n` on (`tail -n +N`).
fn tail_lines(s: &Session, path: &str, n: i64, out: &mut dyn Write) -> CmdResult {
    let f = s.guest.open_file(path)?;
    if n < 0 {
        let mut lineno = 0i64;
        return each_line(f, |l| {
            lineno += 1;
            if lineno >= -n {
                put_line(out, l)?;
            }
            Ok(true)
        });
    }
    let keep = n as usize;
    let mut held: VecDeque<Vec<u8>> = VecDeque::new();
    each_line(f, |l| {
        if keep > 0 {
            if held.len() == keep {
                held.pop_front();
            }
            held.push_back(l.to_vec());
        }
        Ok(true)
    })?;
    for l in held {
        put_line(out, &l)?;
    }
    Ok(())
}

/// `head path`: the first 10 lines.
pub fn head(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    head_lines(s, a.str(0), 10, out)
}

/// `head-n nrlines path`
pub fn head_n(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    head_lines(s, a.str(1), i64::from(a.int(0)), out)
}

/// `tail path`: the last 10 lines.
pub fn tail(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    tail_lines(s, a.str(0), 10, out)
}

/// `tail-n nrlines path`
pub fn tail_n(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    tail_lines(s, a.str(1), i64::from(a.int(0)), out)
}

/// A POSIX basic regular expression in the `regex` crate's syntax: `\( \) \{ \} \| \+ \?` are
/// the operators and the bare characters literals; bracket expressions are kept (a `\` or `[`
/// inside one is literal, as in POSIX); `\<`/`\>` become word boundaries.
pub fn bre_to_regex(bre: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = bre.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                let n = chars[i + 1];
                match n {
                    '(' | ')' | '{' | '}' | '|' | '+' | '?' => out.push(n),
                    '<' | '>' => out.push_str("\\b"),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
                continue;
            }
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(c);
            }
            '*' if out.is_empty() || out == "^" || out.ends_with('(') || out.ends_with('|') => {
                out.push_str("\\*")
            }
            '[' => {
                // Copy the bracket expression through to its closing `]`.
                let mut j = i + 1;
                out.push('[');
                if chars.get(j) == Some(&'^') {
                    out.push('^');
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    out.push_str("\\]");
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '[' && chars.get(j + 1) == Some(&':') {
                        let end = (j + 2..chars.len().saturating_sub(1))
                            .find(|&k| chars[k] == ':' && chars[k + 1] == ']');
                        if let Some(k) = end {
                            out.extend(&chars[j..k + 2]);
                            j = k + 2;
                            continue;
                        }
                    }
                    if matches!(chars[j], '\\' | '[' | '&' | '~') {
                        out.push('\\');
                    }
                    out.push(chars[j]);
                    j += 1;
                }
                out.push(']');
                i = j + 1;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// `grep regex path [extended:] [fixed:] [insensitive:] [compressed:]`: the matching lines.
pub fn grep(s: &mut Session, a: &Args, out: &mut dyn Write) -> CmdResult {
    let pattern = a.str(0);
    let body = if a.opt_bool("fixed").unwrap_or(false) {
        regex::escape(pattern)
    } else if a.opt_bool("extended").unwrap_or(false) {
        pattern.to_string()
    } else {
        bre_to_regex(pattern)
    };
    let flags = if a.opt_bool("insensitive").unwrap_or(false) {
        "(?i)"
    } else {
        ""
    };
    let re = regex::bytes::RegexBuilder::new(&format!("{flags}{body}"))
        .unicode(false)
        .build()
        .map_err(|e| CmdError::Failed(format!("{pattern}: invalid regular expression: {e}")))?;
    let f = s.guest.open_file(a.str(1))?;
    let matches = |l: &[u8], out: &mut dyn Write| -> Result<bool, CmdError> {
        if re.is_match(l) {
            put_line(out, l)?;
        }
        Ok(true)
    };
    if a.opt_bool("compressed").unwrap_or(false) {
        // Like zgrep: gzip data is decompressed, anything else is searched as it is.
        let mut r = BufReader::new(f);
        if r.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
            return each_line(MultiGzDecoder::new(r), |l| matches(l, out));
        }
        return each_line(r, |l| matches(l, out));
    }
    each_line(f, |l| matches(l, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cksum_matches_posix_values() {
        // `printf '' | cksum` and `printf 'hello\n' | cksum`.
        assert_eq!(Cksum::default().finish(), 4_294_967_295);
        let mut c = Cksum::default();
        c.update(b"hello\n");
        assert_eq!(c.finish(), 3_015_617_425);
    }

    #[test]
    fn basic_regexps() {
        assert_eq!(bre_to_regex("a\\(b\\)*c"), "a(b)*c");
        assert_eq!(bre_to_regex("a(b)+?|c"), "a\\(b\\)\\+\\?\\|c");
        assert_eq!(bre_to_regex("x\\{2,3\\}"), "x{2,3}");
        assert_eq!(bre_to_regex("*star"), "\\*star");
        assert_eq!(bre_to_regex("^root:"), "^root:");
        assert_eq!(bre_to_regex("[]a\\]"), "[\\]a\\\\]");
        assert_eq!(bre_to_regex("[[:digit:]]x"), "[[:digit:]]x");
        assert_eq!(bre_to_regex("\\<word\\>"), "\\bword\\b");
    }
}
