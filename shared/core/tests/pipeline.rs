//! Every reject reason of the verification pipeline, at a fixed clock with seeded keys.

use std::time::Duration;

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tessera_core::jose::{Algorithm, KeyRing, PublicKey, b64};
use tessera_core::policy::RoutePolicy;
use tessera_core::revocation::{Revocation, RevocationSet};
use tessera_core::token::{self, AccessClaims, Audience};
use tessera_core::verify::{Outcome, Reject, RequestFacts, Verifier, VerifierConfig};
use tessera_core::{ClientId, Jti, Kid, ScopeSet, UnixTime};

const NOW: UnixTime = UnixTime(1_800_000_000);
const ISS: &str = "https://issuer.test";
const AUD: &str = "https://api.test";

struct Fixture {
    sk: p256::ecdsa::SigningKey,
    kid: Kid,
    ring: KeyRing,
    verifier: Verifier,
    routes: RoutePolicy,
}

fn fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let sk = p256::ecdsa::SigningKey::random(&mut rng);
    let spki = sk.verifying_key().to_public_key_der().expect("spki");
    let pk = PublicKey::from_spki(Algorithm::ES256, spki.as_bytes()).expect("pk");
    let kid = pk.thumbprint();
    let mut ring = KeyRing::new();
    ring.insert(kid.clone(), pk);
    let verifier =
        Verifier::new(VerifierConfig::new(ISS, vec![AUD.to_owned()], Duration::from_secs(30)).expect("config"));
    Fixture { sk, kid, ring, verifier, routes: RoutePolicy::demo() }
}

fn claims() -> AccessClaims {
    let client = ClientId::parse("tsc_client1").expect("id");
    AccessClaims {
        iss: ISS.to_owned(),
        sub: client.clone(),
        aud: Audience::One(AUD.to_owned()),
        exp: NOW.plus(Duration::from_secs(300)),
        iat: NOW,
        nbf: NOW,
        jti: Jti::parse("jti-1").expect("jti"),
        client_id: client,
        scope: ScopeSet::parse("orders:read").expect("scope"),
        cidrs: vec![],
    }
}

impl Fixture {
    fn sign(&self, claims: &AccessClaims) -> String {
        let input = token::signing_input(Algorithm::ES256, &self.kid, claims);
        self.sign_input(&input)
    }

    fn sign_input(&self, input: &str) -> String {
        let sig: p256::ecdsa::Signature = self.sk.sign(input.as_bytes());
        token::compact(input, &sig.to_bytes())
    }

    fn sign_raw(&self, header: &serde_json::Value, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(payload));
        self.sign_input(&input)
    }

    fn header(&self) -> serde_json::Value {
        serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": self.kid.as_str()})
    }

    fn check(&self, token: &str) -> Result<(), Reject> {
        self.check_with(token, &RevocationSet::new(), None, "GET", "/api/orders/1")
    }

    fn check_with(
        &self,
        token: &str,
        revoked: &RevocationSet,
        ip: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<(), Reject> {
        let facts = RequestFacts { method, path, source_ip: ip.map(|i| i.parse().expect("ip")) };
        self.verifier.verify(token, &self.ring, revoked, &self.routes, &facts, NOW).map(|_| ())
    }
}

#[test]
fn a_good_token_passes_and_verifies_with_jsonwebtoken_too() {
    let f = fixture();
    let t = f.sign(&claims());
    assert_eq!(f.check(&t), Ok(()));
    // Independent check: jsonwebtoken accepts the same token with the published key.
    let jwk = f.ring.get(f.kid.as_str()).expect("key").to_jwk(&f.kid);
    let key = jsonwebtoken::DecodingKey::from_ec_components(jwk.x.as_deref().expect("x"), jwk.y.as_deref().expect("y"))
        .expect("jwk");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[AUD]);
    v.set_issuer(&[ISS]);
    v.validate_exp = false;
    let decoded = jsonwebtoken::decode::<serde_json::Value>(&t, &key, &v).expect("jsonwebtoken verifies");
    assert_eq!(decoded.header.typ.as_deref(), Some("at+jwt"));
    for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"] {
        assert!(decoded.claims.get(claim).is_some(), "RFC 9068 claim {claim} present");
    }
}

#[test]
fn size_and_structure() {
    let f = fixture();
    let t = f.sign(&claims());
    assert_eq!(f.check(""), Err(Reject::MissingToken));
    assert_eq!(f.check(&"a".repeat(5000)), Err(Reject::TooLarge));
    assert_eq!(f.check("a.b"), Err(Reject::Malformed));
    assert_eq!(f.check(&format!("{t}.extra")), Err(Reject::Malformed));
    assert_eq!(f.check(&t[..t.len() - 3]), Err(Reject::BadSignature));
    assert_eq!(f.check("!!!.b.c"), Err(Reject::Malformed));
    let padded = format!("{}=", t);
    assert_eq!(f.check(&padded), Err(Reject::Malformed), "padding is not base64url");
}

#[test]
fn header_rules() {
    let f = fixture();
    let c = serde_json::to_vec(&claims()).expect("claims");
    for alg in ["none", "None", "NONE", "HS256", "es256", "RS256"] {
        let mut h = f.header();
        h["alg"] = alg.into();
        assert_eq!(f.check(&f.sign_raw(&h, &c)), Err(Reject::AlgorithmMismatch), "alg {alg}");
    }
    let mut h = f.header();
    h["kid"] = "nope".into();
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Err(Reject::UnknownKid));
    h["kid"] = "../../etc/passwd' OR 1=1 --".into();
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Err(Reject::UnknownKid));
    let mut h = f.header();
    h.as_object_mut().expect("obj").remove("kid");
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Err(Reject::UnknownKid));
    let mut h = f.header();
    h["crit"] = serde_json::json!(["exp"]);
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Err(Reject::CriticalHeader));
    let mut h = f.header();
    h["typ"] = "JWT".into();
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Err(Reject::WrongType));
    h["typ"] = "application/at+jwt".into();
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Ok(()), "the media-type form of typ is the same type");
    // jku/jwk headers are never followed: the ring decides.
    let mut h = f.header();
    h["jku"] = "https://attacker.example/jwks.json".into();
    h["jwk"] = serde_json::json!({"kty": "EC"});
    assert_eq!(f.check(&f.sign_raw(&h, &c)), Ok(()));
}

#[test]
fn signature_rules() {
    let f = fixture();
    let t = f.sign(&claims());
    let (input, _) = t.rsplit_once('.').expect("three parts");
    assert_eq!(f.check(&format!("{input}.{}", b64::encode(&[0u8; 64]))), Err(Reject::BadSignature), "r = s = 0");
    let mut other = claims();
    other.scope = ScopeSet::parse("orders:read orders:write").expect("scope");
    let forged =
        format!("{}.{}", f.sign(&other).rsplit_once('.').expect("parts").0, t.rsplit_once('.').expect("parts").1);
    assert_eq!(f.check(&forged), Err(Reject::BadSignature), "another token's signature");
    // Another key with the same kid.
    let other_key = p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).expect("sk");
    let sig: p256::ecdsa::Signature = other_key.sign(input.as_bytes());
    assert_eq!(f.check(&token::compact(input, &sig.to_bytes())), Err(Reject::BadSignature));
    // DER instead of raw r||s.
    let der = f.sk.sign(input.as_bytes());
    let der: p256::ecdsa::DerSignature = p256::ecdsa::Signature::to_der(&der);
    assert_eq!(f.check(&token::compact(input, der.as_bytes())), Err(Reject::BadSignature));
}

#[test]
fn claim_rules() {
    let f = fixture();
    let mut c = claims();
    c.iss = "https://evil".to_owned();
    assert_eq!(f.check(&f.sign(&c)), Err(Reject::WrongIssuer));
    let mut c = claims();
    c.aud = Audience::Many(vec!["https://other".to_owned()]);
    assert_eq!(f.check(&f.sign(&c)), Err(Reject::WrongAudience));
    c.aud = Audience::Many(vec!["https://other".to_owned(), AUD.to_owned()]);
    assert_eq!(f.check(&f.sign(&c)), Ok(()), "one of several audiences");
    let mut c = claims();
    c.exp = NOW.minus(Duration::from_secs(30));
    assert_eq!(f.check(&f.sign(&c)), Err(Reject::Expired), "expired beyond the leeway");
    c.exp = NOW.minus(Duration::from_secs(29));
    assert_eq!(f.check(&f.sign(&c)), Ok(()), "within the leeway");
    let mut c = claims();
    c.nbf = NOW.plus(Duration::from_secs(31));
    assert_eq!(f.check(&f.sign(&c)), Err(Reject::NotYetValid));
    let mut c = claims();
    c.iat = NOW.plus(Duration::from_secs(31));
    assert_eq!(f.check(&f.sign(&c)), Err(Reject::IssuedInFuture));
    let mut v = serde_json::to_value(claims()).expect("json");
    v.as_object_mut().expect("obj").remove("exp");
    assert_eq!(f.check(&f.sign_raw(&f.header(), v.to_string().as_bytes())), Err(Reject::InvalidClaims), "missing exp");
    let dup = serde_json::to_string(&claims()).expect("json").replacen('{', r#"{"scope":"admin","#, 1);
    assert_eq!(f.check(&f.sign_raw(&f.header(), dup.as_bytes())), Err(Reject::InvalidClaims), "duplicate claim");
    let mut c = serde_json::to_value(claims()).expect("json");
    c["sub"] = "tsc_someone_else".into();
    assert_eq!(
        f.check(&f.sign_raw(&f.header(), c.to_string().as_bytes())),
        Err(Reject::InvalidClaims),
        "sub must be the client"
    );
    assert!(VerifierConfig::new(ISS, vec![AUD.to_owned()], Duration::from_secs(301)).is_err(), "leeway is bounded");
}

#[test]
fn revocation_rules() {
    let f = fixture();
    let c = claims();
    let t = f.sign(&c);
    let revoked = |r: Revocation| {
        let mut s = RevocationSet::new();
        s.apply(&[r]);
        s
    };
    let jti = revoked(Revocation::Token { jti: c.jti.clone(), client_id: c.client_id.clone(), expires_at: c.exp });
    assert_eq!(f.check_with(&t, &jti, None, "GET", "/api/orders/1"), Err(Reject::TokenRevoked));
    let key = revoked(Revocation::Key { kid: f.kid.clone() });
    assert_eq!(f.check_with(&t, &key, None, "GET", "/api/orders/1"), Err(Reject::KeyRevoked));
    let before = revoked(Revocation::ClientBefore { client_id: c.client_id.clone(), before: NOW });
    assert_eq!(f.check_with(&t, &before, None, "GET", "/api/orders/1"), Err(Reject::ClientRevoked));
    let earlier =
        revoked(Revocation::ClientBefore { client_id: c.client_id.clone(), before: NOW.minus(Duration::from_secs(1)) });
    assert_eq!(f.check_with(&t, &earlier, None, "GET", "/api/orders/1"), Ok(()), "issued after the cut-off");
    let mut disabled = RevocationSet::new();
    disabled.set_disabled(std::slice::from_ref(&c.client_id));
    assert_eq!(f.check_with(&t, &disabled, None, "GET", "/api/orders/1"), Err(Reject::ClientDisabled));
    let mut pruned = jti.clone();
    pruned.prune(c.exp.plus(Duration::from_secs(31)), Duration::from_secs(30));
    assert_eq!(pruned.token_count(), 0, "entries go once their token has expired");
}

#[test]
fn ip_and_route_rules() {
    let f = fixture();
    let mut c = claims();
    c.cidrs = vec!["10.0.0.0/8".parse().expect("net"), "2001:db8::/32".parse().expect("net")];
    let t = f.sign(&c);
    let none = RevocationSet::new();
    assert_eq!(f.check_with(&t, &none, Some("10.2.3.4"), "GET", "/api/orders/1"), Ok(()));
    assert_eq!(f.check_with(&t, &none, Some("2001:db8::1"), "GET", "/api/orders/1"), Ok(()));
    assert_eq!(f.check_with(&t, &none, Some("::ffff:10.2.3.4"), "GET", "/api/orders/1"), Ok(()));
    assert_eq!(f.check_with(&t, &none, Some("192.0.2.1"), "GET", "/api/orders/1"), Err(Reject::IpNotAllowed));
    assert_eq!(f.check_with(&t, &none, None, "GET", "/api/orders/1"), Err(Reject::IpNotAllowed), "unknown source");
    let t = f.sign(&claims());
    assert_eq!(f.check_with(&t, &none, None, "POST", "/api/orders"), Err(Reject::InsufficientScope));
    assert_eq!(f.check_with(&t, &none, None, "GET", "/api/secret"), Err(Reject::NoRoute));
    assert_eq!(Reject::InsufficientScope.outcome(), Outcome::Forbidden);
    assert_eq!(Reject::BadSignature.outcome(), Outcome::Unauthorized);
}
