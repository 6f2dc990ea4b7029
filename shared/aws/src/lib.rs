//! Tessera's AWS backend.
//!
//! - [`AwsConfig`]: the one place the SDK configuration is loaded (behavior version latest; endpoints
//!   follow the SDK's own `AWS_ENDPOINT_URL` conventions, which is how tests reach an emulator).
//! - [`DynamoStore`]: every store port over one DynamoDB table (single-table design, see its docs).
//! - [`KmsKeys`]: the signer and key manager over KMS asymmetric keys; private keys never leave KMS.
//! - [`S3Publisher`]: the JWKS and discovery documents as S3 objects, the origin CloudFront serves.
#![deny(missing_docs)]

mod dynamo;
mod errors;
mod kms;
mod s3;

pub use dynamo::DynamoStore;
pub use kms::{KmsKeys, KmsOptions};
pub use s3::S3Publisher;

/// Bounds on every AWS call, so a slow dependency becomes a prompt 503 with Retry-After (the issuer) or a
/// refusal (the authorizer, fail closed) well inside the functions' own timeouts (issuer 10 s, authorizer
/// 5 s), instead of a Lambda timeout. An attempt may take 3 s (KMS CreateKey of an RSA key is the slowest
/// call); retries included, an operation 4.5 s.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(std::time::Duration::from_secs(3))
        .operation_timeout(std::time::Duration::from_millis(4_500))
        .build()
}

/// The loaded AWS configuration; clients are built from it once, at init.
#[derive(Clone, Debug)]
pub struct AwsConfig(aws_config::SdkConfig);

impl AwsConfig {
    /// Loads region, credentials and endpoints from the environment, as every AWS SDK does. `app` names the
    /// caller in every request's user agent (`app/<name>`), so CloudTrail — and the IAM test — can tell
    /// which function made a call.
    pub async fn load(app: &str) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts());
        if let Ok(name) = aws_config::AppName::new(app.to_owned()) {
            loader = loader.app_name(name);
        }
        Self(loader.load().await)
    }

    /// A configuration for an AWS API emulator at `endpoint` (tests, local experiments): region
    /// `us-east-1` and dummy static credentials, never the environment's.
    pub async fn emulator(endpoint: &str) -> Self {
        let creds = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "emulator");
        Self(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(timeouts())
                .endpoint_url(endpoint)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(creds)
                .load()
                .await,
        )
    }

    /// Wraps a configuration built elsewhere.
    #[must_use]
    pub fn from_sdk(config: aws_config::SdkConfig) -> Self {
        Self(config)
    }

    /// A DynamoDB client.
    #[must_use]
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.0)
    }

    /// A KMS client.
    #[must_use]
    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.0)
    }

    /// An S3 client. Path-style addressing when an endpoint override is set (emulators, VPC endpoints).
    #[must_use]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.0);
        if self.0.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }
}
