//! Operator use cases on clients and revocations, shared by every backend of the CLI.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;

use crate::client::{Client, ClientStatus, SecretRecord};
use crate::ids::{ClientId, Jti, Scope, ScopeSet};
use crate::ports::{ClientStore, PortError, RevocationStore, TokenStore};
use crate::revocation::Revocation;
use crate::secret::ClientSecret;
use crate::time::UnixTime;

/// An operator request that cannot be carried out.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No such client.
    #[error("no client with id {0}")]
    UnknownClient(String),
    /// No live token with this jti.
    #[error("no live token with jti {0} (unknown or already expired)")]
    UnknownToken(String),
    /// Invalid input.
    #[error("{0}")]
    Invalid(String),
    /// Concurrent writers kept winning.
    #[error("the client kept changing under this update; try again")]
    Contended,
    /// A port failed.
    #[error("backend failure")]
    Backend(#[from] PortError),
}

/// What a new client may do.
#[derive(Clone, Debug)]
pub struct NewClient {
    /// Name.
    pub name: String,
    /// Allowed scopes.
    pub scopes: ScopeSet,
    /// Allowed audiences.
    pub audiences: Vec<String>,
    /// Allowed networks.
    pub cidrs: Vec<IpNet>,
    /// Longest token lifetime.
    pub max_ttl: Duration,
    /// Per-scope lifetime caps.
    pub scope_ttl_caps: BTreeMap<Scope, Duration>,
}

/// Creates a client; the secret is returned once and only its hash is stored.
pub async fn create_client(
    store: &dyn ClientStore,
    spec: NewClient,
    now: UnixTime,
    rng: &mut (impl RngCore + CryptoRng + Send),
) -> Result<(Client, ClientSecret), AdminError> {
    if spec.name.trim().is_empty() || spec.name.len() > 200 || spec.name.chars().any(char::is_control) {
        return Err(AdminError::Invalid("name must be 1 to 200 printable characters".to_owned()));
    }
    if spec.scopes.is_empty() {
        return Err(AdminError::Invalid("a client needs at least one scope".to_owned()));
    }
    if spec.audiences.is_empty() || spec.audiences.iter().any(|a| a.is_empty() || a.chars().any(char::is_whitespace)) {
        return Err(AdminError::Invalid("a client needs at least one audience, without spaces".to_owned()));
    }
    if spec.max_ttl.is_zero() {
        return Err(AdminError::Invalid("max TTL must be positive".to_owned()));
    }
    if let Some(s) = spec.scope_ttl_caps.keys().find(|s| !spec.scopes.contains(s)) {
        return Err(AdminError::Invalid(format!("TTL cap for scope {s}, which the client does not have")));
    }
    let secret = ClientSecret::generate(rng);
    let client = Client {
        id: ClientId::generate(rng),
        name: spec.name,
        status: ClientStatus::Active,
        secrets: vec![SecretRecord { hash: secret.hash(), created_at: now, expires_at: None }],
        scopes: spec.scopes,
        audiences: spec.audiences,
        cidrs: spec.cidrs,
        max_ttl: spec.max_ttl,
        scope_ttl_caps: spec.scope_ttl_caps,
        created_at: now,
        version: 1,
    };
    store.create_client(&client).await?;
    Ok((client, secret))
}

/// Reads a client or says it does not exist.
pub async fn get_client(store: &dyn ClientStore, id: &str) -> Result<Client, AdminError> {
    let parsed = ClientId::parse(id).map_err(|_| AdminError::UnknownClient(id.to_owned()))?;
    store.get_client(&parsed).await?.ok_or_else(|| AdminError::UnknownClient(id.to_owned()))
}

/// Read-modify-write with the version check, retried a few times when another writer won.
async fn modify(store: &dyn ClientStore, id: &str, mut change: impl FnMut(&mut Client)) -> Result<Client, AdminError> {
    for _ in 0..5 {
        let mut client = get_client(store, id).await?;
        change(&mut client);
        client.version += 1;
        match store.update_client(&client).await {
            Ok(()) => return Ok(client),
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AdminError::Contended)
}

/// Issues a new secret; the previous one keeps working for `grace`.
pub async fn rotate_secret(
    store: &dyn ClientStore,
    id: &str,
    grace: Duration,
    now: UnixTime,
    rng: &mut (impl RngCore + CryptoRng + Send),
) -> Result<(Client, ClientSecret), AdminError> {
    let secret = ClientSecret::generate(rng);
    let client = modify(store, id, |c| c.rotate_secret(&secret, now, grace)).await?;
    Ok((client, secret))
}

/// Enables or disables a client. A disabled client's tokens are refused by verifiers at their next
/// revocation refresh.
pub async fn set_status(store: &dyn ClientStore, id: &str, status: ClientStatus) -> Result<Client, AdminError> {
    modify(store, id, |c| c.status = status).await
}

/// Deletes a client. Its tokens are revoked first, so deletion never leaves a usable token behind.
pub async fn delete_client(
    store: &dyn ClientStore,
    revocations: &dyn RevocationStore,
    id: &str,
    now: UnixTime,
) -> Result<(), AdminError> {
    let client = get_client(store, id).await?;
    revocations.revoke(&Revocation::ClientBefore { client_id: client.id.clone(), before: now }, now).await?;
    store.delete_client(&client.id, client.version).await?;
    Ok(())
}

/// Revokes every token of a client issued up to now.
pub async fn revoke_client(
    store: &dyn ClientStore,
    revocations: &dyn RevocationStore,
    id: &str,
    now: UnixTime,
) -> Result<ClientId, AdminError> {
    let client = get_client(store, id).await?;
    revocations.revoke(&Revocation::ClientBefore { client_id: client.id.clone(), before: now }, now).await?;
    Ok(client.id)
}

/// Revokes one token by jti.
pub async fn revoke_token(
    tokens: &dyn TokenStore,
    revocations: &dyn RevocationStore,
    jti: &str,
    now: UnixTime,
) -> Result<Jti, AdminError> {
    let parsed = Jti::parse(jti).map_err(|_| AdminError::UnknownToken(jti.to_owned()))?;
    let record = tokens.get_token(&parsed, now).await?.ok_or_else(|| AdminError::UnknownToken(jti.to_owned()))?;
    revocations
        .revoke(
            &Revocation::Token { jti: parsed.clone(), client_id: record.client_id, expires_at: record.expires_at },
            now,
        )
        .await?;
    Ok(parsed)
}
