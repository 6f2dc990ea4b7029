//! SDK configuration pointed at the test binary's moto server.
#![allow(dead_code, reason = "test support")]

use tessera_aws::AwsConfig;
pub use tessera_testkit::moto::unique;

/// SDK configuration for the emulator: fixed region, dummy credentials.
pub async fn config() -> AwsConfig {
    config_for(&tessera_testkit::moto::endpoint()).await
}

/// SDK configuration for any endpoint (an unreachable one, to test failures).
pub async fn config_for(endpoint: &str) -> AwsConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "tests");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await;
    AwsConfig::from_sdk(sdk)
}
