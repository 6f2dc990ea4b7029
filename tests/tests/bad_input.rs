//! Bad input on every endpoint gets the protocol's own error, never a 5xx or a crash; bad configuration
//! gets a one-line error and a non-zero exit.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use tessera_tests::{DevServer, access_token, bin, call, http};

async fn oauth_error(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    (status, body["error"].as_str().expect("an RFC 6749 error code").to_owned())
}

#[tokio::test]
async fn the_token_endpoint_answers_bad_requests_in_rfc_6749_terms() {
    let server = DevServer::start(&[]);
    let (id, secret) = server.demo.clone().expect("demo");
    let c = http();
    let url = server.url("/oauth2/token");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (c.post(&url).basic_auth(&id, Some(&secret)).body("grant_type=client_credentials"), 400, "invalid_request"),
        (
            c.post(&url)
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/json")
                .body(r#"{"grant_type":"client_credentials"}"#),
            400,
            "invalid_request",
        ),
        (
            c.post(&url).basic_auth(&id, Some(&secret)).form(&[("grant_type", "password")]),
            400,
            "unsupported_grant_type",
        ),
        (c.post(&url).basic_auth(&id, Some(&secret)).form(&[("scope", "orders:read")]), 400, "invalid_request"),
        (
            c.post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("grant_type", "client_credentials")]),
            400,
            "invalid_request",
        ),
        (
            c.post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "bad\"scope")]),
            400,
            "invalid_scope",
        ),
        (
            c.post(&url).basic_auth(&id, Some(&secret)).form(&[
                ("grant_type", "client_credentials"),
                ("resource", "https://a"),
                ("resource", "https://b"),
            ]),
            400,
            "invalid_target",
        ),
        (
            c.post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("client_secret", &secret)]),
            400,
            "invalid_request",
        ),
        (c.post(&url).form(&[("grant_type", "client_credentials")]), 401, "invalid_client"),
        (
            c.post(&url).header("authorization", "Basic !!!").form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            c.post(&url).header("authorization", "Bearer x").form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            c.post(&url).basic_auth("no-colon-in-here", None::<&str>).form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            c.post(&url).basic_auth("unknown'client", Some(&secret)).form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            c.post(&url)
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![0xffu8, 0xfe, 0x00]),
            400,
            "invalid_request",
        ),
        (
            c.post(&url)
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=".repeat(20_000)),
            400,
            "invalid_request",
        ),
        (c.get(&url), 405, "invalid_request"),
        (c.post(server.url("/oauth2/nope")), 404, "invalid_request"),
        (
            c.post(server.url("/oauth2/revoke"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token_type_hint", "access_token")]),
            400,
            "invalid_request",
        ),
        (c.post(server.url("/oauth2/introspect")).form(&[("token", "x")]), 401, "invalid_client"),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let (s, e) = oauth_error(req.send().await.expect("send")).await;
        assert_eq!((s, e.as_str()), (status, code), "case {i}");
    }
    let r = c
        .post(&url)
        .body(vec![b'x'; 200_000])
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413, "an oversized body is refused before parsing");
    assert!(access_token(&server, &id, &secret, &[]).await.len() > 100, "still serving");
}

#[tokio::test]
async fn broken_tokens_get_401_at_the_api() {
    let server = DevServer::start(&[]);
    let (id, secret) = server.demo.clone().expect("demo");
    let good = access_token(&server, &id, &secret, &[]).await;
    let (h, rest) = good.split_once('.').expect("parts");
    let broken = [
        "".to_owned(),
        "x".to_owned(),
        "a.b.c".to_owned(),
        format!("{good}.x"),
        good[..good.len() - 5].to_owned(),
        format!("{h}.{}", rest.replacen('e', "f", 1)),
        format!("{}.{rest}", tessera_core_free_b64(r#"{"alg":"none","typ":"at+jwt"}"#)),
        "x".repeat(10_000),
        "é".repeat(100),
    ];
    for (i, t) in broken.iter().enumerate() {
        let r = http()
            .get(server.url("/api/orders/1"))
            .header("authorization", format!("Bearer {t}"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401, "case {i}");
    }
    for scheme in ["Basic abc", "Bearer", "bearer  ", "Token abc"] {
        let r = http().get(server.url("/api/orders/1")).header("authorization", scheme).send().await.expect("send");
        assert_eq!(r.status(), 401, "{scheme}");
    }
    assert_eq!(call(&server, "GET", "/api/orders/1", &good).await, 200);
}

fn tessera_core_free_b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn huge_headers_and_garbage_bytes_never_get_a_5xx() {
    let mut server = DevServer::start(&[]);
    let huge = "a".repeat(1_000_000);
    let r = http().get(server.url("/api/orders/1")).header("x-big", &huge).send().await;
    if let Ok(r) = r {
        assert!(r.status().is_client_error(), "huge header: {}", r.status());
    }
    let r = http()
        .get(server.url("/api/orders/1"))
        .header("authorization", format!("Bearer {}", "a".repeat(60_000)))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error());
    // Raw garbage on the socket.
    let addr = server.base.trim_start_matches("http://").to_owned();
    for garbage in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /oauth2/token HTTP/1.1\r\nContent-Length: 999999999\r\n\r\nabc",
    ] {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let _ = s.write_all(garbage);
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(!text.starts_with("HTTP/1.1 5"), "{text}");
    }
    for path in ["/", "/nope", "/.well-known/nope", "/.well-known/../tessera.db", "/api"] {
        let r = http().get(server.url(path)).send().await.expect("send");
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let r = http().delete(server.url("/.well-known/jwks.json")).send().await.expect("send");
    assert_eq!(r.status(), 405);
    assert!(server.alive(), "still running");
}

fn run(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(bin()).args(args).output().expect("run");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configuration_gets_a_one_line_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("d");
    let d = d.to_str().expect("utf8");
    let routes = tmp.path().join("routes.txt");
    std::fs::write(&routes, "GET /ok orders:read\nFETCH /x orders:read\n").expect("write");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--data-dir", d, "dev", "--routes", routes.to_str().expect("utf8")], "line 2"),
        (vec!["--data-dir", d, "dev", "--routes", "/no/such/routes"], "cannot read routes file"),
        (vec!["--data-dir", d, "dev", "--token-ttl", "soon"], "--token-ttl"),
        (vec!["--data-dir", d, "dev", "--listen", "0.0.0.0:0"], "loopback"),
        (vec!["--data-dir", d, "dev", "--listen", "nowhere"], "--listen"),
        (
            vec!["--data-dir", d, "dev", "--listen", "127.0.0.1:0", "--rotate-every", "1s", "--jwks-max-age", "10s"],
            "rotate-every",
        ),
        (vec!["--data-dir", file.to_str().expect("utf8"), "clients", "list"], "not a directory"),
        (
            vec!["--data-dir", d, "clients", "create", "--name", "x", "--scopes", "a", "--cidrs", "300.1.2.3/8"],
            "--cidrs",
        ),
        (vec!["--data-dir", d, "clients", "create", "--name", "x", "--scopes", "bad\"scope"], "--scopes"),
        (vec!["--data-dir", d, "clients", "show", "tsc_nope"], "no client"),
        (vec!["--data-dir", d, "clients", "frobnicate"], "frobnicate"),
        // A jti is base64url and may start with '-': it is a value, not an option.
        (vec!["--data-dir", d, "tokens", "revoke", "-HLCo-F94ybgic2iS9BtLA"], "-HLCo-F94ybgic2iS9BtLA"),
    ];
    for (args, needle) in cases {
        let (ok, stderr) = run(&args);
        assert!(!ok, "{args:?} should fail");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: one line, got {stderr:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} should name {needle:?}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
