//! The authorizer Lambda: wiring only. This build uses the local backend (a SQLite data dir named by
//! TESSERA_DATA_DIR); the AWS backend plugs into the same ports.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tessera_authorizer::{Authorizer, AuthorizerConfig, VerifierState};
use tessera_core::time::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let config = AuthorizerConfig::from_lookup(|k| std::env::var(k).ok())?;
    let dir = std::env::var("TESSERA_DATA_DIR").map_err(|_| "configuration TESSERA_DATA_DIR: is required")?;
    let data = tessera_local::DataDir::open(&dir)?;
    let store = Arc::new(tessera_local::SqliteStore::open(&data.database())?);
    let clock = Arc::new(SystemClock);
    let state = VerifierState::load(store.clone(), store, clock.clone(), config.freshness).await?;
    state.spawn_refresher(config.refresh_every);
    let authorizer = Arc::new(Authorizer::new(&config, state, clock));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let authorizer = Arc::clone(&authorizer);
        async move { authorizer.handle(event.payload).await.map_err(Error::from) }
    }))
    .await
}
