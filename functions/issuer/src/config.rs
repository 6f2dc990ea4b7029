//! The issuer's configuration, read once at cold start.

use std::time::Duration;

use tessera_core::service::IssuerSettings;
use tessera_core::verify::MAX_LEEWAY;

pub use tessera_wiring::ConfigError;
use tessera_wiring::Env;

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
    /// Hand a client its still-fresh token again instead of signing a new one (`TESSERA_TOKEN_REUSE`).
    pub token_reuse: bool,
}

/// Longest token lifetime the issuer may be configured for: tokens are meant to be short-lived.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

impl IssuerConfig {
    /// Reads `TESSERA_ISSUER`, `TESSERA_TOKEN_TTL` (default 15m), `TESSERA_LEEWAY` (default 30s),
    /// `TESSERA_JWKS_URI` (default under the issuer URL), `TESSERA_JWKS_MAX_AGE` (default 5m) and
    /// `TESSERA_TOKEN_REUSE` (`on`, the default, or `off`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let duration = |name, default| env.duration(name, default);
        let issuer = env.required("TESSERA_ISSUER")?;
        let token_ttl = duration("TESSERA_TOKEN_TTL", "15m")?;
        if token_ttl.is_zero() || token_ttl > MAX_TOKEN_TTL {
            return Err(ConfigError::new("TESSERA_TOKEN_TTL", "must be between 1s and 24h"));
        }
        let leeway = duration("TESSERA_LEEWAY", "30s")?;
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::new("TESSERA_LEEWAY", "must be at most 5m"));
        }
        let jwks_uri = env
            .optional("TESSERA_JWKS_URI")
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        let jwks_max_age = duration("TESSERA_JWKS_MAX_AGE", "5m")?;
        let key_alg = env
            .optional("TESSERA_KEY_ALG")
            .unwrap_or_else(|| "ES256".to_owned())
            .parse()
            .map_err(|e: tessera_core::jose::KeyError| ConfigError::new("TESSERA_KEY_ALG", e.to_string()))?;
        let token_reuse = match env.optional("TESSERA_TOKEN_REUSE").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(ConfigError::new("TESSERA_TOKEN_REUSE", format!("{other:?} is not on or off"))),
        };
        Ok(Self {
            settings: IssuerSettings { issuer, token_ttl, leeway },
            jwks_uri,
            jwks_max_age,
            key_alg,
            token_reuse,
        })
    }
}
