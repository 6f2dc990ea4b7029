//! The access token: a JWS compact serialisation of RFC 9068 claims.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, Jti, Kid, ScopeSet};
use crate::jose::{Algorithm, b64};
use crate::time::UnixTime;

/// The `typ` header of an RFC 9068 access token.
pub const TOKEN_TYPE: &str = "at+jwt";

/// The private claim that carries the client's allowed source networks, so verification needs no lookup.
pub const CIDRS_CLAIM: &str = "tessera_cidrs";

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, the form Tessera issues.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `audience`.
    #[must_use]
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }

    /// The first audience, for display.
    #[must_use]
    pub fn first(&self) -> &str {
        match self {
            Self::One(a) => a,
            Self::Many(all) => all.first().map_or("", String::as_str),
        }
    }
}

/// RFC 9068 access-token claims, plus Tessera's network restriction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: the client, since no user is involved.
    pub sub: ClientId,
    /// The resource server(s) this token is for.
    pub aud: Audience,
    /// Expiry.
    pub exp: UnixTime,
    /// Issued at.
    pub iat: UnixTime,
    /// Not before.
    pub nbf: UnixTime,
    /// Unique token id.
    pub jti: Jti,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// Granted scopes, space-separated.
    pub scope: ScopeSet,
    /// Source networks the token may be used from; empty means anywhere.
    #[serde(rename = "tessera_cidrs", default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<IpNet>,
}

impl AccessClaims {
    /// Whether a request from `ip` may use this token. Unknown source with a restriction: no (fail closed).
    #[must_use]
    pub fn ip_allowed(&self, ip: Option<IpAddr>) -> bool {
        if self.cidrs.is_empty() {
            return true;
        }
        ip.is_some_and(|ip| {
            let ip = canonical_ip(ip);
            self.cidrs.iter().any(|net| net.contains(&ip))
        })
    }
}

/// Maps IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) to IPv4, so an IPv4 CIDR cannot be sidestepped.
#[must_use]
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The JWS signing input `base64url(header) . base64url(claims)` for a token signed by `kid`.
#[must_use]
pub fn signing_input(alg: Algorithm, kid: &Kid, claims: &AccessClaims) -> String {
    let header = HeaderOut { alg: alg.as_str(), typ: TOKEN_TYPE, kid: kid.as_str() };
    // Serialising these plain structs cannot fail; an empty object would fail verification anyway.
    let h = serde_json::to_vec(&header).unwrap_or_default();
    let c = serde_json::to_vec(claims).unwrap_or_default();
    let mut out = b64::encode(&h);
    out.push('.');
    out.push_str(&b64::encode(&c));
    out
}

/// Appends the JWS signature to a signing input: the compact serialisation.
#[must_use]
pub fn compact(signing_input: &str, jws_signature: &[u8]) -> String {
    let mut out = String::with_capacity(signing_input.len() + 1 + jws_signature.len() * 4 / 3 + 2);
    out.push_str(signing_input);
    out.push('.');
    out.push_str(&b64::encode(jws_signature));
    out
}
