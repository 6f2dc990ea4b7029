//! The three Lambda binaries, built with the AWS backend, under the Lambda runtime emulator
//! (`cargo lambda watch`) with DynamoDB, KMS and S3 emulated by moto — all on 127.0.0.1. Invoked with the
//! event shapes API Gateway and EventBridge Scheduler send: issue → Allow → Deny → revoke → Unauthorized →
//! rotation steps, the old key verifying until it retires → an emergency retirement refusing at once.

use std::process::Command;
use std::time::{Duration, Instant};

use rand_core::OsRng;
use serde_json::{Value, json};
use tessera_aws::{AwsConfig, DynamoStore};
use tessera_core::ScopeSet;
use tessera_core::service::{NewClient, admin};
use tessera_core::time::{Clock as _, SystemClock};
use tessera_testkit::moto;
use tessera_tests::aws_calls::Recorder;
use tessera_tests::lambda::{Watch, fixture, start_watch};
use tessera_tests::template::Template;

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod";

trait Calls {
    async fn rotate(&self, detail: Value) -> Value;
    async fn issuer(&self, path: &str, basic: (&str, &str), form: &str) -> (u16, Value);
    async fn get_issuer(&self, path: &str) -> (u16, Value);
    async fn authorize(&self, token: &str, method: &str, path: &str) -> Result<Value, Value>;
}

impl Calls for Watch {
    async fn rotate(&self, detail: Value) -> Value {
        let event = json!({
            "version": "0", "id": "e2e", "detail-type": "Scheduled Event", "source": "aws.scheduler",
            "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": detail,
        });
        let (status, body) = self.invoke("tessera-rotator", &event).await;
        assert_eq!(status, 200, "rotator: {body}\n{}", self.logs());
        body
    }

    /// POSTs a form to the issuer as an HTTP API (payload 2.0) event; returns status and JSON body.
    async fn issuer(&self, path: &str, basic: (&str, &str), form: &str) -> (u16, Value) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", basic.0, basic.1));
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/x-www-form-urlencoded", "authorization": format!("Basic {auth}")},
            "requestContext": {
                "accountId": "123456789012", "apiId": "issuer", "domainName": "issuer.test", "domainPrefix": "issuer",
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.1.2.3", "userAgent": "e2e"},
                "requestId": "e2e", "routeKey": "$default", "stage": "$default", "time": "04/Dec/2026:00:00:00 +0000", "timeEpoch": 0
            },
            "body": form, "isBase64Encoded": false
        });
        let (status, resp) = self.invoke("tessera-issuer", &event).await;
        assert_eq!(status, 200, "issuer invocation failed: {resp}\n{}", self.logs());
        let code = resp["statusCode"].as_u64().and_then(|c| u16::try_from(c).ok()).expect("statusCode");
        let body = resp["body"].as_str().map_or(Value::Null, |b| serde_json::from_str(b).unwrap_or(Value::Null));
        (code, body)
    }

    /// GETs a path from the issuer as an HTTP API (payload 2.0) event.
    async fn get_issuer(&self, path: &str) -> (u16, Value) {
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": {},
            "requestContext": {
                "accountId": "123456789012", "apiId": "issuer", "domainName": "issuer.test", "domainPrefix": "issuer",
                "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.1.2.3", "userAgent": "e2e"},
                "requestId": "e2e", "routeKey": "$default", "stage": "$default", "time": "04/Dec/2026:00:00:00 +0000", "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        let (status, resp) = self.invoke("tessera-issuer", &event).await;
        assert_eq!(status, 200, "issuer invocation failed: {resp}\n{}", self.logs());
        let code = resp["statusCode"].as_u64().and_then(|c| u16::try_from(c).ok()).expect("statusCode");
        let body = resp["body"].as_str().map_or(Value::Null, |b| serde_json::from_str(b).unwrap_or(Value::Null));
        (code, body)
    }

    /// Asks the authorizer with a REST TOKEN event; `Ok(policy)` or `Err(())` for Unauthorized.
    async fn authorize(&self, token: &str, method: &str, path: &str) -> Result<Value, Value> {
        let event = json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": format!("{ARN}/{method}{path}")});
        match self.invoke("tessera-authorizer", &event).await {
            (200, policy) => Ok(policy),
            (_, error) => Err(error),
        }
    }
}

fn effect(policy: &Value, arn: &str) -> &'static str {
    let statements = policy["policyDocument"]["Statement"].as_array().cloned().unwrap_or_default();
    let hit = |e: &str| {
        statements.iter().any(|s| {
            s["Effect"] == e
                && s["Resource"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| tessera_core::policy::glob_match(r.as_str().unwrap_or(""), arn)))
        })
    };
    if hit("Deny") {
        "Deny"
    } else if hit("Allow") {
        "Allow"
    } else {
        "Deny"
    }
}

async fn aws() -> AwsConfig {
    AwsConfig::emulator(&moto::endpoint()).await
}

fn kid(token: &str) -> String {
    use base64::Engine as _;
    let h =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().expect("header")).expect("b64");
    serde_json::from_slice::<Value>(&h).expect("json")["kid"].as_str().expect("kid").to_owned()
}

async fn published_kids(cfg: &AwsConfig, bucket: &str) -> Vec<String> {
    let obj = cfg.s3().get_object().bucket(bucket).key(".well-known/jwks.json").send().await.expect("jwks object");
    assert_eq!(obj.cache_control(), Some("public, max-age=1"));
    let body = obj.body.collect().await.expect("body").into_bytes();
    let jwks: Value = serde_json::from_slice(&body).expect("jwks");
    jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_binaries_run_the_whole_lifecycle_on_the_aws_backend() {
    let cfg = aws().await;
    // The functions reach moto through a recorder, which notes the IAM actions each one needs.
    let recorder = Recorder::start(&moto::endpoint()).await;
    let table = moto::unique("tessera-e2e");
    let bucket = moto::unique("jwks-e2e");
    let store = DynamoStore::new(cfg.dynamodb(), &table);
    store.create_table().await.expect("table");
    cfg.s3().create_bucket().bucket(&bucket).send().await.expect("bucket");

    let tmp = tempfile::tempdir().expect("tmp");
    let watch = start_watch(
        tmp.path(),
        &[
            ("TESSERA_BACKEND", "aws".into()),
            ("TESSERA_TABLE", table.clone()),
            ("TESSERA_JWKS_BUCKET", bucket.clone()),
            ("AWS_ENDPOINT_URL", recorder.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("TESSERA_ISSUER", "https://issuer.test".into()),
            ("TESSERA_AUDIENCES", "https://api.test".into()),
            ("TESSERA_ROUTES", "GET /api/orders/* orders:read;POST /api/orders orders:write".into()),
            ("TESSERA_ROTATE_EVERY", "2s".into()),
            ("TESSERA_JWKS_MAX_AGE", "1s".into()),
            ("TESSERA_PROPAGATION_MARGIN", "1s".into()),
            ("TESSERA_TOKEN_TTL", "4s".into()),
            ("TESSERA_LEEWAY", "1s".into()),
            ("TESSERA_REFRESH_EVERY", "200ms".into()),
            ("TESSERA_METRICS_NAMESPACE", "Tessera/e2e".into()),
            ("RUST_LOG", "info".into()),
        ],
    );

    // Compile each function once before any timing matters (first invocations build them).
    let first = watch.rotate(json!({})).await;
    assert_eq!(
        first["applied"].as_array().map(Vec::len),
        Some(2),
        "bootstrap: an active key and its successor: {first}"
    );
    let _ = watch.authorize("warm-up", "GET", "/api/orders/1").await;
    let _ = watch.issuer("/oauth2/token", ("tsc_x", "y"), "grant_type=client_credentials").await;

    // A client, created as an operator would (through the core's admin service, on DynamoDB).
    let spec = NewClient {
        name: "e2e".into(),
        scopes: ScopeSet::parse("orders:read").expect("scopes"),
        audiences: vec!["https://api.test".into()],
        cidrs: vec![],
        max_ttl: Duration::from_secs(3600),
        scope_ttl_caps: Default::default(),
    };
    let (client, secret) = admin::create_client(&store, spec, SystemClock.now(), &mut OsRng).await.expect("client");
    let creds = (client.id.as_str(), secret.expose());

    // Issue → Allow → Deny for a missing scope.
    let (status, body) = watch.issuer("/oauth2/token", creds, "grant_type=client_credentials").await;
    assert_eq!(status, 200, "{body}\n{}", watch.logs());
    let t1 = body["access_token"].as_str().expect("token").to_owned();
    let k1 = kid(&t1);
    let allow = watch.authorize(&t1, "GET", "/api/orders/1").await.expect("allow");
    assert_eq!(effect(&allow, &format!("{ARN}/GET/api/orders/1")), "Allow");
    let deny = watch.authorize(&t1, "POST", "/api/orders").await.expect("a policy");
    assert_eq!(effect(&deny, &format!("{ARN}/POST/api/orders")), "Deny");
    // The REST REQUEST and HTTP API v2 shapes, from the aws_lambda_events fixtures.
    let mut request = fixture("rest-request.json");
    request["methodArn"] = json!(format!("{ARN}/GET/api/orders/9"));
    request["path"] = json!("/api/orders/9");
    request["headers"]["Authorization"] = json!(format!("Bearer {t1}"));
    request["requestContext"]["identity"]["sourceIp"] = json!("10.0.0.9");
    let (status, policy) = watch.invoke("tessera-authorizer", &request).await;
    assert_eq!((status, effect(&policy, &format!("{ARN}/GET/api/orders/9"))), (200, "Allow"), "{policy}");
    let mut v2 = fixture("http-v2.json");
    v2["routeArn"] = json!(format!("{ARN}/GET/api/orders/9"));
    v2["headers"]["authorization"] = json!(format!("Bearer {t1}"));
    v2["requestContext"]["http"]["method"] = json!("GET");
    v2["requestContext"]["http"]["path"] = json!("/api/orders/9");
    v2["requestContext"]["http"]["sourceIp"] = json!("10.0.0.9");
    let (status, simple) = watch.invoke("tessera-authorizer", &v2).await;
    assert_eq!((status, &simple["isAuthorized"]), (200, &json!(true)), "{simple}");
    v2["requestContext"]["http"]["method"] = json!("POST");
    v2["requestContext"]["http"]["path"] = json!("/api/orders");
    v2["routeArn"] = json!(format!("{ARN}/POST/api/orders"));
    let (_, simple) = watch.invoke("tessera-authorizer", &v2).await;
    assert_eq!(simple["isAuthorized"], json!(false), "missing scope");
    // The issuer's own /.well-known/jwks.json lists the signing key.
    let (status, jwks) = watch.get_issuer("/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    assert!(jwks["keys"].as_array().expect("keys").iter().any(|k| k["kid"] == k1.as_str()));
    let (status, body) = watch.issuer("/oauth2/token", (creds.0, "tssk_wrong"), "grant_type=client_credentials").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

    // Introspection (RFC 7662) of a live token.
    let (status, body) = watch.issuer("/oauth2/introspect", creds, &format!("token={t1}")).await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");

    // Revoke (RFC 7009 through the issuer) → Unauthorized within a second.
    let (status, _) = watch.issuer("/oauth2/revoke", creds, &format!("token={t1}")).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refused = watch.authorize(&t1, "GET", "/api/orders/1").await.expect_err("revoked");
    assert_eq!(refused["errorMessage"], "Unauthorized");

    // Rotation: the next key signs once it has propagated; the old key keeps verifying while retiring.
    let (_, body) = watch.issuer("/oauth2/token", creds, "grant_type=client_credentials").await;
    let t2 = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(kid(&t2), k1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let step = watch.rotate(json!({})).await;
    assert!(step["applied"].as_array().expect("applied").iter().any(|a| a.get("promote").is_some()), "{step}");
    let (_, body) = watch.issuer("/oauth2/token", creds, "grant_type=client_credentials").await;
    let t3 = body["access_token"].as_str().expect("token").to_owned();
    let k2 = kid(&t3);
    assert_ne!(k2, k1, "a new key signs");
    assert!(watch.authorize(&t2, "GET", "/api/orders/1").await.is_ok(), "the retiring key still verifies");
    assert!(published_kids(&cfg, &bucket).await.contains(&k1), "a retiring key stays in the JWKS");

    // Steps until the old key retires (max TTL 4s + leeway 1s + max-age 1s after it stopped signing).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        watch.rotate(json!({})).await;
        if !published_kids(&cfg, &bucket).await.contains(&k1) {
            break;
        }
        assert!(Instant::now() < deadline, "the old key never retired");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(watch.authorize(&t2, "GET", "/api/orders/1").await.is_err(), "a retired key's token is refused");

    // Emergency retirement of the signing key: its fresh token is refused at once.
    let (_, body) = watch.issuer("/oauth2/token", creds, "grant_type=client_credentials").await;
    let t4 = body["access_token"].as_str().expect("token").to_owned();
    assert!(watch.authorize(&t4, "GET", "/api/orders/1").await.is_ok());
    watch.rotate(json!({"emergency_kid": kid(&t4)})).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(watch.authorize(&t4, "GET", "/api/orders/1").await.is_err(), "emergency-retired key refused");
    let (status, body) = watch.issuer("/oauth2/token", creds, "grant_type=client_credentials").await;
    assert_eq!(status, 200);
    let t5 = body["access_token"].as_str().expect("token").to_owned();
    assert_ne!(kid(&t5), kid(&t4));
    assert!(watch.authorize(&t5, "GET", "/api/orders/1").await.is_ok(), "the next key took over");

    least_privilege(&recorder);
    metrics_reach_the_log(&watch);
    let log = std::fs::read_to_string(&watch.log).expect("log");
    for (what, s) in [("secret", creds.1), ("t1", &t1), ("t2", &t2), ("t3", &t3), ("t4", &t4), ("t5", &t5)] {
        assert!(!log.contains(s), "the {what} is in the functions' logs");
    }
}

/// The functions' EMF lines (what CloudWatch turns into the metrics the alarms watch) are in their output.
fn metrics_reach_the_log(watch: &Watch) {
    let text = std::fs::read_to_string(&watch.log).expect("log");
    let emf: Vec<Value> = text
        .lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Tessera/e2e")
        .collect();
    let has = |function: &str, metric: &str, reason: Option<&str>| {
        emf.iter().any(|v| {
            v["Function"] == function
                && v[metric].as_f64().is_some_and(|n| n >= 1.0)
                && reason.is_none_or(|r| v["Reason"] == r)
        })
    };
    assert!(has("issuer", "TokensIssued", None), "issuer: TokensIssued");
    assert!(has("issuer", "IssueErrors", Some("invalid_client")), "issuer: errors by code");
    assert!(has("authorizer", "Allows", None), "authorizer: Allows");
    assert!(has("authorizer", "Denials", Some("token_revoked")), "authorizer: denials by reason");
    assert!(has("rotator", "RotationActions", None), "rotator: actions");
}

/// Each function's role in `infra/template.yaml` allows exactly the AWS actions the function needed above,
/// and its DynamoDB writes stay within the partition keys its role allows.
fn least_privilege(recorder: &Recorder) {
    let template = Template::load();
    let recorded = recorder.actions_by_app();
    let written = recorder.written_keys_by_app();
    for binary in ["tessera-issuer", "tessera-authorizer", "tessera-rotator"] {
        let function = template.function_for_binary(binary).unwrap_or_else(|| panic!("no function builds {binary}"));
        let role = template.role_of(&function).unwrap_or_else(|| panic!("{function} has no role of its own"));
        let allowed = template.code_actions(&role);
        let used = recorded.get(binary).cloned().unwrap_or_default();
        let missing: Vec<_> = used.difference(&allowed).collect();
        let unused: Vec<_> = allowed.difference(&used).collect();
        assert!(
            missing.is_empty() && unused.is_empty(),
            "{binary}: {role} in infra/template.yaml must allow exactly what the function calls.\n  \
             called but not allowed: {missing:?}\n  allowed but never called: {unused:?}"
        );
        let patterns = template.leading_keys(&role);
        for key in written.get(binary).into_iter().flatten() {
            assert!(
                patterns.iter().any(|p| tessera_core::policy::glob_match(p, key)),
                "{binary} wrote partition {key:?}, outside its role's dynamodb:LeadingKeys {patterns:?}"
            );
        }
    }
}

/// The operator's commands on the AWS backend: the same `tessera` commands, pointed at DynamoDB, KMS and
/// S3 by the environment.
#[tokio::test]
async fn the_cli_operates_on_the_aws_backend() {
    let cfg = aws().await;
    let table = moto::unique("tessera-cli");
    let bucket = moto::unique("jwks-cli");
    DynamoStore::new(cfg.dynamodb(), &table).create_table().await.expect("table");
    cfg.s3().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let run = |args: &[&str]| {
        let out = Command::new(tessera_tests::bin())
            .args(["--backend", "aws"])
            .args(args)
            .env("AWS_ENDPOINT_URL", moto::endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("TESSERA_TABLE", &table)
            .env("TESSERA_JWKS_BUCKET", &bucket)
            .env("TESSERA_ISSUER", "https://issuer.test")
            .output()
            .expect("run tessera");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "tessera --backend aws {args:?}: {stderr}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stderr}"))
    };
    let created = run(&["clients", "create", "--name", "payments", "--scopes", "orders:read", "--json"]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    assert!(created["client_secret"].as_str().expect("secret").starts_with("tssk_"));
    let listed = run(&["clients", "list", "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    run(&["clients", "disable", &id, "--json"]);
    let shown = run(&["clients", "show", &id, "--json"]);
    assert_eq!(shown["status"], "disabled");
    let rotated = run(&["keys", "rotate", "--json"]);
    assert_eq!(rotated["applied"].as_array().map(Vec::len), Some(2), "first rotation creates the keys: {rotated}");
    let keys = run(&["keys", "list", "--json"]);
    assert!(keys.as_array().expect("keys").iter().any(|k| k["status"] == "active"));
    let active =
        keys.as_array().expect("keys").iter().find(|k| k["status"] == "active").expect("active")["kid"].clone();
    assert!(published_kids_any_age(&cfg, &bucket).await.iter().any(|k| Value::String(k.clone()) == active));
    run(&["tokens", "revoke-client", &id, "--json"]);
    run(&["clients", "delete", &id, "--json"]);
    assert_eq!(run(&["clients", "list", "--json"]).as_array().map(Vec::len), Some(0));
}

async fn published_kids_any_age(cfg: &AwsConfig, bucket: &str) -> Vec<String> {
    let obj = cfg.s3().get_object().bucket(bucket).key(".well-known/jwks.json").send().await.expect("jwks object");
    let body = obj.body.collect().await.expect("body").into_bytes();
    let jwks: Value = serde_json::from_slice(&body).expect("jwks");
    jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str().map(str::to_owned)).collect()
}
