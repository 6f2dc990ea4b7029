//! The issuer Lambda: wiring only. This build uses the local backend (a SQLite data dir named by
//! TESSERA_DATA_DIR); the AWS backend plugs into the same ports.

use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};
use tessera_core::service::Issuer;
use tessera_core::time::SystemClock;
use tessera_issuer::{IssuerApp, IssuerConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let config = IssuerConfig::from_lookup(|k| std::env::var(k).ok())?;
    let dir = std::env::var("TESSERA_DATA_DIR").map_err(|_| "configuration TESSERA_DATA_DIR: is required")?;
    let data = tessera_local::DataDir::open(&dir)?;
    let store = Arc::new(tessera_local::SqliteStore::open(&data.database())?);
    let keys = Arc::new(tessera_local::SoftwareKeys::open(&data.keys())?);
    let issuer = Issuer::new(config.settings, store.clone(), store.clone(), store.clone(), keys, store.clone(), store);
    let app = Arc::new(IssuerApp::new(issuer, Arc::new(SystemClock)));
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(app.handle(req).await) }
    }))
    .await
}
