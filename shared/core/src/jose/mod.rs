//! JOSE formats: base64url, ECDSA signature encodings, public keys as JWKs.

pub mod b64;
pub mod der;
pub mod keys;

pub use keys::{Algorithm, Jwk, Jwks, KeyError, KeyRing, PublicKey};
