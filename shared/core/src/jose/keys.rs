//! Public keys: parsed from the SPKI DER that KMS's GetPublicKey returns, published as RFC 7517 JWKs,
//! identified by their RFC 7638 thumbprint, and held in a [`KeyRing`] for verification.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::ids::Kid;
use crate::jose::{b64, der};

/// A JWS signature algorithm Tessera signs with. The key decides it; a token's header never does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4); KMS key spec `ECC_NIST_P256`.
    ES256,
}

impl Algorithm {
    /// The JOSE name, as in the `alg` header.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
        }
    }

    /// Converts the signature a signer returns (DER for ECDSA, as KMS emits it) to the JWS form.
    pub fn jws_signature(self, signer_output: &[u8]) -> Result<Vec<u8>, der::SignatureFormatError> {
        match self {
            Self::ES256 => der::der_to_raw(signer_output, 32),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "ES256" => Ok(Self::ES256),
            _ => Err(KeyError::UnsupportedAlgorithm(s.to_owned())),
        }
    }
}

/// A public key that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The SPKI does not hold a valid key of the algorithm's type (including points not on the curve).
    #[error("invalid {0} public key")]
    InvalidPublicKey(Algorithm),
    /// An algorithm Tessera does not implement.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
}

/// A verifying key, bound to exactly one algorithm.
#[derive(Clone)]
pub enum PublicKey {
    /// A P-256 key for ES256.
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        f.write_str(self.algorithm().as_str())?;
        f.write_str(")")
    }
}

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo DER (what KMS GetPublicKey returns) for the given algorithm.
    pub fn from_spki(alg: Algorithm, spki: &[u8]) -> Result<Self, KeyError> {
        match alg {
            Algorithm::ES256 => p256::ecdsa::VerifyingKey::from_public_key_der(spki)
                .map(Self::P256)
                .map_err(|_| KeyError::InvalidPublicKey(alg)),
        }
    }

    /// The algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256(_) => Algorithm::ES256,
        }
    }

    /// Verifies a JWS signature (raw `r || s` for ECDSA) over `message`. Zero or out-of-range `r`/`s`
    /// are refused by the signature parser (the CVE-2022-21449 class of bug).
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::P256(key) => {
                p256::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
        }
    }

    /// The public JWK (RFC 7517, RFC 7518 §6.2) under the given kid.
    #[must_use]
    pub fn to_jwk(&self, kid: &Kid) -> Jwk {
        let (x, y) = self.coordinates();
        Jwk {
            kty: "EC".to_owned(),
            crv: "P-256".to_owned(),
            x,
            y,
            kid: kid.to_string(),
            alg: self.algorithm().as_str().to_owned(),
            key_use: "sig".to_owned(),
        }
    }

    fn coordinates(&self) -> (String, String) {
        match self {
            Self::P256(key) => {
                let point = key.to_encoded_point(false);
                let x = point.x().map(|x| b64::encode(x)).unwrap_or_default();
                let y = point.y().map(|y| b64::encode(y)).unwrap_or_default();
                (x, y)
            }
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): Tessera's kid. Deterministic, so two processes
    /// that see the same public key agree on its name.
    #[must_use]
    pub fn thumbprint(&self) -> Kid {
        let (x, y) = self.coordinates();
        // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let digest = Sha256::digest(canonical.as_bytes());
        // base64url text is always within Kid's alphabet.
        Kid::from_trusted(b64::encode(&digest))
    }
}

/// One public JWK as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type.
    pub kty: String,
    /// Curve.
    pub crv: String,
    /// X coordinate, base64url.
    pub x: String,
    /// Y coordinate, base64url.
    pub y: String,
    /// Key id.
    pub kid: String,
    /// The one algorithm this key is for.
    pub alg: String,
    /// Intended use: always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

/// A JWK Set (RFC 7517 §5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The keys a verifier trusts, by kid, each pinned to its algorithm.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    // Keyed by the kid's text so a lookup from a header needs no allocation or validation.
    keys: HashMap<String, (Kid, PublicKey)>,
}

impl KeyRing {
    /// An empty ring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a key.
    pub fn insert(&mut self, kid: Kid, key: PublicKey) {
        self.keys.insert(kid.as_str().to_owned(), (kid, key));
    }

    /// Looks a key up by the kid text from a token header, without allocating.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid).map(|(_, key)| key)
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The kids in the ring.
    pub fn kids(&self) -> impl Iterator<Item = &Kid> {
        self.keys.values().map(|(kid, _)| kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::EncodePublicKey as _;

    #[test]
    fn rfc7515_appendix_a3_es256_example_verifies() {
        // RFC 7515 A.3: the ES256 example, key and signature as published.
        let x = b64::decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU").expect("x");
        let y = b64::decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0").expect("y");
        let mut sec1 = vec![4u8];
        sec1.extend(x);
        sec1.extend(y);
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).expect("point");
        let spki = vk.to_public_key_der().expect("spki");
        let key = PublicKey::from_spki(Algorithm::ES256, spki.as_bytes()).expect("key");
        let input = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let sig = b64::decode("DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
            .expect("sig");
        assert!(key.verify(input.as_bytes(), &sig));
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        assert!(!key.verify(input.as_bytes(), &tampered));
    }

    #[test]
    fn zero_and_out_of_range_signature_scalars_are_refused() {
        let vk = *p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("sk").verifying_key();
        let key = PublicKey::P256(vk);
        assert!(!key.verify(b"m", &[0u8; 64]), "r = s = 0");
        let order = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let mut sig = order.to_vec();
        sig.extend_from_slice(&order);
        assert!(!key.verify(b"m", &sig), "r = s = n");
    }

    #[test]
    fn spki_with_a_point_off_the_curve_is_refused() {
        let vk = *p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("sk").verifying_key();
        let mut spki = vk.to_public_key_der().expect("spki").as_bytes().to_vec();
        let last = spki.len() - 1;
        spki[last] ^= 1;
        assert_eq!(
            PublicKey::from_spki(Algorithm::ES256, &spki).err(),
            Some(KeyError::InvalidPublicKey(Algorithm::ES256))
        );
        assert!(PublicKey::from_spki(Algorithm::ES256, b"garbage").is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_for_an_ec_key() {
        // The thumbprint is the hash of the canonical members; recompute it independently.
        let vk = *p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("sk").verifying_key();
        let key = PublicKey::P256(vk);
        let jwk = key.to_jwk(&key.thumbprint());
        let canonical = serde_json::json!({"crv": jwk.crv, "kty": jwk.kty, "x": jwk.x, "y": jwk.y}).to_string();
        assert_eq!(jwk.kid, b64::encode(&Sha256::digest(canonical.as_bytes())));
        assert_eq!(jwk.alg, "ES256");
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }
}
