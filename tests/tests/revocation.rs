//! Revocation latency, measured: from the revoke command returning to the first refusal at `/api/*`, for
//! each kind of revocation, several times. The promise is one second; the figures are printed.

use std::time::{Duration, Instant};

use tessera_tests::{DevServer, access_token, call, claims, cli_json, cli_ok};

#[tokio::test]
async fn revocation_takes_effect_within_a_second() {
    let server = DevServer::start(&[]);
    let dir = server.dir.clone();
    let mut samples: Vec<(&str, Duration)> = Vec::new();
    for round in 0..5 {
        let created = cli_json(&dir, &["clients", "create", "--name", &format!("r{round}"), "--scopes", "orders:read"]);
        let id = created["client_id"].as_str().expect("id").to_owned();
        let secret = created["client_secret"].as_str().expect("secret").to_owned();
        for kind in ["jti", "client", "disable"] {
            let t = access_token(&server, &id, &secret, &[]).await;
            assert_eq!(call(&server, "GET", "/api/orders/1", &t).await, 200);
            let jti = claims(&t)["jti"].as_str().expect("jti").to_owned();
            match kind {
                "jti" => cli_ok(&dir, &["tokens", "revoke", &jti]),
                "client" => cli_ok(&dir, &["tokens", "revoke-client", &id]),
                _ => cli_ok(&dir, &["clients", "disable", &id]),
            };
            // The command has returned: the clock starts.
            let started = Instant::now();
            loop {
                if call(&server, "GET", "/api/orders/1", &t).await == 401 {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(1), "{kind}: still accepted after 1 s");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples.push((kind, started.elapsed()));
            if kind == "disable" {
                cli_ok(&dir, &["clients", "enable", &id]);
            }
            // Tokens issued after a client-wide revocation are new tokens: wait out the second of `iat`.
            tokio::time::sleep(Duration::from_millis(1_050)).await;
        }
    }
    let mut all: Vec<Duration> = samples.iter().map(|(_, d)| *d).collect();
    all.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    eprintln!(
        "revocation latency over {} revocations: median {:.0} ms, max {:.0} ms ({:.2} of the 1 s promise)",
        all.len(),
        ms(all[all.len() / 2]),
        ms(all[all.len() - 1]),
        all[all.len() - 1].as_secs_f64()
    );
    assert_eq!(all.len(), 15);
}
