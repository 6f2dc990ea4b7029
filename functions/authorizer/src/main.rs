//! The authorizer Lambda: wiring only. Backend from `TESSERA_BACKEND` (see `tessera_wiring`); it reads
//! keys and revocations from the store and never calls KMS.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tessera_authorizer::{Authorizer, AuthorizerConfig, VerifierState};
use tessera_core::time::SystemClock;
use tessera_wiring::{Backend, BackendConfig, Metrics};

// One thread: a Lambda environment runs one invocation at a time, and the background refresh runs while
// the runtime waits for the next event. No worker threads to start on a cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let lookup = |k: &str| std::env::var(k).ok();
    let config = AuthorizerConfig::from_lookup(lookup)?;
    let b = Backend::open(&BackendConfig::from_lookup(&lookup)?, "tessera-authorizer").await?;
    let clock = Arc::new(SystemClock);
    let state = VerifierState::load(b.key_source, b.revocation_source, clock.clone(), config.freshness).await?;
    state.spawn_refresher(config.refresh_every);
    let authorizer =
        Arc::new(Authorizer::new(&config, state, clock).with_metrics(Metrics::from_lookup(&lookup, "authorizer")));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let authorizer = Arc::clone(&authorizer);
        async move { authorizer.handle(event.payload).await }
    }))
    .await
}
