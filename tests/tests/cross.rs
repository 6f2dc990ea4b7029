//! Cross-verification with independent implementations: `jose` (npm) and PyJWT verify the tokens
//! `tessera dev` issues against its published JWKS, with every RFC 9068 claim present; tokens those
//! libraries sign with keys of their own are refused at `/api/*`, each with its reason.
//! (`scripts/test` installs both: `npm ci` in `tests/cross`, PyJWT into `./.venv`.)

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tessera_tests::{DevServer, access_token, claims, header, http, root};

fn cross_dir() -> std::path::PathBuf {
    root().join("tests").join("cross")
}

fn run(program: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .arg(cross_dir().join(script))
        .args(args)
        .current_dir(cross_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/test installs the cross-check tools): {e}"));
    assert!(out.status.success(), "{script} {:?}: {}", args.first(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn python() -> String {
    std::env::var("TESSERA_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn verified(output: &str, library: &str) -> Value {
    let v: Value = serde_json::from_str(output.trim()).unwrap_or_else(|e| panic!("{library}: {e}: {output}"));
    assert_eq!(v["ok"], true, "{library} refused a token Tessera issued: {v}");
    v
}

#[tokio::test]
async fn independent_libraries_verify_tessera_tokens_and_tessera_refuses_theirs() {
    let server = DevServer::start(&[]);
    let (id, secret) = server.demo.clone().expect("demo client");
    let token = access_token(&server, &id, &secret, &[("scope", "orders:read")]).await;
    let jwks = server.url("/.well-known/jwks.json");
    let audience = "https://api.example.local";
    let args = ["verify", jwks.as_str(), server.base.as_str(), audience, token.as_str()];

    let by_jose = verified(&run("node", "jose.mjs", &args), "jose");
    let by_pyjwt = verified(&run(&python(), "pyjwt_check.py", &args), "PyJWT");
    for v in [&by_jose, &by_pyjwt] {
        assert_eq!(v["header"]["typ"], "at+jwt");
        assert_eq!(v["header"]["alg"], "ES256");
        for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"] {
            assert!(v["claims"].get(claim).is_some(), "RFC 9068 claim {claim}: {v}");
        }
        assert_eq!(v["claims"]["client_id"], id.as_str());
        assert_eq!(v["claims"]["sub"], id.as_str());
        assert_eq!(v["claims"]["scope"], "orders:read");
    }

    // The same libraries refuse a token for another audience: they really check, so their yes means yes.
    let wrong = ["verify", jwks.as_str(), server.base.as_str(), "https://elsewhere", token.as_str()];
    for (program, script) in [("node", "jose.mjs"), (python().as_str(), "pyjwt_check.py")] {
        let v: Value = serde_json::from_str(run(program, script, &wrong).trim()).expect("json");
        assert_eq!(v["ok"], false, "{script} accepted the wrong audience");
    }

    // Tokens they sign with keys of their own, with Tessera's real claims and kid.
    let kid = header(&token)["kid"].as_str().expect("kid").to_owned();
    let payload = claims(&token).to_string();
    let mut forged: Vec<(String, &str)> = Vec::new();
    let jose_tokens = run("node", "jose.mjs", &["forge", &payload, &kid]);
    let mut lines = jose_tokens.lines().map(str::to_owned);
    for reason in ["bad_signature", "unknown_kid", "algorithm_mismatch", "algorithm_mismatch"] {
        forged.push((lines.next().expect("a jose token"), reason));
    }
    let py_tokens = run(&python(), "pyjwt_check.py", &["forge", &payload, &kid]);
    let mut lines = py_tokens.lines().map(str::to_owned);
    for reason in ["bad_signature", "algorithm_mismatch", "algorithm_mismatch"] {
        forged.push((lines.next().expect("a PyJWT token"), reason));
    }
    let mut answers = Vec::new();
    for (t, reason) in &forged {
        let r = http().get(server.url("/api/orders/1")).bearer_auth(t).send().await.expect("send");
        let rid = r.headers()["x-request-id"].to_str().expect("id").to_owned();
        answers.push((r.status().as_u16(), rid, *reason));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = server.logs();
    for (status, rid, reason) in answers {
        let line = logs.lines().find(|l| l.contains(&rid) && l.contains("\"reason\"")).unwrap_or_default();
        assert_eq!(status, 401, "a foreign-signed token must be refused");
        assert!(line.contains(&format!("\"reason\":\"{reason}\"")), "expected {reason}: {line}");
    }
    // And Tessera's own token still passes.
    assert_eq!(tessera_tests::call(&server, "GET", "/api/orders/1", &token).await, 200);
}
