//! Route policy: which scopes a request needs, by method and path pattern.
//!
//! A pattern's `*` matches any run of characters, `/` included — exactly the meaning `*` has in an API
//! Gateway method ARN, so the IAM policy the authorizer returns allows precisely what the route table
//! allows, never more.
//!
//! The routes file has one route a line, first match wins, `#` starts a comment:
//!
//! ```text
//! # METHOD  PATH-PATTERN      SCOPES (all required)
//! GET       /api/orders/*     orders:read
//! POST      /api/orders       orders:write
//! ANY       /api/admin/*      admin
//! ```

use thiserror::Error;

use crate::ids::{Scope, ScopeSet};

/// One rule: requests with this method whose path matches need every listed scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Upper-case HTTP method, or `*` for any.
    pub method: String,
    /// Path pattern starting with `/`.
    pub pattern: String,
    /// Scopes the token must hold, all of them.
    pub scopes: ScopeSet,
}

impl Route {
    /// Whether this rule covers the request.
    #[must_use]
    pub fn matches(&self, method: &str, path: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method)) && glob_match(&self.pattern, path)
    }

    /// Whether a token with `granted` may use this route.
    #[must_use]
    pub fn allows(&self, granted: &ScopeSet) -> bool {
        self.scopes.is_subset(granted)
    }

    /// The API Gateway method ARN resource for this route under `prefix`
    /// (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE`).
    #[must_use]
    pub fn method_arn(&self, prefix: &str) -> String {
        format!("{prefix}/{}{}", self.method, self.pattern)
    }
}

/// A malformed routes file.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("routes line {line}: {message}")]
pub struct RoutesError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The ordered route table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutePolicy {
    routes: Vec<Route>,
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY", "*"];

impl RoutePolicy {
    /// Builds a policy from routes, in priority order.
    #[must_use]
    pub fn new(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    /// The demo API's policy: reading orders needs `orders:read`, creating one `orders:write`.
    #[must_use]
    pub fn demo() -> Self {
        Self::parse("GET /api/orders/* orders:read\nGET /api/orders orders:read\nPOST /api/orders orders:write\n")
            .unwrap_or_default()
    }

    /// Parses the routes file format (see the module docs).
    pub fn parse(text: &str) -> Result<Self, RoutesError> {
        let mut routes = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: String| RoutesError { line: i + 1, message };
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_ascii_uppercase();
            if !METHODS.contains(&method.as_str()) {
                return Err(err(format!("unknown method {method:?}")));
            }
            let method = if method == "ANY" { "*".to_owned() } else { method };
            let pattern = parts.next().ok_or_else(|| err("missing path pattern".to_owned()))?;
            if !pattern.starts_with('/') || pattern.chars().any(|c| c.is_control() || c == '?') {
                return Err(err(format!(
                    "path pattern {pattern:?} must start with / and hold no ? or control characters"
                )));
            }
            let scopes: ScopeSet =
                parts.map(|s| Scope::parse(s).map_err(|e| err(e.to_string()))).collect::<Result<_, _>>()?;
            if scopes.is_empty() {
                return Err(err("a route needs at least one scope".to_owned()));
            }
            routes.push(Route { method, pattern: pattern.to_owned(), scopes });
        }
        if routes.is_empty() {
            return Err(RoutesError { line: 0, message: "no routes defined".to_owned() });
        }
        Ok(Self { routes })
    }

    /// The first route covering the request; `None` means no route, which the verifier refuses.
    #[must_use]
    pub fn route_for(&self, method: &str, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(method, path))
    }

    /// Every route a token with `granted` may use: what a cached policy may safely allow.
    pub fn allowed<'a>(&'a self, granted: &'a ScopeSet) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes.iter().filter(move |r| r.allows(granted))
    }

    /// The routes, in priority order.
    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// Glob match where `*` matches any run of characters (possibly empty), as in IAM resource ARNs.
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_semantics_match_iam_arn_wildcards() {
        assert!(glob_match("/api/orders/*", "/api/orders/42"));
        assert!(glob_match("/api/orders/*", "/api/orders/42/items"));
        assert!(!glob_match("/api/orders/*", "/api/orders"));
        assert!(glob_match("/api/*/items", "/api/a/b/items"));
        assert!(!glob_match("/api/orders", "/api/orders/1"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn demo_policy_needs_the_documented_scopes() {
        let p = RoutePolicy::demo();
        let read = ScopeSet::parse("orders:read").expect("scopes");
        let write = ScopeSet::parse("orders:write").expect("scopes");
        let get = p.route_for("GET", "/api/orders/7").expect("route");
        assert!(get.allows(&read) && !get.allows(&write));
        let post = p.route_for("post", "/api/orders").expect("route");
        assert!(post.allows(&write) && !post.allows(&read));
        assert!(p.route_for("DELETE", "/api/orders/7").is_none());
        assert_eq!(p.allowed(&read).count(), 2);
    }

    #[test]
    fn routes_file_errors_name_the_line() {
        let e = RoutePolicy::parse("GET /a s\nFETCH /b s\n").expect_err("bad method");
        assert_eq!(e.line, 2);
        assert!(RoutePolicy::parse("GET a s").is_err(), "pattern without /");
        assert!(RoutePolicy::parse("GET /a").is_err(), "no scope");
        assert!(RoutePolicy::parse("GET /a bad\"scope").is_err());
        assert!(RoutePolicy::parse("# only a comment\n").is_err(), "empty table");
        let ok = RoutePolicy::parse("any /x/* a b # comment\n").expect("valid");
        assert_eq!(ok.routes()[0].method, "*");
        assert_eq!(ok.routes()[0].method_arn("arn:p"), "arn:p/*/x/*");
    }
}
