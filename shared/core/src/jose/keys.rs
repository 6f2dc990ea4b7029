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
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); KMS key spec `RSA_2048`. For API Gateway's built-in
    /// JWT authorizer, which verifies RSA only.
    RS256,
    /// Ed25519 (RFC 8037); KMS key spec `ECC_NIST_EDWARDS25519`. An option only: the AWS API emulator the
    /// tests run against cannot create Ed25519 keys, so only the verifier side is tested here.
    EdDSA,
}

impl Algorithm {
    /// The JOSE name, as in the `alg` header.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Converts the signature a signer returns (DER for ECDSA, as KMS emits it) to the JWS form.
    pub fn jws_signature(self, signer_output: &[u8]) -> Result<Vec<u8>, der::SignatureFormatError> {
        match self {
            Self::ES256 => der::der_to_raw(signer_output, 32),
            // PKCS#1 v1.5 signatures are the same bytes in KMS and in JWS.
            Self::RS256 => Ok(signer_output.to_vec()),
            Self::EdDSA if signer_output.len() == 64 => Ok(signer_output.to_vec()),
            Self::EdDSA => Err(der::SignatureFormatError::RawLength { expected: 64, got: signer_output.len() }),
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
            "RS256" => Ok(Self::RS256),
            "EdDSA" => Ok(Self::EdDSA),
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
    /// An RSA key (at least 2048 bits) for RS256.
    Rsa(Box<RsaKey>),
    /// An Ed25519 key for EdDSA.
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// An RSA verifying key with the public numbers the JWK needs.
#[derive(Clone)]
pub struct RsaKey {
    verifying: rsa::pkcs1v15::VerifyingKey<Sha256>,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey({} bits)", self.n.len() * 8)
    }
}

/// RSA moduli below this are refused (RFC 7518 §3.3 requires 2048 bits).
const MIN_RSA_BITS: usize = 2048;

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
            Algorithm::RS256 => {
                use rsa::pkcs8::DecodePublicKey as _;
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::RsaPublicKey::from_public_key_der(spki).map_err(|_| KeyError::InvalidPublicKey(alg))?;
                if key.size() * 8 < MIN_RSA_BITS {
                    return Err(KeyError::InvalidPublicKey(alg));
                }
                let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
                Ok(Self::Rsa(Box::new(RsaKey { verifying: rsa::pkcs1v15::VerifyingKey::new(key), n, e })))
            }
            Algorithm::EdDSA => {
                use ed25519_dalek::pkcs8::DecodePublicKey as _;
                let key = ed25519_dalek::VerifyingKey::from_public_key_der(spki)
                    .map_err(|_| KeyError::InvalidPublicKey(alg))?;
                // A small-order point would let many messages verify under one signature.
                if key.is_weak() {
                    return Err(KeyError::InvalidPublicKey(alg));
                }
                Ok(Self::Ed25519(key))
            }
        }
    }

    /// The algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::P256(_) => Algorithm::ES256,
            Self::Rsa(_) => Algorithm::RS256,
            Self::Ed25519(_) => Algorithm::EdDSA,
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
            Self::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| rsa::signature::Verifier::verify(&key.verifying, message, &sig).is_ok()),
            // Strict verification: no malleable or small-order signatures.
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
        }
    }

    /// The public JWK (RFC 7517; RFC 7518 §6.2 for EC, §6.3 for RSA) under the given kid.
    #[must_use]
    pub fn to_jwk(&self, kid: &Kid) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            kid: kid.to_string(),
            alg: self.algorithm().as_str().to_owned(),
            key_use: "sig".to_owned(),
        };
        match self {
            Self::P256(key) => {
                let point = key.to_encoded_point(false);
                jwk.kty = "EC".to_owned();
                jwk.crv = Some("P-256".to_owned());
                jwk.x = point.x().map(|x| b64::encode(x));
                jwk.y = point.y().map(|y| b64::encode(y));
            }
            Self::Rsa(key) => {
                jwk.kty = "RSA".to_owned();
                jwk.n = Some(b64::encode(&key.n));
                jwk.e = Some(b64::encode(&key.e));
            }
            Self::Ed25519(key) => {
                jwk.kty = "OKP".to_owned();
                jwk.crv = Some("Ed25519".to_owned());
                jwk.x = Some(b64::encode(key.as_bytes()));
            }
        }
        jwk
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): Tessera's kid. Deterministic, so two processes
    /// that see the same public key agree on its name.
    #[must_use]
    pub fn thumbprint(&self) -> Kid {
        let jwk = self.to_jwk(&Kid::from_trusted(String::from("-")));
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        // The required members in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = match self {
            Self::P256(_) => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, field(&jwk.x), field(&jwk.y))
            }
            Self::Rsa(_) => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, field(&jwk.e), field(&jwk.n)),
            Self::Ed25519(_) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, field(&jwk.x)),
        };
        let digest = Sha256::digest(canonical.as_bytes());
        // base64url text is always within Kid's alphabet.
        Kid::from_trusted(b64::encode(&digest))
    }
}

/// One public JWK as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC` or `RSA`.
    pub kty: String,
    /// EC curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
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
    fn rfc7520_section_4_1_rs256_example_verifies() {
        // RFC 7520 §4.1 (RSA v1.5 signature, RS256), key and signature as published. (Its ECDSA example,
        // §4.3, is ES512 on P-521: an algorithm no Tessera key has, so it has no place here.)
        use rsa::pkcs8::EncodePublicKey as _;
        let n = b64::decode(concat!(
            "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKr",
            "Kb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5l",
            "FHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__",
            "kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw"
        ))
        .expect("n");
        let public =
            rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from(65_537u32)).expect("rsa");
        let spki = public.to_public_key_der().expect("spki");
        let key = PublicKey::from_spki(Algorithm::RS256, spki.as_bytes()).expect("key");
        let input = concat!(
            "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2lu",
            "ZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIH",
            "lvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
        );
        let sig = b64::decode(concat!(
            "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB",
            "-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxn",
            "t8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcI",
            "e8u9ipH84ogoree7vjbU5y18kDquDg"
        ))
        .expect("sig");
        assert!(key.verify(input.as_bytes(), &sig));
        let mut tampered = sig.clone();
        tampered[0] ^= 1;
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
        assert!(jwk.n.is_none() && jwk.e.is_none());
        assert_eq!(jwk.kid, b64::encode(&Sha256::digest(canonical.as_bytes())));
        assert_eq!(jwk.alg, "ES256");
    }

    #[test]
    fn rs256_keys_verify_publish_and_refuse_small_moduli() {
        use rand_core::SeedableRng as _;
        use rsa::pkcs8::EncodePublicKey as _;
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("keygen");
        let spki = private.to_public_key().to_public_key_der().expect("spki");
        let key = PublicKey::from_spki(Algorithm::RS256, spki.as_bytes()).expect("key");
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(private);
        let sig = signer.sign(b"input").to_vec();
        assert!(key.verify(b"input", &sig));
        assert!(!key.verify(b"other", &sig));
        assert!(!key.verify(b"input", &sig[1..]), "truncated");
        let jwk = key.to_jwk(&key.thumbprint());
        assert_eq!((jwk.kty.as_str(), jwk.alg.as_str(), jwk.e.as_deref()), ("RSA", "RS256", Some("AQAB")));
        assert!(jwk.crv.is_none());
        let canonical = serde_json::json!({"e": jwk.e, "kty": "RSA", "n": jwk.n}).to_string();
        assert_eq!(jwk.kid, b64::encode(&Sha256::digest(canonical.as_bytes())));
        // An ES256 SPKI is not an RS256 key, and the other way round.
        let ec = p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
            .expect("sk")
            .verifying_key()
            .to_public_key_der()
            .expect("spki");
        assert!(PublicKey::from_spki(Algorithm::RS256, ec.as_bytes()).is_err());
        assert!(PublicKey::from_spki(Algorithm::ES256, spki.as_bytes()).is_err());
        let small =
            rsa::RsaPrivateKey::new(&mut rng, 1024).expect("keygen").to_public_key().to_public_key_der().expect("spki");
        assert!(PublicKey::from_spki(Algorithm::RS256, small.as_bytes()).is_err(), "1024-bit keys are refused");
    }

    #[test]
    fn rfc8037_ed25519_example_verifies_and_has_the_published_thumbprint() {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        // RFC 8037 A.1 (public key), A.3 (thumbprint), A.4 (signature).
        let x = b64::decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").expect("x");
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().expect("32 bytes")).expect("point");
        let spki = vk.to_public_key_der().expect("spki");
        let key = PublicKey::from_spki(Algorithm::EdDSA, spki.as_bytes()).expect("key");
        assert_eq!(key.thumbprint().as_str(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = b64::decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
            .expect("sig");
        assert!(key.verify(input.as_bytes(), &sig));
        assert!(!key.verify(b"other", &sig));
        assert_eq!(Algorithm::EdDSA.jws_signature(&sig).expect("raw"), sig);
        assert!(Algorithm::EdDSA.jws_signature(&sig[1..]).is_err());
        let jwk = key.to_jwk(&key.thumbprint());
        assert_eq!((jwk.kty.as_str(), jwk.crv.as_deref(), jwk.alg.as_str()), ("OKP", Some("Ed25519"), "EdDSA"));
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }
}
