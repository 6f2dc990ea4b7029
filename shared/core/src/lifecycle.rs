//! Signing-key lifecycle: pending → active → retiring → retired.
//!
//! - A key is **published** (in the JWKS) from the moment it is created, and **signs** only once it has
//!   been published for the propagation time (JWKS cache max-age plus a margin), so every verifier's cache
//!   knows it before the first token it signs exists.
//! - A demoted key keeps verifying (**retiring**) until the longest-lived token it could have signed has
//!   expired and every cache has seen that: max token TTL + leeway + cache max-age. Only then does it
//!   leave the JWKS (**retired**), get disabled, and have its deletion scheduled.
//!
//! [`plan`] is the whole rotation rule as a pure function of the key records and the time. Its result is
//! a fixpoint: applying it and planning again at the same instant yields nothing to do.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::Kid;
use crate::jose::{Algorithm, Jwks, KeyError, PublicKey};
use crate::time::UnixTime;

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Published, not yet signing.
    Pending,
    /// The one signing key.
    Active,
    /// Verifying only.
    Retiring,
    /// Out of the JWKS, disabled.
    Retired,
}

impl KeyStatus {
    /// Stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    /// Whether keys in this state are in the JWKS and trusted by verifiers.
    #[must_use]
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Retired)
    }
}

/// A signing key as the registry stores it. The private half lives only in the key manager (KMS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: Kid,
    /// Creation sequence number; unique, so two rotators cannot both create "the next" key.
    pub generation: u64,
    /// The key's one algorithm.
    pub alg: Algorithm,
    /// The key manager's id for the key (a KMS key ARN, or a local file name).
    pub provider_key_id: String,
    /// SubjectPublicKeyInfo DER.
    #[serde(with = "b64_bytes")]
    pub public_key_spki: Vec<u8>,
    /// Current state.
    pub status: KeyStatus,
    /// Created.
    pub created_at: UnixTime,
    /// First published in the JWKS.
    pub published_at: Option<UnixTime>,
    /// Became the signing key.
    pub activated_at: Option<UnixTime>,
    /// Stopped signing.
    pub retiring_at: Option<UnixTime>,
    /// Left the JWKS.
    pub retired_at: Option<UnixTime>,
    /// Disabled and deletion scheduled in the key manager.
    pub deletion_scheduled: bool,
    /// Optimistic-concurrency version.
    pub version: u64,
}

mod b64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::jose::b64::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        crate::jose::b64::decode(&s).map_err(serde::de::Error::custom)
    }
}

impl KeyRecord {
    /// The verifying key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        PublicKey::from_spki(self.alg, &self.public_key_spki)
    }
}

/// The timing of rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub rotate_every: Duration,
    /// Cache-Control max-age of the published JWKS.
    pub jwks_max_age: Duration,
    /// Extra wait beyond max-age before a new key signs (CDN and clock slack).
    pub propagation_margin: Duration,
    /// The longest lifetime of any token the issuer grants.
    pub max_token_ttl: Duration,
    /// Verifiers' clock leeway.
    pub leeway: Duration,
    /// Key manager's deletion waiting period for retired keys.
    pub deletion_window: Duration,
    /// Algorithm of new keys.
    pub algorithm: Algorithm,
}

/// A rotation policy that would let a token fail verification.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "rotation interval {rotate_every:?} is shorter than the propagation time {propagation:?} (JWKS max-age + margin)"
)]
pub struct PolicyError {
    /// Configured interval.
    pub rotate_every: Duration,
    /// Required minimum.
    pub propagation: Duration,
}

impl RotationPolicy {
    /// How long a key must be published before it signs.
    #[must_use]
    pub fn propagation(&self) -> Duration {
        self.jwks_max_age + self.propagation_margin
    }

    /// How long a retiring key stays published.
    #[must_use]
    pub fn retire_delay(&self) -> Duration {
        self.max_token_ttl + self.leeway + self.jwks_max_age
    }

    /// Refuses policies under which a key would be asked to sign before it propagated.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.rotate_every < self.propagation() {
            return Err(PolicyError { rotate_every: self.rotate_every, propagation: self.propagation() });
        }
        Ok(())
    }
}

/// One change the rotator makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create a key with this generation; `activate` only when nothing can sign (first start, or after an
    /// emergency retirement of the only usable key).
    Create {
        /// Generation number to claim.
        generation: u64,
        /// Sign at once.
        activate: bool,
    },
    /// Make a pending key the signing key and demote the current one.
    Promote {
        /// The key that starts signing.
        kid: Kid,
        /// The keys that stop signing.
        demote: Vec<Kid>,
    },
    /// Take a retiring key out of the JWKS.
    Retire {
        /// The key.
        kid: Kid,
    },
    /// Disable a retired key and schedule its deletion.
    Dispose {
        /// The key.
        kid: Kid,
    },
}

/// The actions that bring the keys up to date at `now`. `force` promotes the pending key as soon as it
/// has propagated, however young the active key is (a manual rotation).
#[must_use]
pub fn plan(now: UnixTime, keys: &[KeyRecord], policy: &RotationPolicy, force: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    for k in keys {
        match k.status {
            KeyStatus::Retired if !k.deletion_scheduled => actions.push(Action::Dispose { kid: k.kid.clone() }),
            KeyStatus::Retiring if k.retiring_at.is_none_or(|t| now >= t.plus(policy.retire_delay())) => {
                actions.push(Action::Retire { kid: k.kid.clone() });
            }
            _ => {}
        }
    }
    let newest = |status: KeyStatus| keys.iter().filter(|k| k.status == status).max_by_key(|k| k.generation);
    let actives: Vec<&KeyRecord> = keys.iter().filter(|k| k.status == KeyStatus::Active).collect();
    let active = newest(KeyStatus::Active);
    let pending = newest(KeyStatus::Pending);
    let mut next_generation = keys.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
    let mut claim = || {
        let g = next_generation;
        next_generation += 1;
        g
    };
    let demote_all =
        |keep: &Kid| -> Vec<Kid> { actives.iter().filter(|k| &k.kid != keep).map(|k| k.kid.clone()).collect() };
    match (active, pending) {
        (None, Some(p)) => {
            // Nothing signs: availability wins over propagation (verifiers reload on an unknown kid).
            actions.push(Action::Promote { kid: p.kid.clone(), demote: vec![] });
            actions.push(Action::Create { generation: claim(), activate: false });
        }
        (None, None) => {
            actions.push(Action::Create { generation: claim(), activate: true });
            actions.push(Action::Create { generation: claim(), activate: false });
        }
        (Some(a), Some(p)) => {
            let propagated = p.published_at.is_some_and(|t| now >= t.plus(policy.propagation()));
            let due = force || a.activated_at.is_none_or(|t| now >= t.plus(policy.rotate_every));
            if propagated && due {
                let mut demote = demote_all(&p.kid);
                demote.sort();
                actions.push(Action::Promote { kid: p.kid.clone(), demote });
                actions.push(Action::Create { generation: claim(), activate: false });
            } else if actives.len() > 1 {
                // Only reachable if a store lost atomicity; converge on the newest.
                actions.push(Action::Promote { kid: a.kid.clone(), demote: demote_all(&a.kid) });
            }
        }
        (Some(a), None) => {
            if actives.len() > 1 {
                actions.push(Action::Promote { kid: a.kid.clone(), demote: demote_all(&a.kid) });
            }
            actions.push(Action::Create { generation: claim(), activate: false });
        }
    }
    actions
}

/// The key that signs now: the newest active key.
#[must_use]
pub fn signing_key(keys: &[KeyRecord]) -> Option<&KeyRecord> {
    keys.iter().filter(|k| k.status == KeyStatus::Active).max_by_key(|k| k.generation)
}

/// The JWKS verifiers should trust: every published key, newest first. Keys whose public key does not
/// parse are left out (and cannot verify anything).
#[must_use]
pub fn jwks(keys: &[KeyRecord]) -> Jwks {
    let mut published: Vec<&KeyRecord> = keys.iter().filter(|k| k.status.is_published()).collect();
    published.sort_by_key(|k| std::cmp::Reverse(k.generation));
    Jwks { keys: published.iter().filter_map(|k| k.public_key().ok().map(|pk| pk.to_jwk(&k.kid))).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RotationPolicy {
        RotationPolicy {
            rotate_every: Duration::from_secs(100),
            jwks_max_age: Duration::from_secs(10),
            propagation_margin: Duration::from_secs(5),
            max_token_ttl: Duration::from_secs(30),
            leeway: Duration::from_secs(5),
            deletion_window: Duration::from_secs(7 * 86_400),
            algorithm: Algorithm::ES256,
        }
    }

    /// Applies a plan the way the rotation service does, with fake key material.
    fn apply(now: UnixTime, keys: &mut Vec<KeyRecord>, actions: &[Action]) {
        for a in actions {
            match a {
                Action::Create { generation, activate } => keys.push(KeyRecord {
                    kid: Kid::parse(&format!("k{generation}")).expect("kid"),
                    generation: *generation,
                    alg: Algorithm::ES256,
                    provider_key_id: format!("p{generation}"),
                    public_key_spki: vec![],
                    status: if *activate { KeyStatus::Active } else { KeyStatus::Pending },
                    created_at: now,
                    published_at: None,
                    activated_at: activate.then_some(now),
                    retiring_at: None,
                    retired_at: None,
                    deletion_scheduled: false,
                    version: 1,
                }),
                Action::Promote { kid, demote } => {
                    for k in keys.iter_mut() {
                        if &k.kid == kid {
                            k.status = KeyStatus::Active;
                            k.activated_at = Some(now);
                        } else if demote.contains(&k.kid) {
                            k.status = KeyStatus::Retiring;
                            k.retiring_at = Some(now);
                        }
                    }
                }
                Action::Retire { kid } => {
                    let k = keys.iter_mut().find(|k| &k.kid == kid).expect("key");
                    k.status = KeyStatus::Retired;
                    k.retired_at = Some(now);
                }
                Action::Dispose { kid } => {
                    keys.iter_mut().find(|k| &k.kid == kid).expect("key").deletion_scheduled = true;
                }
            }
        }
        // Publishing happens at the end of every step.
        for k in keys.iter_mut() {
            if k.status.is_published() && k.published_at.is_none() {
                k.published_at = Some(now);
            }
        }
    }

    fn status_of(keys: &[KeyRecord], g: u64) -> KeyStatus {
        keys.iter().find(|k| k.generation == g).expect("generation").status
    }

    #[test]
    fn first_step_creates_an_active_key_and_its_successor() {
        let mut keys = vec![];
        let a = plan(UnixTime(0), &keys, &policy(), false);
        assert_eq!(
            a,
            vec![Action::Create { generation: 1, activate: true }, Action::Create { generation: 2, activate: false }]
        );
        apply(UnixTime(0), &mut keys, &a);
        assert_eq!(plan(UnixTime(0), &keys, &policy(), false), vec![], "a second run at the same instant does nothing");
    }

    #[test]
    fn every_transition_happens_at_its_time_and_the_plan_is_a_fixpoint() {
        let p = policy();
        let mut keys = vec![];
        let mut now = UnixTime(1_000);
        let a = plan(now, &keys, &p, false);
        apply(now, &mut keys, &a);
        // Not yet due: nothing.
        now = UnixTime(1_099);
        assert_eq!(plan(now, &keys, &p, false), vec![]);
        // Due: gen 2 (published for 99 s ≥ 15 s) signs, gen 1 retires, gen 3 is created.
        now = UnixTime(1_100);
        let a = plan(now, &keys, &p, false);
        apply(now, &mut keys, &a);
        assert_eq!(
            (status_of(&keys, 1), status_of(&keys, 2), status_of(&keys, 3)),
            (KeyStatus::Retiring, KeyStatus::Active, KeyStatus::Pending)
        );
        assert_eq!(plan(now, &keys, &p, false), vec![], "fixpoint");
        // Retiring lasts max TTL + leeway + max-age = 45 s.
        now = UnixTime(1_144);
        assert_eq!(plan(now, &keys, &p, false), vec![]);
        now = UnixTime(1_145);
        let a = plan(now, &keys, &p, false);
        assert_eq!(a, vec![Action::Retire { kid: Kid::parse("k1").expect("kid") }]);
        apply(now, &mut keys, &a);
        let a = plan(now, &keys, &p, false);
        assert_eq!(a, vec![Action::Dispose { kid: Kid::parse("k1").expect("kid") }]);
        apply(now, &mut keys, &a);
        assert_eq!(plan(now, &keys, &p, false), vec![]);
    }

    #[test]
    fn a_key_never_signs_before_it_has_propagated_even_when_forced() {
        let p = policy();
        let mut keys = vec![];
        let a = plan(UnixTime(0), &keys, &p, false);
        apply(UnixTime(0), &mut keys, &a);
        // Forced rotation at 14 s: gen 2 was published at 0, propagation is 15 s.
        assert_eq!(plan(UnixTime(14), &keys, &p, true), vec![]);
        let a = plan(UnixTime(15), &keys, &p, true);
        assert!(matches!(&a[0], Action::Promote { kid, .. } if kid.as_str() == "k2"));
        // A pending key that was never published never signs.
        let mut unpublished = keys.clone();
        for k in &mut unpublished {
            if k.generation == 2 {
                k.published_at = None;
            }
        }
        assert_eq!(plan(UnixTime(500), &unpublished, &p, true), vec![]);
    }

    #[test]
    fn without_an_active_key_the_pending_one_is_promoted_at_once() {
        let p = policy();
        let mut keys = vec![];
        let a = plan(UnixTime(0), &keys, &p, false);
        apply(UnixTime(0), &mut keys, &a);
        keys.iter_mut().find(|k| k.generation == 1).expect("k1").status = KeyStatus::Retired;
        let a = plan(UnixTime(1), &keys, &p, false);
        assert!(a.contains(&Action::Promote { kid: Kid::parse("k2").expect("kid"), demote: vec![] }));
        assert!(a.contains(&Action::Create { generation: 3, activate: false }));
        assert!(a.contains(&Action::Dispose { kid: Kid::parse("k1").expect("kid") }));
    }

    #[test]
    fn two_active_keys_converge_on_the_newest() {
        let p = policy();
        let mut keys = vec![];
        let a = plan(UnixTime(0), &keys, &p, false);
        apply(UnixTime(0), &mut keys, &a);
        keys.iter_mut().find(|k| k.generation == 2).expect("k2").status = KeyStatus::Active;
        let a = plan(UnixTime(1), &keys, &p, false);
        assert_eq!(
            a[0],
            Action::Promote { kid: Kid::parse("k2").expect("kid"), demote: vec![Kid::parse("k1").expect("kid")] }
        );
        assert_eq!(signing_key(&keys).map(|k| k.generation), Some(2));
    }

    #[test]
    fn policy_refuses_rotation_faster_than_propagation() {
        let mut p = policy();
        assert!(p.validate().is_ok());
        p.rotate_every = Duration::from_secs(14);
        assert!(p.validate().is_err());
    }

    #[test]
    fn every_token_verifies_while_rotating_for_many_periods() {
        // Simulation: a token is signed every second with the active key and lives max_ttl; a verifier's
        // cache refreshes only every max-age. Every token must find its key in the cached JWKS.
        let p = policy();
        let mut keys: Vec<KeyRecord> = vec![];
        let mut cache: Vec<(Kid, KeyStatus)> = vec![];
        let mut cache_at = -1_000_000i64;
        let mut tokens: Vec<(Kid, i64)> = vec![];
        for t in 0..2_000i64 {
            let now = UnixTime(t);
            let actions = plan(now, &keys, &p, false);
            apply(now, &mut keys, &actions);
            if t - cache_at >= i64::try_from(p.jwks_max_age.as_secs()).expect("secs") {
                cache = keys.iter().filter(|k| k.status.is_published()).map(|k| (k.kid.clone(), k.status)).collect();
                cache_at = t;
            }
            if let Some(k) = signing_key(&keys) {
                tokens.push((k.kid.clone(), t + 30));
            }
            tokens.retain(|(_, exp)| *exp > t);
            for (kid, _) in &tokens {
                assert!(cache.iter().any(|(c, _)| c == kid), "t={t}: token of {kid} not verifiable");
            }
        }
        assert!(keys.len() >= 20, "rotated many times: {}", keys.len());
    }

    /// The fleet: `n` verifiers at random phases, each caching the JWKS it fetched through an edge cache
    /// (CloudFront) for the max-age, a token issued every second and checked by a random verifier.
    /// Returns how many verifications missed their key, and how many keys there were.
    fn fleet(n: usize, honours_age: bool, refetch_unknown_kid: bool) -> (usize, usize) {
        // The tightest policy allowed: a new key every max-age + margin, so each one signs as soon as it
        // may.
        // A margin of 3 s (not a divisor of the max-age) keeps promotions from lining up with the caches.
        let mut p = policy();
        p.propagation_margin = Duration::from_secs(3);
        p.rotate_every = p.propagation();
        let max_age = i64::try_from(p.jwks_max_age.as_secs()).expect("secs");
        let (ttl, leeway) = (30i64, 5i64);
        let mut seed = 0x2545_f491_u64;
        let mut random = move |below: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            i64::try_from(seed % u64::try_from(below).expect("positive")).expect("small")
        };
        let mut keys: Vec<KeyRecord> = vec![];
        let mut origin: Vec<Kid> = vec![];
        let mut edge: (Vec<Kid>, i64) = (vec![], i64::MIN / 2);
        // (cached kids, when the cache expires, when it last refetched on an unknown kid)
        let mut verifiers: Vec<(Vec<Kid>, i64, i64)> =
            (0..n).map(|_| (vec![], random(max_age), i64::MIN / 2)).collect();
        let mut tokens: Vec<(Kid, i64)> = vec![];
        let mut misses = 0;
        for t in 0..4_000i64 {
            // The rotator steps every second: each key starts signing the moment it is due (the worst case).
            {
                let actions = plan(UnixTime(t), &keys, &p, false);
                apply(UnixTime(t), &mut keys, &actions);
                origin = keys.iter().filter(|k| k.status.is_published()).map(|k| k.kid.clone()).collect();
            }
            for v in &mut verifiers {
                if t >= v.1 {
                    // The edge refreshes lazily, on the first request after its copy expired, as a CDN does.
                    if t >= edge.1 + max_age {
                        edge = (origin.clone(), t);
                    }
                    v.0 = edge.0.clone();
                    // An HTTP cache that honours Age keeps the copy only as long as the edge's copy is fresh.
                    v.1 = if honours_age { edge.1 + max_age } else { t + max_age };
                }
            }
            if let Some(k) = signing_key(&keys) {
                tokens.push((k.kid.clone(), t + ttl));
            }
            tokens.retain(|(_, exp)| *exp + leeway > t);
            for (kid, _) in &tokens {
                let v = &mut verifiers[usize::try_from(random(i64::try_from(n).expect("n"))).expect("index")];
                if !v.0.contains(kid) && refetch_unknown_kid && t - v.2 >= 1 {
                    // Tessera's authorizer: an unknown kid reloads the keys, at most once a second.
                    v.2 = t;
                    if t >= edge.1 + max_age {
                        edge = (origin.clone(), t);
                    }
                    v.0 = edge.0.clone();
                }
                // The very first key signs at once (nothing existed to sign before it), so the first
                // max-age is the one window a verifier may not know the signing key yet.
                if !v.0.contains(kid) && t >= max_age {
                    misses += 1;
                }
            }
        }
        (misses, keys.len())
    }

    #[test]
    fn a_fleet_of_verifiers_with_independent_caches_never_misses_a_key() {
        let (misses, keys) = fleet(64, true, false);
        assert_eq!(misses, 0, "verifications without their key");
        assert!(keys >= 35, "rotated many times: {keys} keys");
        // Caches that ignore Age hold a copy up to twice the max-age: with a margin below the max-age they
        // do miss keys (so the simulation can fail) …
        let (misses, _) = fleet(64, false, false);
        assert!(misses > 0, "a stale chain of caches misses new keys");
        // … unless an unknown kid makes the verifier reload, as Tessera's authorizer does.
        assert_eq!(fleet(64, false, true).0, 0);
    }
}
