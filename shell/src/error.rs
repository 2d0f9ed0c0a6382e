//! What a vfish command handler returns when it fails.

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
