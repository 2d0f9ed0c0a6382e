//! Opening an image for a guest session. Writable: lock it against QEMU and other vguestfs
//! processes, open it for writing, settle a leftover redo log (replay a complete one, remove
//! an incomplete one), and put an [`Overlay`] on top so nothing is written before a commit.
//! Read-only: open it read-only; a complete leftover log is shown applied, in memory only.
//! Scratch (dry runs): read-only, under an overlay that takes writes and never commits.

use super::lock::ImageLock;
use super::overlay::{Overlay, OverlayOptions};
use super::probe::{open_image, probe_format};
use super::redo::{self, LogState, RedoTarget};
use super::{Dev, Error, Format, Result};
use std::path::Path;
use std::sync::Arc;

/// An image opened for a session.
pub struct OpenedImage {
    /// The device the guest sees: the overlay when there is one, else the image itself.
    pub dev: Dev,
    /// The copy-on-write overlay: always for writable images; for read-only ones only when a
    /// leftover redo log is shown applied.
    pub overlay: Option<Arc<Overlay>>,
    /// Messages for the user (what was done about a leftover redo log).
    pub notices: Vec<String>,
}

/// Opens `path` (format probed when `None`) for a session; see the module docs. For a
/// writable image `opts.spill_dir` defaults to the image's directory.
pub fn open_session_image(path: &Path, format: Option<Format>, writable: bool, opts: &OverlayOptions) -> Result<OpenedImage> {
    let format = match format {
        Some(f) => f,
        None => probe_format(path)?,
    };
    if writable {
        open_writable(path, format, opts)
    } else {
        open_read_only(path, format, opts)
    }
}

fn open_writable(path: &Path, format: Format, opts: &OverlayOptions) -> Result<OpenedImage> {
    let lock = ImageLock::acquire(path)?;
    let base = open_image(path, Some(format), true)?;
    let target = RedoTarget::beside(path, format, base.len())?;
    let (image, log) = (path.display(), target.log.display());
    let mut notices = Vec::new();
    match redo::inspect(&target)? {
        LogState::Absent => {}
        LogState::Incomplete(why) => {
            redo::remove(&target)?;
            notices.push(format!(
                "{image}: removed {log}, the log of a commit interrupted before it wrote the image ({why}); the image is as it was before that commit"
            ));
        }
        LogState::Complete { .. } => {
            let (ranges, bytes) = redo::replay(&target, base.as_ref())?;
            notices.push(format!("{image}: replayed an interrupted commit ({bytes} bytes in {ranges} ranges) from {log}"));
        }
        LogState::Unusable(why) => {
            return Err(Error::Redo { path: target.log.clone(), msg: format!("leftover redo log not replayed: {why}") });
        }
    }
    let mut opts = opts.clone();
    if opts.spill_dir.is_none() {
        opts.spill_dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf).or_else(|| Some(".".into()));
    }
    let overlay = Arc::new(Overlay::new(base, target, opts).with_lock(lock));
    Ok(OpenedImage { dev: overlay.clone(), overlay: Some(overlay), notices })
}

/// Opens an image file read-only under a [`Overlay::scratch`] overlay: the guest may be
/// changed, nothing can be committed (a dry run). A leftover redo log is handled as for a
/// read-only open.
pub fn open_scratch_image(path: &Path, format: Option<Format>, opts: &OverlayOptions) -> Result<OpenedImage> {
    let format = match format {
        Some(f) => f,
        None => probe_format(path)?,
    };
    let opened = open_read_only(path, format, opts)?;
    let target = RedoTarget::beside(path, format, opened.dev.len())?;
    let overlay = Arc::new(Overlay::scratch(opened.dev, target, opts.clone()));
    Ok(OpenedImage { dev: overlay.clone(), overlay: Some(overlay), notices: opened.notices })
}

fn open_read_only(path: &Path, format: Format, opts: &OverlayOptions) -> Result<OpenedImage> {
    let base = open_image(path, Some(format), false)?;
    let target = RedoTarget::beside(path, format, base.len())?;
    let (image, log) = (path.display().to_string(), target.log.display().to_string());
    let plain = |notices| Ok(OpenedImage { dev: base.clone(), overlay: None, notices });
    match redo::inspect(&target)? {
        LogState::Absent => plain(vec![]),
        LogState::Incomplete(why) => plain(vec![format!(
            "{image}: ignoring {log}, the log of a commit interrupted before it wrote the image ({why}); open the image with --rw to remove it"
        )]),
        LogState::Unusable(why) => plain(vec![format!("{image}: ignoring leftover redo log {log}: {why}")]),
        LogState::Complete { .. } => {
            let overlay = Arc::new(Overlay::new(base.clone(), target.clone(), opts.clone()));
            let state = redo::for_each_record(&target, &mut |off, rec| overlay.load_pending(off, rec))?;
            let LogState::Complete { ranges, bytes } = state else {
                // The log changed under us (another process finished or removed it): show the image.
                return plain(vec![]);
            };
            Ok(OpenedImage {
                dev: overlay.clone(),
                overlay: Some(overlay),
                notices: vec![format!(
                    "{image}: {log} holds an interrupted commit ({bytes} bytes in {ranges} ranges); showing the image with it applied, without writing it — open the image with --rw to complete the commit"
                )],
            })
        }
    }
}
