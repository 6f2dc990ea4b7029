//! The rotator: one rotation step per scheduled event (EventBridge Scheduler), then the JWKS is published.
//! At-least-once delivery and overlapping runs are safe: the step is idempotent and its writes are
//! conditional (see `tessera_core::service::rotate`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tessera_core::discovery::Metadata;
use tessera_core::jose::Algorithm;
use tessera_core::lifecycle::{Action, RotationPolicy};
use tessera_core::service::{RotationError, RotationReport, Rotator};
use tessera_core::time::Clock;

pub use tessera_wiring::ConfigError;
use tessera_wiring::Env;

/// The rotator's configuration.
#[derive(Clone, Debug)]
pub struct RotatorConfig {
    /// Rotation timing.
    pub policy: RotationPolicy,
    /// What the discovery documents say.
    pub metadata: Metadata,
}

impl RotatorConfig {
    /// Reads the `TESSERA_*` variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let duration = |name, default| env.duration(name, default);
        let issuer = env.required("TESSERA_ISSUER")?;
        let jwks_uri = env
            .optional("TESSERA_JWKS_URI")
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        let algorithm = env
            .optional("TESSERA_KEY_ALG")
            .unwrap_or_else(|| "ES256".to_owned())
            .parse::<Algorithm>()
            .map_err(|e| ConfigError::new("TESSERA_KEY_ALG", e.to_string()))?;
        let policy = RotationPolicy {
            rotate_every: duration("TESSERA_ROTATE_EVERY", "24h")?,
            jwks_max_age: duration("TESSERA_JWKS_MAX_AGE", "5m")?,
            // As long as the max-age by default: a verifier whose cache ignores the edge's Age header may
            // hold a copy twice the max-age old (see lifecycle's fleet simulation).
            propagation_margin: duration("TESSERA_PROPAGATION_MARGIN", "5m")?,
            max_token_ttl: duration("TESSERA_TOKEN_TTL", "15m")?,
            leeway: duration("TESSERA_LEEWAY", "30s")?,
            deletion_window: duration("TESSERA_DELETION_WINDOW", "7days")?,
            algorithm,
        };
        policy.validate().map_err(|e| ConfigError::new("TESSERA_ROTATE_EVERY", e.to_string()))?;
        let metadata = Metadata::new(&issuer, &jwks_uri, vec![algorithm.as_str().to_owned()]);
        Ok(Self { policy, metadata })
    }
}

/// Operator overrides an invocation may carry in its `detail` (scheduled events carry none).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Detail {
    #[serde(default)]
    force: bool,
    #[serde(default)]
    emergency_kid: Option<String>,
}

/// Runs the step an event asks for and reports what changed.
pub async fn handle(rotator: &Rotator, clock: &dyn Clock, event: &Value) -> Result<Value, RotationError> {
    let detail: Detail = event
        .get("detail")
        .filter(|d| d.as_object().is_some_and(|o| !o.is_empty()))
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    let now = clock.now();
    let report = match &detail.emergency_kid {
        Some(kid) => rotator.emergency_retire(kid, now).await?,
        None => rotator.step(now, detail.force).await?,
    };
    log_report(&report);
    Ok(report_json(&report))
}

/// Logs a step's actions, one line each.
pub fn log_report(report: &RotationReport) {
    for action in &report.applied {
        tracing::info!(action = ?action, "rotation");
    }
    for w in &report.warnings {
        tracing::warn!(warning = %w, "rotation");
    }
    if report.lost_race {
        tracing::info!("another rotator changed the keys first; stopped early");
    }
}

/// The report as JSON.
#[must_use]
pub fn report_json(report: &RotationReport) -> Value {
    let applied: Vec<Value> = report
        .applied
        .iter()
        .map(|a| match a {
            Action::Create { generation, activate } => {
                json!({"create": {"generation": generation, "activate": activate}})
            }
            Action::Promote { kid, demote } => {
                json!({"promote": kid.as_str(), "demote": demote.iter().map(|k| k.as_str()).collect::<Vec<_>>()})
            }
            Action::Retire { kid } => json!({"retire": kid.as_str()}),
            Action::Dispose { kid } => json!({"dispose": kid.as_str()}),
        })
        .collect();
    json!({
        "applied": applied,
        "lost_race": report.lost_race,
        "warnings": report.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "published": report.published.iter().map(|(k, s)| json!({"kid": k.as_str(), "status": s.as_str()})).collect::<Vec<_>>(),
    })
}

/// The dev server's interval between steps: often enough that promotions and retirements happen close
/// to their due time, however long the rotation period.
#[must_use]
pub fn tick_for(policy: &RotationPolicy) -> Duration {
    (policy.rotate_every / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}
