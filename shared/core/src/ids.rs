//! Validated identifiers. Each has a `parse` constructor so a malformed value never reaches the domain.

use std::collections::BTreeSet;
use std::fmt;

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

/// An identifier or scope that did not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid {what}: {why}")]
pub struct InvalidId {
    /// Which kind of value was rejected.
    pub what: &'static str,
    /// Why it was rejected.
    pub why: &'static str,
}

fn check_token_chars(what: &'static str, s: &str, max: usize) -> Result<(), InvalidId> {
    if s.is_empty() {
        return Err(InvalidId { what, why: "empty" });
    }
    if s.len() > max {
        return Err(InvalidId { what, why: "too long" });
    }
    // Identifiers end up in logs, SQL parameters, DynamoDB keys and IAM policy context: keep them to a
    // conservative alphabet so no quoting question ever arises.
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
        return Err(InvalidId { what, why: "only letters, digits and - _ . : are allowed" });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                check_token_chars($what, s, $max)?;
                Ok(Self(s.to_owned()))
            }

            /// Wraps text the crate itself produced in the valid alphabet.
            #[allow(dead_code, reason = "not every id type is minted from trusted text")]
            pub(crate) fn from_trusted(s: String) -> Self {
                debug_assert!(check_token_chars($what, &s, $max).is_ok());
                Self(s)
            }

            /// The identifier as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// A client's identifier: the `sub` and `client_id` of its tokens.
    ClientId, "client id", 128
);
id_type!(
    /// A token's unique identifier (`jti`).
    Jti, "jti", 128
);
id_type!(
    /// A key identifier (`kid`): the RFC 7638 thumbprint of the public key.
    Kid, "kid", 128
);
id_type!(
    /// One OAuth scope, such as `orders:read`.
    Scope, "scope", 128
);

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` uniformly random base62 characters (rejection sampling, so no character is favoured).
pub fn random_base62(rng: &mut (impl RngCore + CryptoRng), n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut buf = [0u8; 64];
        rng.fill_bytes(&mut buf);
        for b in buf {
            // 248 = 4 * 62: bytes at or above it would bias the first characters.
            if b < 248 && out.len() < n {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// Encodes a number in base62, left-padded to `width`.
#[must_use]
pub fn base62_fixed(mut v: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[usize::try_from(v % 62).unwrap_or(0)];
        v /= 62;
    }
    String::from_utf8(digits).unwrap_or_default()
}

impl ClientId {
    /// A fresh client id: `tsc_` and 22 base62 characters (about 131 random bits).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self(format!("tsc_{}", random_base62(rng, 22)))
    }
}

impl Jti {
    /// A fresh token id with 128 random bits, base64url encoded.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Self(crate::jose::b64::encode(&b))
    }
}

/// A set of scopes; serialises as the space-separated string of RFC 6749 §3.3.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-separated scope string. Empty input gives the empty set.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        s.split([' ', ',']).filter(|p| !p.is_empty()).map(Scope::parse).collect::<Result<_, _>>().map(Self)
    }

    /// Whether every scope of `self` is in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set holds `scope`.
    #[must_use]
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn ids_refuse_characters_that_need_quoting() {
        for bad in ["", "a b", "a'b", "a\"b", "../etc", "a;drop", "é"] {
            assert!(Kid::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Kid::parse("abc-_.:9").map(|k| k.to_string()), Ok("abc-_.:9".to_owned()));
        assert!(ClientId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn scope_sets_parse_and_compare() {
        let a = ScopeSet::parse("orders:read  orders:write").expect("parse");
        let b = ScopeSet::parse("orders:read").expect("parse");
        assert!(b.is_subset(&a));
        assert!(!a.is_subset(&b));
        assert_eq!(a.to_string(), "orders:read orders:write");
        assert!(ScopeSet::parse("ok bad\"scope").is_err());
        assert!(ScopeSet::parse("").expect("empty").is_empty());
    }

    #[test]
    fn generated_ids_are_distinct_and_long_enough() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let a = Jti::generate(&mut rng);
        let b = Jti::generate(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22, "16 bytes base64url");
        let c = ClientId::generate(&mut rng);
        assert!(c.as_str().starts_with("tsc_") && c.as_str().len() == 26);
        assert_eq!(base62_fixed(61, 2), "0z");
        assert_eq!(base62_fixed(62, 3), "010");
    }
}
