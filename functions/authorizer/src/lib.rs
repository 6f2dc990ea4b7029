//! The API Gateway authorizer: REST API TOKEN and REQUEST events answered with an IAM policy, HTTP API v2
//! events with a simple response or an IAM policy.
//!
//! The hot path does no I/O: keys and revocations live in a [`state::VerifierState`] that a background
//! task refreshes; a request only reads it. If the state is older than its staleness bound (a Lambda
//! environment thawed after a pause), the request refreshes it first, so revocation stays within the
//! promise; if that refresh fails, the request is refused (fail closed).

pub mod config;
pub mod event;
pub mod state;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerIamPolicyResponse, ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::{Value, json};
use tessera_core::policy::RoutePolicy;
use tessera_core::time::Clock;
use tessera_core::verify::{Outcome, Reject, Verified, Verifier};
use tessera_wiring::{Metrics, Unit};

pub use config::{AuthorizerConfig, HttpApiResponse};
pub use event::{AuthorizerEvent, EventError};
pub use state::VerifierState;

/// The answer API Gateway turns into a 401: the Lambda error whose message is exactly `Unauthorized`.
#[derive(Debug, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

impl From<Unauthorized> for lambda_runtime::Diagnostic {
    fn from(_: Unauthorized) -> Self {
        Self { error_type: "Unauthorized".to_owned(), error_message: "Unauthorized".to_owned() }
    }
}

/// The authorizer: configuration, verifier, and the shared in-memory state.
pub struct Authorizer {
    verifier: Verifier,
    routes: RoutePolicy,
    state: Arc<VerifierState>,
    clock: Arc<dyn Clock>,
    http_api: HttpApiResponse,
    metrics: Metrics,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").field("routes", &self.routes).finish_non_exhaustive()
    }
}

/// What was decided, before it is shaped into the event's response type.
#[derive(Debug)]
pub enum Decision {
    /// The token may call this route.
    Allow(Verified),
    /// A genuine token that may not call this route (403). The claims are known unless the refusal came
    /// from the source-address check.
    Deny(Option<Verified>, Reject),
    /// No usable token (401). For refusals after the signature verified (expired, revoked, …) the
    /// token's client and jti are known and logged; for forgeries they are not.
    Unauthorized(&'static str, Option<SignedIdentity>),
}

/// Who a genuinely signed but refused token belongs to, for the log.
#[derive(Debug, Clone)]
pub struct SignedIdentity {
    /// The token's client.
    pub client_id: String,
    /// The token's id.
    pub jti: String,
}

impl SignedIdentity {
    /// Reads client and jti from a token whose signature has been verified. Never call it for a token
    /// whose signature did not verify: the payload would be the attacker's words.
    fn of_verified(token: &str) -> Option<Self> {
        let payload = tessera_core::jose::b64::decode(token.split('.').nth(1)?).ok()?;
        let v: Value = serde_json::from_slice(&payload).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| s.len() <= 128).map(str::to_owned);
        Some(Self { client_id: text("client_id")?, jti: text("jti")? })
    }
}

impl Decision {
    /// The stable reason name for logs and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Allow(_) => "ok",
            Self::Deny(_, r) => r.as_str(),
            Self::Unauthorized(r, _) => r,
        }
    }
}

impl Authorizer {
    /// Builds the authorizer around a state that is already loaded.
    #[must_use]
    pub fn new(config: &AuthorizerConfig, state: Arc<VerifierState>, clock: Arc<dyn Clock>) -> Self {
        Self {
            verifier: Verifier::new(config.verifier.clone()),
            routes: config.routes.clone(),
            state,
            clock,
            http_api: config.http_api,
            metrics: Metrics::off(),
        }
    }

    /// Writes a metrics line per decision (allows, denials by reason, latency).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The shared state.
    #[must_use]
    pub fn state(&self) -> &Arc<VerifierState> {
        &self.state
    }

    /// Decides one request. Pure CPU unless the state is stale or the kid is unknown.
    pub async fn decide(&self, token: &str, method: &str, path: &str, source_ip: Option<IpAddr>) -> Decision {
        if self.state.ensure_fresh().await.is_err() {
            // Fail closed: without a fresh revocation view no token is accepted.
            return Decision::Unauthorized("state_unavailable", None);
        }
        let now = self.clock.now();
        let mut snapshot = self.state.snapshot();
        let mut result = self.verifier.authenticate(token, &snapshot.ring, &snapshot.revoked, source_ip, now);
        if result.as_ref().err() == Some(&Reject::UnknownKid) && self.state.reload_for_unknown_kid().await {
            snapshot = self.state.snapshot();
            result = self.verifier.authenticate(token, &snapshot.ring, &snapshot.revoked, source_ip, now);
        }
        match result {
            Err(r) if r.outcome() == Outcome::Forbidden => Decision::Deny(None, r),
            Err(r) => Decision::Unauthorized(
                r.as_str(),
                r.after_signature().then(|| SignedIdentity::of_verified(token)).flatten(),
            ),
            Ok(v) => match self.verifier.authorize(&v, &self.routes, method, path) {
                Ok(_) => Decision::Allow(v),
                Err(r) => Decision::Deny(Some(v), r),
            },
        }
    }

    /// Handles one raw event (any of the three shapes) and returns the response document, or
    /// [`Unauthorized`] for a 401.
    pub async fn handle(&self, event: Value) -> Result<Value, Unauthorized> {
        let started = Instant::now();
        let event = match AuthorizerEvent::parse(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(decision = "unauthorized", reason = "bad_event", error = %e, "authorizer");
                return Err(Unauthorized);
            }
        };
        let facts = event.facts();
        let decision = match facts.token.as_deref() {
            Some(token) => self.decide(token, &facts.method, &facts.path, facts.source_ip).await,
            None => Decision::Unauthorized(Reject::MissingToken.as_str(), None),
        };
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (label, client_id, jti) = match &decision {
            Decision::Allow(v) | Decision::Deny(Some(v), _) => (
                if matches!(decision, Decision::Allow(_)) { "allow" } else { "deny" },
                v.claims.client_id.as_str(),
                v.claims.jti.as_str(),
            ),
            Decision::Deny(None, _) => ("deny", "-", "-"),
            Decision::Unauthorized(_, Some(who)) => ("unauthorized", who.client_id.as_str(), who.jti.as_str()),
            Decision::Unauthorized(_, None) => ("unauthorized", "-", "-"),
        };
        tracing::info!(
            request_id = facts.request_id.as_deref().unwrap_or("-"),
            client_id,
            jti,
            method = %facts.method,
            path = %facts.path,
            decision = label,
            reason = decision.reason(),
            latency_us,
            "authorizer"
        );
        #[allow(clippy::cast_precision_loss, reason = "a latency in µs is far below 2^52")]
        let latency = ("Latency", latency_us as f64, Unit::Microseconds);
        match &decision {
            Decision::Allow(_) => self.metrics.emit(&[("Allows", 1.0, Unit::Count), latency], None),
            _ => self.metrics.emit(&[("Denials", 1.0, Unit::Count), latency], Some(decision.reason())),
        }
        match &decision {
            Decision::Allow(v) => Ok(self.respond(&event, &facts.method_arn, Some(v))),
            Decision::Deny(v, _) => Ok(self.respond(&event, &facts.method_arn, v.as_ref())),
            Decision::Unauthorized(..) => match (&event, self.http_api) {
                // HTTP APIs turn a Lambda error into a 500, so they get a plain refusal instead.
                (AuthorizerEvent::HttpV2(_), HttpApiResponse::Simple) => {
                    Ok(self.respond(&event, &facts.method_arn, None))
                }
                _ => Err(Unauthorized),
            },
        }
    }

    /// Shapes the response. The IAM policy is cache-safe: it allows every route the token's scopes allow
    /// and nothing else, so a policy API Gateway caches for this token is right for any route.
    fn respond(&self, event: &AuthorizerEvent, method_arn: &str, verified: Option<&Verified>) -> Value {
        let allowed: Vec<String> = match verified {
            Some(v) => {
                let prefix = event::arn_prefix(method_arn);
                self.routes.allowed(&v.claims.scope).map(|r| r.method_arn(prefix)).collect()
            }
            None => vec![],
        };
        let context = verified.map_or_else(
            || json!({}),
            |v| {
                json!({
                    "client_id": v.claims.client_id.as_str(),
                    "scope": v.claims.scope.to_string(),
                    "jti": v.claims.jti.as_str(),
                })
            },
        );
        let covered = allowed.iter().any(|arn| tessera_core::policy::glob_match(arn, method_arn));
        if let (AuthorizerEvent::HttpV2(_), HttpApiResponse::Simple) = (event, self.http_api) {
            let mut r = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
            r.is_authorized = covered;
            r.context = context;
            return serde_json::to_value(r).unwrap_or_else(|_| json!({"isAuthorized": false}));
        }
        let mut statements = Vec::new();
        if !allowed.is_empty() {
            statements.push(statement(IamPolicyEffect::Allow, allowed));
        }
        if !covered {
            statements.push(statement(IamPolicyEffect::Deny, vec![method_arn.to_owned()]));
        }
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.version = Some("2012-10-17".to_owned());
        policy.statement = statements;
        let principal = verified.map_or_else(|| "anonymous".to_owned(), |v| v.claims.client_id.to_string());
        let out = if let AuthorizerEvent::HttpV2(_) = event {
            let mut r = ApiGatewayV2CustomAuthorizerIamPolicyResponse::<Value>::default();
            r.principal_id = Some(principal);
            r.policy_document = policy;
            r.context = context;
            serde_json::to_value(r)
        } else {
            let mut r = ApiGatewayCustomAuthorizerResponse::<Value>::default();
            r.principal_id = Some(principal);
            r.policy_document = policy;
            r.context = context;
            serde_json::to_value(r)
        };
        out.unwrap_or_else(|_| json!({}))
    }
}

fn statement(effect: IamPolicyEffect, resource: Vec<String>) -> IamPolicyStatement {
    let mut s = IamPolicyStatement::default();
    s.action = vec!["execute-api:Invoke".to_owned()];
    s.effect = effect;
    s.resource = resource;
    s
}
