//! The crate's one error type; the binary maps it to an exit code and a one-line message.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user: a scenario key, a command-line argument, a path. Exit code 2.
    #[error("{0}")]
    Input(String),
    /// The run needs more memory than the machine (or the GPU) has. Exit code 2.
    #[error("{0}")]
    TooLarge(String),
    /// A file could not be read or written. Exit code 1.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The GPU backend failed or is not available. Exit code 1.
    #[error("{0}")]
    Gpu(String),
    /// `validate` found the backends disagreeing beyond tolerance. Exit code 1.
    #[error("{0}")]
    Disagreement(String),
    /// The caller cancelled the solve (see [`crate::scheme::Cancel`]). Exit code 130, as for
    /// an interrupted command.
    #[error("cancelled")]
    Cancelled,
    /// A solve produced non-finite values (an overflow the up-front checks did not catch).
    /// Exit code 1.
    #[error("{0}")]
    NonFinite(String),
    /// A bug: a solver thread panicked. Exit code 1.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error: 2 for bad input, 1 for failures at run time, 130
    /// when cancelled.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::TooLarge(_) => 2,
            Error::Io { .. }
            | Error::Gpu(_)
            | Error::Disagreement(_)
            | Error::NonFinite(_)
            | Error::Internal(_) => 1,
            Error::Cancelled => 130,
        }
    }
}
