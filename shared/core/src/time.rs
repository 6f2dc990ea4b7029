//! Time as data: the core never reads a clock itself, so every rule is testable at a fixed instant.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, the unit of JWT NumericDate (RFC 7519 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// This instant plus a duration, saturating.
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
    }

    /// This instant minus a duration, saturating.
    #[must_use]
    pub fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_secs(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The clock port. Production uses the system clock; tests pass a fixed or stepped one.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// A clock that reads whatever it was last set to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock standing at `t`.
    #[must_use]
    pub fn at(t: UnixTime) -> Self {
        Self(std::sync::atomic::AtomicI64::new(t.0))
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t.0, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        self.set(self.now().plus(d));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}
