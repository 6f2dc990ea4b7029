//! The issuer's configuration, read once at cold start.

use std::time::Duration;

use tessera_core::service::IssuerSettings;
use tessera_core::verify::MAX_LEEWAY;

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// The issuer's configuration.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// Issuer settings.
    pub settings: IssuerSettings,
    /// Where verifiers fetch the JWKS (the CloudFront URL), for the discovery documents.
    pub jwks_uri: String,
    /// Cache-Control max-age of `/.well-known/*`.
    pub jwks_max_age: Duration,
    /// The signing algorithm the rotator creates keys for (`TESSERA_KEY_ALG`), for the discovery documents.
    pub key_alg: tessera_core::jose::Algorithm,
}

/// Longest token lifetime the issuer may be configured for: tokens are meant to be short-lived.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

impl IssuerConfig {
    /// Reads `TESSERA_ISSUER`, `TESSERA_TOKEN_TTL` (default 15m), `TESSERA_LEEWAY` (default 30s),
    /// `TESSERA_JWKS_URI` (default under the issuer URL) and `TESSERA_JWKS_MAX_AGE` (default 5m).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let issuer = lookup("TESSERA_ISSUER")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError { name: "TESSERA_ISSUER", problem: "is required".to_owned() })?;
        let duration = |name: &'static str, default: &str| {
            let v = lookup(name).unwrap_or_else(|| default.to_owned());
            humantime::parse_duration(v.trim()).map_err(|e| ConfigError { name, problem: format!("{v:?}: {e}") })
        };
        let token_ttl = duration("TESSERA_TOKEN_TTL", "15m")?;
        if token_ttl.is_zero() || token_ttl > MAX_TOKEN_TTL {
            return Err(ConfigError { name: "TESSERA_TOKEN_TTL", problem: "must be between 1s and 24h".to_owned() });
        }
        let leeway = duration("TESSERA_LEEWAY", "30s")?;
        if leeway > MAX_LEEWAY {
            return Err(ConfigError { name: "TESSERA_LEEWAY", problem: "must be at most 5m".to_owned() });
        }
        let jwks_uri = lookup("TESSERA_JWKS_URI")
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        let jwks_max_age = duration("TESSERA_JWKS_MAX_AGE", "5m")?;
        let key_alg = lookup("TESSERA_KEY_ALG").unwrap_or_else(|| "ES256".to_owned()).parse().map_err(
            |e: tessera_core::jose::KeyError| ConfigError { name: "TESSERA_KEY_ALG", problem: e.to_string() },
        )?;
        Ok(Self { settings: IssuerSettings { issuer, token_ttl, leeway }, jwks_uri, jwks_max_age, key_alg })
    }
}
