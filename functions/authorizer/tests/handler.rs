//! The authorizer handler on the real event shapes (aws_lambda_events fixtures), with tokens minted by the
//! issuer service over a real SQLite store and software keys.

use std::sync::Arc;
use std::time::Duration;

use rand_core::OsRng;
use serde_json::{Value, json};
use tessera_authorizer::state::Freshness;
use tessera_authorizer::{Authorizer, AuthorizerConfig, HttpApiResponse, VerifierState};
use tessera_core::ScopeSet;
use tessera_core::client::TokenRequest;
use tessera_core::discovery::Metadata;
use tessera_core::jose::Algorithm;
use tessera_core::lifecycle::RotationPolicy;
use tessera_core::policy::RoutePolicy;
use tessera_core::ports::RevocationStore as _;
use tessera_core::revocation::Revocation;
use tessera_core::service::{Issuer, IssuerSettings, NewClient, Rotator, admin};
use tessera_core::time::{Clock as _, SystemClock};
use tessera_core::verify::VerifierConfig;
use tessera_local::{DirPublisher, SoftwareKeys, SqliteStore};

const ISS: &str = "https://issuer.test";
const AUD: &str = "https://api.test";
const PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    issuer: Issuer,
    state: Arc<VerifierState>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).expect("store"));
    let keys = Arc::new(SoftwareKeys::open(&dir.path().join("keys")).expect("keys"));
    let policy = RotationPolicy {
        rotate_every: Duration::from_secs(3600),
        jwks_max_age: Duration::from_secs(60),
        propagation_margin: Duration::from_secs(10),
        max_token_ttl: Duration::from_secs(300),
        leeway: Duration::from_secs(30),
        deletion_window: Duration::from_secs(7 * 86_400),
        algorithm: Algorithm::ES256,
    };
    let rotator = Rotator::new(
        store.clone(),
        keys.clone(),
        Arc::new(DirPublisher::new(&dir.path().join("public"))),
        store.clone(),
        policy,
        Metadata::new(ISS, "https://issuer.test/.well-known/jwks.json", vec!["ES256".into()]),
    );
    rotator.step(SystemClock.now(), false).await.expect("bootstrap keys");
    let settings =
        IssuerSettings { issuer: ISS.into(), token_ttl: Duration::from_secs(300), leeway: Duration::from_secs(30) };
    let issuer = Issuer::new(settings, store.clone(), store.clone(), store.clone(), keys, store.clone(), store.clone());
    // A staleness bound far beyond the test: every decision below must be served from memory.
    let freshness = Freshness {
        max_staleness: Duration::from_secs(3600),
        unknown_kid_reload: Duration::from_secs(3600),
        leeway: Duration::from_secs(30),
    };
    let state =
        VerifierState::load(store.clone(), store.clone(), Arc::new(SystemClock), freshness).await.expect("state");
    World { _dir: dir, store, issuer, state }
}

impl World {
    fn authorizer(&self, http_api: HttpApiResponse) -> Authorizer {
        let config = AuthorizerConfig {
            verifier: VerifierConfig::new(ISS, vec![AUD.into()], Duration::from_secs(30)).expect("verifier"),
            routes: RoutePolicy::demo(),
            http_api,
            refresh_every: Duration::from_secs(3600),
            freshness: Freshness {
                max_staleness: Duration::from_secs(3600),
                unknown_kid_reload: Duration::from_secs(3600),
                leeway: Duration::from_secs(30),
            },
        };
        Authorizer::new(&config, Arc::clone(&self.state), Arc::new(SystemClock))
    }

    async fn token(&self, scopes: &str, cidrs: &str) -> (String, String) {
        let spec = NewClient {
            name: "svc".into(),
            scopes: ScopeSet::parse(scopes).expect("scopes"),
            audiences: vec![AUD.into()],
            cidrs: cidrs.split(',').filter(|c| !c.is_empty()).map(|c| c.parse().expect("cidr")).collect(),
            max_ttl: Duration::from_secs(300),
            scope_ttl_caps: Default::default(),
        };
        let (client, _) =
            admin::create_client(self.store.as_ref(), spec, SystemClock.now(), &mut OsRng).await.expect("client");
        let req = TokenRequest { source_ip: Some("10.1.2.3".parse().expect("ip")), ..Default::default() };
        let t = self.issuer.issue(&client, &req, SystemClock.now(), &mut OsRng).await.expect("issue");
        (t.access_token, t.jti.to_string())
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn rest_request(token: &str, method: &str, path: &str, ip: &str) -> Value {
    let mut e = fixture("rest-request.json");
    e["methodArn"] = json!(format!("{PREFIX}/{method}{path}"));
    e["path"] = json!(path);
    e["httpMethod"] = json!(method);
    e["headers"]["Authorization"] = json!(format!("Bearer {token}"));
    e["requestContext"]["identity"]["sourceIp"] = json!(ip);
    e
}

fn statements(policy: &Value, effect: &str) -> Vec<String> {
    policy["policyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| s["Effect"] == effect)
        .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn rest_request_events_get_cache_safe_policies() {
    let w = world().await;
    let a = w.authorizer(HttpApiResponse::Simple);
    let (token, jti) = w.token("orders:read", "").await;

    let allow = a.handle(rest_request(&token, "GET", "/api/orders/7", "10.0.0.1")).await.expect("allow");
    assert_eq!(allow["context"]["jti"], json!(jti));
    assert_eq!(allow["context"]["scope"], json!("orders:read"));
    // Exactly the routes orders:read opens, so a cached policy opens nothing else.
    assert_eq!(
        statements(&allow, "Allow"),
        vec![format!("{PREFIX}/GET/api/orders/*"), format!("{PREFIX}/GET/api/orders")]
    );
    assert!(statements(&allow, "Deny").is_empty());

    let deny = a.handle(rest_request(&token, "POST", "/api/orders", "10.0.0.1")).await.expect("deny is a policy");
    assert_eq!(statements(&deny, "Deny"), vec![format!("{PREFIX}/POST/api/orders")]);
    assert!(!statements(&deny, "Allow").iter().any(|r| r.contains("POST")), "no Allow for the denied route");

    assert!(a.handle(rest_request("not-a-token", "GET", "/api/orders/7", "10.0.0.1")).await.is_err(), "401");
    let mut no_header = rest_request(&token, "GET", "/api/orders/7", "10.0.0.1");
    no_header["headers"].as_object_mut().expect("headers").remove("Authorization");
    assert!(a.handle(no_header).await.is_err(), "401 without a token");
}

#[tokio::test]
async fn rest_token_events_read_method_and_path_from_the_arn() {
    let w = world().await;
    let a = w.authorizer(HttpApiResponse::Simple);
    let (token, _) = w.token("orders:write", "").await;
    let mut e = fixture("rest-token.json");
    e["authorizationToken"] = json!(format!("Bearer {token}"));
    e["methodArn"] = json!(format!("{PREFIX}/POST/api/orders"));
    let allow = a.handle(e.clone()).await.expect("allow");
    assert_eq!(statements(&allow, "Allow"), vec![format!("{PREFIX}/POST/api/orders")]);
    e["methodArn"] = json!(format!("{PREFIX}/GET/api/orders/1"));
    let deny = a.handle(e.clone()).await.expect("policy");
    assert_eq!(statements(&deny, "Deny"), vec![format!("{PREFIX}/GET/api/orders/1")]);
    // TOKEN events carry no source address: an IP-restricted token is refused there (fail closed).
    let (restricted, _) = w.token("orders:write", "10.0.0.0/8").await;
    e["authorizationToken"] = json!(format!("Bearer {restricted}"));
    e["methodArn"] = json!(format!("{PREFIX}/POST/api/orders"));
    let refused = a.handle(e).await.expect("policy");
    assert!(statements(&refused, "Allow").is_empty());
    assert_eq!(statements(&refused, "Deny").len(), 1);
}

#[tokio::test]
async fn http_api_v2_events_get_simple_or_iam_responses() {
    let w = world().await;
    let (token, _) = w.token("orders:read", "10.0.0.0/8").await;
    let mut e = fixture("http-v2.json");
    e["headers"]["authorization"] = json!(format!("Bearer {token}"));
    e["requestContext"]["http"]["method"] = json!("GET");
    e["requestContext"]["http"]["path"] = json!("/api/orders/3");
    e["requestContext"]["http"]["sourceIp"] = json!("10.9.9.9");
    e["routeArn"] = json!(format!("{PREFIX}/GET/api/orders/3"));
    let simple = w.authorizer(HttpApiResponse::Simple);
    let r = simple.handle(e.clone()).await.expect("simple");
    assert_eq!(r["isAuthorized"], json!(true));
    assert!(r["context"]["client_id"].as_str().is_some_and(|c| c.starts_with("tsc_")));
    e["requestContext"]["http"]["sourceIp"] = json!("192.0.2.7");
    assert_eq!(
        simple.handle(e.clone()).await.expect("simple")["isAuthorized"],
        json!(false),
        "outside the client's CIDRs"
    );
    e["headers"]["authorization"] = json!("Bearer garbage");
    assert_eq!(simple.handle(e.clone()).await.expect("simple")["isAuthorized"], json!(false), "HTTP APIs get no 500");
    e["headers"]["authorization"] = json!(format!("Bearer {token}"));
    e["requestContext"]["http"]["sourceIp"] = json!("10.9.9.9");
    let iam = w.authorizer(HttpApiResponse::Iam).handle(e).await.expect("iam");
    assert_eq!(statements(&iam, "Allow").len(), 2);
}

#[tokio::test]
async fn malformed_events_are_unauthorized_not_errors() {
    let w = world().await;
    let a = w.authorizer(HttpApiResponse::Simple);
    for bad in [
        json!(null),
        json!("x"),
        json!({"type": "TOKEN", "authorizationToken": 5}),
        json!({"version": "2.0", "routeArn": 1}),
    ] {
        assert!(a.handle(bad).await.is_err());
    }
}

#[tokio::test]
async fn decisions_do_no_store_io_and_revocations_arrive_by_refresh() {
    let w = world().await;
    let a = w.authorizer(HttpApiResponse::Simple);
    let (token, jti) = w.token("orders:read", "").await;
    let event = rest_request(&token, "GET", "/api/orders/7", "10.0.0.1");
    let before = w.state.store_reads();
    for _ in 0..10_000 {
        let p = a.handle(event.clone()).await.expect("allow");
        assert_eq!(statements(&p, "Deny").len(), 0);
    }
    assert_eq!(w.state.store_reads(), before, "10,000 decisions, zero store reads");

    let client = tessera_core::ClientId::parse(
        a.handle(event.clone()).await.expect("allow")["context"]["client_id"].as_str().expect("id"),
    )
    .expect("id");
    let jti = tessera_core::Jti::parse(&jti).expect("jti");
    w.store
        .revoke(
            &Revocation::Token { jti, client_id: client, expires_at: SystemClock.now().plus(Duration::from_secs(300)) },
            SystemClock.now(),
        )
        .await
        .expect("revoke");
    assert!(a.handle(event.clone()).await.is_ok(), "not seen before the refresh");
    w.state.refresh().await.expect("refresh");
    assert!(a.handle(event).await.is_err(), "refused after the refresh");
}

#[tokio::test]
async fn unknown_kids_reload_at_most_once_per_interval() {
    let w = world().await;
    let a = w.authorizer(HttpApiResponse::Simple);
    let (token, _) = w.token("orders:read", "").await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "unknown-kid"}).to_string();
    parts[0] = tessera_core::jose::b64::encode(header.as_bytes());
    let bogus = parts.join(".");
    let before = w.state.store_reads();
    for _ in 0..1000 {
        assert!(a.handle(rest_request(&bogus, "GET", "/api/orders/1", "10.0.0.1")).await.is_err());
    }
    assert_eq!(w.state.store_reads() - before, 2, "one reload (keys + revocations) for a thousand bogus kids");
}

/// A store whose reads can be switched off, to see the authorizer fail closed.
struct Flaky {
    inner: Arc<SqliteStore>,
    down: std::sync::atomic::AtomicBool,
}

impl Flaky {
    fn check(&self) -> tessera_core::ports::PortResult<()> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tessera_core::ports::PortError::unavailable("DynamoDB unreachable (injected)"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl tessera_core::ports::KeySource for Flaky {
    async fn list_keys(&self) -> tessera_core::ports::PortResult<Vec<tessera_core::lifecycle::KeyRecord>> {
        self.check()?;
        self.inner.list_keys().await
    }
}

#[async_trait::async_trait]
impl tessera_core::ports::RevocationSource for Flaky {
    async fn revocations_since(
        &self,
        cursor: Option<&tessera_core::ports::Cursor>,
        now: tessera_core::UnixTime,
    ) -> tessera_core::ports::PortResult<tessera_core::ports::RevocationDelta> {
        self.check()?;
        self.inner.revocations_since(cursor, now).await
    }
}

#[tokio::test]
async fn a_stale_view_that_cannot_refresh_fails_closed() {
    use tessera_core::ports::KeySource as _;
    let w = world().await;
    let (token, _) = w.token("orders:read", "").await;
    let flaky = Arc::new(Flaky { inner: w.store.clone(), down: std::sync::atomic::AtomicBool::new(false) });
    // A zero staleness bound: every decision needs a fresh view, as after a long freeze in Lambda.
    let freshness = Freshness {
        max_staleness: Duration::ZERO,
        unknown_kid_reload: Duration::from_secs(1),
        leeway: Duration::from_secs(30),
    };
    let state =
        VerifierState::load(flaky.clone(), flaky.clone(), Arc::new(SystemClock), freshness).await.expect("state");
    let config = AuthorizerConfig {
        verifier: VerifierConfig::new(ISS, vec![AUD.into()], Duration::from_secs(30)).expect("verifier"),
        routes: RoutePolicy::demo(),
        http_api: HttpApiResponse::Simple,
        refresh_every: Duration::from_secs(3600),
        freshness,
    };
    let a = Authorizer::new(&config, state, Arc::new(SystemClock));
    let event = rest_request(&token, "GET", "/api/orders/7", "10.0.0.1");
    assert!(a.handle(event.clone()).await.is_ok(), "healthy: allowed");
    flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(a.handle(event.clone()).await.is_err(), "store down and view stale: refused");
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(a.handle(event).await.is_ok(), "recovers");
    assert!(!flaky.list_keys().await.expect("keys").is_empty());
}
