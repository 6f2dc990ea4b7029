//! The composition root of the local backend: one place that opens the data dir and builds every
//! adapter, shared by the dev server and the operator commands.

use std::path::Path;
use std::sync::Arc;

use tessera_core::service::{Issuer, Rotator};
use tessera_local::{DataDir, DirPublisher, SoftwareKeys, SqliteStore};

use crate::error::CliError;
use crate::settings::Settings;

/// The adapters over one data dir.
#[derive(Clone, Debug)]
pub struct Backend {
    /// The data dir.
    pub data: DataDir,
    /// The SQLite store (all store ports).
    pub store: Arc<SqliteStore>,
    /// Software keys (signer and key manager).
    pub keys: Arc<SoftwareKeys>,
    /// The JWKS and discovery publisher.
    pub publisher: Arc<DirPublisher>,
}

impl Backend {
    /// Opens the data dir, creating it if needed.
    pub fn open(dir: &Path) -> Result<Self, CliError> {
        if dir.exists() && !dir.is_dir() {
            return Err(CliError::Config(format!("data dir {} is not a directory", dir.display())));
        }
        let data = DataDir::open(dir).map_err(|e| CliError::Io("cannot use the data dir", e))?;
        let probe = data.path().join(".write-test");
        std::fs::write(&probe, b"").map_err(|e| CliError::Io("the data dir is not writable", e))?;
        let _ = std::fs::remove_file(probe);
        let store = SqliteStore::open(&data.database())
            .map_err(|e| CliError::Config(format!("cannot open {}: {}", data.database().display(), source_text(&e))))?;
        let keys = SoftwareKeys::open(&data.keys())?;
        let publisher = DirPublisher::new(&data.public());
        Ok(Self { data, store: Arc::new(store), keys: Arc::new(keys), publisher: Arc::new(publisher) })
    }

    /// The issuer service over these adapters.
    #[must_use]
    pub fn issuer(&self, settings: &Settings) -> Issuer {
        let s = &self.store;
        Issuer::new(
            settings.issuer_settings(),
            s.clone(),
            s.clone(),
            s.clone(),
            self.keys.clone(),
            s.clone(),
            s.clone(),
        )
    }

    /// The rotation service over these adapters.
    pub fn rotator(&self, settings: &Settings) -> Result<Rotator, CliError> {
        Ok(Rotator::new(
            self.store.clone(),
            self.keys.clone(),
            self.publisher.clone(),
            self.store.clone(),
            settings.policy()?,
            settings.metadata(),
        ))
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    if let Some(s) = e.source() {
        out.push_str(": ");
        out.push_str(&s.to_string());
    }
    out
}
