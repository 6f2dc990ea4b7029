//! `tessera dev`: the issuer, a demo API behind the authorizer, and the rotator in one process on
//! loopback — the same handlers the Lambda functions run, fed the events API Gateway would send.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse as _, Response};
use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;
use rand_core::{OsRng, RngCore as _};
use serde_json::{Value, json};
use sha2::Digest as _;
use tessera_authorizer::state::Freshness;
use tessera_authorizer::{Authorizer, AuthorizerConfig, HttpApiResponse, VerifierState};
use tessera_core::ScopeSet;
use tessera_core::policy::{RoutePolicy, glob_match};
use tessera_core::ports::ClientStore as _;
use tessera_core::service::{NewClient, admin};
use tessera_core::time::{Clock, SystemClock};
use tessera_core::verify::VerifierConfig;
use tessera_issuer::IssuerApp;
use tessera_local::DirPublisher;

use crate::DevArgs;
use crate::backend::Backend;
use crate::error::CliError;
use crate::settings::Settings;

/// Largest request body the dev server reads; the token endpoint itself accepts far less.
const MAX_BODY: usize = 64 * 1024;
/// The API Gateway method ARN prefix of the demo API.
const ARN_PREFIX: &str = "arn:aws:execute-api:local:000000000000:tessera-dev/dev";
/// How often the authorizer's view of revocations is refreshed: well inside the 1 s promise.
const REFRESH_EVERY: Duration = Duration::from_millis(250);

struct DevApp {
    issuer: IssuerApp,
    authorizer: Authorizer,
    published: DirPublisher,
}

fn apply_overrides(settings: &mut Settings, args: &DevArgs) {
    let secs = |d: Option<Duration>, current: u64| d.map_or(current, |d| d.as_secs());
    settings.token_ttl = secs(args.token_ttl, settings.token_ttl);
    settings.jwks_max_age = secs(args.jwks_max_age, settings.jwks_max_age);
    settings.rotate_every = secs(args.rotate_every, settings.rotate_every);
    settings.propagation_margin = secs(args.propagation_margin, settings.propagation_margin);
    settings.leeway = secs(args.leeway, settings.leeway);
    if !args.audiences.is_empty() {
        settings.audiences.clone_from(&args.audiences);
    }
}

fn validate(settings: &Settings) -> Result<(), CliError> {
    if settings.token_ttl == 0 || settings.token_ttl > 24 * 3600 {
        return Err(CliError::Config("--token-ttl must be between 1s and 24h".to_owned()));
    }
    if settings.leeway > 300 {
        return Err(CliError::Config("--leeway must be at most 5m".to_owned()));
    }
    if settings.rotate_every == 0 {
        return Err(CliError::Config("--rotate-every must be positive".to_owned()));
    }
    Ok(())
}

fn load_routes(path: Option<&Path>) -> Result<RoutePolicy, CliError> {
    let Some(path) = path else {
        return Ok(RoutePolicy::demo());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Config(format!("cannot read routes file {}: {e}", path.display())))?;
    RoutePolicy::parse(&text).map_err(|e| CliError::Config(format!("routes file {}: {e}", path.display())))
}

/// Runs the dev server until Ctrl-C or SIGTERM.
pub async fn run(dir: &Path, args: DevArgs) -> Result<(), CliError> {
    if !args.listen.ip().is_loopback() {
        return Err(CliError::Config(format!(
            "--listen {}: the dev server binds loopback addresses only (127.0.0.1 or [::1])",
            args.listen
        )));
    }
    let routes = load_routes(args.routes.as_deref())?;
    let backend = Backend::open(dir)?;
    let mut settings = Settings::load(dir)?;
    apply_overrides(&mut settings, &args);
    validate(&settings)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Config(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|e| CliError::Io("listener address", e))?;
    settings.issuer = format!("http://{addr}");
    let policy = settings.policy()?;
    settings.save(backend.data.path())?;

    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rotator = backend.rotator(&settings)?;
    let report = rotator.step(clock.now(), false).await?;
    tessera_rotator::log_report(&report);

    let demo = if backend.store.list_clients().await?.is_empty() {
        Some(create_demo_client(&backend, &settings, clock.as_ref()).await?)
    } else {
        None
    };

    let leeway = Duration::from_secs(settings.leeway);
    let freshness =
        Freshness { max_staleness: Duration::from_secs(1), unknown_kid_reload: Duration::from_secs(1), leeway };
    let state =
        VerifierState::load(backend.store.clone(), backend.store.clone(), Arc::clone(&clock), freshness).await?;
    state.spawn_refresher(REFRESH_EVERY);
    let verifier = VerifierConfig::new(settings.issuer.clone(), settings.audiences.clone(), leeway)
        .map_err(|e| CliError::Config(format!("--audience/--leeway: {e}")))?;
    let config = AuthorizerConfig {
        verifier,
        routes,
        http_api: HttpApiResponse::Simple,
        refresh_every: REFRESH_EVERY,
        freshness,
    };
    let app = Arc::new(DevApp {
        issuer: IssuerApp::new(backend.issuer(&settings).with_token_reuse(!args.no_token_reuse), Arc::clone(&clock)),
        authorizer: Authorizer::new(&config, state, Arc::clone(&clock)),
        published: DirPublisher::new(&backend.data.public()),
    });

    spawn_rotation(rotator, Arc::clone(&clock), tessera_rotator::tick_for(&policy));
    spawn_purge(backend.clone(), Arc::clone(&clock));

    println!("Tessera dev server listening on http://{addr}");
    println!("  data dir: {}", backend.data.path().display());
    println!("  token TTL {}, key rotation every {}", human(settings.token_ttl), human(settings.rotate_every));
    if let Some((id, secret)) = demo {
        println!("\nDemo client created (its secret is shown only this once):");
        println!("  client_id:     {id}");
        println!("  client_secret: {secret}");
        println!("\nGet a token:");
        println!("  curl -s -u '{id}:{secret}' -d grant_type=client_credentials http://{addr}/oauth2/token");
    }

    let router = axum::Router::new().fallback(handle).with_state(app);
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| CliError::Io("server", e))
}

fn human(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

async fn create_demo_client(
    backend: &Backend,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(String, String), CliError> {
    let spec = NewClient {
        name: "demo".to_owned(),
        scopes: ScopeSet::parse("orders:read orders:write").map_err(|e| CliError::Config(e.to_string()))?,
        audiences: settings.audiences.clone(),
        cidrs: vec![],
        max_ttl: Duration::from_secs(3600),
        scope_ttl_caps: Default::default(),
    };
    let (client, secret) = admin::create_client(backend.store.as_ref(), spec, clock.now(), &mut OsRng).await?;
    Ok((client.id.to_string(), secret.expose().to_owned()))
}

fn spawn_rotation(rotator: tessera_core::service::Rotator, clock: Arc<dyn Clock>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match rotator.step(clock.now(), false).await {
                Ok(report) => tessera_rotator::log_report(&report),
                Err(e) => {
                    tracing::error!(error = %e, source = ?std::error::Error::source(&e), "rotation step failed; retrying next tick")
                }
            }
        }
    });
}

fn spawn_purge(backend: Backend, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = backend.store.purge_expired(clock.now()).await {
                tracing::warn!(error = %e, "purge of expired records failed");
            }
            let _ = backend.keys.purge_due(clock.now());
        }
    });
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = (status, axum::Json(json!({"error": code, "error_description": description}))).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn handle(
    State(app): State<Arc<DevApp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = if path.starts_with("/oauth2/") {
        issuer(&app, peer, &rid, req).await
    } else if let Some(name) = path.strip_prefix("/.well-known/") {
        well_known(&app, name, &method, req.headers())
    } else if path == "/api" || path.starts_with("/api/") {
        api(&app, peer, &rid, req).await
    } else {
        json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    };
    tracing::info!(
        request_id = %rid,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    // The id of this request's log lines, as API Gateway returns its own.
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Forwards to the issuer handler as API Gateway would: a lambda_http request with the caller's address
/// in the request context.
async fn issuer(app: &DevApp, peer: SocketAddr, rid: &str, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "request body too large");
    };
    let mut builder = http::Request::builder().method(parts.method).uri(parts.uri);
    for (k, v) in &parts.headers {
        builder = builder.header(k, v);
    }
    let body = if bytes.is_empty() { lambda_http::Body::Empty } else { lambda_http::Body::Binary(bytes.to_vec()) };
    let Ok(lambda_req) = builder.body(body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request", "malformed request");
    };
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.http.source_ip = Some(peer.ip().to_string());
    ctx.request_id = Some(rid.to_owned());
    let lambda_req = lambda_req.with_request_context(RequestContext::ApiGatewayV2(ctx));
    let (parts, body) = app.issuer.handle(lambda_req).await.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Serves what the rotator published, as CloudFront serves the S3 origin: Cache-Control and an ETag.
fn well_known(app: &DevApp, name: &str, method: &Method, headers: &http::HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use GET");
    }
    let file = match app.published.read(name) {
        Ok(Some(f)) => f,
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "not_found", "not published"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read published document");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again");
        }
    };
    let digest = sha2::Sha256::digest(&file.body);
    let etag = format!("\"{}\"", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>());
    let cache = format!("public, max-age={}", file.max_age.as_secs());
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::OK, file.body).into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let (Ok(e), Ok(c)) = (HeaderValue::from_str(&etag), HeaderValue::from_str(&cache)) {
        h.insert(header::ETAG, e);
        h.insert(header::CACHE_CONTROL, c);
    }
    r
}

/// The demo API: builds the REST REQUEST authorizer event API Gateway would send, calls the authorizer,
/// and enforces its answer as API Gateway does.
async fn api(app: &DevApp, peer: SocketAddr, rid: &str, req: axum::extract::Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let method_arn = format!("{ARN_PREFIX}/{method}{path}");
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), Value::String(v.to_owned()))))
        .collect();
    let event = json!({
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": "/api/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "queryStringParameters": {},
        "pathParameters": {"proxy": path.trim_start_matches("/api/")},
        "stageVariables": {},
        "requestContext": {
            "path": format!("/dev{path}"),
            "accountId": "000000000000",
            "resourceId": "local",
            "stage": "dev",
            "requestId": rid,
            "identity": {"sourceIp": peer.ip().to_string()},
            "resourcePath": "/api/{proxy+}",
            "httpMethod": method,
            "apiId": "tessera-dev",
        },
    });
    match app.authorizer.handle(event).await {
        Err(_) => {
            let mut r = json_error(StatusCode::UNAUTHORIZED, "invalid_token", "a valid bearer token is required");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="tessera", error="invalid_token""#),
            );
            r
        }
        Ok(policy) if allows(&policy, &method_arn) => {
            let ctx = &policy["context"];
            (StatusCode::OK, axum::Json(json!({
                "message": "hello from the demo API",
                "method": method,
                "path": path,
                "client_id": ctx["client_id"],
                "scopes": ctx["scope"].as_str().unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                "jti": ctx["jti"],
            })))
                .into_response()
        }
        Ok(_) => {
            let mut r = json_error(StatusCode::FORBIDDEN, "insufficient_scope", "the token may not call this route");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="tessera", error="insufficient_scope""#),
            );
            r
        }
    }
}

/// IAM evaluation as API Gateway does it: an explicit Deny wins, then any Allow, else deny.
fn allows(policy: &Value, arn: &str) -> bool {
    let statements = policy["policyDocument"]["Statement"].as_array().cloned().unwrap_or_default();
    let matches = |s: &Value| {
        let resources = match &s["Resource"] {
            Value::String(r) => vec![r.clone()],
            Value::Array(a) => a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect(),
            _ => vec![],
        };
        resources.iter().any(|r| glob_match(r, arn))
    };
    if statements.iter().any(|s| s["Effect"] == "Deny" && matches(s)) {
        return false;
    }
    statements.iter().any(|s| s["Effect"] == "Allow" && matches(s))
}
