//! Token verification, in a fixed order: size → parse → kid → algorithm pinned by the key → signature →
//! claims → revocation → source IP → route policy. Each refusal names its [`Reject`] reason for the logs;
//! callers only ever learn "401" or "403".

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use thiserror::Error;

use crate::jose::{KeyRing, b64};
use crate::policy::{Route, RoutePolicy};
use crate::revocation::RevocationSet;
use crate::time::UnixTime;
use crate::token::{AccessClaims, TOKEN_TYPE};

/// The most clock skew a verifier may be configured to forgive.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// What the caller is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: valid credentials, not allowed here.
    Forbidden,
}

/// Why a token was refused. Stable snake_case names (see [`Reject::as_str`]) go to logs and metrics.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reject {
    /// No token was presented.
    #[error("missing token")]
    MissingToken,
    /// Larger than the configured limit; refused before parsing.
    #[error("token too large")]
    TooLarge,
    /// Not three base64url segments of JSON.
    #[error("malformed token")]
    Malformed,
    /// The header asks for an extension (`crit`) the verifier does not implement.
    #[error("unsupported critical header")]
    CriticalHeader,
    /// No trusted key has the header's kid.
    #[error("unknown kid")]
    UnknownKid,
    /// The header's `alg` differs from the key's.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `typ` is not `at+jwt`.
    #[error("wrong token type")]
    WrongType,
    /// Claims missing or of the wrong type.
    #[error("invalid claims")]
    InvalidClaims,
    /// `iss` is not this issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` names none of this verifier's audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// Past `exp` (plus leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// `iat` later than now plus leeway.
    #[error("issued in the future")]
    IssuedInFuture,
    /// The token's jti was revoked.
    #[error("token revoked")]
    TokenRevoked,
    /// The signing key was retired in an emergency.
    #[error("signing key revoked")]
    KeyRevoked,
    /// The client is disabled.
    #[error("client disabled")]
    ClientDisabled,
    /// The client's tokens up to some instant were revoked.
    #[error("client tokens revoked")]
    ClientRevoked,
    /// The request comes from outside the client's networks.
    #[error("source address not allowed")]
    IpNotAllowed,
    /// No route covers the request: refused, since the table is an allow-list.
    #[error("no route")]
    NoRoute,
    /// The route needs a scope the token lacks.
    #[error("insufficient scope")]
    InsufficientScope,
}

impl Reject {
    /// 401 for anything that makes the token itself unusable, 403 for a usable token that may not do this.
    #[must_use]
    pub fn outcome(self) -> Outcome {
        match self {
            Self::IpNotAllowed | Self::NoRoute | Self::InsufficientScope => Outcome::Forbidden,
            _ => Outcome::Unauthorized,
        }
    }

    /// Whether the refusal came after the signature verified, so the token's claims are genuine.
    #[must_use]
    pub fn after_signature(self) -> bool {
        !matches!(
            self,
            Self::MissingToken
                | Self::TooLarge
                | Self::Malformed
                | Self::CriticalHeader
                | Self::UnknownKid
                | Self::AlgorithmMismatch
                | Self::BadSignature
        )
    }

    /// The stable name for logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::CriticalHeader => "critical_header",
            Self::UnknownKid => "unknown_kid",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::BadSignature => "bad_signature",
            Self::WrongType => "wrong_type",
            Self::InvalidClaims => "invalid_claims",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::TokenRevoked => "token_revoked",
            Self::KeyRevoked => "key_revoked",
            Self::ClientDisabled => "client_disabled",
            Self::ClientRevoked => "client_revoked",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::NoRoute => "no_route",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

/// A verifier configuration that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifierConfigError {
    /// Leeway above [`MAX_LEEWAY`].
    #[error("leeway of {0:?} exceeds the maximum of 300s")]
    LeewayTooLarge(Duration),
    /// No audience would ever be accepted.
    #[error("at least one accepted audience is required")]
    NoAudience,
}

/// What a verifier accepts.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    max_token_bytes: usize,
}

impl VerifierConfig {
    /// Tokens from `issuer` for any of `audiences`, forgiving `leeway` of clock skew.
    pub fn new(
        issuer: impl Into<String>,
        audiences: Vec<String>,
        leeway: Duration,
    ) -> Result<Self, VerifierConfigError> {
        if leeway > MAX_LEEWAY {
            return Err(VerifierConfigError::LeewayTooLarge(leeway));
        }
        if audiences.is_empty() {
            return Err(VerifierConfigError::NoAudience);
        }
        Ok(Self { issuer: issuer.into(), audiences, leeway, max_token_bytes: 4096 })
    }

    /// A configuration for introspection: any audience is accepted, since the caller asks about the
    /// token rather than presenting it to a resource server. [`Verifier::authenticate`] refuses every
    /// token under it (no audience is configured), so it cannot be misused at the edge.
    #[must_use]
    pub fn introspection(issuer: impl Into<String>, leeway: Duration) -> Self {
        Self { issuer: issuer.into(), audiences: Vec::new(), leeway: leeway.min(MAX_LEEWAY), max_token_bytes: 4096 }
    }

    /// Changes the size limit (default 4 KiB: a Tessera token is well under 1 KiB).
    #[must_use]
    pub fn with_max_token_bytes(mut self, n: usize) -> Self {
        self.max_token_bytes = n;
        self
    }

    /// The configured leeway.
    #[must_use]
    pub fn leeway(&self) -> Duration {
        self.leeway
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<std::borrow::Cow<'a, str>>,
    // Present means "you must understand these extensions"; we understand none (RFC 7515 §4.1.11).
    #[serde(default)]
    crit: Option<IgnoredAny>,
    // jku, x5u, jwk and x5c are deliberately not read: keys come only from the key ring.
}

/// The facts about a request that verification needs.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// The caller's address, if the event carries it.
    pub source_ip: Option<IpAddr>,
}

/// A token that passed verification, with the key that signed it.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The signing key's id.
    pub kid: String,
}

/// Verifies tokens against a key ring and revocation set it is handed (so it does no I/O itself).
#[derive(Clone, Debug)]
pub struct Verifier {
    config: VerifierConfig,
}

impl Verifier {
    /// A verifier with this configuration.
    #[must_use]
    pub fn new(config: VerifierConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Everything up to and including the source-address check: is this a token the caller may use at
    /// all?
    pub fn authenticate(
        &self,
        token: &str,
        keys: &KeyRing,
        revocations: &RevocationSet,
        source_ip: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<Verified, Reject> {
        let verified = self.check(token, keys, revocations, now, true)?;
        if !verified.claims.ip_allowed(source_ip) {
            return Err(Reject::IpNotAllowed);
        }
        Ok(verified)
    }

    /// Signature, claims but the audience, and revocation: whether the token is live at all (RFC 7662).
    pub fn check_any_audience(
        &self,
        token: &str,
        keys: &KeyRing,
        revocations: &RevocationSet,
        now: UnixTime,
    ) -> Result<Verified, Reject> {
        self.check(token, keys, revocations, now, false)
    }

    fn check(
        &self,
        token: &str,
        keys: &KeyRing,
        revocations: &RevocationSet,
        now: UnixTime,
        check_audience: bool,
    ) -> Result<Verified, Reject> {
        if token.is_empty() {
            return Err(Reject::MissingToken);
        }
        if token.len() > self.config.max_token_bytes {
            return Err(Reject::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(c64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Reject::Malformed);
        };
        let header_json = b64::decode(h64).map_err(|_| Reject::Malformed)?;
        let header: Header<'_> = serde_json::from_slice(&header_json).map_err(|_| Reject::Malformed)?;
        if header.crit.is_some() {
            return Err(Reject::CriticalHeader);
        }
        let kid = header.kid.as_deref().ok_or(Reject::UnknownKid)?;
        let key = keys.get(kid).ok_or(Reject::UnknownKid)?;
        // The key decides the algorithm; the header can only agree with it (exact, case-sensitive).
        if header.alg != key.algorithm().as_str() {
            return Err(Reject::AlgorithmMismatch);
        }
        let signature = b64::decode(s64).map_err(|_| Reject::Malformed)?;
        let signed = &token[..h64.len() + 1 + c64.len()];
        if !key.verify(signed.as_bytes(), &signature) {
            return Err(Reject::BadSignature);
        }
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt"));
        if !typ_ok {
            return Err(Reject::WrongType);
        }
        let claims_json = b64::decode(c64).map_err(|_| Reject::Malformed)?;
        let claims: AccessClaims = serde_json::from_slice(&claims_json).map_err(|_| Reject::InvalidClaims)?;
        self.check_claims(&claims, now, check_audience)?;
        revocations.check(kid, &claims)?;
        Ok(Verified { claims, kid: kid.to_owned() })
    }

    fn check_claims(&self, claims: &AccessClaims, now: UnixTime, check_audience: bool) -> Result<(), Reject> {
        if claims.iss != self.config.issuer {
            return Err(Reject::WrongIssuer);
        }
        if check_audience && !self.config.audiences.iter().any(|a| claims.aud.contains(a)) {
            return Err(Reject::WrongAudience);
        }
        let leeway = self.config.leeway;
        if now >= claims.exp.plus(leeway) {
            return Err(Reject::Expired);
        }
        if now.plus(leeway) < claims.nbf {
            return Err(Reject::NotYetValid);
        }
        if claims.iat > now.plus(leeway) {
            return Err(Reject::IssuedInFuture);
        }
        if claims.sub != claims.client_id {
            return Err(Reject::InvalidClaims);
        }
        Ok(())
    }

    /// The route step: which rule covers the request, and whether the token's scopes satisfy it.
    pub fn authorize<'p>(
        &self,
        verified: &Verified,
        routes: &'p RoutePolicy,
        method: &str,
        path: &str,
    ) -> Result<&'p Route, Reject> {
        let route = routes.route_for(method, path).ok_or(Reject::NoRoute)?;
        if !route.allows(&verified.claims.scope) {
            return Err(Reject::InsufficientScope);
        }
        Ok(route)
    }

    /// The whole pipeline for one request.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeyRing,
        revocations: &RevocationSet,
        routes: &RoutePolicy,
        request: &RequestFacts<'_>,
        now: UnixTime,
    ) -> Result<Verified, Reject> {
        let verified = self.authenticate(token, keys, revocations, request.source_ip, now)?;
        self.authorize(&verified, routes, request.method, request.path)?;
        Ok(verified)
    }
}
