//! When KMS or DynamoDB fails, the issuer answers in RFC 6749 terms (503 or 429, Retry-After) and writes
//! nothing half-way. DynamoDB and KMS are moto (the AWS API emulator) or an unreachable loopback port;
//! throttling, which moto cannot produce, comes from a fault-injecting signer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::{Body, Request};
use rand_core::OsRng;
use serde_json::Value;
use tessera_aws::{AwsConfig, DynamoStore, KmsKeys, KmsOptions};
use tessera_core::ScopeSet;
use tessera_core::discovery::Metadata;
use tessera_core::jose::Algorithm;
use tessera_core::lifecycle::RotationPolicy;
use tessera_core::ports::{PortError, PortResult, Signer};
use tessera_core::service::{Issuer, IssuerSettings, NewClient, Rotator, admin};
use tessera_core::time::{Clock as _, SystemClock};
use tessera_issuer::IssuerApp;

async fn aws(endpoint: &str) -> AwsConfig {
    AwsConfig::emulator(endpoint).await
}

/// A loopback port nothing listens on.
fn dead_endpoint() -> String {
    format!("http://127.0.0.1:{}", tessera_testkit::moto::free_port())
}

/// A table with signing keys and one client, on moto.
async fn world() -> (Arc<DynamoStore>, String, String) {
    let cfg = aws(&tessera_testkit::moto::endpoint()).await;
    let store = Arc::new(DynamoStore::new(cfg.dynamodb(), tessera_testkit::moto::unique("issuer")));
    store.create_table().await.expect("table");
    let keys = Arc::new(KmsKeys::new(cfg.kms(), KmsOptions::default()));
    let dir = tempfile::tempdir().expect("tmp");
    let policy = RotationPolicy {
        rotate_every: Duration::from_secs(3600),
        jwks_max_age: Duration::from_secs(60),
        propagation_margin: Duration::from_secs(10),
        max_token_ttl: Duration::from_secs(300),
        leeway: Duration::from_secs(30),
        deletion_window: Duration::from_secs(7 * 86_400),
        algorithm: Algorithm::ES256,
    };
    let publisher = Arc::new(tessera_local::DirPublisher::new(dir.path()));
    let meta = Metadata::new("https://issuer.test", "https://issuer.test/.well-known/jwks.json", vec!["ES256".into()]);
    Rotator::new(store.clone(), keys, publisher, store.clone(), policy, meta)
        .step(SystemClock.now(), false)
        .await
        .expect("keys");
    let spec = NewClient {
        name: "svc".into(),
        scopes: ScopeSet::parse("orders:read").expect("scopes"),
        audiences: vec!["https://api.test".into()],
        cidrs: vec![],
        max_ttl: Duration::from_secs(300),
        scope_ttl_caps: Default::default(),
    };
    let (client, secret) =
        admin::create_client(store.as_ref(), spec, SystemClock.now(), &mut OsRng).await.expect("client");
    (store, client.id.to_string(), secret.expose().to_owned())
}

fn app(store: &Arc<DynamoStore>, signer: Arc<dyn Signer>) -> IssuerApp {
    let s = store.clone();
    let settings = IssuerSettings {
        issuer: "https://issuer.test".into(),
        token_ttl: Duration::from_secs(300),
        leeway: Duration::from_secs(30),
    };
    IssuerApp::new(Issuer::new(settings, s.clone(), s.clone(), s.clone(), signer, s.clone(), s), Arc::new(SystemClock))
}

fn token_request(id: &str, secret: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(format!("grant_type=client_credentials&client_id={id}&client_secret={secret}")))
        .expect("request")
}

fn json(resp: &lambda_http::Response<Body>) -> Value {
    match resp.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json"),
        other => panic!("unexpected body {other:?}"),
    }
}

async fn token_items(table: &str) -> usize {
    let out = aws(&tessera_testkit::moto::endpoint())
        .await
        .dynamodb()
        .scan()
        .table_name(table)
        .filter_expression("begins_with(pk, :t)")
        .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::S("TOKEN#".into()))
        .send()
        .await
        .expect("scan");
    out.items().len()
}

#[tokio::test]
async fn dynamodb_unreachable_gives_503_with_retry_after() {
    let (_, id, secret) = world().await;
    let dead = aws(&dead_endpoint()).await;
    let store = Arc::new(DynamoStore::new(dead.dynamodb(), "any"));
    let resp = app(&store, Arc::new(KmsKeys::new(dead.kms(), KmsOptions::default())))
        .handle(token_request(&id, &secret))
        .await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    assert_eq!(json(&resp)["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn kms_unreachable_gives_503_and_records_no_token() {
    let (store, id, secret) = world().await;
    let dead = aws(&dead_endpoint()).await;
    let resp = app(&store, Arc::new(KmsKeys::new(dead.kms(), KmsOptions::default())))
        .handle(token_request(&id, &secret))
        .await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    assert_eq!(json(&resp)["error"], "temporarily_unavailable");
    assert_eq!(token_items(store.table()).await, 0, "no token metadata without a token");
    // With KMS back, the same request succeeds.
    let live = aws(&tessera_testkit::moto::endpoint()).await;
    let resp = app(&store, Arc::new(KmsKeys::new(live.kms(), KmsOptions::default())))
        .handle(token_request(&id, &secret))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(token_items(store.table()).await, 1);
}

/// A loopback port that accepts connections and never answers: a KMS that hangs.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_kms_that_never_answers_gives_503_within_the_sdk_timeout() {
    let (store, id, secret) = world().await;
    let hung = aws(&black_hole().await).await;
    let started = std::time::Instant::now();
    let resp = app(&store, Arc::new(KmsKeys::new(hung.kms(), KmsOptions::default())))
        .handle(token_request(&id, &secret))
        .await;
    let took = started.elapsed();
    assert_eq!(resp.status(), 503, "{:?}", json(&resp));
    assert!(resp.headers().get("retry-after").is_some());
    assert_eq!(json(&resp)["error"], "temporarily_unavailable");
    // Bounded by the SDK's operation timeout (4.5 s), well inside the issuer's 10 s Lambda timeout.
    assert!(took < Duration::from_secs(8), "answered after {took:?}");
    assert_eq!(token_items(store.table()).await, 0);
}

struct ThrottledSigner;

#[async_trait]
impl Signer for ThrottledSigner {
    async fn sign(&self, _: &str, _: Algorithm, _: &[u8]) -> PortResult<Vec<u8>> {
        Err(PortError::Throttled {
            retry_after: Some(Duration::from_secs(2)),
            source: "ThrottlingException: rate exceeded".into(),
        })
    }
}

#[tokio::test]
async fn kms_throttling_gives_429_with_retry_after() {
    let (store, id, secret) = world().await;
    let resp = app(&store, Arc::new(ThrottledSigner)).handle(token_request(&id, &secret)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert_eq!(json(&resp)["error"], "temporarily_unavailable");
    assert_eq!(token_items(store.table()).await, 0);
}
