//! The rotator Lambda: wiring only. Backend from `TESSERA_BACKEND` (see `tessera_wiring`).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tessera_core::service::Rotator;
use tessera_core::time::SystemClock;
use tessera_rotator::RotatorConfig;
use tessera_wiring::{Backend, BackendConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let lookup = |k: &str| std::env::var(k).ok();
    let config = RotatorConfig::from_lookup(lookup)?;
    let b = Backend::open(&BackendConfig::from_lookup(&lookup)?, "tessera-rotator").await?;
    let publisher = b.publisher.ok_or("configuration TESSERA_JWKS_BUCKET: is required for the rotator")?;
    let rotator =
        Arc::new(Rotator::new(b.key_registry, b.key_manager, publisher, b.revocations, config.policy, config.metadata));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let rotator = Arc::clone(&rotator);
        async move { tessera_rotator::handle(&rotator, &SystemClock, &event.payload).await.map_err(Error::from) }
    }))
    .await
}
