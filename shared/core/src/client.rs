//! Clients: who may ask for tokens, with which secrets, for which scopes and audiences, for how long.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{ClientId, Scope, ScopeSet};
use crate::secret::{ClientSecret, SecretHash};
use crate::time::UnixTime;
use crate::token::canonical_ip;

/// A client holds at most this many live secrets: the current one and, during a rotation, the previous.
pub const MAX_SECRETS: usize = 2;

/// Whether a client may obtain and use tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    /// Normal.
    Active,
    /// Cannot get tokens; its existing tokens are refused.
    Disabled,
}

/// One stored secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// Hash of the secret.
    pub hash: SecretHash,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it stops working, if ever.
    pub expires_at: Option<UnixTime>,
}

impl SecretRecord {
    fn live(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

/// A registered machine client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Identifier.
    pub id: ClientId,
    /// Human-readable name.
    pub name: String,
    /// Status.
    pub status: ClientStatus,
    /// Live secrets, newest first; at most [`MAX_SECRETS`].
    pub secrets: Vec<SecretRecord>,
    /// Scopes the client may request.
    pub scopes: ScopeSet,
    /// Audiences the client may request tokens for.
    pub audiences: Vec<String>,
    /// Networks the client may request and use tokens from; empty means anywhere.
    pub cidrs: Vec<IpNet>,
    /// Longest token lifetime for this client.
    #[serde(with = "secs")]
    pub max_ttl: Duration,
    /// Shorter caps for sensitive scopes: a token holding the scope lives at most this long.
    #[serde(default, with = "scope_caps")]
    pub scope_ttl_caps: BTreeMap<Scope, Duration>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Optimistic-concurrency version: every stored update must name the version it read.
    pub version: u64,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod scope_caps {
    use super::Scope;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(m: &BTreeMap<Scope, Duration>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, v.as_secs())))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Scope, Duration>, D::Error> {
        let m = BTreeMap::<Scope, u64>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, Duration::from_secs(v))).collect())
    }
}

/// What a token request asks for, already parsed from the wire.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// Requested scopes; `None` means all the client's scopes.
    pub scopes: Option<ScopeSet>,
    /// Requested audiences (`audience` or RFC 8707 `resource`).
    pub audiences: Vec<String>,
    /// The caller's address, if known.
    pub source_ip: Option<IpAddr>,
}

/// What a client gets: scopes, audience, lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// The audience.
    pub audience: String,
    /// Token lifetime.
    pub ttl: Duration,
}

/// Why a client may not have what it asked for. Mapped to RFC 6749 errors at the edge.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantError {
    /// The client is disabled.
    #[error("client is disabled")]
    Disabled,
    /// A scope beyond the client's.
    #[error("scope not allowed: {0}")]
    ScopeNotAllowed(String),
    /// No scope would be granted.
    #[error("no scope requested or allowed")]
    NoScope,
    /// An audience beyond the client's, several audiences, or none when the client has several.
    #[error("{0}")]
    InvalidTarget(String),
    /// The request comes from outside the client's networks.
    #[error("client may not request tokens from this address")]
    AddressNotAllowed,
}

impl Client {
    /// Whether `secret` is one of the client's live secrets. Every stored hash is compared, in constant
    /// time, so timing reveals neither which secret matched nor whether one did.
    #[must_use]
    pub fn authenticate(&self, secret: &ClientSecret, now: UnixTime) -> bool {
        let mut ok = false;
        for record in &self.secrets {
            ok |= secret.matches(&record.hash) & record.live(now);
        }
        ok
    }

    /// Decides a token request: scopes ⊆ client's, one audience among the client's, the source address,
    /// and a lifetime no longer than the server default, the client's cap, or any granted scope's cap.
    pub fn grant(&self, req: &TokenRequest, default_ttl: Duration) -> Result<Grant, GrantError> {
        if self.status != ClientStatus::Active {
            return Err(GrantError::Disabled);
        }
        if !self.cidrs.is_empty() {
            let ip = req.source_ip.map(canonical_ip);
            if !ip.is_some_and(|ip| self.cidrs.iter().any(|n| n.contains(&ip))) {
                return Err(GrantError::AddressNotAllowed);
            }
        }
        let scopes = match &req.scopes {
            Some(asked) => {
                if let Some(extra) = asked.iter().find(|s| !self.scopes.contains(s)) {
                    return Err(GrantError::ScopeNotAllowed(extra.to_string()));
                }
                asked.clone()
            }
            None => self.scopes.clone(),
        };
        if scopes.is_empty() {
            return Err(GrantError::NoScope);
        }
        let audience = match req.audiences.as_slice() {
            [] => match self.audiences.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(GrantError::InvalidTarget("audience is required: the client has several".to_owned()));
                }
            },
            [one] if self.audiences.contains(one) => one.clone(),
            [one] => {
                return Err(GrantError::InvalidTarget(format!("audience not allowed: {one}")));
            }
            _ => {
                return Err(GrantError::InvalidTarget("request one audience per token".to_owned()));
            }
        };
        let ttl = scopes
            .iter()
            .filter_map(|s| self.scope_ttl_caps.get(s).copied())
            .fold(default_ttl.min(self.max_ttl), Duration::min);
        Ok(Grant { scopes, audience, ttl })
    }

    /// Adds a new secret, keeping the previous newest one alive for `grace` (at most) and dropping any
    /// older or expired one, so there are never more than [`MAX_SECRETS`].
    pub fn rotate_secret(&mut self, new: &ClientSecret, now: UnixTime, grace: Duration) {
        self.secrets.retain(|s| s.live(now));
        self.secrets.truncate(1);
        for old in &mut self.secrets {
            let until = now.plus(grace);
            old.expires_at = Some(old.expires_at.map_or(until, |e| e.min(until)));
        }
        self.secrets.retain(|s| s.live(now));
        self.secrets.insert(0, SecretRecord { hash: new.hash(), created_at: now, expires_at: None });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn client(rng: &mut ChaCha20Rng) -> (Client, ClientSecret) {
        let secret = ClientSecret::generate(rng);
        let c = Client {
            id: ClientId::generate(rng),
            name: "svc".to_owned(),
            status: ClientStatus::Active,
            secrets: vec![SecretRecord { hash: secret.hash(), created_at: UnixTime(0), expires_at: None }],
            scopes: ScopeSet::parse("orders:read orders:write admin").expect("scopes"),
            audiences: vec!["https://api".to_owned()],
            cidrs: vec![],
            max_ttl: Duration::from_secs(3600),
            scope_ttl_caps: [(Scope::parse("admin").expect("scope"), Duration::from_secs(60))].into(),
            created_at: UnixTime(0),
            version: 1,
        };
        (c, secret)
    }

    #[test]
    fn grants_default_to_all_scopes_and_the_only_audience() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (c, _) = client(&mut rng);
        let g = c.grant(&TokenRequest::default(), Duration::from_secs(900)).expect("grant");
        assert_eq!(g.audience, "https://api");
        assert_eq!(g.ttl, Duration::from_secs(60), "admin's cap applies");
        let req = TokenRequest { scopes: Some(ScopeSet::parse("orders:read").expect("s")), ..Default::default() };
        assert_eq!(c.grant(&req, Duration::from_secs(900)).expect("grant").ttl, Duration::from_secs(900));
        assert_eq!(
            c.grant(&req, Duration::from_secs(7200)).expect("grant").ttl,
            Duration::from_secs(3600),
            "client cap"
        );
    }

    #[test]
    fn grants_refuse_extra_scopes_audiences_addresses_and_disabled_clients() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (mut c, _) = client(&mut rng);
        let ttl = Duration::from_secs(60);
        let extra =
            TokenRequest { scopes: Some(ScopeSet::parse("orders:read root").expect("s")), ..Default::default() };
        assert_eq!(c.grant(&extra, ttl), Err(GrantError::ScopeNotAllowed("root".to_owned())));
        let aud = TokenRequest { audiences: vec!["https://other".to_owned()], ..Default::default() };
        assert!(matches!(c.grant(&aud, ttl), Err(GrantError::InvalidTarget(_))));
        let two =
            TokenRequest { audiences: vec!["https://api".to_owned(), "https://api".to_owned()], ..Default::default() };
        assert!(matches!(c.grant(&two, ttl), Err(GrantError::InvalidTarget(_))));
        c.cidrs = vec!["10.0.0.0/8".parse().expect("net")];
        let outside = TokenRequest { source_ip: Some("192.0.2.1".parse().expect("ip")), ..Default::default() };
        assert_eq!(c.grant(&outside, ttl), Err(GrantError::AddressNotAllowed));
        assert_eq!(c.grant(&TokenRequest::default(), ttl), Err(GrantError::AddressNotAllowed), "unknown source");
        let mapped = TokenRequest { source_ip: Some("::ffff:10.1.2.3".parse().expect("ip")), ..Default::default() };
        assert!(c.grant(&mapped, ttl).is_ok(), "IPv4-mapped IPv6 is the IPv4 address");
        c.status = ClientStatus::Disabled;
        assert_eq!(c.grant(&mapped, ttl), Err(GrantError::Disabled));
    }

    #[test]
    fn secret_rotation_keeps_one_previous_secret_for_the_grace_period() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (mut c, first) = client(&mut rng);
        let second = ClientSecret::generate(&mut rng);
        c.rotate_secret(&second, UnixTime(100), Duration::from_secs(50));
        assert!(c.authenticate(&first, UnixTime(149)));
        assert!(!c.authenticate(&first, UnixTime(150)), "grace over");
        assert!(c.authenticate(&second, UnixTime(10_000)));
        let third = ClientSecret::generate(&mut rng);
        c.rotate_secret(&third, UnixTime(120), Duration::from_secs(1000));
        assert_eq!(c.secrets.len(), MAX_SECRETS);
        assert!(!c.authenticate(&first, UnixTime(121)), "the oldest is dropped");
        assert!(c.authenticate(&second, UnixTime(121)) && c.authenticate(&third, UnixTime(121)));
        let fourth = ClientSecret::generate(&mut rng);
        c.rotate_secret(&fourth, UnixTime(130), Duration::ZERO);
        assert_eq!(c.secrets.len(), 1, "zero grace drops the old secret at once");
        assert!(!c.authenticate(&third, UnixTime(130)));
    }
}
