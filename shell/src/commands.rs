//! The command table: every vfish command is one [`Command`] entry (name, aliases, arguments,
//! help text, handler). Dispatch, `help`, `vfish -h` and tab completion all read this table.
//!
//! Adding a command = writing a handler (`fn(&mut Session, &Args, &mut dyn Write) -> CmdResult`)
//! and one entry in [`COMMANDS`]. Argument count, integer/boolean conversion and optional
//! `name:value` arguments are checked here before the handler runs.

use crate::df as d;
use crate::export as x;
use crate::fs_cmds as f;
use crate::handlers as h;
use crate::inspect_cmds as i;
use crate::write_cmds as w;
use crate::lvm_cmds as l;
use crate::session::Session;
use std::io::Write;

/// How an argument is typed, converted and completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Any string.
    String,
    /// A guest device: `/dev/sda`, `/dev/sda1`, `/dev/VG/LV` (completed from the guest).
    Device,
    /// A host file name (completed from the host filesystem).
    HostFile,
    /// A path in the mounted guest (completed from the guest's directories).
    GuestPath,
    /// A 32-bit signed integer (decimal, `0x` hex or `0` octal).
    Int,
    /// A 64-bit signed integer (same syntax).
    Int64,
    /// A boolean: `true`/`yes`/`y`/`1`/`on` or `false`/`no`/`n`/`0`/`off`.
    Bool,
}

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// The name shown in the synopsis.
    pub name: &'static str,
    /// Its type.
    pub kind: ArgKind,
}

/// A handler's failure.
#[derive(Debug)]
pub enum CmdError {
    /// The operation failed: reported as `vguestfs: error: <api_name>: <message>`.
    Failed(String),
    /// A usage error already phrased for the user: printed as is.
    Usage(String),
}

impl<E: std::error::Error> From<E> for CmdError {
    fn from(e: E) -> CmdError {
        CmdError::Failed(e.to_string())
    }
}

/// What handlers return.
pub type CmdResult = Result<(), CmdError>;

/// A command handler: reads the session, writes its output to `out`.
pub type Handler = fn(&mut Session, &Args, &mut dyn Write) -> CmdResult;

/// One command.
pub struct Command {
    /// The name, with dashes (`list-devices`). Lookup also accepts underscores, any case.
    pub name: &'static str,
    /// Other names for it (`launch` for `run`).
    pub aliases: &'static [&'static str],
    /// Required arguments, in order.
    pub args: &'static [ArgSpec],
    /// Optional `name:value` arguments.
    pub optargs: &'static [ArgSpec],
    /// Any number of further arguments of this kind (`echo`'s words).
    pub rest: Option<ArgSpec>,
    /// One-line summary (the `help` list, the NAME section).
    pub summary: &'static str,
    /// Description paragraphs (separated by blank lines), shown by `help NAME`.
    pub description: &'static str,
    /// The code.
    pub handler: Handler,
}

const fn arg(name: &'static str, kind: ArgKind) -> ArgSpec {
    ArgSpec { name, kind }
}

const PATH: &[ArgSpec] = &[arg("path", ArgKind::GuestPath)];
const DEVICE: &[ArgSpec] = &[arg("device", ArgKind::Device)];
const PARTITION: &[ArgSpec] = &[arg("partition", ArgKind::Device)];
const MOUNTABLE: &[ArgSpec] = &[arg("mountable", ArgKind::Device)];
const DEVICE_PARTNUM: &[ArgSpec] = &[arg("device", ArgKind::Device), arg("partnum", ArgKind::Int)];

/// Every command, sorted by name. `help` and `quit` are listed first by `help`.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "add",
        aliases: &["add-drive"],
        args: &[arg("filename", ArgKind::HostFile)],
        optargs: &[
            arg("readonly", ArgKind::Bool),
            arg("format", ArgKind::String),
        ],
        rest: None,
        summary: "add an image to examine or modify",
        description: "This adds a disk image file to the session, before \"run\". The first \
            image is /dev/sda, the second /dev/sdb, and so on.\n\n\
            The optional \"readonly\" flag opens the image read-only; it defaults to the \
            session's mode (read-only unless vfish was started with --rw). The optional \
            \"format\" is \"raw\" or \"qcow2\"; without it the format is detected from the file.",
        handler: h::add,
    },
    Command {
        name: "add-ro",
        aliases: &["add-drive-ro"],
        args: &[arg("filename", ArgKind::HostFile)],
        optargs: &[],
        rest: None,
        summary: "add a drive in snapshot mode (read-only)",
        description: "This is the equivalent of \"add filename readonly:true\".",
        handler: h::add_ro,
    },
    Command {
        name: "blkdiscard",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "discard all blocks on a device",
        description: "This discards all blocks on the block device device, giving the free space back to the host operating system. In vfish the discarded blocks read back as zeros (as after zero-device): a qcow2 v3 image gets zero clusters, a raw or qcow2 v2 image zeros written where it is not zero already. The device must not be in use by a mounted filesystem. Without --rw the drives are read-only and this fails.",
        handler: w::zero_device,
    },
    Command {
        name: "blockdev-getro",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "is block device set to read-only",
        description: "Returns a boolean indicating if the block device is read-only (true if read-only, false if not). Drives are read-only unless vfish was started with --rw or added with readonly:false.",
        handler: h::blockdev_getro,
    },
    Command {
        name: "blockdev-getsize64",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get total size of device in bytes",
        description: "This returns the size of the device in bytes.",
        handler: h::blockdev_getsize64,
    },
    Command {
        name: "blockdev-getss",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get sectorsize of block device",
        description: "This returns the size of sectors on a block device. Usually 512, but \
            can be larger for modern devices. vfish devices always have 512-byte sectors.",
        handler: h::blockdev_getss,
    },
    Command {
        name: "blockdev-getsz",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get total size of device in 512-byte sectors",
        description: "This returns the size of the device in units of 512-byte sectors \
            (even if the sectorsize isn't 512 bytes ... weird).",
        handler: h::blockdev_getsz,
    },
    Command {
        name: "canonical-device-name",
        aliases: &[],
        args: &[arg("device", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "return canonical device name",
        description: "This utility function is useful when displaying device names to the \
            user. It takes a number of irregular device names and returns them in a \
            consistent format: /dev/hdX and /dev/vdX become /dev/sdX, and \
            /dev/mapper/VG-LV becomes /dev/VG/LV. Other names are returned unchanged.",
        handler: h::canonical_device_name,
    },
    Command {
        name: "cat",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "list the contents of a file",
        description: "Return the contents of the file named path. The file is streamed: binary files and files of any size are printed as they are.",
        handler: f::cat,
    },
    Command {
        name: "checksum",
        aliases: &[],
        args: &[arg("csumtype", ArgKind::String), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "compute MD5, SHAx or CRC checksum of file",
        description: "This call computes the checksum of the file named path. The type of checksum to compute is given by csumtype: crc (the POSIX cksum CRC, printed in decimal), md5, sha1, sha224, sha256, sha384 or sha512 (printed in hex). The file is read in a stream.",
        handler: f::checksum,
    },
    Command {
        name: "chmod",
        aliases: &[],
        args: &[arg("mode", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "change file mode",
        description: "Change the mode (permissions) of path to mode. Only numeric modes are supported; give them in octal with a leading 0 (0755). Symbolic links are followed. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::chmod,
    },
    Command {
        name: "chown",
        aliases: &[],
        args: &[arg("owner", ArgKind::Int), arg("group", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "change file owner and group",
        description: "Change the file owner to owner and group to group (numeric ids; -1 leaves one unchanged). Symbolic links are followed; use lchown to change the link itself. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::chown,
    },
    Command {
        name: "copy-in",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: Some(arg("localpath remotedir", ArgKind::HostFile)),
        summary: "copy local files or directories into an image",
        description: "Copy local files or directories recursively into the disk image, placing them in the directory called remotedir (which must exist). Modes, numeric owners, times and symbolic links are kept, as the appliance's tar running as root keeps them. Wildcards are not supported. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::copy_in,
    },
    Command {
        name: "copy-out",
        aliases: &[],
        args: &[arg("remote", ArgKind::GuestPath), arg("localdir", ArgKind::HostFile)],
        optargs: &[],
        rest: None,
        summary: "copy remote files or directories out of an image",
        description: "copy-out copies the guest file or directory remote recursively out of the disk image, into the host directory localdir, which must exist. Modes, modification times, symbolic links (as symbolic links, never followed on the host) and, when run as root, owners are kept.\n\nNothing outside localdir is written: files are created new (an existing file or symlink in the way is an error, \"File exists\"), existing real directories are merged into. Device files, FIFOs and sockets are not copied.",
        handler: x::copy_out,
    },
    Command {
        name: "cp",
        aliases: &[],
        args: &[arg("src", ArgKind::GuestPath), arg("dest", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "copy a file",
        description: "This copies a file from src to dest where dest is either a destination filename or destination directory. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::cp,
    },
    Command {
        name: "cp-a",
        aliases: &[],
        args: &[arg("src", ArgKind::GuestPath), arg("dest", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "copy a file or directory recursively",
        description: "This copies a file or directory from src to dest recursively using the cp -a command: modes, owners, times, extended attributes, symbolic links and hard links are kept. Copying across filesystems is supported. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::cp_a,
    },
    Command {
        name: "cp-r",
        aliases: &[],
        args: &[arg("src", ArgKind::GuestPath), arg("dest", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "copy a file or directory recursively",
        description: "This copies a file or directory from src to dest recursively using the cp -rP command: symbolic links are copied as links, other attributes are not kept. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::cp_r,
    },
    Command {
        name: "df",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "report file system disk space usage",
        description: "This command prints what df(1) prints in the libguestfs appliance: \
            disk space used by the mounted guest filesystems, in 1K blocks, in mount order. \
            Filesystems are named as the appliance's kernel names them (/dev/sda1; a logical \
            volume as /dev/mapper/VG-LV) and mounted under /sysroot. The appliance's own \
            filesystems are not listed.\n\n\
            This command is mostly useful for interactive sessions. It is not intended that \
            you try to parse the output string. Use \"statvfs\" from programs.",
        handler: d::df,
    },
    Command {
        name: "df-h",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "report file system disk space usage (human readable)",
        description: "This command prints what \"df -h\" prints in the libguestfs appliance: \
            like \"df\", with sizes in powers of 1024 (K, M, G…; one decimal below 10).\n\n\
            This command is mostly useful for interactive sessions. It is not intended that \
            you try to parse the output string. Use \"statvfs\" from programs.",
        handler: d::df_h,
    },
    Command {
        name: "disk-format",
        aliases: &[],
        args: &[arg("filename", ArgKind::HostFile)],
        optargs: &[],
        rest: None,
        summary: "detect the disk format of a disk image",
        description: "Detect and return the format of the disk image called \"filename\": \"raw\" or \"qcow2\". The image does not need to be added or launched.\n\nImages in formats vfish recognises but cannot open (vmdk, vdi, vhdx, vpc, qed) are an error that names the format and how to convert it.",
        handler: h::disk_format,
    },
    Command {
        name: "disk-virtual-size",
        aliases: &[],
        args: &[arg("filename", ArgKind::HostFile)],
        optargs: &[],
        rest: None,
        summary: "return virtual size of a disk",
        description: "Detect and return the virtual size in bytes of the disk image called \"filename\": the size of the disk the guest sees (for qcow2, the size in its header, not the file's size).",
        handler: h::disk_virtual_size,
    },
    Command {
        name: "download",
        aliases: &[],
        args: &[arg("remotefilename", ArgKind::GuestPath), arg("filename", ArgKind::HostFile)],
        optargs: &[],
        rest: None,
        summary: "download a file to the local machine",
        description: "Download file remotefilename and save it as filename on the local machine. filename can be - for standard output. The host file is written as a new file and renamed over filename: a symlink named filename is replaced, never written through.",
        handler: x::download,
    },
    Command {
        name: "du",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "estimate file space usage",
        description: "This command runs the equivalent of du -s on path: the space it and everything below it use, in kilobytes (1024-byte units), counting allocated blocks and a hard-linked file once.",
        handler: f::du,
    },
    Command {
        name: "echo",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: Some(arg("params", ArgKind::String)),
        summary: "display a line of text",
        description: "This echos the parameters to the terminal.",
        handler: h::echo,
    },
    Command {
        name: "edit",
        aliases: &["emacs", "vi"],
        args: &[arg("filename", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "edit a file",
        description: "This is used to edit a file. It downloads the file, edits it locally using your editor ($EDITOR, default vi), then uploads the result if it changed. The file is rewritten in place, so its owner, mode and SELinux label stay. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::edit,
    },
    Command {
        name: "exists",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "test if file or directory exists",
        description: "This returns true if and only if there is a file, directory (or anything) with the given path name. A symlink pointing nowhere does not exist.",
        handler: f::exists,
    },
    Command {
        name: "find",
        aliases: &[],
        args: &[arg("directory", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "find all files and directories",
        description: "This command lists out all files and directories, recursively, starting at directory, as find directory -print would in the appliance, but with the directory prefix removed and the list sorted. Mountpoints below directory are crossed.",
        handler: f::find,
    },
    Command {
        name: "getxattrs",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "list extended attributes of a file or directory",
        description: "This call lists the extended attributes of the file or directory path, as a list of struct xattr (attrname, attrval; non-printable bytes of the value as \\xNN). A final symlink is followed; see lgetxattrs.",
        handler: f::getxattrs,
    },
    Command {
        name: "glob",
        aliases: &[],
        args: &[arg("command", ArgKind::String)],
        optargs: &[],
        rest: Some(arg("args", ArgKind::GuestPath)),
        summary: "expand wildcards in command",
        description: "Expand wildcards in any paths in the args list, and run command repeatedly on each matching path (every combination, when several arguments have wildcards). Guest paths are matched against the mounted filesystems, /dev/ patterns against the guest devices. A pattern that matches nothing is passed on unchanged.",
        handler: h::glob,
    },
    Command {
        name: "grep",
        aliases: &[],
        args: &[arg("regex", ArgKind::String), arg("path", ArgKind::GuestPath)],
        optargs: &[arg("extended", ArgKind::Bool), arg("fixed", ArgKind::Bool), arg("insensitive", ArgKind::Bool), arg("compressed", ArgKind::Bool)],
        rest: None,
        summary: "return lines matching a pattern",
        description: "This calls the external grep program and returns the matching lines. Without options regex is a POSIX basic regular expression; extended:true makes it extended, fixed:true a fixed string; insensitive:true ignores case; compressed:true decompresses a gzip-compressed file first (like zgrep).\n\nIn vfish the pattern is run by the Rust regex engine after translating the POSIX syntax: back-references are not supported and a longest-leftmost match is not needed since only whole matching lines are printed.",
        handler: f::grep,
    },
    Command {
        name: "head",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "return first 10 lines of a file",
        description: "This command returns up to the first 10 lines of a file as a list of strings.",
        handler: f::head,
    },
    Command {
        name: "head-n",
        aliases: &[],
        args: &[arg("nrlines", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "return first N lines of a file",
        description: "If the parameter nrlines is a positive number, this returns the first nrlines lines of the file path.\n\nIf the parameter nrlines is a negative number, this returns lines from the file path, excluding the last nrlines lines.\n\nIf the parameter nrlines is zero, this returns an empty list.",
        handler: f::head_n,
    },
    Command {
        name: "help",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: Some(arg("cmd", ArgKind::String)),
        summary: "display a list of commands or help on a command",
        description: "\"help\" lists all commands; \"help cmd\" displays detailed help on \"cmd\".",
        handler: h::help,
    },
    Command {
        name: "inspect-get-arch",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the architecture of the inspected operating system",
        description: "This returns the architecture of the inspected operating system, as the guest's ELF binaries say: \"x86_64\", \"aarch64\", \"i386\" and so on, or \"unknown\".",
        handler: i::get_arch,
    },
    Command {
        name: "inspect-get-distro",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the distro of the inspected operating system",
        description: "This returns the distro (distribution) of the inspected operating system, with libguestfs's names: \"debian\", \"ubuntu\", \"centos\", \"rhel\", \"fedora\", \"rocky\", \"alpinelinux\", \"archlinux\", \"opensuse\", \"sles\", \"cirros\"…, or \"unknown\".",
        handler: i::get_distro,
    },
    Command {
        name: "inspect-get-filesystems",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the filesystems of the inspected operating system",
        description: "This returns the filesystems that belong to the inspected operating system: the root and every device its /etc/fstab names, swap included.",
        handler: i::get_filesystems,
    },
    Command {
        name: "inspect-get-format",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the format of the inspected operating system",
        description: "This returns \"installed\" for an installed operating system.",
        handler: i::get_format,
    },
    Command {
        name: "inspect-get-hostname",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the hostname of the inspected operating system",
        description: "This returns the hostname configured in the guest (/etc/HOSTNAME, /etc/hostname or HOSTNAME= in /etc/sysconfig/network), or \"unknown\".",
        handler: i::get_hostname,
    },
    Command {
        name: "inspect-get-major-version",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the major version of the inspected operating system",
        description: "This returns the major version number of the inspected operating system, or 0 if it could not be determined.",
        handler: i::get_major_version,
    },
    Command {
        name: "inspect-get-minor-version",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the minor version of the inspected operating system",
        description: "This returns the minor version number of the inspected operating system, or 0 if it could not be determined.",
        handler: i::get_minor_version,
    },
    Command {
        name: "inspect-get-mountpoints",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the mountpoints of the inspected operating system",
        description: "This returns the mountpoints of the operating system found from its /etc/fstab, as \"mountpoint: device\" pairs with the devices under their names in this session (UUID=, LABEL=, PARTUUID=, /dev/vdX, /dev/mapper/VG-LV are resolved).",
        handler: i::get_mountpoints,
    },
    Command {
        name: "inspect-get-package-format",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the package format of the inspected operating system",
        description: "This returns the package format: \"deb\", \"rpm\", \"apk\", \"pacman\" or \"unknown\".",
        handler: i::get_package_format,
    },
    Command {
        name: "inspect-get-package-management",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the package management tool of the inspected operating system",
        description: "This returns the package management tool: \"apt\", \"yum\", \"dnf\", \"zypper\", \"apk\", \"pacman\" or \"unknown\".",
        handler: i::get_package_management,
    },
    Command {
        name: "inspect-get-product-name",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the product name of the inspected operating system",
        description: "This returns the product name of the inspected operating system, e.g. \"Ubuntu 22.04.4 LTS\", or \"unknown\".",
        handler: i::get_product_name,
    },
    Command {
        name: "inspect-get-type",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get the type of the inspected operating system",
        description: "This returns the type of the inspected operating system: \"linux\", or \"unknown\".",
        handler: i::get_type,
    },
    Command {
        name: "inspect-list-applications",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get list of applications installed in the operating system",
        description: "Deprecated in guestfish in favour of inspect-list-applications2, which adds the architecture. Lists the packages installed in the operating system found at root, read from its package database (dpkg, apk, pacman), sorted by name. The filesystems need not be mounted. RPM databases (Berkeley DB / SQLite) are not read yet: this fails with an error naming them.",
        handler: i::list_applications,
    },
    Command {
        name: "inspect-list-applications2",
        aliases: &[],
        args: &[arg("root", ArgKind::Device)],
        optargs: &[],
        rest: None,
        summary: "get list of applications installed in the operating system",
        description: "Lists the packages installed in the operating system found at root, read from its package database (/var/lib/dpkg/status, /lib/apk/db/installed, /var/lib/pacman/local), sorted by name, with the fields libguestfs fills for each format (name, epoch, version, release, arch, url, source package, summary, description). The filesystems need not be mounted. RPM databases (Berkeley DB / SQLite) are not read yet: this fails with an error naming them.",
        handler: i::list_applications2,
    },
    Command {
        name: "inspect-os",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "inspect disk and return list of operating systems found",
        description: "This inspection command looks for filesystems holding an operating system root (/etc, /bin and /etc/fstab or /etc/hosts, as libguestfs decides) and returns their devices, one per line. Nothing stays mounted.",
        handler: i::inspect_os,
    },
    Command {
        name: "is-blockdev",
        aliases: &[],
        args: PATH,
        optargs: &[arg("followsymlinks", ArgKind::Bool)],
        rest: None,
        summary: "test if a block device",
        description: "This returns true if and only if there is a a block device with the given path name. Without followsymlinks:true a symlink is not followed (it is a symlink, not a block device); with it, a chain of symlinks ending at one counts.",
        handler: f::is_blockdev,
    },
    Command {
        name: "is-chardev",
        aliases: &[],
        args: PATH,
        optargs: &[arg("followsymlinks", ArgKind::Bool)],
        rest: None,
        summary: "test if a character device",
        description: "This returns true if and only if there is a a character device with the given path name. Without followsymlinks:true a symlink is not followed (it is a symlink, not a character device); with it, a chain of symlinks ending at one counts.",
        handler: f::is_chardev,
    },
    Command {
        name: "is-dir",
        aliases: &[],
        args: PATH,
        optargs: &[arg("followsymlinks", ArgKind::Bool)],
        rest: None,
        summary: "test if a directory",
        description: "This returns true if and only if there is a a directory with the given path name. Without followsymlinks:true a symlink is not followed (it is a symlink, not a directory); with it, a chain of symlinks ending at one counts.",
        handler: f::is_dir,
    },
    Command {
        name: "is-fifo",
        aliases: &[],
        args: PATH,
        optargs: &[arg("followsymlinks", ArgKind::Bool)],
        rest: None,
        summary: "test if a FIFO (named pipe)",
        description: "This returns true if and only if there is a a FIFO (named pipe) with the given path name. Without followsymlinks:true a symlink is not followed (it is a symlink, not a FIFO (named pipe)); with it, a chain of symlinks ending at one counts.",
        handler: f::is_fifo,
    },
    Command {
        name: "is-file",
        aliases: &[],
        args: PATH,
        optargs: &[arg("followsymlinks", ArgKind::Bool)],
        rest: None,
        summary: "test if a regular file",
        description: "This returns true if and only if there is a a regular file with the given path name. Without followsymlinks:true a symlink is not followed (it is a symlink, not a regular file); with it, a chain of symlinks ending at one counts.",
        handler: f::is_file,
    },
    Command {
        name: "is-lv",
        aliases: &[],
        args: MOUNTABLE,
        optargs: &[],
        rest: None,
        summary: "test if mountable is a logical volume",
        description: "This command tests whether \"mountable\" is a logical volume, and returns true iff this is the case.",
        handler: h::is_lv,
    },
    Command {
        name: "is-socket",
        aliases: &[],
        args: PATH,
        optargs: &[arg("followsymlinks", ArgKind::Bool)],
        rest: None,
        summary: "test if a Unix domain socket",
        description: "This returns true if and only if there is a a Unix domain socket with the given path name. Without followsymlinks:true a symlink is not followed (it is a symlink, not a Unix domain socket); with it, a chain of symlinks ending at one counts.",
        handler: f::is_socket,
    },
    Command {
        name: "is-symlink",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "test if symbolic link",
        description: "This returns true if and only if there is a symbolic link with the given path name.",
        handler: f::is_symlink,
    },
    Command {
        name: "lchown",
        aliases: &[],
        args: &[arg("owner", ArgKind::Int), arg("group", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "change file owner and group",
        description: "Change the file owner to owner and group to group. This is like chown but if path is a symlink then the link itself is changed, not the target. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::lchown,
    },
    Command {
        name: "lgetxattrs",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "list extended attributes of a file or directory",
        description: "This is the same as getxattrs, but if path is a symbolic link, then it returns the extended attributes of the link itself.",
        handler: f::lgetxattrs,
    },
    Command {
        name: "list-devices",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the block devices",
        description: "List all the block devices: the whole disks, in the order they were \
            added.",
        handler: h::list_devices,
    },
    Command {
        name: "list-filesystems",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list filesystems",
        description: "This inspection command looks for filesystems on partitions, block \
            devices and logical volumes, returning a list of mountables containing \
            filesystems and their type.\n\n\
            The return value is a hash, where the keys are the devices containing \
            filesystems, and the values are the filesystem types. For example: \
            \"/dev/sda1\" => \"ntfs\", \"/dev/vg_guest/lv_root\" => \"ext4\".\n\n\
            Partitions holding LVM physical volumes, extended partitions and LUKS \
            containers are not listed; a device whose content is not recognised is listed \
            as \"unknown\".",
        handler: h::list_filesystems,
    },
    Command {
        name: "list-partitions",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the partitions",
        description: "List all the partitions detected on all block devices. The full \
            partition device names are returned, eg. /dev/sda1. This does not return \
            logical volumes; for that use \"lvs\".",
        handler: h::list_partitions,
    },
    Command {
        name: "ll",
        aliases: &[],
        args: &[arg("directory", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "list the files in a directory (long format)",
        description: "List the files in directory (relative to the root directory, there is no cwd) in the format of ls -la, as the appliance prints it (C locale, UTC times).\n\nvfish prints owners and groups as numbers (as ls -lan): user names of the guest are not the appliance's.",
        handler: f::ll,
    },
    Command {
        name: "ln",
        aliases: &[],
        args: &[arg("target", ArgKind::GuestPath), arg("linkname", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "create a hard link",
        description: "This command creates a hard link. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::ln,
    },
    Command {
        name: "ln-f",
        aliases: &[],
        args: &[arg("target", ArgKind::GuestPath), arg("linkname", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "create a hard link",
        description: "This command creates a hard link, removing the link linkname if it exists already. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::ln_f,
    },
    Command {
        name: "ln-s",
        aliases: &[],
        args: &[arg("target", ArgKind::String), arg("linkname", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "create a symbolic link",
        description: "This command creates a symbolic link. The target is stored as given (an absolute target is resolved inside the guest). Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::ln_s,
    },
    Command {
        name: "ln-sf",
        aliases: &[],
        args: &[arg("target", ArgKind::String), arg("linkname", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "create a symbolic link",
        description: "This command creates a symbolic link, removing the link linkname if it exists already. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::ln_sf,
    },
    Command {
        name: "lremovexattr",
        aliases: &[],
        args: &[arg("xattr", ArgKind::String), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "remove extended attribute of a file or directory",
        description: "This is the same as removexattr, but if path is a symbolic link, then it removes an extended attribute of the link itself. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::lremovexattr,
    },
    Command {
        name: "ls",
        aliases: &[],
        args: &[arg("directory", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "list the files in a directory",
        description: "List the files in directory (relative to the root directory, there is no cwd). The . and .. entries are not returned, but hidden files are shown. The names are sorted.",
        handler: f::ls,
    },
    Command {
        name: "lsetxattr",
        aliases: &[],
        args: &[arg("xattr", ArgKind::String), arg("val", ArgKind::String), arg("vallen", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "set extended attribute of a file or directory",
        description: "This is the same as setxattr, but if path is a symbolic link, then it sets an extended attribute of the link itself. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::lsetxattr,
    },
    Command {
        name: "lstat",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "get file information for a symbolic link",
        description: "Returns file information for the given path (struct stat: dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, atime, mtime, ctime). This is the same as stat except that if path is a symbolic link, then the link is stat-ed, not the file it refers to.",
        handler: f::lstat,
    },
    Command {
        name: "lstatns",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "get file information for a symbolic link",
        description: "Returns file information for the given path, with nanosecond timestamps (struct statns). This is the same as statns except that if path is a symbolic link, then the link is stat-ed, not the file it refers to.",
        handler: f::lstatns,
    },
    Command {
        name: "lvresize-free",
        aliases: &[],
        args: &[arg("lv", ArgKind::Device), arg("percent", ArgKind::Int)],
        optargs: &[],
        rest: None,
        summary: "expand an LV to fill free space",
        description: "This expands an existing logical volume lv so that it fills pc% of the remaining free space in the volume group. Commonly you would call this with pc = 100 which expands the logical volume as much as possible, using all remaining free space in the volume group. vfish allocates as lvm2 does (the last segment grows when its areas can, striped LVs keep their stripes) and writes the new metadata on every PV. Without --rw the drives are read-only and this fails.",
        handler: w::lvresize_free,
    },
    Command {
        name: "lvs",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the LVM logical volumes (LVs)",
        description: "List all the logical volumes detected, as full device names such as \
            /dev/VolGroup00/LogVol00.",
        handler: h::lvs,
    },
    Command {
        name: "lvs-full",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the LVM logical volumes (LVs)",
        description: "List all the logical volumes detected. This is the equivalent of the \
            lvs(8) command (without -a: thin pools are listed, hidden sub-LVs are not). The \
            \"full\" version includes all fields, as lvm2 computes them.\n\n\
            vfish maps LVs in user space: no kernel device exists, so the fields are what \
            lvm2 reports for an inactive LV on a host without device-mapper: the state and \
            open characters of lv_attr are \"X\" (unknown, as in -wi-XX----), lv_kernel_major \
            and lv_kernel_minor are -1, snap_percent and copy_percent are empty. Linear, \
            striped, thin and thin-pool LVs are described; other types (mirror, raid, \
            snapshots, cache, vdo) are an error naming the type.",
        handler: l::lvs_full,
    },
    Command {
        name: "lvuuid",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get the UUID of a logical volume",
        description: "This command returns the UUID of the LVM LV \"device\".",
        handler: h::lvuuid,
    },
    Command {
        name: "mkdir",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "create a directory",
        description: "Create a directory named path (mode 0755). Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mkdir,
    },
    Command {
        name: "mkdir-mode",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath), arg("mode", ArgKind::Int)],
        optargs: &[],
        rest: None,
        summary: "create a directory with a particular mode",
        description: "This command creates a directory, setting the initial permissions of the directory to mode. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mkdir_mode,
    },
    Command {
        name: "mkdir-p",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "create a directory and parents",
        description: "Create a directory named path, creating any parent directories as necessary. This is like the mkdir -p shell command. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mkdir_p,
    },
    Command {
        name: "mkfifo",
        aliases: &[],
        args: &[arg("mode", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "make FIFO (named pipe)",
        description: "This call creates a FIFO (named pipe) called path with mode mode. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mkfifo,
    },
    Command {
        name: "mknod",
        aliases: &[],
        args: &[arg("mode", ArgKind::Int), arg("devmajor", ArgKind::Int), arg("devminor", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "make block, character or FIFO devices",
        description: "This call creates block or character special devices, or named pipes (FIFOs). The mode parameter should be the mode, using the standard constants. devmajor and devminor are the device major and minor numbers, only used when creating block and character special devices. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mknod,
    },
    Command {
        name: "mknod-b",
        aliases: &[],
        args: &[arg("mode", ArgKind::Int), arg("devmajor", ArgKind::Int), arg("devminor", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "make block device node",
        description: "This call creates a block device node called path with mode mode and device major/minor devmajor and devminor. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mknod_b,
    },
    Command {
        name: "mknod-c",
        aliases: &[],
        args: &[arg("mode", ArgKind::Int), arg("devmajor", ArgKind::Int), arg("devminor", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "make char device node",
        description: "This call creates a char device node called path with mode mode and device major/minor devmajor and devminor. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mknod_c,
    },
    Command {
        name: "mount",
        aliases: &[],
        args: &[arg("mountable", ArgKind::Device), arg("mountpoint", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "mount a guest disk at a position in the filesystem",
        description: "Mount a guest disk at a position in the filesystem. Block devices are named /dev/sda, /dev/sdb and so on, as they were added to the guest. The first filesystem must be mounted on /; later ones on existing directories of those mounted.\n\nvfish mounts ext2/3/4 and vfat filesystems. In a read-only session (the default, without --rw) the mount is read-only.",
        handler: f::mount,
    },
    Command {
        name: "mount-ro",
        aliases: &[],
        args: &[arg("mountable", ArgKind::Device), arg("mountpoint", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "mount a guest disk, read-only",
        description: "This is the same as the mount command, but it mounts the filesystem with the read-only (-o ro) flag.",
        handler: f::mount_ro,
    },
    Command {
        name: "mountpoints",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "show mountpoints",
        description: "This call is similar to mounts. That call returns a list of devices. This one returns a hash table (map) of device name to directory where the device is mounted.",
        handler: f::mountpoints,
    },
    Command {
        name: "mounts",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "show mounted filesystems",
        description: "This returns the list of currently mounted filesystems. It returns the list of devices (eg. /dev/sda1, /dev/VG/LV).",
        handler: f::mounts,
    },
    Command {
        name: "mv",
        aliases: &[],
        args: &[arg("src", ArgKind::GuestPath), arg("dest", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "move a file",
        description: "This moves a file from src to dest where dest is either a destination filename or destination directory. Moving across filesystems copies (as cp -a) then removes the source. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::mv,
    },
    Command {
        name: "part-get-bootable",
        aliases: &[],
        args: DEVICE_PARTNUM,
        optargs: &[],
        rest: None,
        summary: "return true if a partition is bootable",
        description: "This command returns true if the partition \"partnum\" on \"device\" has the bootable flag set.\n\nvfish reads the flag of MBR partitions only: on a GPT disk this is an error.",
        handler: h::part_get_bootable,
    },
    Command {
        name: "part-get-disk-guid",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get the GUID of a GPT-partitioned disk",
        description: "Return the disk identifier (GUID) of a GPT-partitioned \"device\". Behaviour is undefined for other partition types.",
        handler: h::part_get_disk_guid,
    },
    Command {
        name: "part-get-gpt-attributes",
        aliases: &[],
        args: DEVICE_PARTNUM,
        optargs: &[],
        rest: None,
        summary: "get the attribute flags of a GPT partition",
        description: "Return the attribute flags of numbered GPT partition \"partnum\", a 64-bit number (bit 0: required partition, bit 2: legacy BIOS bootable, bits 48-63: type-specific). An error is returned for MBR partitions.",
        handler: h::part_get_gpt_attributes,
    },
    Command {
        name: "part-get-gpt-guid",
        aliases: &[],
        args: DEVICE_PARTNUM,
        optargs: &[],
        rest: None,
        summary: "get the GUID of a GPT partition",
        description: "Return the GUID of numbered GPT partition \"partnum\".",
        handler: h::part_get_gpt_guid,
    },
    Command {
        name: "part-get-gpt-type",
        aliases: &[],
        args: DEVICE_PARTNUM,
        optargs: &[],
        rest: None,
        summary: "get the type GUID of a GPT partition",
        description: "Return the type GUID of numbered GPT partition \"partnum\". For MBR \
            partitions, return an appropriate GUID corresponding to the MBR type. Behaviour \
            is undefined for other partition types.\n\n\
            vfish supports GPT partitions only: on an MBR disk this is an error.",
        handler: h::part_get_gpt_type,
    },
    Command {
        name: "part-get-mbr-id",
        aliases: &[],
        args: DEVICE_PARTNUM,
        optargs: &[],
        rest: None,
        summary: "get the MBR type byte (ID byte) from a partition",
        description: "Returns the MBR type byte (also known as the ID byte) from the numbered \
            partition \"partnum\".\n\n\
            Note that only MBR (old DOS-style) partitions have type bytes. You will get \
            undefined results for other partition table types.",
        handler: h::part_get_mbr_id,
    },
    Command {
        name: "part-get-name",
        aliases: &[],
        args: DEVICE_PARTNUM,
        optargs: &[],
        rest: None,
        summary: "get partition name",
        description: "This gets the partition name on partition numbered \"partnum\" on \
            device \"device\". Note that partitions are numbered from 1.\n\n\
            The partition name can only be read on certain types of partition table. This \
            works on \"gpt\" but not on \"mbr\" partitions.",
        handler: h::part_get_name,
    },
    Command {
        name: "part-get-parttype",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get the partition table type",
        description: "This command examines the partition table on \"device\" and returns \
            the partition table type (format) being used.\n\n\
            Common return values include: \"msdos\" (a DOS/Windows style MBR partition \
            table), \"gpt\" (a GPT/EFI-style partition table).",
        handler: h::part_get_parttype,
    },
    Command {
        name: "part-list",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "list partitions on a device",
        description: "This command parses the partition table on \"device\" and returns the \
            list of partitions found.\n\n\
            The fields in the returned structure are: \"part_num\" (partition number, \
            counting from 1), \"part_start\" (start of the partition in bytes), \"part_end\" \
            (end of the partition in bytes, inclusive) and \"part_size\" (size of the \
            partition in bytes).",
        handler: h::part_list,
    },
    Command {
        name: "part-to-dev",
        aliases: &[],
        args: PARTITION,
        optargs: &[],
        rest: None,
        summary: "convert partition name to device name",
        description: "This function takes a partition name (eg. \"/dev/sdb1\") and removes \
            the partition number, returning the device name (eg. \"/dev/sdb\").\n\n\
            The named partition must exist, for example as a string returned from \
            \"list-partitions\".",
        handler: h::part_to_dev,
    },
    Command {
        name: "part-to-partnum",
        aliases: &[],
        args: PARTITION,
        optargs: &[],
        rest: None,
        summary: "convert partition name to partition number",
        description: "This function takes a partition name (eg. \"/dev/sdb1\") and returns \
            the partition number (eg. \"1\").\n\n\
            The named partition must exist, for example as a string returned from \
            \"list-partitions\".",
        handler: h::part_to_partnum,
    },
    Command {
        name: "pvresize",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "resize an LVM physical volume",
        description: "This resizes (expands) an existing LVM physical volume to match the new size of the underlying device (grow the partition first, e.g. with vgrowpart). The volume group's metadata is written on every PV, as lvm2 does. vfish only grows PVs: shrinking is refused. Without --rw the drives are read-only and this fails.",
        handler: w::pvresize,
    },
    Command {
        name: "pvresize-size",
        aliases: &[],
        args: &[arg("device", ArgKind::Device), arg("size", ArgKind::Int64)],
        optargs: &[],
        rest: None,
        summary: "resize an LVM physical volume (with size)",
        description: "This command is the same as pvresize except that it allows you to specify the new size (in bytes) explicitly: a multiple of 512, at most the device's size, and not smaller than the PV.",
        handler: w::pvresize_size,
    },
    Command {
        name: "pvs",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the LVM physical volumes (PVs)",
        description: "List all the physical volumes detected. This is the equivalent of the \
            pvs(8) command. This returns a list of just the device names that contain PVs \
            (eg. /dev/sda2).",
        handler: h::pvs,
    },
    Command {
        name: "pvs-full",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the LVM physical volumes (PVs)",
        description: "List all the physical volumes of the volume groups detected. This is \
            the equivalent of the pvs(8) command. The \"full\" version includes all fields, \
            as lvm2 computes them (pv_uuid without dashes, sizes in bytes; pv_mda_free is \
            the free space of the fullest metadata area, by lvm2's rule that one copy of the \
            metadata may use half of the area).",
        handler: l::pvs_full,
    },
    Command {
        name: "pvuuid",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "get the UUID of a physical volume",
        description: "This command returns the UUID of the LVM PV \"device\".",
        handler: h::pvuuid,
    },
    Command {
        name: "quit",
        aliases: &["exit", "q"],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "quit vfish",
        description: "This exits vfish.",
        handler: h::quit,
    },
    Command {
        name: "readlink",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "read the target of a symbolic link",
        description: "This command reads the target of a symbolic link.",
        handler: f::readlink,
    },
    Command {
        name: "realpath",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "canonicalized absolute pathname",
        description: "Return the canonicalized absolute pathname of path. The returned path has no ., .. or symbolic link path elements.",
        handler: f::realpath,
    },
    Command {
        name: "removexattr",
        aliases: &[],
        args: &[arg("xattr", ArgKind::String), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "remove extended attribute of a file or directory",
        description: "This call removes the extended attribute named xattr of the file path. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::removexattr,
    },
    Command {
        name: "resize2fs",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "resize an ext2, ext3 or ext4 filesystem",
        description: "This resizes an ext2, ext3 or ext4 filesystem to match the size of the underlying device (grow it first, e.g. with vgrowpart or vresize). vfish only grows filesystems: shrinking is refused. libguestfs runs e2fsck -f first; vfish replays a journal that needs recovery and refuses a filesystem that needs repairs (errors recorded, not cleanly unmounted, orphans). The device must not be mounted. Without --rw the drives are read-only and this fails.",
        handler: w::resize2fs,
    },
    Command {
        name: "resize2fs-size",
        aliases: &[],
        args: &[arg("device", ArgKind::Device), arg("size", ArgKind::Int64)],
        optargs: &[],
        rest: None,
        summary: "resize an ext2, ext3 or ext4 filesystem (with size)",
        description: "This command is the same as resize2fs except that it allows you to specify the new size (in bytes) explicitly. The size must be a round number of kilobytes, and not smaller than the filesystem (vfish does not shrink filesystems).",
        handler: w::resize2fs_size,
    },
    Command {
        name: "rm",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "remove a file",
        description: "Remove the single file path. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::rm,
    },
    Command {
        name: "rm-f",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "remove a file ignoring errors",
        description: "Remove the file path. If the file doesn't exist, that error is ignored. (Other errors, eg. I/O errors or bad paths, are not ignored.) This cannot remove directories. Use rmdir to remove an empty directory, or rm-rf to remove directories recursively. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::rm_f,
    },
    Command {
        name: "rm-rf",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "remove a file or directory recursively",
        description: "Remove the file or directory path, recursively removing the contents if its a directory. This is like the rm -rf shell command. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::rm_rf,
    },
    Command {
        name: "rmdir",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "remove a directory",
        description: "Remove the single directory path. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::rmdir,
    },
    Command {
        name: "run",
        aliases: &["launch"],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "launch the backend",
        description: "You should call this after adding drives. It opens the images, reads \
            the partition tables and finds the LVM volume groups. Commands that use devices \
            fail until it has been called.",
        handler: h::run,
    },
    Command {
        name: "setxattr",
        aliases: &[],
        args: &[arg("xattr", ArgKind::String), arg("val", ArgKind::String), arg("vallen", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "set extended attribute of a file or directory",
        description: "This call sets the extended attribute named xattr of the file path to the value val (of length vallen). The value is arbitrary 8 bit data. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::setxattr,
    },
    Command {
        name: "stat",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "get file information",
        description: "Returns file information for the given path (struct stat: dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, atime, mtime, ctime; times in seconds). guestfish deprecates it in favour of statns.\n\ndev is the number the appliance would give the device: major 8 for /dev/sdXN, 253 for logical volumes (numbered in lvs order).",
        handler: f::stat,
    },
    Command {
        name: "statns",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "get file information",
        description: "Returns file information for the given path, as struct statns: st_dev, st_ino, st_mode, st_nlink, st_uid, st_gid, st_rdev, st_size, st_blksize, st_blocks, st_atime_sec, st_atime_nsec, st_mtime_sec, st_mtime_nsec, st_ctime_sec, st_ctime_nsec and the always-zero st_spare1 to st_spare6.",
        handler: f::statns,
    },
    Command {
        name: "statvfs",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "get file system statistics",
        description: "Returns file system statistics for any mounted file system. path should be a file or directory in the mounted file system (typically it is the mount point itself, but it doesn't need to be). Fields: bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag (1 = read-only), namemax.",
        handler: f::statvfs,
    },
    Command {
        name: "sync",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "sync disks, writes are flushed through to the disk image",
        description: "This syncs the disk, so that any writes are flushed through to the underlying disk image. You should always call this if you have modified a disk image, before closing the handle (vfish also does it when it exits). Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::sync,
    },
    Command {
        name: "tail",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "return last 10 lines of a file",
        description: "This command returns up to the last 10 lines of a file as a list of strings.",
        handler: f::tail,
    },
    Command {
        name: "tail-n",
        aliases: &[],
        args: &[arg("nrlines", ArgKind::Int), arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "return last N lines of a file",
        description: "If the parameter nrlines is a positive number, this returns the last nrlines lines of the file path.\n\nIf the parameter nrlines is a negative number, this returns lines from the file path, starting with the -nrlines'th line.\n\nIf the parameter nrlines is zero, this returns an empty list.",
        handler: f::tail_n,
    },
    Command {
        name: "tar-in",
        aliases: &[],
        args: &[arg("tarfile", ArgKind::HostFile), arg("directory", ArgKind::GuestPath)],
        optargs: &[arg("compress", ArgKind::String), arg("xattrs", ArgKind::Bool)],
        rest: None,
        summary: "unpack tarfile to directory",
        description: "This command uploads and unpacks local file tarfile into directory. The optional compress flag controls compression: none or gzip. With xattrs:true the pax SCHILY.xattr extended attributes are restored. Members naming .. are refused. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::tar_in,
    },
    Command {
        name: "tar-out",
        aliases: &[],
        args: &[arg("directory", ArgKind::GuestPath), arg("tarfile", ArgKind::HostFile)],
        optargs: &[arg("compress", ArgKind::String)],
        rest: None,
        summary: "pack directory into tarfile",
        description: "This command packs the contents of directory and downloads it to local file tarfile (- for standard output). The optional compress flag can be gzip.\n\nEntries are named relative to directory (etc/passwd; the directory itself has no entry), symbolic links are stored as symbolic links, owners are numeric, hard links are stored as separate files and sockets are skipped. The host file is written new and renamed over tarfile.",
        handler: x::tar_out,
    },
    Command {
        name: "touch",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "update file timestamps or create a new file",
        description: "Touch acts like the touch(1) command. It can be used to update the timestamps on a file, or, if the file does not exist, to create a new zero-length file. This command only works on regular files. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::touch,
    },
    Command {
        name: "truncate",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "truncate a file to zero size",
        description: "This command truncates path to a zero-length file. The file must exist already. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::truncate,
    },
    Command {
        name: "truncate-size",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath), arg("size", ArgKind::Int64)],
        optargs: &[],
        rest: None,
        summary: "truncate a file to a particular size",
        description: "This command truncates path to size size bytes. The file must exist already. If the current file size is less than size then the file is extended to the required size with zero bytes. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::truncate_size,
    },
    Command {
        name: "umount",
        aliases: &["unmount"],
        args: &[arg("pathordevice", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "unmount a filesystem",
        description: "This unmounts the given filesystem. The filesystem may be specified either by its mountpoint (path) or the device which contains the filesystem. Filesystems mounted below it must be unmounted first.",
        handler: f::umount,
    },
    Command {
        name: "umount-all",
        aliases: &["unmount-all"],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "unmount all filesystems",
        description: "This unmounts all mounted filesystems.",
        handler: f::umount_all,
    },
    Command {
        name: "upload",
        aliases: &[],
        args: &[arg("filename", ArgKind::HostFile), arg("remotefilename", ArgKind::GuestPath)],
        optargs: &[],
        rest: None,
        summary: "upload a file from the local machine",
        description: "Upload local file filename to remotefilename on the filesystem. filename can also be a named pipe; - reads standard input. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::upload,
    },
    Command {
        name: "utimens",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath), arg("atsecs", ArgKind::Int64), arg("atnsecs", ArgKind::Int64), arg("mtsecs", ArgKind::Int64), arg("mtnsecs", ArgKind::Int64)],
        optargs: &[],
        rest: None,
        summary: "set timestamp of a file with nanosecond precision",
        description: "This command sets the timestamps of a file with nanosecond precision. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::utimens,
    },
    Command {
        name: "version",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "get the library version number",
        description: "Return the vguestfs library version number as major, minor, release \
            and extra fields.",
        handler: h::version,
    },
    Command {
        name: "vfs-label",
        aliases: &[],
        args: MOUNTABLE,
        optargs: &[],
        rest: None,
        summary: "get the filesystem label",
        description: "This returns the label of the filesystem on \"mountable\".\n\n\
            If the filesystem is unlabeled, this returns the empty string.",
        handler: h::vfs_label,
    },
    Command {
        name: "vfs-type",
        aliases: &[],
        args: MOUNTABLE,
        optargs: &[],
        rest: None,
        summary: "get the Linux VFS type corresponding to a mounted device",
        description: "This command gets the filesystem type corresponding to the filesystem \
            on \"mountable\".\n\n\
            For most filesystems, the result is the name of the Linux VFS module which would \
            be used to mount this filesystem if you mounted it without specifying the \
            filesystem type. For example a string such as \"ext3\" or \"ntfs\". When nothing \
            is recognised the result is the empty string.",
        handler: h::vfs_type,
    },
    Command {
        name: "vfs-uuid",
        aliases: &[],
        args: MOUNTABLE,
        optargs: &[],
        rest: None,
        summary: "get the filesystem UUID",
        description: "This returns the filesystem UUID of the filesystem on \"mountable\".\n\n\
            If the filesystem does not have a UUID, this returns the empty string.",
        handler: h::vfs_uuid,
    },
    Command {
        name: "vgs",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the LVM volume groups (VGs)",
        description: "List all the volumes groups detected. This is the equivalent of the \
            vgs(8) command. This returns a list of just the volume group names that were \
            detected (eg. VolGroup00).",
        handler: h::vgs,
    },
    Command {
        name: "vgs-full",
        aliases: &[],
        args: &[],
        optargs: &[],
        rest: None,
        summary: "list the LVM volume groups (VGs)",
        description: "List all the volumes groups detected. This is the equivalent of the \
            vgs(8) command. The \"full\" version includes all fields, as lvm2 computes them.",
        handler: l::vgs_full,
    },
    Command {
        name: "vguuid",
        aliases: &[],
        args: &[arg("vgname", ArgKind::String)],
        optargs: &[],
        rest: None,
        summary: "get the UUID of a volume group",
        description: "This command returns the UUID of the LVM VG named \"vgname\".",
        handler: h::vguuid,
    },
    Command {
        name: "write",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath), arg("content", ArgKind::String)],
        optargs: &[],
        rest: None,
        summary: "create a new file",
        description: "This call creates a file called path. The content of the file is the string content. If the file exists it is overwritten in place (owner, mode and extended attributes stay). Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::write,
    },
    Command {
        name: "write-append",
        aliases: &[],
        args: &[arg("path", ArgKind::GuestPath), arg("content", ArgKind::String)],
        optargs: &[],
        rest: None,
        summary: "append content to end of file",
        description: "This call appends content to the end of file path. If path does not exist, then a new file is created. Without --rw the filesystems are mounted read-only and this fails with \"Read-only file system\".",
        handler: w::write_append,
    },
    Command {
        name: "zcat",
        aliases: &[],
        args: PATH,
        optargs: &[],
        rest: None,
        summary: "print a gzip-compressed file",
        description: "Decompresses the gzip-compressed file path and prints it (concatenated members are all decompressed). This is a vfish command: guestfish has download and the host's zcat for this.",
        handler: f::zcat,
    },
    Command {
        name: "zero",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "write zeroes to the device",
        description: "This command writes zeroes over the first few blocks of device (vfish: the first 128 KiB). How many blocks are zeroed isn't specified (but it's not enough to securely wipe the device). It should be sufficient to remove any partition tables, filesystem superblocks and so on. If blocks are already zero, then this command avoids writing zeroes. The device must not be in use by a mounted filesystem. Without --rw the drives are read-only and this fails.",
        handler: w::zero,
    },
    Command {
        name: "zero-device",
        aliases: &[],
        args: DEVICE,
        optargs: &[],
        rest: None,
        summary: "write zeroes to an entire device",
        description: "This command writes zeroes over the entire device. Compare with zero which just zeroes the first few blocks of a device. If blocks are already zero, then this command avoids writing zeroes. This prevents the underlying device from becoming non-sparse or growing unnecessarily: the overlay stores no data for the range, and the commit gives a qcow2 v3 image zero clusters, and writes zeros to a raw or qcow2 v2 image only where it is not zero already. The device must not be in use by a mounted filesystem. Without --rw the drives are read-only and this fails.",
        handler: w::zero_device,
    },
];

/// Finds a command by name or alias: any case, `_` and `-` alike.
pub fn lookup(name: &str) -> Option<&'static Command> {
    let want = name.to_ascii_lowercase().replace('_', "-");
    COMMANDS
        .iter()
        .find(|c| c.name == want || c.aliases.contains(&want.as_str()))
}

impl Command {
    /// The libguestfs API name used in error messages: `vfs_type`.
    pub fn api_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// `name arg … [opt:type] …`, as in guestfish's usage line.
    pub fn synopsis(&self) -> String {
        let mut s = self.name.to_string();
        for a in self.args {
            s.push(' ');
            s.push_str(a.name);
        }
        for o in self.optargs {
            let ty = match o.kind {
                ArgKind::Bool => "true|false",
                ArgKind::Int | ArgKind::Int64 => "N",
                _ => "..",
            };
            s.push_str(&format!(" [{}:{ty}]", o.name));
        }
        if let Some(r) = self.rest {
            s.push_str(&format!(" [{} ...]", r.name));
        }
        s
    }

    /// The text `help NAME` prints (pod2text layout of guestfish).
    pub fn long_help(&self) -> String {
        let mut out = format!(
            "NAME\n    {} - {}\n\nSYNOPSIS\n     {}\n\nDESCRIPTION\n",
            self.name,
            self.summary,
            self.synopsis()
        );
        let mut paras: Vec<String> = self.description.split("\n\n").map(str::to_string).collect();
        if !self.optargs.is_empty() {
            paras.push("This command has one or more optional arguments, given as name:value after the other arguments.".into());
        }
        if !self.aliases.is_empty() {
            let names: Vec<String> = self.aliases.iter().map(|a| format!("'{a}'")).collect();
            paras.push(format!(
                "You can use {} as an alias for this command.",
                names.join(" or ")
            ));
        }
        for (i, p) in paras.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&wrap(p, 4, 76));
        }
        out
    }

    /// The kind of the argument at `index` (0-based, after the command name), if any.
    pub fn arg_kind(&self, index: usize) -> Option<ArgKind> {
        self.args.get(index).or(self.rest.as_ref()).map(|a| a.kind)
    }

    /// Checks the count and types of `words` and runs the handler.
    pub fn invoke(
        &self,
        session: &mut Session,
        words: &[String],
        out: &mut dyn Write,
    ) -> Result<(), Failure> {
        let args = Args::parse(self, words)?;
        (self.handler)(session, &args, out).map_err(|e| match e {
            CmdError::Failed(m) => Failure::Library(format!("{}: {m}", self.api_name())),
            CmdError::Usage(m) => Failure::Message(m),
        })
    }
}

/// Wraps a paragraph at `width` columns with `indent` spaces, like pod2text.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{pad}{line}\n"));
    }
    out
}

/// The list `help` and `vfish -h` print: every name and alias with its summary.
pub fn list_commands() -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    for c in COMMANDS {
        rows.push((c.name, c.summary.to_string()));
        for a in c.aliases {
            rows.push((a, format!("alias for '{}'", c.name)));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(b.0));
    // help and quit come first, as in guestfish.
    rows.sort_by_key(|(n, _)| match *n {
        "help" => 0,
        "quit" => 1,
        _ => 2,
    });
    let mut out = format!("    {:<16}     {}\n", "Command", "Description");
    for (n, s) in rows {
        out.push_str(&format!("{n:<20} {s}\n"));
    }
    out.push_str("    Use -h <cmd> / help <cmd> to show detailed help for a command.\n");
    out
}

/// Why a command did not succeed; the dispatcher prints it and decides whether to go on.
#[derive(Debug)]
pub enum Failure {
    /// Wrong argument count: guestfish prints the usage lines.
    WrongArgs,
    /// A message to print on stderr.
    Message(String),
    /// The operation failed: `api_name: message`, printed after `vguestfs: error: ` (and, in
    /// scripts, the input's `FILE:LINE: `).
    Library(String),
}

/// Converted arguments of one call.
#[derive(Debug, Default)]
pub struct Args {
    values: Vec<String>,
    ints: Vec<Option<i64>>,
    opts: Vec<(&'static str, String)>,
}

impl Args {
    fn parse(cmd: &Command, words: &[String]) -> Result<Args, Failure> {
        let (min, max) = (cmd.args.len(), cmd.args.len() + cmd.optargs.len());
        if words.len() < min || (cmd.rest.is_none() && words.len() > max) {
            return Err(Failure::WrongArgs);
        }
        let mut args = Args::default();
        for (i, w) in words.iter().enumerate() {
            match cmd.args.get(i) {
                Some(spec) => {
                    args.ints.push(convert(cmd, spec, w)?);
                    args.values.push(w.clone());
                }
                None if cmd.rest.is_some() => args.values.push(w.clone()),
                None => {
                    let spec = cmd
                        .optargs
                        .iter()
                        .find(|o| w.strip_prefix(o.name).is_some_and(|r| r.starts_with(':')))
                        .ok_or_else(|| {
                            Failure::Message(format!(
                                "{}: unknown optional argument \"{w}\"",
                                cmd.name
                            ))
                        })?;
                    if args.opts.iter().any(|(n, _)| *n == spec.name) {
                        return Err(Failure::Message(format!(
                            "{}: optional argument \"{}\" given more than once",
                            cmd.name, spec.name
                        )));
                    }
                    let value = &w[spec.name.len() + 1..];
                    convert(cmd, spec, value)?;
                    args.opts.push((spec.name, value.to_string()));
                }
            }
        }
        Ok(args)
    }

    /// Required or variadic argument `i` as given.
    pub fn str(&self, i: usize) -> &str {
        self.values.get(i).map_or("", String::as_str)
    }

    /// All positional arguments.
    pub fn all(&self) -> &[String] {
        &self.values
    }

    /// Required 32-bit integer argument `i` (already validated to fit).
    pub fn int(&self, i: usize) -> i32 {
        i32::try_from(self.int64(i)).unwrap_or(0)
    }

    /// Required 64-bit integer argument `i` (already validated).
    pub fn int64(&self, i: usize) -> i64 {
        self.ints.get(i).copied().flatten().unwrap_or(0)
    }

    /// Optional argument `name`, as given.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Optional boolean argument `name` (already validated).
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.opt(name).and_then(parse_bool)
    }
}

/// Validates one value against its type; returns the integer for `Int` and `Int64`.
fn convert(cmd: &Command, spec: &ArgSpec, w: &str) -> Result<Option<i64>, Failure> {
    let int = match spec.kind {
        ArgKind::Int => parse_int(w).map(i64::from),
        ArgKind::Int64 => parse_int64(w),
        _ => None,
    };
    match spec.kind {
        ArgKind::Int | ArgKind::Int64 => int.map(Some).ok_or_else(|| {
            Failure::Message(format!(
                "{}: {}: invalid integer parameter",
                cmd.name, spec.name
            ))
        }),
        ArgKind::Bool => match parse_bool(w) {
            Some(_) => Ok(None),
            None => Err(Failure::Message(format!(
                "vfish: '{w}': invalid boolean value, use 'true' or 'false'"
            ))),
        },
        ArgKind::String | ArgKind::Device | ArgKind::HostFile | ArgKind::GuestPath => Ok(None),
    }
}

/// A C-style 32-bit integer: optional sign, then decimal, `0x` hex or leading-`0` octal.
pub fn parse_int(s: &str) -> Option<i32> {
    i32::try_from(parse_int64(s)?).ok()
}

/// A C-style 64-bit integer (same syntax as [`parse_int`]).
pub fn parse_int64(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (body, radix) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (h, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (&digits[1..], 8)
    } else {
        (digits, 10)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// guestfish's boolean words.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_documented() {
        let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        for c in COMMANDS {
            assert!(
                !c.summary.is_empty() && !c.description.is_empty(),
                "{}",
                c.name
            );
            for a in c.aliases {
                assert!(lookup(a).is_some_and(|x| x.name == c.name));
                assert!(!names.contains(a), "alias {a} shadows a command");
            }
        }
    }

    #[test]
    fn lookup_ignores_case_and_underscores() {
        assert_eq!(lookup("VFS_TYPE").map(|c| c.name), Some("vfs-type"));
        assert_eq!(lookup("launch").map(|c| c.name), Some("run"));
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn integers_and_booleans() {
        assert_eq!(parse_int("12"), Some(12));
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("--3"), None);
        assert_eq!(parse_int("1k"), None);
        assert_eq!(parse_int("4294967296"), None);
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn synopsis_and_help_layout() {
        let add = lookup("add").expect("add");
        assert_eq!(
            add.synopsis(),
            "add filename [readonly:true|false] [format:..]"
        );
        let h = lookup("run").expect("run").long_help();
        assert!(h.starts_with("NAME\n    run - launch the backend\n\nSYNOPSIS\n     run\n\nDESCRIPTION\n    You should"), "{h}");
        assert!(
            h.ends_with("    You can use 'launch' as an alias for this command.\n"),
            "{h}"
        );
        assert!(h.lines().all(|l| l.len() <= 76), "{h}");
    }
}
