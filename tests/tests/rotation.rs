//! Rotation without downtime, soaked: keys rotate every 2 s while a client keeps issuing and calling, for
//! `TESSERA_SOAK_ROTATIONS` rotations (default 100, about 3.5 minutes). No valid token may be refused, and
//! every live token's kid must be in the published JWKS at every moment.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_tests::{DevServer, access_token, call, claims, cli_json, header, http};

#[tokio::test]
async fn no_valid_token_fails_while_keys_rotate() {
    let server = DevServer::start(&[
        "--rotate-every",
        "2s",
        "--jwks-max-age",
        "1s",
        "--propagation-margin",
        "1s",
        "--token-ttl",
        "3s",
        "--leeway",
        "1s",
    ]);
    let (id, secret) = server.demo.clone().expect("demo");
    let mut live: Vec<(String, String, i64)> = Vec::new();
    let mut kids = HashSet::new();
    let started = Instant::now();
    let mut calls = 0;
    let rotations: usize = std::env::var("TESSERA_SOAK_ROTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let limit = Duration::from_secs(u64::try_from(rotations).expect("count") * 4 + 60);
    let mut false_rejects = Vec::new();
    while kids.len() <= rotations {
        assert!(started.elapsed() < limit, "only {} rotations in {limit:?}", kids.len().saturating_sub(1));
        let t = access_token(&server, &id, &secret, &[("scope", "orders:read")]).await;
        let kid = header(&t)["kid"].as_str().expect("kid").to_owned();
        kids.insert(kid.clone());
        let exp = claims(&t)["exp"].as_i64().expect("exp");
        live.push((t, kid, exp));
        let now =
            i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
                .expect("secs");
        live.retain(|(_, _, exp)| *exp > now);
        let jwks: Value =
            http().get(server.url("/.well-known/jwks.json")).send().await.expect("jwks").json().await.expect("json");
        let published: HashSet<&str> =
            jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
        for (token, kid, _) in &live {
            assert!(published.contains(kid.as_str()), "live token's kid {kid} missing from the JWKS");
            let status = call(&server, "GET", "/api/orders/1", token).await;
            if status != 200 {
                false_rejects.push((kid.clone(), status, started.elapsed()));
            }
            calls += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "soak: {} rotations in {:.0?}, {calls} calls, {} false rejects",
        kids.len() - 1,
        started.elapsed(),
        false_rejects.len()
    );
    assert!(false_rejects.is_empty(), "valid tokens refused during rotation: {false_rejects:?}");
    assert!(calls >= rotations * 20, "{calls} calls: load kept up through every rotation");
    let keys = cli_json(&server.dir, &["keys", "list"]);
    let statuses: Vec<&str> = keys.as_array().expect("keys").iter().filter_map(|k| k["status"].as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "active").count(), 1, "exactly one signing key: {statuses:?}");
    assert!(statuses.contains(&"retired"), "old keys retire: {statuses:?}");
}
