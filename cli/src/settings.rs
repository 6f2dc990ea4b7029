//! Server settings that the dev server and the CLI must agree on (issuer, lifetimes, rotation timing),
//! kept in the data dir so `tessera keys rotate` uses the same policy as the running server.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_core::discovery::Metadata;
use tessera_core::jose::Algorithm;
use tessera_core::lifecycle::RotationPolicy;
use tessera_core::service::IssuerSettings;

use crate::error::CliError;

/// The settings file's content.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// Issuer URL (`iss`).
    pub issuer: String,
    /// Audiences the demo API accepts.
    pub audiences: Vec<String>,
    /// Token lifetime, seconds.
    pub token_ttl: u64,
    /// JWKS Cache-Control max-age, seconds.
    pub jwks_max_age: u64,
    /// Key rotation period, seconds.
    pub rotate_every: u64,
    /// Extra propagation wait, seconds.
    pub propagation_margin: u64,
    /// Verifier leeway, seconds.
    pub leeway: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8750".to_owned(),
            audiences: vec!["https://api.example.local".to_owned()],
            token_ttl: 15 * 60,
            jwks_max_age: 5 * 60,
            rotate_every: 24 * 3600,
            propagation_margin: 60,
            leeway: 30,
        }
    }
}

const FILE: &str = "settings.json";

impl Settings {
    /// Reads the data dir's settings, or the defaults if the server never ran there.
    pub fn load(dir: &Path) -> Result<Self, CliError> {
        match std::fs::read_to_string(dir.join(FILE)) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| CliError::Config(format!("{}: {e}", dir.join(FILE).display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::Config(format!("cannot read {}: {e}", dir.join(FILE).display()))),
        }
    }

    /// Writes them (by rename, so the CLI never reads half a file).
    pub fn save(&self, dir: &Path) -> Result<(), CliError> {
        let tmp = dir.join("settings.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| CliError::Config(e.to_string()))?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, dir.join(FILE)))
            .map_err(|e| CliError::Io("writing settings", e))
    }

    /// The rotation policy.
    pub fn policy(&self) -> Result<RotationPolicy, CliError> {
        let p = RotationPolicy {
            rotate_every: Duration::from_secs(self.rotate_every),
            jwks_max_age: Duration::from_secs(self.jwks_max_age),
            propagation_margin: Duration::from_secs(self.propagation_margin),
            max_token_ttl: Duration::from_secs(self.token_ttl),
            leeway: Duration::from_secs(self.leeway),
            deletion_window: Duration::from_secs(7 * 86_400),
            algorithm: Algorithm::ES256,
        };
        p.validate().map_err(|e| CliError::Config(format!("--rotate-every: {e}")))?;
        Ok(p)
    }

    /// The issuer settings.
    #[must_use]
    pub fn issuer_settings(&self) -> IssuerSettings {
        IssuerSettings {
            issuer: self.issuer.clone(),
            token_ttl: Duration::from_secs(self.token_ttl),
            leeway: Duration::from_secs(self.leeway),
        }
    }

    /// The discovery metadata.
    #[must_use]
    pub fn metadata(&self) -> Metadata {
        let jwks = format!("{}/.well-known/jwks.json", self.issuer.trim_end_matches('/'));
        Metadata::new(&self.issuer, &jwks, vec!["ES256".to_owned()])
    }
}
