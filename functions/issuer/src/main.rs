//! The issuer Lambda: wiring only. Backend from `TESSERA_BACKEND` (see `tessera_wiring`).

use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};
use tessera_core::service::Issuer;
use tessera_core::time::SystemClock;
use tessera_issuer::{IssuerApp, IssuerConfig};
use tessera_wiring::{Backend, BackendConfig, Metrics};

// One thread: a Lambda environment runs one invocation at a time; no worker threads to start on a cold
// start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let lookup = |k: &str| std::env::var(k).ok();
    let config = IssuerConfig::from_lookup(lookup)?;
    let b = Backend::open(&BackendConfig::from_lookup(&lookup)?, "tessera-issuer").await?;
    let metadata = tessera_core::discovery::Metadata::new(
        &config.settings.issuer,
        &config.jwks_uri,
        vec![config.key_alg.as_str().to_owned()],
    );
    let issuer =
        Issuer::new(config.settings, b.clients, b.tokens, b.key_source, b.signer, b.revocations, b.revocation_source)
            .with_token_reuse(config.token_reuse);
    let app = Arc::new(
        IssuerApp::new(issuer, Arc::new(SystemClock))
            .with_discovery(&metadata, config.jwks_max_age)
            .with_metrics(Metrics::from_lookup(&lookup, "issuer")),
    );
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(app.handle(req).await) }
    }))
    .await
}
