//! A recording proxy in front of the AWS emulator: the functions under test send their AWS requests here,
//! it forwards them to moto and notes, per calling process (the `app/<name>` of the SDK's user agent), the
//! IAM actions each request needs and the partition keys it writes. The Lambda test compares that record
//! with each function's role in `infra/template.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

/// One AWS request, as IAM sees it.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// The caller's app name (`tessera-issuer`, …); empty when the SDK was not given one.
    pub app: String,
    /// The IAM actions the request needs (a transaction needs one per kind of item it writes).
    pub actions: Vec<String>,
    /// `pk` of every DynamoDB item it writes.
    pub written_keys: Vec<String>,
}

/// The running proxy.
#[derive(Debug)]
pub struct Recorder {
    /// Point `AWS_ENDPOINT_URL` here.
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    /// Starts a proxy on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: &str) -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        let upstream = upstream.trim_end_matches('/').to_owned();
        let state = (Arc::clone(&calls), http, upstream);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (calls, http, upstream) = state.clone();
            async move { forward(&calls, &http, &upstream, method, uri, headers, body).await }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { endpoint, calls, task }
    }

    /// Every call so far.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// The IAM actions each app needed.
    #[must_use]
    pub fn actions_by_app(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in self.calls() {
            out.entry(c.app).or_default().extend(c.actions);
        }
        out
    }

    /// The partition keys each app wrote.
    #[must_use]
    pub fn written_keys_by_app(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in self.calls() {
            out.entry(c.app).or_default().extend(c.written_keys);
        }
        out
    }
}

async fn forward(
    calls: &Mutex<Vec<Call>>,
    http: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    calls.lock().expect("calls").push(describe(&method, &uri, &headers, &body));
    let url = format!("{upstream}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
    let Ok(m) = reqwest::Method::from_bytes(method.as_str().as_bytes()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut req = http.request(m, url).body(body.to_vec());
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            req = req.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(resp) = req.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out_headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_str().as_bytes()),
            axum::http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out_headers.append(n, v);
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    (status, out_headers, bytes).into_response()
}

/// The app name in the SDK's user agent (`… app/tessera-issuer …`).
fn app_of(headers: &HeaderMap) -> String {
    ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .flat_map(str::split_whitespace)
        .find_map(|part| part.strip_prefix("app/"))
        .unwrap_or_default()
        .to_owned()
}

fn pk(item: &Value) -> Option<String> {
    item.get("pk").and_then(|v| v.get("S")).and_then(Value::as_str).map(str::to_owned)
}

/// What IAM authorizes for one request.
fn describe(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Call {
    let app = app_of(headers);
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut actions = Vec::new();
    let mut written_keys = Vec::new();
    if let Some((service, op)) = target.split_once('.') {
        let prefix = if service.starts_with("DynamoDB") {
            "dynamodb"
        } else if service.starts_with("TrentService") {
            "kms"
        } else {
            service
        };
        match (prefix, op) {
            // A transaction is authorized item by item, each as its single-item action.
            ("dynamodb", "TransactWriteItems") => {
                for item in json["TransactItems"].as_array().into_iter().flatten() {
                    for (kind, action, key) in [
                        ("Put", "PutItem", "Item"),
                        ("Update", "UpdateItem", "Key"),
                        ("Delete", "DeleteItem", "Key"),
                        ("ConditionCheck", "ConditionCheckItem", "Key"),
                    ] {
                        if let Some(x) = item.get(kind) {
                            actions.push(format!("dynamodb:{action}"));
                            if kind != "ConditionCheck" {
                                written_keys.extend(pk(&x[key]));
                            }
                        }
                    }
                }
            }
            ("dynamodb", "TransactGetItems") => actions.push("dynamodb:GetItem".to_owned()),
            ("dynamodb", "PutItem") => {
                actions.push("dynamodb:PutItem".to_owned());
                written_keys.extend(pk(&json["Item"]));
            }
            ("dynamodb", op @ ("UpdateItem" | "DeleteItem")) => {
                actions.push(format!("dynamodb:{op}"));
                written_keys.extend(pk(&json["Key"]));
            }
            // Tags on CreateKey need kms:TagResource as well.
            ("kms", "CreateKey") => {
                actions.push("kms:CreateKey".to_owned());
                if json["Tags"].as_array().is_some_and(|t| !t.is_empty()) {
                    actions.push("kms:TagResource".to_owned());
                }
            }
            (prefix, op) => actions.push(format!("{prefix}:{op}")),
        }
    } else {
        // S3, path-style: /bucket/key.
        let object = uri.path().trim_start_matches('/').split_once('/').is_some_and(|(_, k)| !k.is_empty());
        let action = match (method.as_str(), object) {
            ("PUT", true) => "s3:PutObject",
            ("GET" | "HEAD", true) => "s3:GetObject",
            ("DELETE", true) => "s3:DeleteObject",
            ("PUT", false) => "s3:CreateBucket",
            _ => "s3:ListBucket",
        };
        actions.push(action.to_owned());
    }
    Call { app, actions, written_keys }
}
