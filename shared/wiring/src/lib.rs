//! The composition root shared by the Lambda functions and the CLI: which backend, built once, from one
//! typed configuration. Each function takes only the ports it needs from [`Backend`].
//!
//! | variable | backend | meaning |
//! |---|---|---|
//! | `TESSERA_BACKEND` | both | `local` or `aws` (default: `aws` when built with the `aws` feature) |
//! | `TESSERA_DATA_DIR` | local | the data dir (SQLite file, keys, published documents) |
//! | `TESSERA_TABLE` | aws | the DynamoDB table |
//! | `TESSERA_JWKS_BUCKET` | aws | the S3 bucket CloudFront serves the JWKS from (rotator, CLI) |
//! | `TESSERA_JWKS_PREFIX` | aws | object key prefix in that bucket (default empty) |
//! | `TESSERA_KMS_ALIAS` | aws | alias that follows the signing key (default `alias/tessera-signing`; `none` for no alias) |
//! | `TESSERA_KMS_TAGS` | aws | extra tags on new keys, `key=value,key=value` |
//! | `TESSERA_KMS_MULTI_REGION` | aws | `true` to create multi-Region keys |
#![deny(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::ports::{
    BoxError, ClientStore, KeyManager, KeyRegistry, KeySource, Publisher, RevocationSource, RevocationStore, Signer,
    TokenStore,
};

pub mod env;
pub mod metrics;

pub use env::{ConfigError, Env};
pub use metrics::{Metrics, Unit};

/// Where state lives.
#[derive(Clone, Debug)]
pub enum BackendConfig {
    /// SQLite, software keys and a directory, under one data dir.
    Local {
        /// The data dir.
        data_dir: PathBuf,
    },
    /// DynamoDB, KMS and S3.
    Aws(AwsSettings),
}

/// The AWS backend's settings (credentials, region and endpoints come from the SDK's own environment).
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// DynamoDB table.
    pub table: String,
    /// JWKS bucket, if this process publishes.
    pub bucket: Option<String>,
    /// Object key prefix.
    pub prefix: String,
    /// Alias that follows the signing key.
    pub alias: Option<String>,
    /// Extra tags on new keys.
    pub tags: Vec<(String, String)>,
    /// Multi-Region keys.
    pub multi_region: bool,
}

const DEFAULT_BACKEND: &str = if cfg!(feature = "aws") { "aws" } else { "local" };

impl BackendConfig {
    /// Reads the variables through `lookup` (the environment, in `main`).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let backend = lookup("TESSERA_BACKEND").unwrap_or_else(|| DEFAULT_BACKEND.to_owned());
        match backend.trim() {
            "local" => {
                let dir = lookup("TESSERA_DATA_DIR").filter(|d| !d.trim().is_empty()).ok_or(ConfigError {
                    name: "TESSERA_DATA_DIR",
                    problem: "is required for the local backend".to_owned(),
                })?;
                Ok(Self::Local { data_dir: PathBuf::from(dir) })
            }
            "aws" => {
                let table = lookup("TESSERA_TABLE").filter(|t| !t.trim().is_empty()).ok_or(ConfigError {
                    name: "TESSERA_TABLE",
                    problem: "is required for the aws backend".to_owned(),
                })?;
                let tags = match lookup("TESSERA_KMS_TAGS") {
                    None => Vec::new(),
                    Some(text) => text
                        .split(',')
                        .filter(|p| !p.trim().is_empty())
                        .map(|p| {
                            p.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).ok_or(
                                ConfigError { name: "TESSERA_KMS_TAGS", problem: format!("{p:?} is not key=value") },
                            )
                        })
                        .collect::<Result<_, _>>()?,
                };
                let alias = match lookup("TESSERA_KMS_ALIAS") {
                    Some(a) if a.trim() == "none" => None,
                    Some(a) if a.starts_with("alias/") => Some(a),
                    Some(a) => {
                        return Err(ConfigError {
                            name: "TESSERA_KMS_ALIAS",
                            problem: format!("{a:?} must start with alias/"),
                        });
                    }
                    None => Some("alias/tessera-signing".to_owned()),
                };
                let multi_region = match lookup("TESSERA_KMS_MULTI_REGION").as_deref().map(str::trim) {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(ConfigError {
                            name: "TESSERA_KMS_MULTI_REGION",
                            problem: format!("{other:?} is not true or false"),
                        });
                    }
                };
                Ok(Self::Aws(AwsSettings {
                    table,
                    bucket: lookup("TESSERA_JWKS_BUCKET").filter(|b| !b.trim().is_empty()),
                    prefix: lookup("TESSERA_JWKS_PREFIX").unwrap_or_default(),
                    alias,
                    tags,
                    multi_region,
                }))
            }
            other => Err(ConfigError { name: "TESSERA_BACKEND", problem: format!("{other:?} is not local or aws") }),
        }
    }
}

/// Every port of one backend. The store ports are one object underneath; the key ports another.
#[derive(Clone)]
pub struct Backend {
    /// Clients.
    pub clients: Arc<dyn ClientStore>,
    /// Token metadata.
    pub tokens: Arc<dyn TokenStore>,
    /// Key records, read.
    pub key_source: Arc<dyn KeySource>,
    /// Key records, written.
    pub key_registry: Arc<dyn KeyRegistry>,
    /// Revocations, written.
    pub revocations: Arc<dyn RevocationStore>,
    /// Revocations, read.
    pub revocation_source: Arc<dyn RevocationSource>,
    /// Signing.
    pub signer: Arc<dyn Signer>,
    /// Key creation and disposal.
    pub key_manager: Arc<dyn KeyManager>,
    /// JWKS publishing; `None` when the configuration names no destination.
    pub publisher: Option<Arc<dyn Publisher>>,
    /// The local data dir, for the local backend.
    pub data_dir: Option<tessera_local::DataDir>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl Backend {
    /// One store object behind every store port, one key object behind both key ports.
    fn from_parts<S, K>(
        store: Arc<S>,
        keys: Arc<K>,
        publisher: Option<Arc<dyn Publisher>>,
        data_dir: Option<tessera_local::DataDir>,
    ) -> Self
    where
        S: ClientStore + TokenStore + KeyRegistry + RevocationStore + RevocationSource + 'static,
        K: Signer + KeyManager + 'static,
    {
        Self {
            clients: store.clone(),
            tokens: store.clone(),
            key_source: store.clone(),
            key_registry: store.clone(),
            revocations: store.clone(),
            revocation_source: store,
            signer: keys.clone(),
            key_manager: keys,
            publisher,
            data_dir,
        }
    }

    /// Builds the backend, and for AWS opens the table's connection and checks it exists. `app` names the
    /// process in AWS requests' user agent (`tessera-issuer`, `tessera-cli`, …).
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub async fn open(config: &BackendConfig, app: &str) -> Result<Self, BoxError> {
        match config {
            BackendConfig::Local { data_dir } => {
                let data = tessera_local::DataDir::open(data_dir)
                    .map_err(|e| format!("cannot use the data dir {}: {e}", data_dir.display()))?;
                let store = Arc::new(tessera_local::SqliteStore::open(&data.database())?);
                let keys = Arc::new(tessera_local::SoftwareKeys::open(&data.keys())?);
                let publisher: Arc<dyn Publisher> = Arc::new(tessera_local::DirPublisher::new(&data.public()));
                Ok(Self::from_parts(store, keys, Some(publisher), Some(data)))
            }
            #[cfg(feature = "aws")]
            BackendConfig::Aws(s) => {
                let aws = tessera_aws::AwsConfig::load(app).await;
                let store = Arc::new(tessera_aws::DynamoStore::new(aws.dynamodb(), &s.table));
                store
                    .warm()
                    .await
                    .map_err(|e| format!("DynamoDB table {}: {e}: {:?}", s.table, std::error::Error::source(&e)))?;
                let options = tessera_aws::KmsOptions {
                    tags: s.tags.clone(),
                    active_alias: s.alias.clone(),
                    multi_region: s.multi_region,
                };
                let keys = Arc::new(tessera_aws::KmsKeys::new(aws.kms(), options));
                let publisher = s
                    .bucket
                    .as_ref()
                    .map(|b| Arc::new(tessera_aws::S3Publisher::new(aws.s3(), b, &s.prefix)) as Arc<dyn Publisher>);
                Ok(Self::from_parts(store, keys, publisher, None))
            }
            #[cfg(not(feature = "aws"))]
            BackendConfig::Aws(_) => Err("this build has no AWS backend: build with `--features aws`".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_name_the_variable() {
        let none = |_: &str| None;
        let e = BackendConfig::from_lookup(&|k| (k == "TESSERA_BACKEND").then(|| "cloud".to_owned())).expect_err("bad");
        assert_eq!(e.name, "TESSERA_BACKEND");
        let e =
            BackendConfig::from_lookup(&|k| (k == "TESSERA_BACKEND").then(|| "aws".to_owned())).expect_err("no table");
        assert_eq!(e.name, "TESSERA_TABLE");
        if !cfg!(feature = "aws") {
            assert_eq!(BackendConfig::from_lookup(&none).expect_err("no dir").name, "TESSERA_DATA_DIR");
        }
        let lookup = |k: &str| match k {
            "TESSERA_BACKEND" => Some("aws".to_owned()),
            "TESSERA_TABLE" => Some("t".to_owned()),
            "TESSERA_KMS_TAGS" => Some("stack=prod,team".to_owned()),
            _ => None,
        };
        assert_eq!(BackendConfig::from_lookup(&lookup).expect_err("tags").name, "TESSERA_KMS_TAGS");
    }
}
