//! The attack catalog: every way a forged, altered or misused token has been known to get past JWT
//! verifiers, each with the refusal Tessera must give. One catalog, run against every verifier Tessera
//! ships — the core in process, `tessera dev`'s `/api/*`, the authorizer binary under the Lambda emulator —
//! so they cannot drift apart.
//!
//! Tokens that need a valid signature over bad claims are signed with the target's own signing key
//! (through its [`Signer`]), which only a test holds; everything else is what an attacker can build
//! from public material: the JWKS, a captured token, their own keys.

use std::time::Duration;

use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use tessera_core::jose::{Algorithm, PublicKey, b64};
use tessera_core::ports::Signer;
use tessera_core::token::{self, AccessClaims, Audience};
use tessera_core::verify::Reject;
use tessera_core::{ClientId, Jti, Kid, ScopeSet, UnixTime};

/// The target's signing key, as the test reaches it.
pub struct TargetKey<'a> {
    /// Signs like the target's key manager (DER ECDSA out, as KMS).
    pub signer: &'a dyn Signer,
    /// The key manager's id for the key.
    pub provider_key_id: String,
    /// Its kid in the JWKS.
    pub kid: Kid,
    /// Its public key (SPKI DER), what an attacker reads from the JWKS.
    pub spki: Vec<u8>,
}

/// What the target accepts.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its issuer.
    pub issuer: String,
    /// An audience it accepts.
    pub audience: String,
    /// The target's clock now.
    pub now: UnixTime,
    /// Its leeway.
    pub leeway: Duration,
    /// A client in good standing.
    pub client: ClientId,
    /// A client the target will disable (see [`Need`]).
    pub disabled_client: ClientId,
    /// A client whose earlier tokens the target will revoke.
    pub revoked_client: ClientId,
    /// A route `orders:read` may call.
    pub read_route: (&'static str, &'static str),
    /// A route that needs `orders:write`.
    pub write_route: (&'static str, &'static str),
}

/// State the target must have before the attack is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing.
    Nothing,
    /// This jti revoked.
    RevokedJti(Jti),
    /// This client disabled.
    DisabledClient(ClientId),
    /// Tokens of this client issued until now revoked.
    RevokedClient(ClientId),
}

/// One attack.
#[derive(Clone, Debug)]
pub struct Attack {
    /// What it tries.
    pub name: String,
    /// The token presented (as the bearer credential).
    pub token: String,
    /// The request's method and path.
    pub route: (&'static str, &'static str),
    /// The refusal it must get.
    pub expect: Reject,
    /// State the target needs first.
    pub need: Need,
}

/// The source address every target's request comes from is outside this network.
pub const FOREIGN_NET: &str = "203.0.113.0/24";

/// Claims a target would issue: valid now, `orders:read`, for `client`.
#[must_use]
pub fn claims(s: &Scenario, client: &ClientId, jti: &str) -> AccessClaims {
    AccessClaims {
        iss: s.issuer.clone(),
        sub: client.clone(),
        aud: Audience::One(s.audience.clone()),
        exp: s.now.plus(Duration::from_secs(300)),
        iat: s.now,
        nbf: s.now,
        jti: Jti::parse(jti).unwrap_or_else(|_| panic!("jti {jti}")),
        client_id: client.clone(),
        scope: ScopeSet::parse("orders:read").unwrap_or_else(|_| panic!("scope")),
        cidrs: vec![],
    }
}

impl std::fmt::Debug for TargetKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl TargetKey<'_> {
    /// Signs `input` with the target's key; the compact token.
    pub async fn sign_input(&self, input: &str) -> String {
        let der = self.signer.sign(&self.provider_key_id, Algorithm::ES256, input.as_bytes()).await.expect("sign");
        let raw = Algorithm::ES256.jws_signature(&der).expect("DER signature");
        token::compact(input, &raw)
    }

    /// A token over any header and payload bytes.
    pub async fn sign_raw(&self, header: &Value, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(payload));
        self.sign_input(&input).await
    }

    /// A token over claims, with Tessera's header.
    pub async fn sign(&self, claims: &AccessClaims) -> String {
        self.sign_input(&token::signing_input(Algorithm::ES256, &self.kid, claims)).await
    }

    fn header(&self) -> Value {
        json!({"alg": "ES256", "typ": "at+jwt", "kid": self.kid.as_str()})
    }
}

/// A valid token for the good client: every target must accept it (the control for the catalog).
pub async fn control(key: &TargetKey<'_>, s: &Scenario) -> String {
    key.sign(&claims(s, &s.client, "control-1")).await
}

fn attack(name: impl Into<String>, token: String, expect: Reject) -> Attack {
    Attack { name: name.into(), token, route: ("GET", "/api/orders/1"), expect, need: Need::Nothing }
}

/// The P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn plus_one(mut x: [u8; 32]) -> [u8; 32] {
    for b in x.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    x
}

/// An attacker's own P-256 key and its JWK.
fn attacker_key() -> (p256::ecdsa::SigningKey, Value) {
    let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("attacker key");
    let point = sk.verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": b64::encode(point.x().expect("x")), "y": b64::encode(point.y().expect("y")),
    });
    (sk, jwk)
}

fn attacker_sign(sk: &p256::ecdsa::SigningKey, header: &Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(payload));
    let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
    token::compact(&input, &sig.to_bytes())
}

fn hs256(secret: &[u8], header: &Value, payload: &[u8]) -> String {
    use sha2::Digest as _;
    let input = format!("{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(payload));
    // HMAC-SHA256 (RFC 2104), as an attacker's library computes it.
    let mut key = [0u8; 64];
    if secret.len() > 64 {
        key[..32].copy_from_slice(&sha2::Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let pad = |b: u8| key.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new().chain_update(pad(0x36)).chain_update(input.as_bytes()).finalize();
    let mac = sha2::Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    token::compact(&input, &mac)
}

/// Replaces the last character of a base64url segment with one that decodes to the same bytes under a
/// lenient decoder (non-zero trailing bits).
fn non_canonical(segment: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits_left = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return None,
    };
    let last = *segment.as_bytes().last()?;
    let idx = ALPHABET.iter().position(|c| *c == last)?;
    let mask = (1usize << bits_left) - 1;
    let changed = (idx & !mask) | ((idx & mask) ^ 1);
    let mut s = segment[..segment.len() - 1].to_owned();
    s.push(char::from(ALPHABET[changed]));
    Some(s)
}

/// Every attack, with the refusal it must get.
#[allow(clippy::too_many_lines, reason = "one catalog, read top to bottom")]
pub async fn catalog(key: &TargetKey<'_>, s: &Scenario) -> Vec<Attack> {
    let mut out = Vec::new();
    let good_claims = claims(s, &s.client, "attack-base");
    let payload = serde_json::to_vec(&good_claims).expect("claims");
    let good = key.sign(&good_claims).await;
    let (h64, rest) = good.split_once('.').expect("header");
    let (c64, s64) = rest.split_once('.').expect("payload");

    // alg none, in any letter case, with or without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h = key.header();
        h["alg"] = alg.into();
        let unsigned = format!("{}.{}.", b64::encode(h.to_string().as_bytes()), c64);
        out.push(attack(format!("alg {alg}, empty signature"), unsigned, Reject::AlgorithmMismatch));
        out.push(attack(format!("alg {alg}, signed"), key.sign_raw(&h, &payload).await, Reject::AlgorithmMismatch));
    }
    // Algorithm confusion: HS256 keyed with the public key, in each form an attacker finds it.
    let public = PublicKey::from_spki(Algorithm::ES256, &key.spki).expect("public key");
    let jwk_text = serde_json::to_string(&public.to_jwk(&key.kid)).expect("jwk");
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64_std(&key.spki)
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut h = key.header();
    h["alg"] = "HS256".into();
    for (form, secret) in [("SPKI DER", key.spki.clone()), ("PEM", pem.into_bytes()), ("JWK", jwk_text.into_bytes())] {
        out.push(attack(
            format!("HS256 keyed with the public key ({form})"),
            hs256(&secret, &h, &payload),
            Reject::AlgorithmMismatch,
        ));
    }
    // alg that does not match the key's type.
    for alg in ["RS256", "PS256", "EdDSA", "ES384", "ES512", "es256", "ES256 "] {
        let mut h = key.header();
        h["alg"] = alg.into();
        out.push(attack(
            format!("alg {alg:?} on a P-256 key"),
            key.sign_raw(&h, &payload).await,
            Reject::AlgorithmMismatch,
        ));
    }
    // Unknown and hostile kids.
    for kid in
        ["no-such-kid", "../../../../etc/passwd", "\"quoted\"", "x' OR '1'='1", "k; DROP TABLE keys; --", "%00", ""]
    {
        let mut h = key.header();
        h["kid"] = kid.into();
        out.push(attack(format!("kid {kid:?}"), key.sign_raw(&h, &payload).await, Reject::UnknownKid));
    }
    let mut h = key.header();
    h.as_object_mut().expect("object").remove("kid");
    out.push(attack("no kid", key.sign_raw(&h, &payload).await, Reject::UnknownKid));
    h["kid"] = json!(["array"]);
    out.push(attack("kid of the wrong JSON type", key.sign_raw(&h, &payload).await, Reject::Malformed));
    // Key-bearing headers, never followed: the attacker's own key named in the token.
    let (attacker, attacker_jwk) = attacker_key();
    let attacker_kid =
        PublicKey::from_spki(Algorithm::ES256, attacker.verifying_key().to_public_key_der_bytes().as_slice())
            .expect("attacker public key")
            .thumbprint();
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", attacker_jwk.clone()),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUattacker"])),
    ] {
        let mut h = json!({"alg": "ES256", "typ": "at+jwt", "kid": attacker_kid.as_str()});
        h[name] = value.clone();
        out.push(attack(
            format!("{name} header naming the attacker's key"),
            attacker_sign(&attacker, &h, &payload),
            Reject::UnknownKid,
        ));
        let mut h = key.header();
        h[name] = value;
        out.push(attack(
            format!("{name} header with the real kid, signed by the attacker"),
            attacker_sign(&attacker, &h, &payload),
            Reject::BadSignature,
        ));
    }
    let mut h = key.header();
    h["crit"] = json!(["exp"]);
    out.push(attack("crit header", key.sign_raw(&h, &payload).await, Reject::CriticalHeader));
    for typ in [json!("JWT"), json!("at+jwt2"), json!("id_token"), Value::Null] {
        let mut h = key.header();
        if typ.is_null() {
            h.as_object_mut().expect("object").remove("typ");
        } else {
            h["typ"] = typ.clone();
        }
        out.push(attack(format!("typ {typ}"), key.sign_raw(&h, &payload).await, Reject::WrongType));
    }
    // Tampering and splicing.
    let mut h = key.header();
    h["x-extra"] = "added after signing".into();
    out.push(attack(
        "tampered header",
        format!("{}.{c64}.{s64}", b64::encode(h.to_string().as_bytes())),
        Reject::BadSignature,
    ));
    let mut wider = good_claims.clone();
    wider.scope = ScopeSet::parse("orders:read orders:write").expect("scope");
    let wider_payload = b64::encode(&serde_json::to_vec(&wider).expect("claims"));
    out.push(attack("tampered payload (scope widened)", format!("{h64}.{wider_payload}.{s64}"), Reject::BadSignature));
    let other = key.sign(&claims(s, &s.client, "attack-other")).await;
    let other_sig = other.rsplit_once('.').expect("signature").1;
    out.push(attack("another token's signature", format!("{h64}.{c64}.{other_sig}"), Reject::BadSignature));
    // Structure.
    out.push(attack("one segment", h64.to_owned(), Reject::Malformed));
    out.push(attack("two segments", format!("{h64}.{c64}"), Reject::Malformed));
    out.push(attack("four segments", format!("{good}.{s64}"), Reject::Malformed));
    out.push(attack("empty segments", "..".to_owned(), Reject::Malformed));
    out.push(attack("truncated signature", good[..good.len() - 6].to_owned(), Reject::BadSignature));
    out.push(attack("signature missing", format!("{h64}.{c64}."), Reject::BadSignature));
    // Non-canonical base64url: padding, the standard alphabet, trailing bits.
    out.push(attack("padded segment", format!("{h64}=.{c64}.{s64}"), Reject::Malformed));
    out.push(attack(
        "standard-alphabet signature",
        format!("{h64}.{c64}.{}", s64.replace('-', "+").replace('_', "/") + "+"),
        Reject::Malformed,
    ));
    // A lenient decoder reads these as the original bytes; the header and payload are signed as sent, so
    // only strict decoding refuses them.
    for (part, seg) in [("header", h64), ("payload", c64), ("signature", s64)] {
        if let Some(changed) = non_canonical(seg) {
            let t = match part {
                "header" => key.sign_input(&format!("{changed}.{c64}")).await,
                "payload" => key.sign_input(&format!("{h64}.{changed}")).await,
                _ => format!("{h64}.{c64}.{changed}"),
            };
            out.push(attack(format!("non-canonical base64url in the {part}"), t, Reject::Malformed));
        }
    }
    // Duplicate names: which one wins differs between parsers, so neither may.
    let dup = String::from_utf8(payload.clone()).expect("utf8").replacen('{', r#"{"scope":"orders:write","#, 1);
    out.push(attack("duplicate claim name", key.sign_raw(&key.header(), dup.as_bytes()).await, Reject::InvalidClaims));
    let dup_header = format!(r#"{{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"{}"}}"#, key.kid.as_str());
    let input = format!("{}.{c64}", b64::encode(dup_header.as_bytes()));
    out.push(attack("duplicate header name", key.sign_input(&input).await, Reject::Malformed));
    // Size: refused before any parsing.
    let mut h = key.header();
    h["pad"] = "x".repeat(5000).into();
    out.push(attack("oversized header", key.sign_raw(&h, &payload).await, Reject::TooLarge));
    let mut fat = serde_json::to_value(&good_claims).expect("claims");
    fat["pad"] = "y".repeat(6000).into();
    out.push(attack(
        "oversized token",
        key.sign_raw(&key.header(), fat.to_string().as_bytes()).await,
        Reject::TooLarge,
    ));
    // ECDSA edge values (CVE-2022-21449 "psychic signatures": r = s = 0 passed Java's verifier).
    let zero = [0u8; 32];
    let n = P256_N;
    let real = b64::decode(s64).expect("signature");
    let (r, s_) = real.split_at(32);
    for (name, rr, ss) in [
        ("r = s = 0", zero.to_vec(), zero.to_vec()),
        ("r = 0", zero.to_vec(), s_.to_vec()),
        ("s = 0", r.to_vec(), zero.to_vec()),
        ("r = n", n.to_vec(), s_.to_vec()),
        ("s = n", r.to_vec(), n.to_vec()),
        ("r = n + 1", plus_one(n).to_vec(), s_.to_vec()),
        ("r = s = n", n.to_vec(), n.to_vec()),
        ("r = s = 2^256 - 1", vec![0xff; 32], vec![0xff; 32]),
    ] {
        let sig = [rr, ss].concat();
        out.push(attack(format!("ECDSA {name}"), format!("{h64}.{c64}.{}", b64::encode(&sig)), Reject::BadSignature));
    }
    out.push(attack(
        "DER signature instead of r||s",
        {
            let der = key
                .signer
                .sign(&key.provider_key_id, Algorithm::ES256, format!("{h64}.{c64}").as_bytes())
                .await
                .expect("sign");
            format!("{h64}.{c64}.{}", b64::encode(&der))
        },
        Reject::BadSignature,
    ));
    // Time.
    let beyond = s.leeway + Duration::from_secs(5);
    let mut c = good_claims.clone();
    c.exp = s.now.minus(beyond);
    c.iat = c.exp.minus(Duration::from_secs(60));
    c.nbf = c.iat;
    out.push(attack("expired beyond the leeway", key.sign(&c).await, Reject::Expired));
    let mut c = good_claims.clone();
    c.nbf = s.now.plus(beyond);
    c.exp = c.nbf.plus(Duration::from_secs(300));
    out.push(attack("not yet valid beyond the leeway", key.sign(&c).await, Reject::NotYetValid));
    let mut c = good_claims.clone();
    c.iat = s.now.plus(beyond);
    out.push(attack("issued in the future beyond the leeway", key.sign(&c).await, Reject::IssuedInFuture));
    // Issuer and audience.
    let mut c = good_claims.clone();
    c.iss = format!("{}.attacker.example", s.issuer);
    out.push(attack("wrong iss", key.sign(&c).await, Reject::WrongIssuer));
    let mut c = good_claims.clone();
    c.aud = Audience::One("https://another-api.example".to_owned());
    out.push(attack("wrong aud", key.sign(&c).await, Reject::WrongAudience));
    // Required claims, each missing in turn; and a sub that is not the client.
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"] {
        let mut v = serde_json::to_value(&good_claims).expect("claims");
        v.as_object_mut().expect("object").remove(claim);
        out.push(attack(
            format!("missing {claim}"),
            key.sign_raw(&key.header(), v.to_string().as_bytes()).await,
            Reject::InvalidClaims,
        ));
    }
    let mut v = serde_json::to_value(&good_claims).expect("claims");
    v["sub"] = "tsc_someone_else".into();
    out.push(attack(
        "sub is not the client",
        key.sign_raw(&key.header(), v.to_string().as_bytes()).await,
        Reject::InvalidClaims,
    ));
    // Revocation and client state.
    let revoked = claims(s, &s.client, "attack-revoked-jti");
    let mut a = attack("revoked jti", key.sign(&revoked).await, Reject::TokenRevoked);
    a.need = Need::RevokedJti(revoked.jti.clone());
    out.push(a);
    let mut a = attack(
        "disabled client",
        key.sign(&claims(s, &s.disabled_client, "attack-disabled")).await,
        Reject::ClientDisabled,
    );
    a.need = Need::DisabledClient(s.disabled_client.clone());
    out.push(a);
    let mut before = claims(s, &s.revoked_client, "attack-revoked-before");
    before.iat = s.now.minus(Duration::from_secs(10));
    before.nbf = before.iat;
    let mut a = attack("issued before the client's revocation", key.sign(&before).await, Reject::ClientRevoked);
    a.need = Need::RevokedClient(s.revoked_client.clone());
    out.push(a);
    // The edge: address and scope.
    let mut c = good_claims.clone();
    c.cidrs = vec![FOREIGN_NET.parse().expect("net")];
    out.push(attack("source address outside the client's networks", key.sign(&c).await, Reject::IpNotAllowed));
    let mut a = attack("missing scope for the route", good.clone(), Reject::InsufficientScope);
    a.route = s.write_route;
    out.push(a);
    let mut a = attack("a route no rule covers", good, Reject::NoRoute);
    a.route = ("GET", "/api/admin");
    out.push(a);
    let _ = s.read_route;
    out
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A [`Signer`] over a P-256 key in memory, answering in DER as KMS does (for in-process targets).
#[derive(Debug)]
pub struct P256Signer(pub p256::ecdsa::SigningKey);

#[async_trait::async_trait]
impl Signer for P256Signer {
    async fn sign(&self, _: &str, _: Algorithm, message: &[u8]) -> tessera_core::ports::PortResult<Vec<u8>> {
        let sig: p256::ecdsa::Signature = self.0.sign(message);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

trait SpkiBytes {
    fn to_public_key_der_bytes(&self) -> Vec<u8>;
}

impl SpkiBytes for p256::ecdsa::VerifyingKey {
    fn to_public_key_der_bytes(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey as _;
        self.to_public_key_der().expect("spki").as_bytes().to_vec()
    }
}
