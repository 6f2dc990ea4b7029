//! The issuer: OAuth 2.0 endpoints over HTTP, written against lambda_http's request and response types so
//! the same handler runs behind API Gateway and inside the dev server.
//!
//! - `POST /oauth2/token`: client credentials grant (RFC 6749 §4.4), with `audience` / `resource`
//!   (RFC 8707).
//! - `POST /oauth2/revoke`: RFC 7009.
//! - `POST /oauth2/introspect`: RFC 7662.
//! - `GET /.well-known/jwks.json`, `/.well-known/openid-configuration`,
//!   `/.well-known/oauth-authorization-server`: from the key registry, with Cache-Control and ETag (the
//!   edge copy CloudFront serves from S3 is the rotator's).
//!
//! Every failure leaves through [`error::OAuthError`]: RFC 6749 §5.2 JSON, the right status, and the cause
//! in the log, never in the response.

pub mod config;
pub mod error;
pub mod form;

use std::net::IpAddr;
use std::time::Instant;

use http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt as _, Response};
use rand_core::OsRng;
use serde_json::json;
use sha2::Digest as _;
use tessera_core::ScopeSet;
use tessera_core::client::{Client, TokenRequest};
use tessera_core::service::Issuer;
use tessera_core::time::Clock;
use tessera_wiring::{Metrics, Unit};

pub use config::IssuerConfig;
pub use error::OAuthError;
use form::{ClientCredentials, Form};

/// The HTTP face of the issuer.
pub struct IssuerApp {
    issuer: Issuer,
    clock: std::sync::Arc<dyn Clock>,
    discovery: Option<Discovery>,
    metrics: Metrics,
}

/// What `/.well-known/*` serves besides the JWKS.
struct Discovery {
    metadata: String,
    max_age: std::time::Duration,
}

impl std::fmt::Debug for IssuerApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerApp").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// The caller's address from the API Gateway request context.
#[must_use]
pub fn source_ip(req: &Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.clone(),
        #[allow(unreachable_patterns, reason = "other contexts exist behind lambda_http features")]
        _ => None,
    }?;
    ip.parse().ok()
}

fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        #[allow(unreachable_patterns, reason = "other contexts exist behind lambda_http features")]
        _ => None,
    }
    .unwrap_or_else(|| "-".to_owned())
}

/// What a handled request logs.
#[derive(Default)]
struct Outcome {
    client_id: Option<String>,
    jti: Option<String>,
    reused: bool,
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    // Token responses must never be cached (RFC 6749 §5.1).
    h.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    h.insert(http::header::PRAGMA, http::HeaderValue::from_static("no-cache"));
    resp
}

impl IssuerApp {
    /// Wraps the issuer service.
    #[must_use]
    pub fn new(issuer: Issuer, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self { issuer, clock, discovery: None, metrics: Metrics::off() }
    }

    /// Writes a metrics line per request (tokens issued, errors by code, unavailability, latency).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Also serves `/.well-known/*`: the JWKS from the key registry and this metadata.
    #[must_use]
    pub fn with_discovery(
        mut self,
        metadata: &tessera_core::discovery::Metadata,
        max_age: std::time::Duration,
    ) -> Self {
        let metadata = serde_json::to_string_pretty(metadata).unwrap_or_default();
        self.discovery = Some(Discovery { metadata, max_age });
        self
    }

    async fn well_known(&self, req: &Request, name: &str) -> Result<Response<Body>, OAuthError> {
        let Some(d) = &self.discovery else { return Err(OAuthError::not_found()) };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(OAuthError::method_not_allowed());
        }
        let body = match name {
            "jwks.json" => serde_json::to_string(&self.issuer.jwks().await.map_err(OAuthError::from_issue)?)
                .map_err(|_| OAuthError::from_issue(tessera_core::service::IssueError::NoSigningKey))?,
            "openid-configuration" | "oauth-authorization-server" => d.metadata.clone(),
            _ => return Err(OAuthError::not_found()),
        };
        let digest = sha2::Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>());
        let matched = req
            .headers()
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let mut resp = if matched || req.method() == Method::HEAD {
            let mut r = Response::new(Body::Empty);
            if matched {
                *r.status_mut() = StatusCode::NOT_MODIFIED;
            }
            r
        } else {
            Response::new(Body::Text(body))
        };
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if let (Ok(e), Ok(c)) = (
            http::HeaderValue::from_str(&etag),
            http::HeaderValue::from_str(&format!("public, max-age={}", d.max_age.as_secs())),
        ) {
            h.insert(http::header::ETAG, e);
            h.insert(http::header::CACHE_CONTROL, c);
        }
        Ok(resp)
    }

    /// Handles one request. Never fails: every error is an RFC 6749 response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let rid = request_id(&req);
        let mut outcome = Outcome::default();
        let result = self.route(&req, &mut outcome).await;
        let error = result.as_ref().err().map(|e| (e.code(), e.status()));
        let response = match result {
            Ok(r) => r,
            Err(e) => e.to_response(),
        };
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        #[allow(clippy::cast_precision_loss, reason = "a latency in µs is far below 2^52")]
        let latency = (latency_us as f64, Unit::Microseconds);
        match error {
            None if path == "/oauth2/token" => self.metrics.emit(
                &[
                    ("TokensIssued", 1.0, Unit::Count),
                    ("SignCalls", 1.0, Unit::Count),
                    ("Latency", latency.0, latency.1),
                ],
                None,
            ),
            None => self.metrics.emit(&[("Latency", latency.0, latency.1)], None),
            Some((code, status)) if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => {
                self.metrics
                    .emit(&[("IssueUnavailable", 1.0, Unit::Count), ("Latency", latency.0, latency.1)], Some(code));
            }
            Some((code, _)) => {
                self.metrics.emit(&[("IssueErrors", 1.0, Unit::Count), ("Latency", latency.0, latency.1)], Some(code));
            }
        }
        tracing::info!(
            request_id = %rid,
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            client_id = outcome.client_id.as_deref().unwrap_or("-"),
            jti = outcome.jti.as_deref().unwrap_or("-"),
            reused = outcome.reused,
            latency_us,
            "issuer"
        );
        response
    }

    async fn route(&self, req: &Request, outcome: &mut Outcome) -> Result<Response<Body>, OAuthError> {
        let path = req.uri().path();
        if let Some(name) = path.strip_prefix("/.well-known/") {
            return self.well_known(req, name).await;
        }
        let endpoint = match path {
            "/oauth2/token" | "/oauth2/revoke" | "/oauth2/introspect" => path,
            _ => return Err(OAuthError::not_found()),
        };
        if req.method() != Method::POST {
            return Err(OAuthError::method_not_allowed());
        }
        let form = Form::from_request(req)?;
        let creds = ClientCredentials::from_request(req, &form)?;
        let now = self.clock.now();
        outcome.client_id = Some(creds.client_id.clone());
        let client =
            self.issuer.authenticate(&creds.client_id, &creds.secret, now).await.map_err(OAuthError::from_issue)?;
        match endpoint {
            "/oauth2/token" => self.token(req, &form, &client, outcome).await,
            "/oauth2/revoke" => self.revoke(&form, &client, outcome).await,
            _ => self.introspect(&form, &client, outcome).await,
        }
    }

    async fn token(
        &self,
        req: &Request,
        form: &Form,
        client: &Client,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, OAuthError> {
        match form.single("grant_type")? {
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::unsupported_grant_type()),
            None => return Err(OAuthError::invalid_request("grant_type is required")),
        }
        let scopes = match form.single("scope")? {
            Some(s) => Some(ScopeSet::parse(s).map_err(|e| OAuthError::invalid_scope(&e.to_string()))?),
            None => None,
        };
        // RFC 8707 allows several `resource` values; the grant decides whether they are acceptable.
        let mut audiences: Vec<String> = form.all("audience").chain(form.all("resource")).map(str::to_owned).collect();
        audiences.dedup();
        let request = TokenRequest { scopes, audiences, source_ip: source_ip(req) };
        let issued =
            self.issuer.issue(client, &request, self.clock.now(), &mut OsRng).await.map_err(OAuthError::from_issue)?;
        outcome.jti = Some(issued.jti.to_string());
        outcome.reused = issued.reused;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            }),
        ))
    }

    async fn revoke(&self, form: &Form, client: &Client, outcome: &mut Outcome) -> Result<Response<Body>, OAuthError> {
        let token = form.single("token")?.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if let Some(jti) = self.issuer.revoke(client, token, self.clock.now()).await.map_err(OAuthError::from_issue)? {
            outcome.jti = Some(jti.to_string());
        }
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        let mut resp = Response::new(Body::Empty);
        resp.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
        Ok(resp)
    }

    async fn introspect(
        &self,
        form: &Form,
        client: &Client,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, OAuthError> {
        let token = form.single("token")?.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let answer = self.issuer.introspect(client, token, self.clock.now()).await.map_err(OAuthError::from_issue)?;
        if let Some(d) = &answer.details {
            outcome.jti = Some(d.jti.clone());
        }
        Ok(json_response(StatusCode::OK, &serde_json::to_value(&answer).unwrap_or_else(|_| json!({"active": false}))))
    }
}
