//! Authorization server metadata (RFC 8414) and its OpenID Connect Discovery twin.

use serde::Serialize;

/// The server metadata document.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Metadata {
    /// Issuer URL, equal to every token's `iss`.
    pub issuer: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// JWKS location.
    pub jwks_uri: String,
    /// RFC 7009 endpoint.
    pub revocation_endpoint: String,
    /// RFC 7662 endpoint.
    pub introspection_endpoint: String,
    /// Only the client-credentials grant.
    pub grant_types_supported: Vec<&'static str>,
    /// Client authentication methods.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Same for revocation.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Same for introspection.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// No authorization endpoint, so no response types.
    pub response_types_supported: Vec<&'static str>,
    /// Access-token signing algorithms.
    pub token_signing_alg_values_supported: Vec<String>,
    /// Required by OIDC discovery parsers; machines are their own subjects.
    pub subject_types_supported: Vec<&'static str>,
    /// Required by OIDC discovery parsers.
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl Metadata {
    /// Metadata for an issuer at `issuer` whose JWKS is at `jwks_uri`.
    #[must_use]
    pub fn new(issuer: &str, jwks_uri: &str, algs: Vec<String>) -> Self {
        let base = issuer.trim_end_matches('/');
        let auth = vec!["client_secret_basic", "client_secret_post"];
        Self {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{base}/oauth2/token"),
            jwks_uri: jwks_uri.to_owned(),
            revocation_endpoint: format!("{base}/oauth2/revoke"),
            introspection_endpoint: format!("{base}/oauth2/introspect"),
            grant_types_supported: vec!["client_credentials"],
            token_endpoint_auth_methods_supported: auth.clone(),
            revocation_endpoint_auth_methods_supported: auth.clone(),
            introspection_endpoint_auth_methods_supported: auth,
            response_types_supported: vec![],
            token_signing_alg_values_supported: algs.clone(),
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: algs,
        }
    }
}
