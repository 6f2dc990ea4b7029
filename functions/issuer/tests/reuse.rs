//! Sparing KMS: a client that asks every second for a 10-minute token costs a handful of signatures per
//! thousand requests, not a thousand — and never gets back a token that was revoked, signed by a key that
//! no longer signs, or longer-lived than it may have now. On the local backend (a SQLite file, software
//! keys) with a manual clock, so a thousand seconds pass at once; the signer counts its calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::{Body, Request};
use rand_core::OsRng;
use serde_json::Value;
use tessera_core::ScopeSet;
use tessera_core::discovery::Metadata;
use tessera_core::jose::Algorithm;
use tessera_core::lifecycle::RotationPolicy;
use tessera_core::ports::{PortResult, RevocationStore as _, Signer};
use tessera_core::revocation::Revocation;
use tessera_core::service::{Issuer, IssuerSettings, NewClient, Rotator, admin};
use tessera_core::time::{Clock as _, ManualClock, UnixTime};
use tessera_issuer::IssuerApp;
use tessera_local::{DirPublisher, SoftwareKeys, SqliteStore};

/// The software signer, counting Sign calls (what KMS would bill and throttle).
struct Counting(Arc<SoftwareKeys>, AtomicUsize);

#[async_trait]
impl Signer for Counting {
    async fn sign(&self, key: &str, alg: Algorithm, message: &[u8]) -> PortResult<Vec<u8>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.sign(key, alg, message).await
    }
}

fn request(id: &str, secret: &str, scope: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope={scope}")))
        .expect("request")
}

fn body(resp: &lambda_http::Response<Body>) -> Value {
    match resp.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json"),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn a_client_asking_every_second_costs_a_few_signatures_per_thousand_requests() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).expect("store"));
    let keys = Arc::new(SoftwareKeys::open(&dir.path().join("keys")).expect("keys"));
    let start = UnixTime(1_900_000_000);
    let clock = Arc::new(ManualClock::at(start));
    let policy = RotationPolicy {
        rotate_every: Duration::from_secs(24 * 3600),
        jwks_max_age: Duration::from_secs(60),
        propagation_margin: Duration::from_secs(60),
        max_token_ttl: Duration::from_secs(600),
        leeway: Duration::from_secs(30),
        deletion_window: Duration::from_secs(7 * 86_400),
        algorithm: Algorithm::ES256,
    };
    let meta = Metadata::new("https://issuer.test", "https://issuer.test/.well-known/jwks.json", vec!["ES256".into()]);
    let rotator = Rotator::new(
        store.clone(),
        keys.clone(),
        Arc::new(DirPublisher::new(&dir.path().join("public"))),
        store.clone(),
        policy,
        meta,
    );
    rotator.step(start, false).await.expect("keys");
    let spec = NewClient {
        name: "poller".into(),
        scopes: ScopeSet::parse("orders:read orders:write").expect("scopes"),
        audiences: vec!["https://api.test".into()],
        cidrs: vec![],
        max_ttl: Duration::from_secs(600),
        scope_ttl_caps: Default::default(),
    };
    let (client, secret) = admin::create_client(store.as_ref(), spec, start, &mut OsRng).await.expect("client");
    let (id, secret) = (client.id.to_string(), secret.expose().to_owned());
    let signer = Arc::new(Counting(keys.clone(), AtomicUsize::new(0)));
    let settings = IssuerSettings {
        issuer: "https://issuer.test".into(),
        token_ttl: Duration::from_secs(600),
        leeway: Duration::from_secs(30),
    };
    let s = store.clone();
    let issuer = Issuer::new(settings, s.clone(), s.clone(), s.clone(), signer.clone(), s.clone(), s.clone())
        .with_token_reuse(true);
    let app = IssuerApp::new(issuer, clock.clone());

    // 1,000 requests, one per second, for the same 10-minute token.
    let mut tokens = std::collections::HashSet::new();
    for i in 0..1_000u64 {
        clock.set(start.plus(Duration::from_secs(i)));
        let resp = app.handle(request(&id, &secret, "orders:read")).await;
        assert_eq!(resp.status(), 200);
        let b = body(&resp);
        let expires_in = b["expires_in"].as_u64().expect("expires_in");
        assert!((300..=600).contains(&expires_in), "reused only while half its life remains: {expires_in}");
        tokens.insert(b["access_token"].as_str().expect("token").to_owned());
    }
    let signed = signer.1.load(Ordering::SeqCst);
    eprintln!("1,000 requests, one per second, 10-minute tokens: {signed} Sign calls ({} tokens)", tokens.len());
    assert!(signed <= 100, "goal: at most 100 Sign calls per 1,000 requests; got {signed}");
    assert_eq!(signed, tokens.len(), "one signature per distinct token");

    // Other scopes are another token.
    let before = signer.1.load(Ordering::SeqCst);
    let other = body(&app.handle(request(&id, &secret, "orders:write")).await);
    assert_eq!(signer.1.load(Ordering::SeqCst), before + 1, "another scope is signed anew");

    // A revoked token is never handed out again.
    let current =
        body(&app.handle(request(&id, &secret, "orders:read")).await)["access_token"].as_str().expect("t").to_owned();
    let claims: Value = serde_json::from_slice(
        &tessera_core::jose::b64::decode(current.split('.').nth(1).expect("payload")).expect("b64"),
    )
    .expect("claims");
    store
        .revoke(
            &Revocation::Token {
                jti: tessera_core::Jti::parse(claims["jti"].as_str().expect("jti")).expect("jti"),
                client_id: client.id.clone(),
                expires_at: UnixTime(claims["exp"].as_i64().expect("exp")),
            },
            clock.now(),
        )
        .await
        .expect("revoke");
    let after =
        body(&app.handle(request(&id, &secret, "orders:read")).await)["access_token"].as_str().expect("t").to_owned();
    assert_ne!(after, current, "revoked: signed anew");

    // A key retired in an emergency: its tokens are not handed out again.
    let kid_of = |t: &str| -> String {
        let h: Value = serde_json::from_slice(
            &tessera_core::jose::b64::decode(t.split('.').next().expect("header")).expect("b64"),
        )
        .expect("header");
        h["kid"].as_str().expect("kid").to_owned()
    };
    rotator.emergency_retire(&kid_of(&after), clock.now()).await.expect("emergency");
    let next =
        body(&app.handle(request(&id, &secret, "orders:read")).await)["access_token"].as_str().expect("t").to_owned();
    assert_ne!(kid_of(&next), kid_of(&after), "the next key signs; the old key's token is not reused");
    let _ = other;
}
