//! Shared pieces of Tessera's benchmarks: a local-backend world to measure against, and ratio reporting.
//!
//! Every goal is a ratio against a baseline measured in the same run on the same machine, so the figures
//! travel between machines; none of them is asserted in a test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_core::discovery::Metadata;
use tessera_core::jose::{Algorithm, PublicKey};
use tessera_core::lifecycle::{KeyRecord, KeyStatus, RotationPolicy};
use tessera_core::ports::{KeyRegistry as _, KeySource as _, RevocationStore as _};
use tessera_core::revocation::Revocation;
use tessera_core::service::{Issuer, IssuerSettings, NewClient, Rotator, admin};
use tessera_core::time::{Clock as _, SystemClock, UnixTime};
use tessera_core::{ClientId, Jti, Kid, ScopeSet};
use tessera_local::{DataDir, DirPublisher, SoftwareKeys, SqliteStore};

/// Issuer of the benchmark world's tokens.
pub const ISSUER: &str = "https://issuer.bench";
/// Audience of the benchmark world's tokens.
pub const AUDIENCE: &str = "https://api.bench";
/// The routes the authorizer is given.
pub const ROUTES: &str = "GET /api/orders/* orders:read;POST /api/orders orders:write";

/// A data dir with signing keys, a client, and optionally many revocations and extra published keys.
#[derive(Debug)]
pub struct World {
    _tmp: tempfile::TempDir,
    /// The data dir.
    pub dir: PathBuf,
    /// Its store.
    pub store: Arc<SqliteStore>,
    /// Its keys.
    pub keys: Arc<SoftwareKeys>,
    /// A valid token (orders:read, 15 minutes).
    pub token: String,
    /// The signing key's public key (SPKI DER).
    pub spki: Vec<u8>,
}

impl World {
    /// Builds the world: `revocations` live token revocations and `extra_keys` more published keys.
    pub async fn new(revocations: usize, extra_keys: usize) -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        let data = DataDir::open(&dir).expect("data dir");
        let store = Arc::new(SqliteStore::open(&data.database()).expect("store"));
        let keys = Arc::new(SoftwareKeys::open(&data.keys()).expect("keys"));
        let now = SystemClock.now();
        let policy = RotationPolicy {
            rotate_every: Duration::from_secs(24 * 3600),
            jwks_max_age: Duration::from_secs(300),
            propagation_margin: Duration::from_secs(300),
            max_token_ttl: Duration::from_secs(900),
            leeway: Duration::from_secs(30),
            deletion_window: Duration::from_secs(7 * 86_400),
            algorithm: Algorithm::ES256,
        };
        let meta = Metadata::new(ISSUER, &format!("{ISSUER}/.well-known/jwks.json"), vec!["ES256".into()]);
        let publisher = Arc::new(DirPublisher::new(&data.public()));
        Rotator::new(store.clone(), keys.clone(), publisher, store.clone(), policy, meta)
            .step(now, false)
            .await
            .expect("keys");
        let spec = NewClient {
            name: "bench".into(),
            scopes: ScopeSet::parse("orders:read orders:write").expect("scopes"),
            audiences: vec![AUDIENCE.into()],
            cidrs: vec![],
            max_ttl: Duration::from_secs(900),
            scope_ttl_caps: BTreeMap::default(),
        };
        let (client, secret) =
            admin::create_client(store.as_ref(), spec, now, &mut rand_core::OsRng).await.expect("client");
        let settings = IssuerSettings {
            issuer: ISSUER.into(),
            token_ttl: Duration::from_secs(900),
            leeway: Duration::from_secs(30),
        };
        let s = store.clone();
        let issuer = Issuer::new(settings, s.clone(), s.clone(), s.clone(), keys.clone(), s.clone(), s.clone());
        let authenticated = issuer.authenticate(client.id.as_str(), secret.expose(), now).await.expect("auth");
        let request = tessera_core::client::TokenRequest {
            scopes: Some(ScopeSet::parse("orders:read").expect("scope")),
            audiences: vec![],
            source_ip: None,
        };
        let token =
            issuer.issue(&authenticated, &request, now, &mut rand_core::OsRng).await.expect("token").access_token;
        let signing =
            store.list_keys().await.expect("keys").into_iter().find(|k| k.status == KeyStatus::Active).expect("active");
        let world = Self { _tmp: tmp, dir, store, keys, token, spki: signing.public_key_spki.clone() };
        world.add_keys(extra_keys, &signing, now).await;
        world.add_revocations(revocations, now).await;
        world
    }

    async fn add_keys(&self, n: usize, like: &KeyRecord, now: UnixTime) {
        use p256::pkcs8::EncodePublicKey as _;
        for i in 0..n {
            let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let spki = sk.verifying_key().to_public_key_der().expect("spki").as_bytes().to_vec();
            let kid = PublicKey::from_spki(Algorithm::ES256, &spki).expect("public").thumbprint();
            let mut k = like.clone();
            k.kid = kid;
            k.generation = 1_000 + u64::try_from(i).expect("index");
            k.public_key_spki = spki;
            k.provider_key_id = format!("bench-{i}");
            k.status = KeyStatus::Retiring;
            k.retiring_at = Some(now);
            k.version = 1;
            self.store.insert_key(&k).await.expect("insert key");
        }
    }

    async fn add_revocations(&self, n: usize, now: UnixTime) {
        let client = ClientId::parse("tsc_revokedbench").expect("id");
        for i in 0..n {
            let r = Revocation::Token {
                jti: Jti::parse(&format!("bench-jti-{i:06}")).expect("jti"),
                client_id: client.clone(),
                expires_at: now.plus(Duration::from_secs(3600)),
            };
            self.store.revoke(&r, now).await.expect("revoke");
        }
    }
}

/// A REST API REQUEST authorizer event for `token` on `GET /api/orders/42`.
#[must_use]
pub fn rest_request_event(token: &str) -> Value {
    json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/api/orders/42",
        "resource": "/api/orders/{id}",
        "path": "/api/orders/42",
        "httpMethod": "GET",
        "headers": {"Authorization": format!("Bearer {token}"), "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Authorization": [format!("Bearer {token}")]},
        "queryStringParameters": {},
        "pathParameters": {"id": "42"},
        "stageVariables": {},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "stage": "prod", "requestId": "bench-request",
            "httpMethod": "GET", "resourcePath": "/api/orders/{id}", "path": "/prod/api/orders/42",
            "identity": {"sourceIp": "10.0.0.9", "userAgent": "bench"}
        }
    })
}

/// Accumulates the time and iterations criterion's `iter_custom` measured for one benchmark, so the run
/// can print ratios of means at its end.
#[derive(Debug, Default, Clone)]
pub struct Totals(Arc<Mutex<BTreeMap<String, (Duration, u64)>>>);

impl Totals {
    /// Adds one measurement.
    pub fn add(&self, name: &str, took: Duration, iters: u64) {
        if let Ok(mut m) = self.0.lock() {
            let e = m.entry(name.to_owned()).or_default();
            e.0 += took;
            e.1 += iters;
        }
    }

    /// Mean time per iteration, in nanoseconds.
    #[must_use]
    pub fn mean_ns(&self, name: &str) -> Option<f64> {
        let m = self.0.lock().ok()?;
        let (d, n) = m.get(name)?;
        #[allow(clippy::cast_precision_loss, reason = "means of benchmark counts")]
        Some(d.as_nanos() as f64 / (*n).max(1) as f64)
    }

    /// Prints `name / baseline` with the goal, and returns the ratio.
    pub fn report(&self, name: &str, baseline: &str, goal: Option<f64>) -> Option<f64> {
        let (a, b) = (self.mean_ns(name)?, self.mean_ns(baseline)?);
        let ratio = a / b;
        let verdict = goal
            .map_or_else(String::new, |g| format!("  goal ≤ {g:.2}×: {}", if ratio <= g { "met" } else { "NOT met" }));
        println!("ratio {name} / {baseline} = {ratio:.3}× ({:.2} µs / {:.2} µs){verdict}", a / 1_000.0, b / 1_000.0);
        Some(ratio)
    }
}

/// Times `f` over `iters` iterations (for criterion's `iter_custom`), recording the result in `totals`.
pub fn timed(totals: &Totals, name: &str, iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let took = start.elapsed();
    totals.add(name, took, iters);
    took
}

/// The workspace's target dir (where `cargo build --release` puts binaries).
#[must_use]
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").join("target"),
        PathBuf::from,
    )
}

/// The signing input and raw signature of a compact token.
#[must_use]
pub fn split_token(token: &str) -> (String, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("a compact JWS");
    (input.to_owned(), tessera_core::jose::b64::decode(sig).expect("signature"))
}

/// A kid, for building fixtures.
#[must_use]
pub fn kid(s: &str) -> Kid {
    Kid::parse(s).expect("kid")
}
