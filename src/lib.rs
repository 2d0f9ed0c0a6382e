//! vguestfs: open virtual-machine disk images (raw, qcow2) entirely in user space.
//!
//! The crate is a stack of layers (see `ARCHITECTURE.md` in the shared design folder):
//! [`disk`] block devices → [`part`] partition tables and [`lvm`] volume groups → [`fs`]
//! filesystems → [`guest`] sessions. Each layer has its own `Error` type; [`Error`] wraps them.

mod bytes;
pub mod disk;
pub mod error;
pub mod fs;
pub mod guest;
pub mod lvm;
pub mod part;
pub mod resize;
pub mod sysprep;
pub mod tool;
pub mod units;

pub use error::{Error, Result};
pub use guest::Guest;
