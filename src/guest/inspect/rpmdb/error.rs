//! Errors of the rpm database readers: each names the structure that is wrong (the caller
//! adds the guest path of the file).

/// A damaged rpm database or header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The SQLite file (`rpmdb.sqlite`) is damaged: which page or structure, and how.
    #[error("SQLite database: {0}")]
    Sqlite(String),
    /// The Berkeley DB hash file (`Packages`) is damaged: which page or structure, and how.
    #[error("Berkeley DB hash: {0}")]
    Bdb(String),
    /// A package header blob is damaged.
    #[error("rpm header: {0}")]
    Header(String),
}

/// Shorthand for a SQLite error.
pub(crate) fn sqlite(what: impl Into<String>) -> Error {
    Error::Sqlite(what.into())
}

/// Shorthand for a Berkeley DB error.
pub(crate) fn bdb(what: impl Into<String>) -> Error {
    Error::Bdb(what.into())
}

/// Shorthand for a header error.
pub(crate) fn header(what: impl Into<String>) -> Error {
    Error::Header(what.into())
}

impl Error {
    /// The same error with `ctx` (the structure being read) before its message.
    pub fn context(self, ctx: impl std::fmt::Display) -> Error {
        match self {
            Error::Sqlite(m) => Error::Sqlite(format!("{ctx}: {m}")),
            Error::Bdb(m) => Error::Bdb(format!("{ctx}: {m}")),
            Error::Header(m) => Error::Header(format!("{ctx}: {m}")),
        }
    }
}

/// What a reader delivers for one record: its key and bytes, or why it cannot be read.
pub type Record<'a, K> = Result<(K, &'a [u8]), Error>;
