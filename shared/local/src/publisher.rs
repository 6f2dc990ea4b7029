//! Publishes the verifier documents to a directory, atomically, with their cache lifetime beside them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tessera_core::ports::{PortError, PortResult, PublishedDocuments, Publisher};

/// The published files, by URL path under `/.well-known/`.
pub const FILES: [&str; 3] = ["jwks.json", "openid-configuration", "oauth-authorization-server"];

/// A directory publisher: `DIR/.well-known/*`, written by rename so a reader never sees half a file.
#[derive(Clone, Debug)]
pub struct DirPublisher {
    root: PathBuf,
}

/// One published document, read back for serving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedFile {
    /// The bytes.
    pub body: Vec<u8>,
    /// Cache-Control max-age.
    pub max_age: Duration,
}

impl DirPublisher {
    /// Publishes under `root`.
    #[must_use]
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_path_buf() }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(".well-known")
    }

    /// Reads a published document by name (one of [`FILES`]); `None` if not published yet.
    pub fn read(&self, name: &str) -> std::io::Result<Option<PublishedFile>> {
        if !FILES.contains(&name) {
            return Ok(None);
        }
        let body = match std::fs::read(self.dir().join(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let max_age = std::fs::read_to_string(self.dir().join(".max-age"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map_or(Duration::from_secs(300), Duration::from_secs);
        Ok(Some(PublishedFile { body, max_age }))
    }
}

/// Replaces a file atomically: written beside it under a unique name, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A temp name of its own per write: two publishers (the dev server and `tessera keys rotate`, or two
    // overlapping rotations) must never rename each other's half-written file.
    let mut nonce = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension(format!("tmp-{}-{suffix}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

#[async_trait]
impl Publisher for DirPublisher {
    async fn publish(&self, docs: &PublishedDocuments) -> PortResult<()> {
        let dir = self.dir();
        let docs = docs.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            write_atomic(&dir.join(".max-age"), docs.max_age.as_secs().to_string().as_bytes())?;
            write_atomic(&dir.join("openid-configuration"), &docs.openid_configuration)?;
            write_atomic(&dir.join("oauth-authorization-server"), &docs.oauth_authorization_server)?;
            write_atomic(&dir.join("jwks.json"), &docs.jwks)
        })
        .await
        .map_err(PortError::unavailable)?
        .map_err(PortError::unavailable)
    }
}
