//! The attack catalog (`tessera_testkit::attacks`) against every verifier Tessera ships: the core in
//! process, `tessera dev`'s `/api/*`, and the authorizer binary under the Lambda runtime emulator. Each
//! attack must be refused with its status (401 or 403) and its reason (read from the decision's log line,
//! found by request id). A valid control token must pass everywhere, so a target that refuses everything
//! fails too.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::jose::{Algorithm, KeyRing, PublicKey};
use tessera_core::lifecycle::KeyStatus;
use tessera_core::policy::RoutePolicy;
use tessera_core::ports::{KeySource as _, RevocationStore as _};
use tessera_core::revocation::{Revocation, RevocationSet};
use tessera_core::service::{NewClient, admin};
use tessera_core::time::{Clock as _, SystemClock};
use tessera_core::verify::{Outcome, RequestFacts, Verifier, VerifierConfig};
use tessera_core::{ClientId, ScopeSet, UnixTime};
use tessera_testkit::attacks::{Attack, Need, P256Signer, Scenario, TargetKey, catalog, control};
use tessera_tests::{DevServer, http};

/// What a target answered: its refusal (`None`: allowed) and, when it says, the reason.
type Answer = (Option<Outcome>, Option<String>);

fn check(results: &[(Attack, Answer)], control: &Answer, target: &str) {
    assert_eq!(control.0, None, "{target}: the control token must pass ({control:?})");
    let wrong: Vec<String> = results
        .iter()
        .filter(|(a, (outcome, reason))| {
            *outcome != Some(a.expect.outcome()) || reason.as_deref() != Some(a.expect.as_str())
        })
        .map(|(a, got)| format!("  {}: expected {:?}/{}, got {got:?}", a.name, a.expect.outcome(), a.expect.as_str()))
        .collect();
    assert!(
        wrong.is_empty(),
        "{target}: {} of {} attacks were not refused as they must be:\n{}",
        wrong.len(),
        results.len(),
        wrong.join("\n")
    );
    assert!(results.len() >= 80, "{target}: the whole catalog ran ({})", results.len());
    eprintln!("{target}: {} attacks, each refused with its status and reason; the control passed", results.len());
}

fn scenario(issuer: &str, audience: &str, now: UnixTime, clients: [ClientId; 3]) -> Scenario {
    let [client, disabled_client, revoked_client] = clients;
    Scenario {
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
        now,
        leeway: Duration::from_secs(30),
        client,
        disabled_client,
        revoked_client,
        read_route: ("GET", "/api/orders/1"),
        write_route: ("POST", "/api/orders"),
    }
}

#[tokio::test]
async fn the_core_verifier_refuses_every_attack() {
    use p256::pkcs8::EncodePublicKey as _;
    let sk = p256::ecdsa::SigningKey::from_slice(&[42u8; 32]).expect("key");
    let spki = sk.verifying_key().to_public_key_der().expect("spki").as_bytes().to_vec();
    let public = PublicKey::from_spki(Algorithm::ES256, &spki).expect("public");
    let kid = public.thumbprint();
    let mut ring = KeyRing::new();
    ring.insert(kid.clone(), public);
    let signer = P256Signer(sk);
    let key = TargetKey { signer: &signer, provider_key_id: "mem".into(), kid, spki };
    let ids = ["tsc_good", "tsc_disabled", "tsc_revoked"].map(|i| ClientId::parse(i).expect("id"));
    let s = scenario("https://issuer.test", "https://api.test", UnixTime(1_800_000_000), ids);
    let verifier = Verifier::new(VerifierConfig::new(&s.issuer, vec![s.audience.clone()], s.leeway).expect("config"));
    let routes = RoutePolicy::demo();
    let decide = |token: &str, (method, path): (&str, &str), revoked: &RevocationSet| -> Answer {
        let facts = RequestFacts { method, path, source_ip: Some("10.0.0.9".parse().expect("ip")) };
        match verifier.verify(token, &ring, revoked, &routes, &facts, s.now) {
            Ok(_) => (None, Some("ok".to_owned())),
            Err(r) => (Some(r.outcome()), Some(r.as_str().to_owned())),
        }
    };
    let attacks = catalog(&key, &s).await;
    let mut revoked = RevocationSet::new();
    for a in &attacks {
        match &a.need {
            Need::Nothing => {}
            Need::RevokedJti(jti) => revoked.apply(&[Revocation::Token {
                jti: jti.clone(),
                client_id: s.client.clone(),
                expires_at: s.now.plus(Duration::from_secs(300)),
            }]),
            Need::DisabledClient(id) => revoked.set_disabled(std::slice::from_ref(id)),
            Need::RevokedClient(id) => {
                revoked.apply(&[Revocation::ClientBefore { client_id: id.clone(), before: s.now }])
            }
        }
    }
    let results: Vec<(Attack, Answer)> = attacks
        .into_iter()
        .map(|a| {
            let got = decide(&a.token, a.route, &revoked);
            (a, got)
        })
        .collect();
    let good = control(&key, &s).await;
    check(&results, &decide(&good, s.read_route, &revoked), "in process");
}

/// The target's signing key and store, from its data dir (the local backend), as only a test can reach them.
struct LocalTarget {
    store: Arc<tessera_local::SqliteStore>,
    keys: tessera_local::SoftwareKeys,
    provider_key_id: String,
    kid: tessera_core::Kid,
    spki: Vec<u8>,
}

impl LocalTarget {
    async fn open(dir: &std::path::Path) -> Self {
        let data = tessera_local::DataDir::open(dir).expect("data dir");
        let store = Arc::new(tessera_local::SqliteStore::open(&data.database()).expect("store"));
        let keys = tessera_local::SoftwareKeys::open(&data.keys()).expect("keys");
        let active = store
            .list_keys()
            .await
            .expect("keys")
            .into_iter()
            .find(|k| k.status == KeyStatus::Active)
            .expect("an active key");
        Self { store, keys, provider_key_id: active.provider_key_id, kid: active.kid, spki: active.public_key_spki }
    }

    fn key(&self) -> TargetKey<'_> {
        TargetKey {
            signer: &self.keys,
            provider_key_id: self.provider_key_id.clone(),
            kid: self.kid.clone(),
            spki: self.spki.clone(),
        }
    }

    async fn client(&self, name: &str) -> ClientId {
        let spec = NewClient {
            name: name.into(),
            scopes: ScopeSet::parse("orders:read").expect("scopes"),
            audiences: vec!["https://api.test".into()],
            cidrs: vec![],
            max_ttl: Duration::from_secs(900),
            scope_ttl_caps: Default::default(),
        };
        admin::create_client(self.store.as_ref(), spec, SystemClock.now(), &mut rand_core::OsRng)
            .await
            .expect("client")
            .0
            .id
    }

    /// Puts the target in the state each attack needs, through its store: the operator's own paths for
    /// clients; a direct revocation for the forged jti (the CLI revokes only tokens it has a record of).
    async fn apply(&self, attacks: &[Attack], s: &Scenario) {
        let now = SystemClock.now();
        for a in attacks {
            match &a.need {
                Need::Nothing => {}
                Need::RevokedJti(jti) => {
                    let r = Revocation::Token {
                        jti: jti.clone(),
                        client_id: s.client.clone(),
                        expires_at: now.plus(Duration::from_secs(600)),
                    };
                    self.store.revoke(&r, now).await.expect("revoke");
                }
                Need::DisabledClient(id) => {
                    admin::set_status(self.store.as_ref(), id.as_str(), tessera_core::client::ClientStatus::Disabled)
                        .await
                        .expect("disable");
                }
                Need::RevokedClient(id) => {
                    admin::revoke_client(self.store.as_ref(), self.store.as_ref(), id.as_str(), now)
                        .await
                        .expect("revoke client");
                }
            }
        }
    }
}

/// The decision's reason in a JSON log, by request id.
fn reason_in(log: &str, request_id: &str) -> Option<String> {
    log.lines()
        .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str::<Value>(&l[i..]).ok()))
        .find(|v| {
            let f = if v["fields"].is_object() { &v["fields"] } else { v };
            f["request_id"] == request_id && f["reason"].is_string()
        })
        .map(|v| {
            let f = if v["fields"].is_object() { &v["fields"] } else { &v };
            f["reason"].as_str().unwrap_or_default().to_owned()
        })
}

fn outcome_of_status(status: u16) -> Option<Outcome> {
    match status {
        200 => None,
        403 => Some(Outcome::Forbidden),
        _ => Some(Outcome::Unauthorized),
    }
}

#[tokio::test]
async fn the_dev_server_refuses_every_attack() {
    let server = DevServer::start(&[]);
    let target = LocalTarget::open(&server.dir).await;
    let ids = [target.client("good").await, target.client("to-disable").await, target.client("to-revoke").await];
    let s = scenario(&server.base, "https://api.example.local", SystemClock.now(), ids);
    let key = target.key();
    let attacks = catalog(&key, &s).await;
    target.apply(&attacks, &s).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // the revocation promise: within a second
    let call = |token: String, (method, path): (&'static str, &'static str)| {
        let url = server.url(path);
        async move {
            let r = http()
                .request(method.parse().expect("method"), url)
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let rid = r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            (status, rid)
        }
    };
    let mut sent = Vec::new();
    for a in attacks {
        let got = call(a.token.clone(), a.route).await;
        sent.push((a, got));
    }
    let good = call(control(&key, &s).await, s.read_route).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.logs();
    let answer = |(status, rid): &(u16, String)| -> Answer { (outcome_of_status(*status), reason_in(&log, rid)) };
    let results: Vec<(Attack, Answer)> = sent.iter().map(|(a, got)| (a.clone(), answer(got))).collect();
    check(&results, &answer(&good), "tessera dev /api/*");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_binary_refuses_every_attack() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    tessera_tests::cli_json(&dir, &["keys", "rotate"]);
    let target = LocalTarget::open(&dir).await;
    let ids = [target.client("good").await, target.client("to-disable").await, target.client("to-revoke").await];
    let issuer = "https://issuer.test";
    let watch = tessera_tests::lambda::start_watch(
        tmp.path(),
        &[
            ("TESSERA_BACKEND", "local".into()),
            ("TESSERA_DATA_DIR", dir.display().to_string()),
            ("TESSERA_ISSUER", issuer.into()),
            ("TESSERA_AUDIENCES", "https://api.test".into()),
            ("TESSERA_ROUTES", "GET /api/orders/* orders:read;POST /api/orders orders:write".into()),
            ("TESSERA_REFRESH_EVERY", "200ms".into()),
            ("RUST_LOG", "info".into()),
        ],
    );
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod";
    let event = |token: &str, (method, path): (&str, &str), rid: &str| {
        let mut e = tessera_tests::lambda::fixture("rest-request.json");
        e["methodArn"] = json!(format!("{arn}/{method}{path}"));
        e["httpMethod"] = json!(method);
        e["path"] = json!(path);
        e["resource"] = json!(path);
        e["headers"] = json!({"Authorization": format!("Bearer {token}")});
        e["multiValueHeaders"] = json!({"Authorization": [format!("Bearer {token}")]});
        e["requestContext"]["identity"]["sourceIp"] = json!("10.0.0.9");
        e["requestContext"]["requestId"] = json!(rid);
        e["requestContext"]["httpMethod"] = json!(method);
        e
    };
    // The first invocation compiles the function; it must come up before timing matters.
    let _ = watch.invoke("tessera-authorizer", &event("warm-up", ("GET", "/api/orders/1"), "warm-up")).await;
    let s = scenario(issuer, "https://api.test", SystemClock.now(), ids);
    let key = target.key();
    let attacks = catalog(&key, &s).await;
    target.apply(&attacks, &s).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ask = |token: String, route: (&'static str, &'static str), rid: String| {
        let e = event(&token, route, &rid);
        let watch = &watch;
        async move {
            let (status, body) = watch.invoke("tessera-authorizer", &e).await;
            let arn = e["methodArn"].as_str().unwrap_or_default();
            let covers = |effect: &str| {
                body["policyDocument"]["Statement"].as_array().is_some_and(|st| {
                    st.iter().any(|x| {
                        x["Effect"] == effect
                            && x["Resource"].as_array().is_some_and(|r| {
                                r.iter().any(|r| tessera_core::policy::glob_match(r.as_str().unwrap_or(""), arn))
                            })
                    })
                })
            };
            let (allowed, denied) = (covers("Allow"), covers("Deny"));
            let outcome = match (status, body["errorMessage"].as_str()) {
                (_, Some("Unauthorized")) => Some(Outcome::Unauthorized),
                (200, _) if allowed && !denied => None,
                (200, _) => Some(Outcome::Forbidden),
                _ => Some(Outcome::Unauthorized),
            };
            (outcome, rid)
        }
    };
    let mut sent = Vec::new();
    for (i, a) in attacks.into_iter().enumerate() {
        let got = ask(a.token.clone(), a.route, format!("attack-{i}")).await;
        sent.push((a, got));
    }
    let good = ask(control(&key, &s).await, s.read_route, "control".into()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(&watch.log).expect("log");
    let answer = |(outcome, rid): &(Option<Outcome>, String)| -> Answer { (*outcome, reason_in(&log, rid)) };
    let results: Vec<(Attack, Answer)> = sent.iter().map(|(a, got)| (a.clone(), answer(got))).collect();
    check(&results, &answer(&good), "the authorizer binary (REST REQUEST events)");
}

/// Someone who can write the key table (or the JWKS origin) publishes a key that is not a point on the
/// curve — the precondition of invalid-curve attacks. The verifier never trusts it: tokens naming it get
/// `unknown_kid`, and the real keys keep working.
#[tokio::test]
async fn a_published_key_off_the_curve_is_never_trusted() {
    use tessera_core::ports::KeyRegistry as _;
    let server = DevServer::start(&[]);
    let target = LocalTarget::open(&server.dir).await;
    let mut spki = target.spki.clone();
    let last = spki.len() - 1;
    spki[last] ^= 0x01; // y changed: (x, y') is not on P-256
    assert!(PublicKey::from_spki(Algorithm::ES256, &spki).is_err(), "the core refuses the point itself");
    let mut bogus = target.store.list_keys().await.expect("keys").into_iter().next().expect("a key");
    bogus.kid = tessera_core::Kid::parse("off-curve-key").expect("kid");
    bogus.generation = 1_000;
    bogus.public_key_spki = spki;
    bogus.status = KeyStatus::Active;
    bogus.version = 1;
    target.store.insert_key(&bogus).await.expect("insert the bogus key");
    let ids = [target.client("good").await, target.client("b").await, target.client("c").await];
    let s = scenario(&server.base, "https://api.example.local", SystemClock.now(), ids);
    let forged = TargetKey { kid: bogus.kid.clone(), ..target.key() };
    let token = forged.sign(&tessera_testkit::attacks::claims(&s, &s.client, "off-curve")).await;
    let r = http().get(server.url("/api/orders/1")).bearer_auth(&token).send().await.expect("send");
    let (status, rid) = (r.status().as_u16(), r.headers()["x-request-id"].to_str().expect("id").to_owned());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((status, reason_in(&server.logs(), &rid).as_deref()), (401, Some("unknown_kid")));
    let good = control(&target.key(), &s).await;
    assert_eq!(http().get(server.url("/api/orders/1")).bearer_auth(&good).send().await.expect("send").status(), 200);
}
