//! The parsers that face the network, under the mutation fuzzer (`tessera_testkit::fuzz`): the token
//! pipeline, the authorizer's event parser, the token endpoint's form and Basic-auth parser, and the DER
//! signature converter. No input may panic, and none may make them allocate more than a fixed bound.
//! One test runs them in turn, because the allocation count is process-wide.

use std::time::Duration;

use serde_json::Value;
use tessera_core::UnixTime;
use tessera_core::jose::der::{der_to_raw, raw_to_der};
use tessera_core::jose::{Algorithm, KeyRing, PublicKey};
use tessera_core::policy::RoutePolicy;
use tessera_core::revocation::RevocationSet;
use tessera_core::verify::{RequestFacts, Verifier, VerifierConfig};
use tessera_testkit::fuzz::{self, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// No input may make a parser hold more than this at once (inputs reach 75 KB; the bound is a few copies).
const MAX_ALLOC: usize = 1 << 20;

#[test]
fn network_facing_parsers_survive_mutated_input() {
    use p256::pkcs8::EncodePublicKey as _;
    let root = tessera_tests::root();

    let sk = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("key");
    let spki = sk.verifying_key().to_public_key_der().expect("spki");
    let public = PublicKey::from_spki(Algorithm::ES256, spki.as_bytes()).expect("public");
    let mut ring = KeyRing::new();
    // The corpus's Tessera-shaped token names this kid, so mutations reach the signature check.
    ring.insert(tessera_core::Kid::parse("a_pDUrzoYqf6v2__yXyRN2rqGDEKtXKPg4jUELnTbWM").expect("kid"), public);
    let verifier = Verifier::new(
        VerifierConfig::new("https://issuer.test", vec!["https://api.test".into()], Duration::from_secs(30))
            .expect("config"),
    );
    let routes = RoutePolicy::demo();
    let revoked = RevocationSet::new();
    let facts = RequestFacts { method: "GET", path: "/api/orders/1", source_ip: Some("10.0.0.9".parse().expect("ip")) };
    let token = fuzz::run(&root, "token", MAX_ALLOC, |input| {
        let t = String::from_utf8_lossy(input);
        let _ = verifier.verify(&t, &ring, &revoked, &routes, &facts, UnixTime(1_800_000_000));
    });

    let event = fuzz::run(&root, "event", MAX_ALLOC, |input| {
        if let Ok(v) = serde_json::from_slice::<Value>(input)
            && let Ok(e) = tessera_authorizer::AuthorizerEvent::parse(v)
        {
            let _ = e.facts();
        }
    });

    let form = fuzz::run(&root, "form", MAX_ALLOC, |input| {
        let (auth, body) = input.split_at(input.iter().position(|b| *b == b'\n').unwrap_or(0));
        let body = body.strip_prefix(b"\n").unwrap_or(body);
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Ok(v) = http::HeaderValue::from_bytes(auth)
            && !auth.is_empty()
        {
            builder = builder.header("authorization", v);
        }
        let req = builder.body(lambda_http::Body::Binary(body.to_vec())).expect("request");
        if let Ok(f) = tessera_issuer::form::Form::from_request(&req) {
            let _ = tessera_issuer::form::ClientCredentials::from_request(&req, &f);
        }
    });

    let der = fuzz::run(&root, "der", MAX_ALLOC, |input| {
        let _ = raw_to_der(input, 32);
        if let Ok(raw) = der_to_raw(input, 32) {
            // What converts must convert back to the same r||s.
            let again = raw_to_der(&raw, 32).expect("r||s from DER converts back");
            assert_eq!(der_to_raw(&again, 32).expect("round trip"), raw);
        }
    });

    for (name, r) in [("token", token), ("event", event), ("form", form), ("der", der)] {
        eprintln!(
            "fuzz {name}: {} inputs, longest {} bytes, peak allocation {} bytes",
            r.inputs, r.max_input_len, r.max_peak_bytes
        );
        assert!(r.inputs > fuzz::iterations(), "{name}: the whole budget ran");
    }
}
