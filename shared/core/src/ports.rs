//! Ports: what the core needs from the outside, cut by capability so that each function's adapters need
//! only what its IAM policy allows.
//!
//! | port | issuer | authorizer | rotator | operator CLI |
//! |---|---|---|---|---|
//! | [`Signer`] | sign | – | – | – |
//! | [`KeyManager`] | – | – | create, disable, delete | emergency |
//! | [`ClientStore`] | read | – | – | read/write |
//! | [`TokenStore`] | write, read | – | – | read |
//! | [`KeySource`] | read | read | read | read |
//! | [`KeyRegistry`] | – | – | write | write |
//! | [`RevocationSource`] | read | read | – | – |
//! | [`RevocationStore`] | write | – | – | write |
//! | [`Publisher`] | – | – | write | write |
//!
//! Every state change is a conditional write: it names the version it read and fails with
//! [`PortError::Conflict`] if someone else wrote first, so concurrent writers never lose an update.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::client::Client;
use crate::ids::{ClientId, Jti, ScopeSet};
use crate::jose::Algorithm;
use crate::lifecycle::KeyRecord;
use crate::revocation::Revocation;
use crate::time::UnixTime;

/// Any error an adapter can report, by what the caller can do about it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An adapter failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PortError {
    /// A conditional write lost: the item changed, already exists, or does not exist.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend asks us to slow down.
    #[error("throttled by the backend")]
    Throttled {
        /// How long it asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The backend could not be reached or failed.
    #[error("backend unavailable")]
    Unavailable(#[source] BoxError),
    /// Stored data does not parse: never silently skipped.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl PortError {
    /// Wraps a backend error as unavailability.
    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        Self::Unavailable(e.into())
    }
}

/// Result of a port call.
pub type PortResult<T> = Result<T, PortError>;

/// Signs with a key the manager holds. Returns what KMS returns: a DER ECDSA signature.
#[async_trait]
pub trait Signer: Send + Sync {
    /// Signs `message` (the raw JWS signing input; the signer hashes it).
    async fn sign(&self, provider_key_id: &str, alg: Algorithm, message: &[u8]) -> PortResult<Vec<u8>>;
}

/// A new key as the manager created it.
#[derive(Clone, Debug)]
pub struct CreatedKey {
    /// The manager's id for it.
    pub provider_key_id: String,
    /// SubjectPublicKeyInfo DER.
    pub public_key_spki: Vec<u8>,
}

/// Creates and disposes of keys whose private halves never leave it.
#[async_trait]
pub trait KeyManager: Send + Sync {
    /// Creates a key for `alg`.
    async fn create_key(&self, alg: Algorithm) -> PortResult<CreatedKey>;
    /// The SPKI DER public key.
    async fn public_key(&self, provider_key_id: &str) -> PortResult<Vec<u8>>;
    /// Stops the key from signing.
    async fn disable_key(&self, provider_key_id: &str) -> PortResult<()>;
    /// Schedules destruction after a waiting period.
    async fn schedule_deletion(&self, provider_key_id: &str, after: Duration) -> PortResult<()>;
    /// Points the manager's own name for the signing key (a KMS alias) at this key. Informational:
    /// verifiers never rely on it.
    async fn mark_active(&self, _provider_key_id: &str) -> PortResult<()> {
        Ok(())
    }
}

/// Registered clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client; `Conflict` if the id exists.
    async fn create_client(&self, client: &Client) -> PortResult<()>;
    /// Reads a client (strongly consistent: authentication depends on it).
    async fn get_client(&self, id: &ClientId) -> PortResult<Option<Client>>;
    /// Replaces a client if its stored version is `client.version - 1`.
    async fn update_client(&self, client: &Client) -> PortResult<()>;
    /// Deletes a client if its stored version is `expected_version`.
    async fn delete_client(&self, id: &ClientId, expected_version: u64) -> PortResult<()>;
    /// All clients.
    async fn list_clients(&self) -> PortResult<Vec<Client>>;
}

/// What is remembered about an issued token (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Token id.
    pub jti: Jti,
    /// Client.
    pub client_id: ClientId,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// Audience.
    pub audience: String,
    /// Signing key.
    pub kid: String,
    /// Issued at.
    pub issued_at: UnixTime,
    /// Expiry; the store may drop the record after it.
    pub expires_at: UnixTime,
}

/// Issued-token metadata.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records an issued token; `Conflict` on a repeated jti.
    async fn record_token(&self, record: &TokenRecord) -> PortResult<()>;
    /// Reads a token's record, if it has not expired.
    async fn get_token(&self, jti: &Jti, now: UnixTime) -> PortResult<Option<TokenRecord>>;
}

/// Reads the key registry.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// Every key record, in any state.
    async fn list_keys(&self) -> PortResult<Vec<KeyRecord>>;
}

/// Writes the key registry.
#[async_trait]
pub trait KeyRegistry: KeySource {
    /// Stores a new key; `Conflict` if its kid or generation exists.
    async fn insert_key(&self, key: &KeyRecord) -> PortResult<()>;
    /// Replaces several keys at once, atomically, each only if its stored version is `version - 1`.
    async fn update_keys(&self, keys: &[KeyRecord]) -> PortResult<()>;
}

/// A position in the revocation feed; opaque to the core.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

/// What changed in revocations since a cursor.
#[derive(Clone, Debug, Default)]
pub struct RevocationDelta {
    /// New revocations.
    pub added: Vec<Revocation>,
    /// Every client currently disabled (a full, small list).
    pub disabled_clients: Vec<ClientId>,
    /// Where to continue from.
    pub cursor: Cursor,
}

/// Reads revocations incrementally, for verifiers' in-memory sets.
#[async_trait]
pub trait RevocationSource: Send + Sync {
    /// Revocations after `cursor` (all live ones for `None`) and the disabled clients.
    async fn revocations_since(&self, cursor: Option<&Cursor>, now: UnixTime) -> PortResult<RevocationDelta>;
}

/// Records revocations.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Appends a revocation; revoking twice is not an error.
    async fn revoke(&self, revocation: &Revocation, now: UnixTime) -> PortResult<()>;
}

/// The documents verifiers fetch, as bytes ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedDocuments {
    /// `/.well-known/jwks.json`.
    pub jwks: Vec<u8>,
    /// `/.well-known/openid-configuration`.
    pub openid_configuration: Vec<u8>,
    /// `/.well-known/oauth-authorization-server`.
    pub oauth_authorization_server: Vec<u8>,
    /// Cache-Control max-age they are served with.
    pub max_age: Duration,
}

/// Publishes the JWKS and discovery documents where verifiers fetch them (S3 behind CloudFront; a
/// directory the dev server serves).
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Replaces the published documents.
    async fn publish(&self, docs: &PublishedDocuments) -> PortResult<()>;
}
