//! Reading typed configuration from environment variables, once, with errors that name the variable.

use std::time::Duration;

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// A problem with `name`.
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self { name, problem: problem.into() }
    }
}

/// Variables through a lookup function: the process environment in `main`, a map in tests.
pub struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

impl<'a> Env<'a> {
    /// Reads through `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self(lookup)
    }

    /// A variable that may be unset; blank counts as unset.
    #[must_use]
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::new(name, "is required"))
    }

    /// A duration such as `90s`, `15m` or `24h`, with a default.
    pub fn duration(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let v = self.optional(name).unwrap_or_else(|| default.to_owned());
        humantime::parse_duration(v.trim()).map_err(|e| ConfigError::new(name, format!("{v:?}: {e}")))
    }
}
