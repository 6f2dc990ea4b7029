//! Crash safety: `tessera dev` is killed with SIGKILL at random moments while it issues tokens, serves
//! `/api/*` and rotates keys every 2 s, and operators create clients, rotate secrets and revoke tokens
//! beside it. After each restart nothing committed is lost — every token a client received is still on
//! record and still passes, every revoked one is still refused, every client and its latest secret work —
//! no key is stuck between states, and the keys that sign or may verify are all published.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_tests::{DevServer, call, cli_json, http, token};

const CYCLES: usize = 8;

struct Issued {
    token: String,
    jti: String,
    exp: i64,
}

fn now_secs() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
        .expect("secs")
}

/// A small deterministic generator, so a failing schedule of kills can be replayed.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn introspect(server: &DevServer, creds: (&str, &str), t: &str) -> Value {
    http()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(creds.0, Some(creds.1))
        .form(&[("token", t)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_committed_is_lost_when_the_server_is_killed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let port = tessera_testkit::moto::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        listen.as_str(),
        "--rotate-every",
        "2s",
        "--jwks-max-age",
        "1s",
        "--propagation-margin",
        "1s",
        "--token-ttl",
        "20s",
        "--leeway",
        "1s",
        // Every request signs a new token, so each one is a record that must survive.
        "--no-token-reuse",
    ];
    let mut server = DevServer::start_in(&dir, &args);
    let (demo_id, demo_secret) = server.demo.clone().expect("demo client");
    let mut rng = Lcg(0x5eed);
    let mut issued: Vec<Issued> = Vec::new();
    let mut revoked: HashSet<String> = HashSet::new();
    // (client id, its latest secret)
    let mut clients: Vec<(String, String)> = Vec::new();
    let mut seen_kids: HashSet<String> = HashSet::new();

    for cycle in 0..CYCLES {
        // Load, and operators beside it, until a kill at a random moment.
        let kill_at = Instant::now() + Duration::from_millis(300 + rng.below(2_200));
        let mut i = 0;
        while Instant::now() < kill_at {
            let (status, body) = token(&server, &demo_id, &demo_secret, &[("scope", "orders:read")]).await;
            if status == 200 {
                let t = body["access_token"].as_str().expect("token").to_owned();
                let c = tessera_tests::claims(&t);
                seen_kids.insert(tessera_tests::header(&t)["kid"].as_str().expect("kid").to_owned());
                issued.push(Issued {
                    jti: c["jti"].as_str().expect("jti").to_owned(),
                    exp: c["exp"].as_i64().expect("exp"),
                    token: t,
                });
            }
            if let Some(last) = issued.last() {
                assert_eq!(call(&server, "GET", "/api/orders/1", &last.token).await, 200, "a fresh token passes");
            }
            match i % 6 {
                1 => {
                    let created = cli_json(
                        &dir,
                        &["clients", "create", "--name", &format!("c{cycle}-{i}"), "--scopes", "orders:read"],
                    );
                    let id = created["client_id"].as_str().expect("id").to_owned();
                    clients.push((id, created["client_secret"].as_str().expect("secret").to_owned()));
                }
                3 if !clients.is_empty() => {
                    let k = usize::try_from(rng.below(clients.len() as u64)).expect("index");
                    let rotated = cli_json(&dir, &["clients", "rotate-secret", &clients[k].0, "--grace", "0s"]);
                    clients[k].1 = rotated["client_secret"].as_str().expect("secret").to_owned();
                }
                5 if issued.len() > 2 => {
                    let victim = issued[issued.len() - 2].jti.clone();
                    cli_json(&dir, &["tokens", "revoke", &victim]);
                    revoked.insert(victim);
                }
                _ => {}
            }
            i += 1;
        }
        server.kill9();
        server = DevServer::start_in(&dir, &args);

        // After the restart: every token received is still on record; it passes unless revoked or expired.
        let now = now_secs();
        for t in issued.iter().filter(|t| t.exp > now + 2) {
            let info = introspect(&server, (&demo_id, &demo_secret), &t.token).await;
            let status = call(&server, "GET", "/api/orders/1", &t.token).await;
            if revoked.contains(&t.jti) {
                assert_eq!(info["active"], false, "cycle {cycle}: a revoked token came back: {info}");
                assert_eq!(status, 401, "cycle {cycle}: a revoked token passes after a crash");
            } else {
                assert_eq!(info["active"], true, "cycle {cycle}: a token a client received was lost: {info}");
                assert_eq!(status, 200, "cycle {cycle}: a valid token was refused after a crash");
            }
        }
        // Every client created survives, and its latest secret (rotated with no grace) is the one that works.
        for (id, secret) in &clients {
            let (status, body) = token(&server, id, secret, &[]).await;
            assert_eq!(status, 200, "cycle {cycle}: client {id} lost or its secret rotation lost: {body}");
        }
    }

    // Keys: never stuck. Give the rotator a few steps, then exactly one signs, and every key that signs,
    // waits to sign or still verifies is published; every key has a known status.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let keys = cli_json(&dir, &["keys", "list"]);
    let keys = keys.as_array().expect("keys");
    let status = |k: &Value| k["status"].as_str().unwrap_or_default().to_owned();
    assert_eq!(keys.iter().filter(|k| status(k) == "active").count(), 1, "one signing key: {keys:?}");
    assert!(keys.iter().filter(|k| status(k) == "pending").count() <= 1, "at most one successor: {keys:?}");
    assert!(keys.iter().all(|k| ["pending", "active", "retiring", "retired"].contains(&status(k).as_str())));
    let jwks: Value =
        http().get(server.url("/.well-known/jwks.json")).send().await.expect("jwks").json().await.expect("json");
    let published: HashSet<&str> =
        jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
    for k in keys.iter().filter(|k| ["pending", "active", "retiring"].contains(&status(k).as_str())) {
        assert!(published.contains(k["kid"].as_str().expect("kid")), "{k} is not published");
    }
    assert!(seen_kids.len() >= 3, "keys rotated across the crashes: {} signing keys seen", seen_kids.len());
    assert!(issued.len() > 50 && !clients.is_empty() && !revoked.is_empty(), "the workload ran");
}
