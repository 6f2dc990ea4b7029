//! Tessera's local backend: everything the Lambda functions get from DynamoDB, KMS and S3, on a laptop.
//!
//! - [`SqliteStore`]: every store port over one SQLite file in WAL mode, so several processes (the dev
//!   server and the CLI, as several Lambdas share one table) use one data dir at once.
//! - [`SoftwareKeys`]: ECDSA P-256 keys that behave like KMS — DER signatures, SPKI public keys, disable
//!   and scheduled deletion — with private keys in mode-0600 files.
//! - [`DirPublisher`]: writes the JWKS and discovery documents to a directory the dev server serves, as
//!   S3 behind CloudFront does.
#![deny(missing_docs)]

mod keys;
mod publisher;
mod store;

pub use keys::SoftwareKeys;
pub use publisher::{DirPublisher, PublishedFile, write_atomic};
pub use store::SqliteStore;

use std::path::{Path, PathBuf};

/// The layout of a data dir.
#[derive(Clone, Debug)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// Opens (creating if needed) a data dir, with owner-only permissions since it holds private keys.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)?;
        restrict(&path, 0o700)?;
        Ok(Self(path))
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The SQLite database file.
    #[must_use]
    pub fn database(&self) -> PathBuf {
        self.0.join("tessera.db")
    }

    /// Where private keys live.
    #[must_use]
    pub fn keys(&self) -> PathBuf {
        self.0.join("keys")
    }

    /// What verifiers fetch.
    #[must_use]
    pub fn public(&self) -> PathBuf {
        self.0.join("public")
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
