//! The three authorizer event shapes, and the facts verification needs from each.

use std::net::IpAddr;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use http::HeaderMap;
use serde_json::Value;

/// An event that is none of the three shapes.
#[derive(Debug, thiserror::Error)]
#[error("not an API Gateway authorizer event: {0}")]
pub struct EventError(String);

/// A parsed authorizer event.
#[derive(Debug)]
pub enum AuthorizerEvent {
    /// REST API, TOKEN authorizer.
    Token(ApiGatewayCustomAuthorizerRequest),
    /// REST API, REQUEST authorizer.
    Request(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// HTTP API, payload format 2.0.
    HttpV2(Box<ApiGatewayV2CustomAuthorizerV2Request>),
}

/// What verification needs, whatever the shape.
#[derive(Debug, Default)]
pub struct Facts {
    /// The bearer token, if one was presented.
    pub token: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Caller address (TOKEN events carry none).
    pub source_ip: Option<IpAddr>,
    /// The method or route ARN the policy must speak about.
    pub method_arn: String,
    /// API Gateway's request id.
    pub request_id: Option<String>,
}

/// Largest event accepted; API Gateway's own limits keep real ones far smaller.
const MAX_HEADER_TOKEN: usize = 16 * 1024;

fn bearer(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    if value.len() > MAX_HEADER_TOKEN {
        // Keep it so the verifier refuses it as too large, with that reason in the log.
        return Some(value.to_owned());
    }
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then(|| token.to_owned())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The part of a method ARN before the method: `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE`.
#[must_use]
pub fn arn_prefix(method_arn: &str) -> &str {
    let mut slashes = method_arn.match_indices('/');
    match (slashes.next(), slashes.next()) {
        (Some(_), Some((i, _))) => &method_arn[..i],
        _ => method_arn,
    }
}

/// Method and path from a method ARN (`…/STAGE/GET/api/orders/1` → `GET`, `/api/orders/1`).
fn from_arn(method_arn: &str) -> (String, String) {
    let rest = &method_arn[arn_prefix(method_arn).len()..];
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    match rest.split_once('/') {
        Some((m, p)) => (m.to_owned(), format!("/{p}")),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

fn ip(s: Option<&str>) -> Option<IpAddr> {
    s.and_then(|s| s.trim().parse().ok())
}

impl AuthorizerEvent {
    /// Recognises the shape by `version` (HTTP API) or `type` (REST).
    pub fn parse(v: Value) -> Result<Self, EventError> {
        let err = |e: serde_json::Error| EventError(e.to_string());
        if v.get("version").and_then(Value::as_str) == Some("2.0") {
            return serde_json::from_value(v).map(|e| Self::HttpV2(Box::new(e))).map_err(err);
        }
        match v.get("type").and_then(Value::as_str) {
            Some("TOKEN") => serde_json::from_value(v).map(Self::Token).map_err(err),
            Some("REQUEST") => serde_json::from_value(v).map(|e| Self::Request(Box::new(e))).map_err(err),
            other => Err(EventError(format!("unknown type {other:?}"))),
        }
    }

    /// The facts of the request.
    #[must_use]
    pub fn facts(&self) -> Facts {
        match self {
            Self::Token(e) => {
                let arn = e.method_arn.clone().unwrap_or_default();
                let (method, path) = from_arn(&arn);
                Facts {
                    token: bearer(e.authorization_token.as_deref()),
                    method,
                    path,
                    source_ip: None,
                    method_arn: arn,
                    request_id: None,
                }
            }
            Self::Request(e) => {
                let arn = e.method_arn.clone().unwrap_or_default();
                let (arn_method, arn_path) = from_arn(&arn);
                Facts {
                    token: bearer(header(&e.headers, "authorization")),
                    method: e.http_method.as_ref().map_or(arn_method, |m| m.as_str().to_owned()),
                    path: e.path.clone().unwrap_or(arn_path),
                    source_ip: ip(e.request_context.identity.as_ref().and_then(|i| i.source_ip.as_deref())),
                    method_arn: arn,
                    request_id: e.request_context.request_id.clone(),
                }
            }
            Self::HttpV2(e) => {
                let arn = e.route_arn.clone().unwrap_or_default();
                let ctx = &e.request_context;
                let token = bearer(header(&e.headers, "authorization"))
                    .or_else(|| bearer(e.identity_source.as_ref().and_then(|s| s.first()).map(String::as_str)));
                Facts {
                    token,
                    method: ctx.http.method.as_str().to_owned(),
                    path: ctx.http.path.clone().or_else(|| e.raw_path.clone()).unwrap_or_default(),
                    source_ip: ip(ctx.http.source_ip.as_deref()),
                    method_arn: arn,
                    request_id: ctx.request_id.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_strict() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc".to_owned()));
        assert_eq!(bearer(Some("bearer   abc ")), Some("abc".to_owned()));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer")), None);
        assert_eq!(bearer(Some("Bearer a b")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn method_arns_split_into_prefix_method_and_path() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/api/orders/1";
        assert_eq!(arn_prefix(arn), "arn:aws:execute-api:us-east-1:123456789012:abc123/prod");
        assert_eq!(from_arn(arn), ("GET".to_owned(), "/api/orders/1".to_owned()));
        assert_eq!(from_arn("arn:x:api/stage/POST/"), ("POST".to_owned(), "/".to_owned()));
    }

    #[test]
    fn unknown_shapes_are_refused() {
        assert!(AuthorizerEvent::parse(serde_json::json!({"type": "COOKIE"})).is_err());
        assert!(AuthorizerEvent::parse(serde_json::json!([1, 2])).is_err());
        assert!(AuthorizerEvent::parse(serde_json::json!({"version": "2.0"})).is_err(), "v2 without requestContext");
    }
}
