//! vguestfs: open virtual-machine disk images (raw, qcow2) entirely in user space.
//!
//! The crate is a stack of layers (see `ARCHITECTURE.md` in the shared design folder):
//! [`disk`] block devices → [`part`] partition tables and [`lvm`] volume groups → [`fs`]
//! filesystems → [`guest`] sessions. Each layer has its own `Error` type, which wraps the errors of
//! the layers below it; the tools (`src/bin`, the `vfish` crate) report them.
//!
//! # Layout
//! ```text
//! src/lib.rs       this map; re-exports Guest
//! src/bytes.rs     bounds-checked integer reads of on-disk structures
//! src/units.rs     unit newtypes (bytes, sectors)
//! src/disk/        BlockDev (mod.rs), error.rs, raw.rs, image.rs (open by format), probe.rs,
//!                  qcow2/ (header.rs, check.rs, backing.rs), slice.rs, linear.rs, extended.rs,
//!                  mem.rs, overlay.rs + spill.rs + rangeset.rs + redo.rs (copy-on-write and the
//!                  atomic commit), lock.rs (QEMU lock bytes), resize.rs
//! src/part/        PartitionTable (mod.rs), mbr.rs, gpt.rs, grow.rs (growpart), create.rs
//! src/lvm/         label.rs, mda.rs, metadata.rs (text format), vg.rs (assembly, LV maps),
//!                  striped.rs, report.rs (pvs/vgs/lvs), alloc.rs (free extents, lvm2's
//!                  allocator), write.rs (pvresize, lvextend)
//! src/fs/          Filesystem trait and types (mod.rs, types.rs, errno.rs, statfs.rs, swap.rs);
//!                  one folder per filesystem holding its read, write and grow parts:
//!                  ext4/ (grow.rs + grow/), fat/; probe/ (one file per signature)
//! src/guest/       Guest session (session.rs, mounts.rs), path.rs, files.rs, write.rs,
//!                  listing.rs, inspect/ (rpmdb/: rpm databases, SQLite and
//!                  Berkeley DB hash readers), selinux/ (labels of created files:
//!                  file_contexts.rs the parser and matcher, policy.rs the guest's config and
//!                  policy files, mod.rs the hook the write methods call)
//! src/sysprep/     Operation trait + registry (mod.rs), ops/ (one file per operation family),
//!                  customize.rs, firstboot.rs, audit.rs, edit.rs (file edits), facts.rs
//!                  (guest facts), crypt.rs
//! src/resize/      inplace.rs, layout.rs (virt-resize's copy-mode layout), copy.rs
//! src/tool/        command-line plumbing shared by the tool binaries (mod.rs), and the work a
//!                  standalone tool shares with a vfish command: df.rs (df, virt-df tables),
//!                  copy.rs (copy-in/out), tar.rs (tar-in/out), edit.rs (edit, vedit -e),
//!                  customize.rs (virt-customize's options), host.rs (safe host writes)
//! src/bin/         vsysprep, vresize, vgrowpart, vfilesystems, vinspect, vcat, vls, vdf,
//!                  vcopy-in, vcopy-out, vtar-in, vtar-out, vedit, vcustomize
//! shell/src/       the vfish crate: command.rs (command types), table.rs (the one command
//!                  table), error.rs, handler modules, parser.rs, shell.rs, repl.rs, cli.rs
//! ```
//! No two files import each other, directly or around a circle (`tests/import_cycles.rs`): a
//! module's root file may use its own submodules; anything two files share lives below both.

mod bytes;
pub mod disk;
pub mod fs;
pub mod guest;
pub mod lvm;
pub mod part;
pub mod resize;
pub mod sysprep;
pub mod tool;
pub mod units;

pub use guest::Guest;
