//! The rotator Lambda: wiring only. Backend from `TESSERA_BACKEND` (see `tessera_wiring`).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tessera_core::service::Rotator;
use tessera_core::time::SystemClock;
use tessera_rotator::RotatorConfig;
use tessera_wiring::{Backend, BackendConfig, Metrics, Unit};

// One thread: a Lambda environment runs one invocation at a time; no worker threads to start on a cold
// start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let lookup = |k: &str| std::env::var(k).ok();
    let config = RotatorConfig::from_lookup(lookup)?;
    let b = Backend::open(&BackendConfig::from_lookup(&lookup)?, "tessera-rotator").await?;
    let publisher = b.publisher.ok_or("configuration TESSERA_JWKS_BUCKET: is required for the rotator")?;
    let rotator =
        Arc::new(Rotator::new(b.key_registry, b.key_manager, publisher, b.revocations, config.policy, config.metadata));
    let metrics = Arc::new(Metrics::from_lookup(&lookup, "rotator"));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (rotator, metrics) = (Arc::clone(&rotator), Arc::clone(&metrics));
        async move {
            let result = tessera_rotator::handle(&rotator, &SystemClock, &event.payload).await;
            let count = |r: &Value, k: &str| {
                r[k].as_array().map_or(0.0, |a| f64::from(u32::try_from(a.len()).unwrap_or(u32::MAX)))
            };
            match &result {
                Ok(r) => metrics.emit(
                    &[
                        ("RotationActions", count(r, "applied"), Unit::Count),
                        ("RotationWarnings", count(r, "warnings"), Unit::Count),
                    ],
                    None,
                ),
                Err(_) => metrics.emit(&[("RotationFailures", 1.0, Unit::Count)], None),
            }
            result.map_err(Error::from)
        }
    }))
    .await
}
