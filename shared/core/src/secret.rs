//! Client secrets.
//!
//! Format (in the manner of GitHub's tokens): `tssk_` + 43 base62 characters (256 random bits) + a
//! 6-character base62 CRC-32 of everything before it. The prefix lets secret scanners find a leaked
//! secret; the checksum lets them (and the issuer) reject a mistyped or made-up one without a lookup.
//! Only a SHA-256 hash is stored: the secret has 256 bits of entropy, so a slow password hash would add
//! latency and no security. Comparison is constant-time.

use std::fmt;

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::ids::{base62_fixed, random_base62};

/// The prefix every Tessera client secret starts with.
pub const SECRET_PREFIX: &str = "tssk_";
const RANDOM_LEN: usize = 43;
const CHECK_LEN: usize = 6;

/// A client secret in the clear. It exists only between generation and being shown once, or between
/// receipt and hashing; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

fn checksum(body: &str) -> String {
    base62_fixed(u64::from(crc32fast::hash(body.as_bytes())), CHECK_LEN)
}

impl ClientSecret {
    /// A fresh secret.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let body = format!("{SECRET_PREFIX}{}", random_base62(rng, RANDOM_LEN));
        let check = checksum(&body);
        Self(body + &check)
    }

    /// Accepts presented text as a secret if it has the format and a valid checksum.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != SECRET_PREFIX.len() + RANDOM_LEN + CHECK_LEN
            || !s.starts_with(SECRET_PREFIX)
            || !s.bytes().skip(SECRET_PREFIX.len()).all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (body, check) = s.split_at(s.len() - CHECK_LEN);
        (checksum(body) == check).then(|| Self(s.to_owned()))
    }

    /// The secret text: to show once, never to log.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash that is stored.
    #[must_use]
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// Compares against a stored hash in constant time.
    #[must_use]
    pub fn matches(&self, stored: &SecretHash) -> bool {
        self.hash().0.ct_eq(&stored.0).into()
    }
}

/// The stored form of a secret: SHA-256, hex in storage.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl SecretHash {
    /// Hex text for storage.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the hex stored form.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid secret hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn generated_secrets_have_prefix_length_and_valid_checksum() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let s = ClientSecret::generate(&mut rng);
        assert!(s.expose().starts_with("tssk_"));
        assert_eq!(s.expose().len(), 54);
        assert_eq!(ClientSecret::parse(s.expose()), Some(s.clone()));
        assert_ne!(ClientSecret::generate(&mut rng), s);
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let s = ClientSecret::generate(&mut rng).expose().to_owned();
        let mut chars: Vec<char> = s.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(ClientSecret::parse(&typo), None);
        assert_eq!(ClientSecret::parse(&s[1..]), None);
        assert_eq!(ClientSecret::parse(""), None);
        assert_eq!(ClientSecret::parse(&s.replace("tssk_", "xxxx_")), None);
    }

    #[test]
    fn hashes_match_only_their_secret_and_survive_storage() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = ClientSecret::generate(&mut rng);
        let b = ClientSecret::generate(&mut rng);
        let stored = SecretHash::from_hex(&a.hash().to_hex()).expect("hex");
        assert!(a.matches(&stored));
        assert!(!b.matches(&stored));
        assert_eq!(format!("{a:?}"), "ClientSecret(<redacted>)");
        assert!(SecretHash::from_hex("zz").is_none());
    }
}
