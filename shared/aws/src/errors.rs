//! SDK errors to port errors, in one place: conditional failures become conflicts, throttling stays
//! throttling (so the issuer can answer 429 with Retry-After), everything else is unavailability. The SDK
//! error is kept as the source for the logs.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use tessera_core::ports::PortError;

const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TooManyRequestsException",
    "SlowDown",
];

/// Maps any SDK error.
pub(crate) fn map<E, R>(op: &'static str, e: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_owned();
    if code == "ConditionalCheckFailedException" {
        return PortError::Conflict(format!("{op}: condition failed"));
    }
    if THROTTLING.contains(&code.as_str()) {
        return PortError::Throttled { retry_after: None, source: Box::new(e) };
    }
    if matches!(code.as_str(), "KMSInvalidStateException" | "DisabledException" | "NotFoundException") {
        return PortError::Conflict(format!("{op}: {code}"));
    }
    tracing::debug!(op, code, "aws call failed");
    PortError::Unavailable(Box::new(e))
}
