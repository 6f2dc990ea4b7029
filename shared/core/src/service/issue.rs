//! Issuance (RFC 6749 §4.4), revocation by the client (RFC 7009) and introspection (RFC 7662).

use std::sync::Arc;
use std::time::Duration;

use rand_core::{CryptoRng, RngCore};
use serde::Serialize;
use thiserror::Error;

use crate::client::{Client, ClientStatus, GrantError, TokenRequest};
use crate::ids::{ClientId, Jti, Scope};
use crate::jose::der::SignatureFormatError;
use crate::jose::{KeyRing, b64};
use crate::lifecycle;
use crate::ports::{
    ClientStore, KeySource, PortError, RevocationSource, RevocationStore, Signer, TokenRecord, TokenStore,
};
use crate::revocation::{Revocation, RevocationSet};
use crate::secret::ClientSecret;
use crate::time::UnixTime;
use crate::token::{self, AccessClaims, Audience};
use crate::verify::{Verifier, VerifierConfig};

use super::reuse::{Reuse, ReuseKey};

/// The scope that lets a client introspect tokens other than its own.
pub const INTROSPECT_SCOPE: &str = "tessera:introspect";

/// Why a request to the issuer failed. Exactly one place (the issuer's HTTP mapping) turns these into
/// RFC 6749 error responses.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IssueError {
    /// Unknown client, wrong or expired secret, disabled client.
    #[error("client authentication failed")]
    InvalidClient,
    /// The client may not have what it asked for.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The token presented for revocation belongs to another client.
    #[error("token was issued to another client")]
    NotYourToken,
    /// No key can sign right now (the rotator has not run yet).
    #[error("no active signing key")]
    NoSigningKey,
    /// A port failed.
    #[error("backend failure")]
    Backend(#[from] PortError),
    /// The signer returned something that is not a signature.
    #[error("signer returned an invalid signature")]
    BadSignerOutput(#[from] SignatureFormatError),
}

/// Settings of the issuer.
#[derive(Clone, Debug)]
pub struct IssuerSettings {
    /// `iss` of every token.
    pub issuer: String,
    /// Lifetime of tokens, before client and scope caps.
    pub token_ttl: Duration,
    /// Verifiers' leeway, used for introspection.
    pub leeway: Duration,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWS. Never logged.
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes.
    pub scope: String,
    /// Token id, for logs.
    pub jti: Jti,
    /// Signing key, for logs.
    pub kid: String,
    /// Handed out again from the reuse cache (no signature spent).
    pub reused: bool,
}

/// RFC 7662 introspection response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Introspection {
    /// Whether the token is currently valid.
    pub active: bool,
    /// The rest, only when active.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<IntrospectionDetails>,
}

/// The claims an active token's introspection reveals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IntrospectionDetails {
    /// Scopes.
    pub scope: String,
    /// Client.
    pub client_id: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Subject.
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Issuer.
    pub iss: String,
    /// Token id.
    pub jti: String,
}

/// The issuer use cases over their ports.
#[derive(Clone)]
pub struct Issuer {
    settings: IssuerSettings,
    clients: Arc<dyn ClientStore>,
    tokens: Arc<dyn TokenStore>,
    keys: Arc<dyn KeySource>,
    signer: Arc<dyn Signer>,
    revocations: Arc<dyn RevocationStore>,
    revocation_source: Arc<dyn RevocationSource>,
    reuse: Option<Arc<Reuse>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Issuer {
    /// Wires the issuer to its ports.
    #[must_use]
    pub fn new(
        settings: IssuerSettings,
        clients: Arc<dyn ClientStore>,
        tokens: Arc<dyn TokenStore>,
        keys: Arc<dyn KeySource>,
        signer: Arc<dyn Signer>,
        revocations: Arc<dyn RevocationStore>,
        revocation_source: Arc<dyn RevocationSource>,
    ) -> Self {
        Self { settings, clients, tokens, keys, signer, revocations, revocation_source, reuse: None }
    }

    /// Hands a client the token it already holds for the same scopes and audience while at least half its
    /// life remains, instead of signing a new one (see `reuse`: still signed by the current key, never
    /// revoked, never longer-lived than the client may get now).
    #[must_use]
    pub fn with_token_reuse(mut self, enabled: bool) -> Self {
        self.reuse = enabled.then(|| Arc::new(Reuse::default()));
        self
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &IssuerSettings {
        &self.settings
    }

    /// The JWKS of the keys verifiers should trust now, from the key registry (what the rotator publishes).
    pub async fn jwks(&self) -> Result<crate::jose::Jwks, IssueError> {
        Ok(lifecycle::jwks(&self.keys.list_keys().await?))
    }

    /// Authenticates a client by id and secret. Every failure looks the same to the caller.
    pub async fn authenticate(&self, client_id: &str, secret: &str, now: UnixTime) -> Result<Client, IssueError> {
        // A malformed id or a secret with a bad checksum is refused before any lookup.
        let (Ok(id), Some(secret)) = (ClientId::parse(client_id), ClientSecret::parse(secret)) else {
            return Err(IssueError::InvalidClient);
        };
        let client = self.clients.get_client(&id).await?.ok_or(IssueError::InvalidClient)?;
        if !client.authenticate(&secret, now) || client.status != ClientStatus::Active {
            return Err(IssueError::InvalidClient);
        }
        Ok(client)
    }

    /// Issues a token to an authenticated client.
    pub async fn issue(
        &self,
        client: &Client,
        request: &TokenRequest,
        now: UnixTime,
        rng: &mut (impl RngCore + CryptoRng + Send),
    ) -> Result<IssuedToken, IssueError> {
        let grant = client.grant(request, self.settings.token_ttl)?;
        let keys = self.keys.list_keys().await?;
        let key = lifecycle::signing_key(&keys).ok_or(IssueError::NoSigningKey)?;
        let reuse_key = ReuseKey {
            client: client.id.clone(),
            scopes: grant.scopes.to_string(),
            audience: grant.audience.clone(),
            cidrs: client.cidrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        };
        if let Some(r) = &self.reuse
            && let Some(t) =
                r.find(&reuse_key, key.kid.as_str(), grant.ttl, now, self.revocation_source.as_ref()).await?
        {
            return Ok(t);
        }
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: client.id.clone(),
            aud: Audience::One(grant.audience.clone()),
            exp: now.plus(grant.ttl),
            iat: now,
            nbf: now,
            jti: Jti::generate(rng),
            client_id: client.id.clone(),
            scope: grant.scopes.clone(),
            cidrs: client.cidrs.clone(),
        };
        let input = token::signing_input(key.alg, &key.kid, &claims);
        let der = self.signer.sign(&key.provider_key_id, key.alg, input.as_bytes()).await?;
        let signature = key.alg.jws_signature(&der)?;
        let access_token = token::compact(&input, &signature);
        // Recorded before the token is handed out: a token the store does not know cannot be revoked by
        // jti from the CLI, so a failed write means no token.
        self.tokens
            .record_token(&TokenRecord {
                jti: claims.jti.clone(),
                client_id: client.id.clone(),
                scope: grant.scopes.clone(),
                audience: grant.audience,
                kid: key.kid.to_string(),
                issued_at: now,
                expires_at: claims.exp,
            })
            .await?;
        let issued = IssuedToken {
            access_token,
            expires_in: grant.ttl.as_secs(),
            scope: grant.scopes.to_string(),
            jti: claims.jti.clone(),
            kid: key.kid.to_string(),
            reused: false,
        };
        if let Some(r) = &self.reuse {
            r.remember(reuse_key, &issued, &claims, now);
        }
        Ok(issued)
    }

    /// RFC 7009: revokes a token the client holds. Unknown, malformed or expired tokens are not an error
    /// (RFC 7009 §2.2); another client's token is.
    pub async fn revoke(&self, client: &Client, token: &str, now: UnixTime) -> Result<Option<Jti>, IssueError> {
        let Some(jti) = unverified_jti(token) else {
            return Ok(None);
        };
        let Some(record) = self.tokens.get_token(&jti, now).await? else {
            return Ok(None);
        };
        if record.client_id != client.id {
            return Err(IssueError::NotYourToken);
        }
        self.revocations
            .revoke(
                &Revocation::Token { jti: jti.clone(), client_id: record.client_id, expires_at: record.expires_at },
                now,
            )
            .await?;
        Ok(Some(jti))
    }

    /// RFC 7662: whether a token is active, checked fully against the current keys and revocations.
    /// A client sees its own tokens; one holding `tessera:introspect` sees any.
    pub async fn introspect(&self, client: &Client, token: &str, now: UnixTime) -> Result<Introspection, IssueError> {
        let inactive = Introspection { active: false, details: None };
        let keys = self.keys.list_keys().await?;
        let mut ring = KeyRing::new();
        for k in keys.iter().filter(|k| k.status.is_published()) {
            if let Ok(pk) = k.public_key() {
                ring.insert(k.kid.clone(), pk);
            }
        }
        let delta = self.revocation_source.revocations_since(None, now).await?;
        let mut revoked = RevocationSet::new();
        revoked.apply(&delta.added);
        revoked.set_disabled(&delta.disabled_clients);
        let verifier = Verifier::new(VerifierConfig::introspection(self.settings.issuer.clone(), self.settings.leeway));
        let Ok(verified) = verifier.check_any_audience(token, &ring, &revoked, now) else {
            return Ok(inactive);
        };
        let c = verified.claims;
        if !may_introspect(client, &c) {
            return Ok(inactive);
        }
        Ok(Introspection {
            active: true,
            details: Some(IntrospectionDetails {
                scope: c.scope.to_string(),
                client_id: c.client_id.to_string(),
                token_type: "Bearer",
                exp: c.exp.0,
                iat: c.iat.0,
                nbf: c.nbf.0,
                sub: c.sub.to_string(),
                aud: c.aud,
                iss: c.iss,
                jti: c.jti.to_string(),
            }),
        })
    }
}

fn unverified_payload(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    // Same bound as the verifier: nothing larger is ever a Tessera token.
    if token.len() > 4096 {
        return None;
    }
    serde_json::from_slice(&b64::decode(payload).ok()?).ok()
}

fn unverified_jti(token: &str) -> Option<Jti> {
    Jti::parse(unverified_payload(token)?.get("jti")?.as_str()?).ok()
}

fn may_introspect(client: &Client, claims: &AccessClaims) -> bool {
    claims.client_id == client.id || Scope::parse(INTROSPECT_SCOPE).is_ok_and(|s| client.scopes.contains(&s))
}
