//! Handlers of the commands that change the guest (`write`, `mkdir-p`, `rm-rf`, `cp-a`,
//! `upload`, `tar-in`, `edit`…), with guestfish's names, arguments and semantics. Without
//! `--rw` the filesystems are mounted read-only and every one of them fails with EROFS.

use crate::command::Args;
use crate::error::{CmdError, CmdResult};
use crate::session::Session;
use std::io::{self, Write};
use std::path::Path;
use vguestfs::fs::{FileType, Timespec};
use vguestfs::guest::write::Copy;
use vguestfs::tool::edit;
use vguestfs::tool::tar::Compression;

/// A host-side failure, naming the host path.
fn host_err(p: &Path, e: &io::Error) -> CmdError {
    CmdError::Failed(format!("{}: {}", p.display(), crate::cli::strerror(e)))
}

/// A mode argument: permission bits only (guestfish passes them to chmod/mkdir as given).
fn mode(a: &Args, i: usize) -> Result<u32, CmdError> {
    u32::try_from(a.int(i)).map_err(|_| CmdError::Failed(format!("{}: invalid mode", a.int(i))))
}

/// `write path content`
pub fn write(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.write(a.str(0), a.str(1).as_bytes())?)
}

/// `write-append path content`
pub fn write_append(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.write_append(a.str(0), a.str(1).as_bytes())?)
}

/// `upload filename remotefilename` (`-` reads standard input).
pub fn upload(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let (local, remote) = (a.str(0), a.str(1));
    if local == "-" {
        s.guest.write_stream(remote, &mut io::stdin().lock())?;
    } else {
        let p = Path::new(local);
        let mut f = std::fs::File::open(p).map_err(|e| host_err(p, &e))?;
        s.guest.write_stream(remote, &mut f)?;
    }
    Ok(())
}

/// `mkdir path`
pub fn mkdir(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.mkdir(a.str(0))?)
}

/// `mkdir-p path`
pub fn mkdir_p(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.mkdir_p(a.str(0))?)
}

/// `mkdir-mode path mode`
pub fn mkdir_mode(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.mkdir_mode(a.str(0), mode(a, 1)?)?)
}

/// `rm path`
pub fn rm(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.rm(a.str(0))?)
}

/// `rm-f path`
pub fn rm_f(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.rm_f(a.str(0))?)
}

/// `rm-rf path`
pub fn rm_rf(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.rm_rf(a.str(0))?)
}

/// `rmdir path`
pub fn rmdir(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.rmdir(a.str(0))?)
}

/// `touch path`
pub fn touch(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.touch(a.str(0))?)
}

/// `truncate path`
pub fn truncate(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.truncate_size(a.str(0), 0)?)
}

/// `truncate-size path size`
pub fn truncate_size(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let size = u64::try_from(a.int64(1)).map_err(|_| CmdError::Failed("truncate-size: size must not be negative".into()))?;
    Ok(s.guest.truncate_size(a.str(0), size)?)
}

/// `chmod mode path`
pub fn chmod(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.chmod(mode(a, 0)?, a.str(1))?)
}

/// `chown owner group path`
pub fn chown(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.chown(a.int(0).into(), a.int(1).into(), a.str(2), true)?)
}

/// `lchown owner group path`
pub fn lchown(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.chown(a.int(0).into(), a.int(1).into(), a.str(2), false)?)
}

/// `utimens path atsecs atnsecs mtsecs mtnsecs`
pub fn utimens(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let ts = |sec: i64, nsec: i64| -> Result<Timespec, CmdError> {
        let nsec = u32::try_from(nsec).ok().filter(|n| *n < 1_000_000_000);
        nsec.map(|nsec| Timespec { sec, nsec }).ok_or_else(|| CmdError::Failed("utimens: nanoseconds out of range".into()))
    };
    let (at, mt) = (ts(a.int64(1), a.int64(2))?, ts(a.int64(3), a.int64(4))?);
    Ok(s.guest.set_times(a.str(0), Some(at), Some(mt))?)
}

/// `ln target linkname`
pub fn ln(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.ln(a.str(0), a.str(1), false)?)
}

/// `ln-f target linkname`
pub fn ln_f(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.ln(a.str(0), a.str(1), true)?)
}

/// `ln-s target linkname`
pub fn ln_s(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.ln_s(a.str(0), a.str(1), false)?)
}

/// `ln-sf target linkname`
pub fn ln_sf(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.ln_s(a.str(0), a.str(1), true)?)
}

/// `mv src dest`
pub fn mv(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.mv(a.str(0), a.str(1))?)
}

/// `cp src dest`
pub fn cp(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.cp(a.str(0), a.str(1), Copy::File)?)
}

/// `cp-a src dest`
pub fn cp_a(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.cp(a.str(0), a.str(1), Copy::Archive)?)
}

/// `cp-r src dest`
pub fn cp_r(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.cp(a.str(0), a.str(1), Copy::Recursive)?)
}

/// The first `vallen` bytes of `val` (guestfish's `setxattr xattr val vallen path`).
fn xattr_value(a: &Args) -> Result<&[u8], CmdError> {
    let v = a.str(1).as_bytes();
    usize::try_from(a.int(2))
        .ok()
        .and_then(|n| v.get(..n))
        .ok_or_else(|| CmdError::Failed(format!("setxattr: vallen {} does not fit the value ({} bytes)", a.int(2), v.len())))
}

/// `setxattr xattr val vallen path`
pub fn setxattr(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.setxattr(a.str(0), xattr_value(a)?, a.str(3), true)?)
}

/// `lsetxattr xattr val vallen path`
pub fn lsetxattr(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.setxattr(a.str(0), xattr_value(a)?, a.str(3), false)?)
}

/// `removexattr xattr path`
pub fn removexattr(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.removexattr(a.str(0), a.str(1), true)?)
}

/// `lremovexattr xattr path`
pub fn lremovexattr(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.removexattr(a.str(0), a.str(1), false)?)
}

/// `mknod mode devmajor devminor path` (mode includes the type bits).
pub fn mknod(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    mknod_typed(s, a, 0)
}

/// `mknod-b mode devmajor devminor path`
pub fn mknod_b(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    mknod_typed(s, a, FileType::BlockDevice.mode_bits())
}

/// `mknod-c mode devmajor devminor path`
pub fn mknod_c(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    mknod_typed(s, a, FileType::CharDevice.mode_bits())
}

fn mknod_typed(s: &mut Session, a: &Args, type_bits: u32) -> CmdResult {
    let m = mode(a, 0)? | type_bits;
    if FileType::from_mode(m).is_none() || m & 0o170000 == FileType::Directory.mode_bits() || m & 0o170000 == FileType::Symlink.mode_bits() {
        return Err(CmdError::Failed(format!("mknod: {m:#o}: mode must name a regular file, device, fifo or socket")));
    }
    let dev = |i| u32::try_from(a.int(i)).map_err(|_| CmdError::Failed("mknod: device numbers must not be negative".into()));
    Ok(s.guest.mknod(m, dev(1)?, dev(2)?, a.str(3))?)
}

/// `mkfifo mode path`
pub fn mkfifo(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.mknod(mode(a, 0)? | FileType::Fifo.mode_bits(), 0, 0, a.str(1))?)
}

/// `sync`: writes everything pending to the disk images.
pub fn sync(s: &mut Session, _a: &Args, _out: &mut dyn Write) -> CmdResult {
    s.sync()
}

/// `edit filename` (`vi`, `emacs`): edits a copy in `$EDITOR` (default `vi`) and writes it
/// back in place if it changed, keeping the file's owner, mode and SELinux label
/// ([`vguestfs::tool::edit::edit_file`]).
pub fn edit(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let editor = edit::default_editor();
    edit::edit_file(&s.guest, a.str(0), edit::How::Editor(&editor), None).map(|_| ()).map_err(|e| CmdError::Failed(format!("{e:#}")))
}

/// `copy-in localpath [localpath ...] remotedir`: copies host files and directories
/// (recursively) into the guest directory, keeping modes, numeric owners, times and symlinks,
/// as the appliance's `tar` running as root does ([`vguestfs::tool::copy::copy_in`]).
pub fn copy_in(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let all = a.all();
    let Some((remotedir, locals)) = all.split_last().filter(|(_, l)| !l.is_empty()) else {
        return Err(CmdError::Usage("copy-in: usage: copy-in localpath [localpath ...] remotedir".into()));
    };
    let locals: Vec<&Path> = locals.iter().map(Path::new).collect();
    vguestfs::tool::copy::copy_in(&s.guest, &locals, remotedir).map_err(|e| CmdError::Failed(format!("{e:#}")))
}

/// `tar-in tarfile directory [compress:gzip|xz] [xattrs:true]`: unpacks a host tar file (`-`
/// for standard input) into a guest directory ([`vguestfs::tool::tar::tar_in`]), keeping
/// modes, numeric owners, times, symlinks, hard links, devices, fifos, and with `xattrs:true`
/// the pax `SCHILY.xattr.*` extended attributes. Members with `..` components are refused;
/// leading `/` is dropped.
pub fn tar_in(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let compression = a.opt("compress").map_or(Ok(Compression::None), str::parse).map_err(|e: String| CmdError::Failed(format!("tar-in: {e}")))?;
    let xattrs = a.opt_bool("xattrs").unwrap_or(false);
    vguestfs::tool::tar::tar_in(&s.guest, a.str(0), a.str(1), compression, xattrs).map_err(|e| CmdError::Failed(format!("{e:#}")))
}

/// `resize2fs device`: grows the ext2/3/4 filesystem to fill its device.
pub fn resize2fs(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.resize2fs(a.str(0), None)?)
}

/// `resize2fs-size device size`: grows the ext2/3/4 filesystem to `size` bytes.
pub fn resize2fs_size(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let size = u64::try_from(a.int64(1)).map_err(|_| CmdError::Failed("resize2fs-size: size must not be negative".into()))?;
    Ok(s.guest.resize2fs(a.str(0), Some(size))?)
}

/// `xfs-growfs path [datasec:B] [logsec:B] [rtsec:B] [datasize:N] [logsize:N] [rtsize:N]
/// [rtextsize:N] [maxpct:N]`: xfs_growfs' flags (`-d -l -r -D -L -R -e -m`) with its rules:
/// no section flag grows everything (here: the data section; the internal log keeps its
/// size); only `maxpct` changes only `imax_pct`; `datasize:0` means the whole device.
pub fn xfs_growfs(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    use vguestfs::fs::xfs::grow::Size;
    let num = |name: &str| -> Result<Option<u64>, CmdError> {
        a.opt(name).map(|v| v.parse::<u64>().map_err(|_| CmdError::Failed(format!("xfs-growfs: {name} must be >= 0 (was {v})")))).transpose()
    };
    let flag = |name: &str| a.opt_bool(name) == Some(true);
    let (datasize, logsize, rtsize, rtextsize) = (num("datasize")?, num("logsize")?, num("rtsize")?, num("rtextsize")?);
    let maxpct = num("maxpct")?.map(|p| u8::try_from(p).ok().filter(|&p| p <= 100).ok_or_else(|| CmdError::Failed(format!("xfs-growfs: maxpct {p} is not a percentage")))).transpose()?;
    if flag("rtsec") || rtsize.is_some() || rtextsize.is_some() {
        return Err(CmdError::Failed(format!("xfs-growfs: {}: the filesystem has no realtime section (vguestfs does not open XFS with a realtime device)", a.str(0))));
    }
    if logsize.is_some() {
        return Err(CmdError::Failed("xfs-growfs: logsize: log growth not supported (xfs_growfs: \"log growth not supported yet\")".into()));
    }
    let data = flag("datasec") || datasize.is_some();
    let all = !(data || flag("logsec") || maxpct.is_some());
    let size = match datasize {
        _ if !(data || all) => Size::Unchanged,
        Some(n) if n > 0 => Size::Blocks(n),
        _ => Size::Device,
    };
    Ok(s.guest.xfs_growfs(a.str(0), size, maxpct)?)
}

/// `pvresize device`: the LVM PV fills its device.
pub fn pvresize(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.pvresize(a.str(0), None)?)
}

/// `pvresize-size device size`: the LVM PV becomes `size` bytes.
pub fn pvresize_size(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    let size = u64::try_from(a.int64(1)).map_err(|_| CmdError::Failed("pvresize-size: size must not be negative".into()))?;
    Ok(s.guest.pvresize(a.str(0), Some(size))?)
}

/// `lvresize-free lv percent`: the LV takes `percent` % of its VG's free extents.
pub fn lvresize_free(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.lvresize_free(a.str(0), a.int64(1))?)
}

/// `zero device`: zeros the first blocks of a device (partition tables, superblocks).
pub fn zero(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.zero(a.str(0))?)
}

/// `zero-device device` (and `blkdiscard device`, whose discarded blocks read back as
/// zeros here): zeros the whole device.
pub fn zero_device(s: &mut Session, a: &Args, _out: &mut dyn Write) -> CmdResult {
    Ok(s.guest.zero_device(a.str(0))?)
}
