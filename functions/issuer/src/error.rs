//! The one place issuer failures become HTTP: RFC 6749 §5.2 error JSON with the right status. Causes go
//! to the log with their chain; the caller gets a stable code and a short description.

use std::time::Duration;

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use tessera_core::client::GrantError;
use tessera_core::ports::PortError;
use tessera_core::service::IssueError;

/// An RFC 6749 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<Duration>,
    basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into(), retry_after: None, basic_challenge: false }
    }

    /// `invalid_request` (400).
    #[must_use]
    pub fn invalid_request(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_client` (401, with a Basic challenge, RFC 6749 §5.2).
    #[must_use]
    pub fn invalid_client() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
        e.basic_challenge = true;
        e
    }

    /// `invalid_scope` (400).
    #[must_use]
    pub fn invalid_scope(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// `unsupported_grant_type` (400).
    #[must_use]
    pub fn unsupported_grant_type() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only client_credentials is supported")
    }

    /// An unknown path (404), in the same JSON shape.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request", "no such endpoint")
    }

    /// A wrong method (405).
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use POST")
    }

    /// The RFC 6749 error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Maps a service error, logging its cause chain.
    #[must_use]
    pub fn from_issue(e: IssueError) -> Self {
        match e {
            IssueError::InvalidClient => Self::invalid_client(),
            IssueError::NotYourToken => {
                Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", "the token was not issued to this client")
            }
            IssueError::Grant(g) => match g {
                GrantError::Disabled => Self::invalid_client(),
                GrantError::ScopeNotAllowed(_) | GrantError::NoScope => Self::invalid_scope(&g.to_string()),
                GrantError::InvalidTarget(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_target", g.to_string()),
                GrantError::AddressNotAllowed => {
                    Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", g.to_string())
                }
                _ => Self::new(StatusCode::BAD_REQUEST, "invalid_request", g.to_string()),
            },
            IssueError::NoSigningKey => {
                tracing::error!("no active signing key: has the rotator run?");
                Self::unavailable(Duration::from_secs(5))
            }
            IssueError::Backend(PortError::Throttled { retry_after, source }) => {
                tracing::warn!(error = %source, "backend throttled");
                let mut e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    "too many requests, retry later",
                );
                e.retry_after = Some(retry_after.unwrap_or(Duration::from_secs(1)));
                e
            }
            IssueError::Backend(PortError::Corrupt(what)) => {
                tracing::error!(error = %what, "stored data is invalid");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
            }
            IssueError::Backend(other) => {
                tracing::error!(error = %other, source = ?std::error::Error::source(&other), "backend failure");
                Self::unavailable(Duration::from_secs(1))
            }
            IssueError::BadSignerOutput(e) => {
                tracing::error!(error = %e, "signer returned an invalid signature");
                Self::unavailable(Duration::from_secs(1))
            }
            other => {
                tracing::error!(error = %other, "issuer failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
            }
        }
    }

    fn unavailable(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// The response.
    #[must_use]
    pub fn to_response(&self) -> Response<Body> {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut resp = crate::json_response(self.status, &body);
        let h = resp.headers_mut();
        if self.basic_challenge {
            h.insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(r#"Basic realm="tessera", charset="UTF-8""#),
            );
        }
        if let Some(d) = self.retry_after
            && let Ok(v) = http::HeaderValue::from_str(&d.as_secs().max(1).to_string())
        {
            h.insert(http::header::RETRY_AFTER, v);
        }
        resp
    }
}
