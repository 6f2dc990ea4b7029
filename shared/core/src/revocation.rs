//! Revocation: what can be revoked, and the in-memory set a verifier checks without any I/O.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, Jti, Kid};
use crate::time::UnixTime;
use crate::token::AccessClaims;
use crate::verify::Reject;

/// One revocation, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One token. Kept until the token would have expired anyway.
    Token {
        /// The revoked token.
        jti: Jti,
        /// Its client.
        client_id: ClientId,
        /// The token's own expiry: after it the entry may be dropped.
        expires_at: UnixTime,
    },
    /// Every token of a client issued at or before an instant.
    ClientBefore {
        /// The client.
        client_id: ClientId,
        /// Tokens with `iat` at or before this are refused.
        before: UnixTime,
    },
    /// Every token signed by a key (an emergency retirement).
    Key {
        /// The key.
        kid: Kid,
    },
}

/// What a verifier holds: every live revocation and the disabled clients. Keyed by text so that a check
/// allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct RevocationSet {
    tokens: HashMap<String, UnixTime>,
    client_before: HashMap<String, UnixTime>,
    keys: HashSet<String>,
    disabled: HashSet<String>,
}

impl RevocationSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds revocations (in any order; adding one twice changes nothing).
    pub fn apply<'a>(&mut self, entries: impl IntoIterator<Item = &'a Revocation>) {
        for r in entries {
            match r {
                Revocation::Token { jti, expires_at, .. } => {
                    self.tokens.insert(jti.as_str().to_owned(), *expires_at);
                }
                Revocation::ClientBefore { client_id, before } => {
                    let slot = self.client_before.entry(client_id.as_str().to_owned()).or_insert(*before);
                    *slot = (*slot).max(*before);
                }
                Revocation::Key { kid } => {
                    self.keys.insert(kid.as_str().to_owned());
                }
            }
        }
    }

    /// Replaces the set of disabled clients.
    pub fn set_disabled<'a>(&mut self, clients: impl IntoIterator<Item = &'a ClientId>) {
        self.disabled = clients.into_iter().map(|c| c.as_str().to_owned()).collect();
    }

    /// Drops token entries whose tokens can no longer verify anyway.
    pub fn prune(&mut self, now: UnixTime, leeway: std::time::Duration) {
        self.tokens.retain(|_, exp| exp.plus(leeway) >= now);
    }

    /// Number of live token revocations.
    #[must_use]
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Refuses a token signed by `kid` with these claims if anything revokes it.
    pub fn check(&self, kid: &str, claims: &AccessClaims) -> Result<(), Reject> {
        if self.keys.contains(kid) {
            return Err(Reject::KeyRevoked);
        }
        if self.tokens.contains_key(claims.jti.as_str()) {
            return Err(Reject::TokenRevoked);
        }
        if self.disabled.contains(claims.client_id.as_str()) {
            return Err(Reject::ClientDisabled);
        }
        if self.client_before.get(claims.client_id.as_str()).is_some_and(|before| claims.iat <= *before) {
            return Err(Reject::ClientRevoked);
        }
        Ok(())
    }
}
