//! The CLI's one error type: every failure becomes one line on stderr and a non-zero exit.

use tessera_core::ports::PortError;
use tessera_core::service::{AdminError, RotationError};

/// A command failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or settings.
    #[error("{0}")]
    Config(String),
    /// A filesystem problem.
    #[error("{0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
    /// An operator request that cannot be done.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Rotation failed.
    #[error(transparent)]
    Rotation(#[from] RotationError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] PortError),
}

impl CliError {
    /// The message with its causes, for the one line printed.
    #[must_use]
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(e) = cur {
            let s = e.to_string();
            if !out.contains(&s) {
                out.push_str(": ");
                out.push_str(&s);
            }
            cur = e.source();
        }
        out
    }
}
