//! The rotator Lambda: wiring only. This build uses the local backend (a data dir named by
//! TESSERA_DATA_DIR); the AWS backend plugs into the same ports.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tessera_core::service::Rotator;
use tessera_core::time::SystemClock;
use tessera_rotator::RotatorConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let config = RotatorConfig::from_lookup(|k| std::env::var(k).ok())?;
    let dir = std::env::var("TESSERA_DATA_DIR").map_err(|_| "configuration TESSERA_DATA_DIR: is required")?;
    let data = tessera_local::DataDir::open(&dir)?;
    let store = Arc::new(tessera_local::SqliteStore::open(&data.database())?);
    let keys = Arc::new(tessera_local::SoftwareKeys::open(&data.keys())?);
    let publisher = Arc::new(tessera_local::DirPublisher::new(&data.public()));
    let rotator = Arc::new(Rotator::new(store.clone(), keys, publisher, store, config.policy, config.metadata));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let rotator = Arc::clone(&rotator);
        async move { tessera_rotator::handle(&rotator, &SystemClock, &event.payload).await.map_err(Error::from) }
    }))
    .await
}
