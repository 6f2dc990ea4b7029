//! Parsing of the token endpoint's input: an `application/x-www-form-urlencoded` body and client
//! authentication by HTTP Basic (RFC 6749 §2.3.1) or body parameters — exactly one of them.

use base64::Engine as _;
use lambda_http::{Body, Request};

use crate::error::OAuthError;

/// Largest accepted body: a token request is a few hundred bytes.
pub const MAX_BODY: usize = 16 * 1024;
const MAX_PARAMS: usize = 64;

/// A parsed form body.
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses the body of a request that must be form-encoded.
    pub fn from_request(req: &Request) -> Result<Self, OAuthError> {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if content_type.as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("Content-Type must be application/x-www-form-urlencoded"));
        }
        let bytes: &[u8] = match req.body() {
            Body::Empty => &[],
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            #[allow(unreachable_patterns, reason = "Body may grow variants")]
            _ => &[],
        };
        Self::parse(bytes)
    }

    /// Parses form-encoded bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, OAuthError> {
        if bytes.len() > MAX_BODY {
            return Err(OAuthError::invalid_request("request body too large"));
        }
        if std::str::from_utf8(bytes).is_err() {
            return Err(OAuthError::invalid_request("request body is not UTF-8"));
        }
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        if pairs.iter().any(|(k, v)| k.chars().chain(v.chars()).any(|c| c.is_control())) {
            return Err(OAuthError::invalid_request("parameters may not contain control characters"));
        }
        Ok(Self { pairs })
    }

    /// A parameter that may appear at most once (RFC 6749 §3.2). Empty values count as absent.
    pub fn single(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(&format!("{name} must not be repeated")));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Every value of a repeatable parameter.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }
}

/// A client's claimed identity. The secret never reaches a log: it is only compared as a hash.
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The presented secret.
    pub secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

fn percent_decode(s: &str) -> Option<String> {
    // Basic credentials are form-url-encoded before base64 (RFC 6749 §2.3.1).
    let decoded: String = url::form_urlencoded::parse(format!("x={s}").as_bytes()).next()?.1.into_owned();
    Some(decoded)
}

impl ClientCredentials {
    /// From `Authorization: Basic` or the `client_id` / `client_secret` parameters.
    pub fn from_request(req: &Request, form: &Form) -> Result<Self, OAuthError> {
        let header = req.headers().get(http::header::AUTHORIZATION);
        let body_id = form.single("client_id")?;
        let body_secret = form.single("client_secret")?;
        match header {
            Some(value) => {
                if body_secret.is_some() {
                    return Err(OAuthError::invalid_request("use one client authentication method, not two"));
                }
                let value = value.to_str().map_err(|_| OAuthError::invalid_client())?;
                let (scheme, b64) = value.trim().split_once(' ').ok_or_else(OAuthError::invalid_client)?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(OAuthError::invalid_client());
                }
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| OAuthError::invalid_client())?;
                let text = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client())?;
                let (id, secret) = text.split_once(':').ok_or_else(OAuthError::invalid_client)?;
                let (id, secret) = (
                    percent_decode(id).ok_or_else(OAuthError::invalid_client)?,
                    percent_decode(secret).ok_or_else(OAuthError::invalid_client)?,
                );
                if body_id.is_some_and(|b| b != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the Authorization header",
                    ));
                }
                Ok(Self { client_id: id, secret })
            }
            None => match (body_id, body_secret) {
                (Some(id), Some(secret)) => Ok(Self { client_id: id.to_owned(), secret: secret.to_owned() }),
                _ => Err(OAuthError::invalid_client()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let f = Form::parse(b"scope=a&scope=b&resource=x&resource=y").expect("parse");
        assert!(f.single("scope").is_err());
        assert_eq!(f.all("resource").collect::<Vec<_>>(), vec!["x", "y"]);
        assert_eq!(f.single("missing").expect("ok"), None);
    }

    #[test]
    fn oversized_and_binary_bodies_are_refused() {
        assert!(Form::parse(&vec![b'a'; MAX_BODY + 1]).is_err());
        assert!(Form::parse(&[0xff, 0xfe]).is_err());
        assert!(Form::parse(b"a=%00").is_err(), "control characters");
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        assert_eq!(percent_decode("a%3Ab+c").as_deref(), Some("a:b c"));
    }
}
