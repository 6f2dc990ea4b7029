//! SDK configuration pointed at the test binary's moto server.
#![allow(dead_code, reason = "test support")]

use tessera_aws::AwsConfig;
pub use tessera_testkit::moto::unique;

/// SDK configuration for the emulator.
pub async fn config() -> AwsConfig {
    AwsConfig::emulator(&tessera_testkit::moto::endpoint()).await
}
