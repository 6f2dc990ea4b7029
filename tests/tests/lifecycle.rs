//! The whole token lifecycle against a running `tessera dev`, with the CLI changing state underneath it.

use std::time::Duration;

use serde_json::Value;
use tessera_tests::{DevServer, access_token, call, claims, cli_json, cli_ok, header, http, token, until_status};

const ONE_SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn issue_call_revoke_over_http() {
    let server = DevServer::start(&[]);
    let (id, secret) = server.demo.clone().expect("first start creates a demo client");
    assert!(secret.starts_with("tssk_"));

    // Basic authentication, all scopes by default.
    let (status, body) = token(&server, &id, &secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders:read orders:write");
    assert_eq!(body["expires_in"], 900);
    let full = body["access_token"].as_str().expect("token").to_owned();
    let h = header(&full);
    assert_eq!((h["alg"].as_str(), h["typ"].as_str()), (Some("ES256"), Some("at+jwt")));
    let c = claims(&full);
    for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"] {
        assert!(c.get(claim).is_some(), "claim {claim}");
    }
    assert_eq!(c["iss"], server.base.as_str());
    assert_eq!(c["aud"], "https://api.example.local");
    assert!(c["jti"].as_str().expect("jti").len() >= 22, "128-bit jti");

    // Form-body authentication, a narrower scope, RFC 8707 resource.
    let r = http()
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "orders:read"),
            ("resource", "https://api.example.local"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let read_only = r.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();

    assert_eq!(call(&server, "GET", "/api/orders/42", &read_only).await, 200);
    let echo: Value = http()
        .get(server.url("/api/orders/42"))
        .bearer_auth(&read_only)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(echo["client_id"], id.as_str());
    assert_eq!(echo["scopes"], serde_json::json!(["orders:read"]));
    assert_eq!(echo["jti"], claims(&read_only)["jti"]);
    assert_eq!(call(&server, "POST", "/api/orders", &read_only).await, 403, "missing orders:write");
    assert_eq!(call(&server, "POST", "/api/orders", &full).await, 200);
    assert_eq!(call(&server, "GET", "/api/orders/42", "").await, 401);
    let no_auth = http().get(server.url("/api/orders/1")).send().await.expect("send");
    assert_eq!(no_auth.status(), 401);
    assert!(no_auth.headers()["www-authenticate"].to_str().expect("header").starts_with("Bearer"));

    // Wrong scope, wrong audience, wrong secret.
    let (s, b) = token(&server, &id, &secret, &[("scope", "orders:admin")]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));
    let (s, b) = token(&server, &id, &secret, &[("audience", "https://elsewhere")]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_target")));
    let r = http()
        .post(server.url("/oauth2/token"))
        .basic_auth(&id, Some("tssk_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().expect("h").starts_with("Basic"));
    assert_eq!(r.json::<Value>().await.expect("json")["error"], "invalid_client");

    // Introspection, then RFC 7009 revocation: refused at /api within 1 s.
    let intro: Value = http()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", &read_only)])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["scope"], "orders:read");
    let r = http()
        .post(server.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", &read_only)])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let took = until_status(&server, "/api/orders/1", &read_only, 401, ONE_SECOND).await;
    assert!(took.is_some(), "revoked token still accepted after 1 s");
    assert_eq!(call(&server, "GET", "/api/orders/1", &full).await, 200, "only that token is revoked");
    let intro: Value = http()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", &read_only)])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(intro, serde_json::json!({"active": false}));
    // Revoking garbage is not an error (RFC 7009 §2.2).
    let r = http()
        .post(server.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "garbage")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    // Discovery and JWKS with caching headers.
    let jwks = http().get(server.url("/.well-known/jwks.json")).send().await.expect("send");
    assert!(jwks.headers()["cache-control"].to_str().expect("h").contains("max-age="));
    let etag = jwks.headers()["etag"].clone();
    let body: Value = jwks.json().await.expect("json");
    assert!(body["keys"].as_array().expect("keys").iter().any(|k| k["kid"] == h["kid"]));
    let again =
        http().get(server.url("/.well-known/jwks.json")).header("if-none-match", etag).send().await.expect("send");
    assert_eq!(again.status(), 304);
    for doc in ["openid-configuration", "oauth-authorization-server"] {
        let meta: Value = http()
            .get(server.url(&format!("/.well-known/{doc}")))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(meta["issuer"], server.base.as_str());
        assert_eq!(meta["token_endpoint"], server.url("/oauth2/token").as_str());
        assert_eq!(meta["grant_types_supported"], serde_json::json!(["client_credentials"]));
    }

    // Nothing secret reached the logs.
    let logs = server.logs();
    assert!(logs.contains("\"decision\":\"allow\""), "decisions are logged");
    let revoked_jti = claims(&read_only)["jti"].as_str().expect("jti").to_owned();
    assert!(
        logs.lines().any(|l| l.contains("\"reason\":\"token_revoked\"") && l.contains(&revoked_jti)),
        "a refused revoked token is logged with its jti"
    );
    for secret_thing in [&secret, &full, &read_only] {
        assert!(!logs.contains(secret_thing.as_str()), "a secret or token leaked into the logs");
    }
    assert!(!logs.contains("tssk_"), "no secret-shaped text in the logs");
}

#[tokio::test]
async fn the_cli_changes_state_under_a_running_server() {
    let server = DevServer::start(&[]);
    let dir = &server.dir;
    let created =
        cli_json(dir, &["clients", "create", "--name", "billing", "--scopes", "orders:read", "--max-ttl", "10m"]);
    let (id, secret) = (
        created["client_id"].as_str().expect("id").to_owned(),
        created["client_secret"].as_str().expect("secret").to_owned(),
    );
    let shown = cli_json(dir, &["clients", "show", &id]);
    assert!(shown.get("client_secret").is_none(), "a secret is shown once, never again");
    assert!(!cli_ok(dir, &["clients", "list"]).contains("tssk_"));

    let t = access_token(&server, &id, &secret, &[]).await;
    assert_eq!(
        claims(&t)["exp"].as_i64().expect("exp") - claims(&t)["iat"].as_i64().expect("iat"),
        600,
        "client max TTL caps the lifetime"
    );
    assert_eq!(call(&server, "GET", "/api/orders/1", &t).await, 200);

    // Disable: refused within 1 s, no new tokens; enable: works again.
    cli_ok(dir, &["clients", "disable", &id]);
    assert!(
        until_status(&server, "/api/orders/1", &t, 401, ONE_SECOND).await.is_some(),
        "disabled client still accepted"
    );
    assert_eq!(token(&server, &id, &secret, &[]).await.0, 401);
    cli_ok(dir, &["clients", "enable", &id]);
    assert!(until_status(&server, "/api/orders/1", &t, 200, ONE_SECOND).await.is_some());

    // Asking again hands out the still-fresh token (no new signature) …
    assert_eq!(access_token(&server, &id, &secret, &[]).await, t, "a still-fresh token is reused");
    // … until it is revoked by jti: then it is refused, and the next request gets a new one.
    let jti = claims(&t)["jti"].as_str().expect("jti").to_owned();
    cli_ok(dir, &["tokens", "revoke", &jti]);
    assert!(until_status(&server, "/api/orders/1", &t, 401, ONE_SECOND).await.is_some());
    let t2 = access_token(&server, &id, &secret, &[]).await;
    assert_ne!(t2, t, "a revoked token is never handed out again");
    assert_eq!(call(&server, "GET", "/api/orders/1", &t2).await, 200);
    let t = t2;
    assert!(!server.cli(&["tokens", "revoke", "no-such-jti"]).status.success());

    // Revoke every token of the client issued until now.
    cli_ok(dir, &["tokens", "revoke-client", &id]);
    assert!(until_status(&server, "/api/orders/1", &t, 401, ONE_SECOND).await.is_some());
    // Tokens issued in the same second as the cut-off are revoked too; a new second gives new tokens.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = access_token(&server, &id, &secret, &[]).await;
    assert!(until_status(&server, "/api/orders/1", &fresh, 200, ONE_SECOND).await.is_some());

    // Secret rotation with a grace period, then without.
    let rotated = cli_json(dir, &["clients", "rotate-secret", &id, "--grace", "1h"]);
    let new_secret = rotated["client_secret"].as_str().expect("secret").to_owned();
    assert_eq!(token(&server, &id, &secret, &[]).await.0, 200, "old secret lives through the grace period");
    assert_eq!(token(&server, &id, &new_secret, &[]).await.0, 200);
    let again = cli_json(dir, &["clients", "rotate-secret", &id, "--grace", "0s"]);
    let newest = again["client_secret"].as_str().expect("secret").to_owned();
    assert_eq!(token(&server, &id, &new_secret, &[]).await.0, 401, "zero grace ends the old secret at once");
    assert_eq!(token(&server, &id, &secret, &[]).await.0, 401, "the oldest secret is gone");
    assert_eq!(token(&server, &id, &newest, &[]).await.0, 200);

    // Delete: tokens revoked, client gone.
    let last = access_token(&server, &id, &newest, &[]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    cli_ok(dir, &["clients", "delete", &id]);
    assert!(until_status(&server, "/api/orders/1", &last, 401, ONE_SECOND).await.is_some());
    assert_eq!(token(&server, &id, &newest, &[]).await.0, 401);
    assert!(!server.cli(&["clients", "show", &id]).status.success());
}

#[tokio::test]
async fn ip_restrictions_apply_at_issuance_and_at_the_edge() {
    let server = DevServer::start(&[]);
    let inside = cli_json(
        &server.dir,
        &["clients", "create", "--name", "local", "--scopes", "orders:read", "--cidrs", "127.0.0.0/8,::1/128"],
    );
    let t = access_token(
        &server,
        inside["client_id"].as_str().expect("id"),
        inside["client_secret"].as_str().expect("s"),
        &[],
    )
    .await;
    assert_eq!(claims(&t)["tessera_cidrs"], serde_json::json!(["127.0.0.0/8", "::1/128"]));
    assert_eq!(call(&server, "GET", "/api/orders/1", &t).await, 200);
    let outside = cli_json(
        &server.dir,
        &["clients", "create", "--name", "remote", "--scopes", "orders:read", "--cidrs", "10.0.0.0/8"],
    );
    let (status, body) =
        token(&server, outside["client_id"].as_str().expect("id"), outside["client_secret"].as_str().expect("s"), &[])
            .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
}

#[tokio::test]
async fn per_scope_ttl_caps_shorten_sensitive_tokens() {
    let server = DevServer::start(&[]);
    let c = cli_json(
        &server.dir,
        &[
            "clients",
            "create",
            "--name",
            "ops",
            "--scopes",
            "orders:read orders:write",
            "--scope-ttl",
            "orders:write=2m",
        ],
    );
    let (id, s) = (c["client_id"].as_str().expect("id"), c["client_secret"].as_str().expect("s"));
    let (_, b) = token(&server, id, s, &[("scope", "orders:read")]).await;
    assert_eq!(b["expires_in"], 900);
    let (_, b) = token(&server, id, s, &[("scope", "orders:read orders:write")]).await;
    assert_eq!(b["expires_in"], 120);
}

#[tokio::test]
async fn keys_rotate_and_emergency_retire() {
    let server = DevServer::start(&[
        "--jwks-max-age",
        "1s",
        "--propagation-margin",
        "1s",
        "--token-ttl",
        "60s",
        "--rotate-every",
        "1h",
    ]);
    let (id, secret) = server.demo.clone().expect("demo");
    let keys = cli_json(&server.dir, &["keys", "list"]);
    let active = keys.as_array().expect("keys").iter().find(|k| k["status"] == "active").expect("active")["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let old = access_token(&server, &id, &secret, &[]).await;
    assert_eq!(header(&old)["kid"], active.as_str());

    // A forced rotation waits for propagation (2 s here), then the pending key signs.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let report = cli_json(&server.dir, &["keys", "rotate"]);
    assert!(report["applied"].as_array().expect("applied").iter().any(|a| a.get("promote").is_some()), "{report}");
    let new = access_token(&server, &id, &secret, &[]).await;
    let new_kid = header(&new)["kid"].as_str().expect("kid").to_owned();
    assert_ne!(new_kid, active);
    assert_eq!(call(&server, "GET", "/api/orders/1", &old).await, 200, "the retiring key still verifies");
    let listed = cli_json(&server.dir, &["keys", "list"]);
    assert!(listed.as_array().expect("keys").iter().any(|k| k["kid"] == active.as_str() && k["status"] == "retiring"));

    // Emergency: the signing key is retired at once; its tokens are refused; another key signs.
    cli_ok(&server.dir, &["keys", "rotate", "--emergency", &new_kid]);
    assert!(
        until_status(&server, "/api/orders/1", &new, 401, ONE_SECOND).await.is_some(),
        "emergency-retired key still accepted"
    );
    let jwks: Value =
        http().get(server.url("/.well-known/jwks.json")).send().await.expect("send").json().await.expect("json");
    assert!(
        !jwks["keys"].as_array().expect("keys").iter().any(|k| k["kid"] == new_kid.as_str()),
        "retired key left the JWKS"
    );
    let next = access_token(&server, &id, &secret, &[]).await;
    assert_ne!(header(&next)["kid"], new_kid.as_str());
    assert_eq!(call(&server, "GET", "/api/orders/1", &next).await, 200);
    assert!(!server.cli(&["keys", "rotate", "--emergency", "no-such-kid"]).status.success());
}
