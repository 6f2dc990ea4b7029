//! The authorizer's configuration, read once at cold start.

use std::time::Duration;

use tessera_core::policy::RoutePolicy;
use tessera_core::verify::VerifierConfig;

use crate::state::Freshness;

/// How HTTP API (v2) events are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpApiResponse {
    /// `{"isAuthorized": …}` (enable simple responses on the authorizer).
    Simple,
    /// An IAM policy, as for REST APIs.
    Iam,
}

/// The authorizer's configuration.
#[derive(Clone, Debug)]
pub struct AuthorizerConfig {
    /// What tokens are accepted.
    pub verifier: VerifierConfig,
    /// Scopes required per route.
    pub routes: RoutePolicy,
    /// Response shape for HTTP APIs.
    pub http_api: HttpApiResponse,
    /// Background refresh interval.
    pub refresh_every: Duration,
    /// Staleness bound and reload rate limit.
    pub freshness: Freshness,
}

pub use tessera_wiring::ConfigError;
use tessera_wiring::Env;

impl AuthorizerConfig {
    /// Reads `TESSERA_*` variables through `lookup` (the environment, in `main`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let required = |name| env.required(name);
        let duration = |name, default| env.duration(name, default);
        let issuer = required("TESSERA_ISSUER")?;
        let audiences: Vec<String> = required("TESSERA_AUDIENCES")?
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        let leeway = duration("TESSERA_LEEWAY", "30s")?;
        let verifier = VerifierConfig::new(issuer, audiences, leeway)
            .map_err(|e| ConfigError::new("TESSERA_AUDIENCES/TESSERA_LEEWAY", e.to_string()))?;
        // Routes arrive as one variable: lines separated by newlines or `;`.
        let routes = match lookup("TESSERA_ROUTES") {
            Some(text) => RoutePolicy::parse(&text.replace(';', "\n"))
                .map_err(|e| ConfigError::new("TESSERA_ROUTES", e.to_string()))?,
            None => {
                return Err(ConfigError { name: "TESSERA_ROUTES", problem: "is required".to_owned() });
            }
        };
        let http_api = match lookup("TESSERA_HTTP_API_RESPONSE").as_deref().map(str::trim) {
            None | Some("simple") => HttpApiResponse::Simple,
            Some("iam") => HttpApiResponse::Iam,
            Some(other) => {
                return Err(ConfigError {
                    name: "TESSERA_HTTP_API_RESPONSE",
                    problem: format!("{other:?} is not simple or iam"),
                });
            }
        };
        Ok(Self {
            verifier,
            routes,
            http_api,
            refresh_every: duration("TESSERA_REFRESH_EVERY", "250ms")?,
            freshness: Freshness {
                max_staleness: duration("TESSERA_MAX_STALENESS", "1s")?,
                unknown_kid_reload: duration("TESSERA_UNKNOWN_KID_RELOAD", "1s")?,
                leeway,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn errors_name_the_variable() {
        let e = AuthorizerConfig::from_lookup(lookup(&[])).expect_err("empty");
        assert_eq!(e.name, "TESSERA_ISSUER");
        let e = AuthorizerConfig::from_lookup(lookup(&[
            ("TESSERA_ISSUER", "i"),
            ("TESSERA_AUDIENCES", "a"),
            ("TESSERA_ROUTES", "GET /x s"),
            ("TESSERA_LEEWAY", "soon"),
        ]))
        .expect_err("bad leeway");
        assert_eq!(e.name, "TESSERA_LEEWAY");
        let e = AuthorizerConfig::from_lookup(lookup(&[
            ("TESSERA_ISSUER", "i"),
            ("TESSERA_AUDIENCES", "a"),
            ("TESSERA_ROUTES", "FETCH /x s"),
        ]))
        .expect_err("bad routes");
        assert_eq!(e.name, "TESSERA_ROUTES");
        let ok = AuthorizerConfig::from_lookup(lookup(&[
            ("TESSERA_ISSUER", "i"),
            ("TESSERA_AUDIENCES", "a,b"),
            ("TESSERA_ROUTES", "GET /x s;POST /y t"),
        ]))
        .expect("valid");
        assert_eq!(ok.routes.routes().len(), 2);
        assert_eq!(ok.http_api, HttpApiResponse::Simple);
    }
}
