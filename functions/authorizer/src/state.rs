//! The authorizer's in-memory view of keys and revocations, refreshed off the request path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tessera_core::jose::KeyRing;
use tessera_core::ports::{Cursor, KeySource, PortResult, RevocationSource};
use tessera_core::revocation::RevocationSet;
use tessera_core::time::Clock;

/// One consistent view, swapped whole.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Trusted keys.
    pub ring: KeyRing,
    /// Live revocations and disabled clients.
    pub revoked: RevocationSet,
}

/// Timing of the refreshes.
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    /// A request finding the view older than this refreshes it first (Lambda environments thaw stale).
    pub max_staleness: Duration,
    /// An unknown kid triggers a reload at most this often, so a flood of bogus kids costs nothing.
    pub unknown_kid_reload: Duration,
    /// Verifier leeway: revocations are kept until their token is past it.
    pub leeway: Duration,
}

/// Keys and revocations in memory, with the means to refresh them.
pub struct VerifierState {
    keys: Arc<dyn KeySource>,
    revocations: Arc<dyn RevocationSource>,
    clock: Arc<dyn Clock>,
    freshness: Freshness,
    current: RwLock<Arc<Snapshot>>,
    refreshed_at: Mutex<Instant>,
    cursor: tokio::sync::Mutex<Option<Cursor>>,
    last_kid_reload: Mutex<Option<Instant>>,
    store_reads: AtomicU64,
}

impl std::fmt::Debug for VerifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierState").field("freshness", &self.freshness).finish_non_exhaustive()
    }
}

impl VerifierState {
    /// Loads the full view once (at cold start).
    pub async fn load(
        keys: Arc<dyn KeySource>,
        revocations: Arc<dyn RevocationSource>,
        clock: Arc<dyn Clock>,
        freshness: Freshness,
    ) -> PortResult<Arc<Self>> {
        let state = Arc::new(Self {
            keys,
            revocations,
            clock,
            freshness,
            current: RwLock::default(),
            refreshed_at: Mutex::new(Instant::now()),
            cursor: tokio::sync::Mutex::new(None),
            last_kid_reload: Mutex::new(None),
            store_reads: AtomicU64::new(0),
        });
        state.refresh().await?;
        Ok(state)
    }

    /// The current view.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().map_or_else(|p| Arc::clone(&p.into_inner()), |g| Arc::clone(&g))
    }

    /// How many store reads the state has made: the hot path must not move this.
    #[must_use]
    pub fn store_reads(&self) -> u64 {
        self.store_reads.load(Ordering::Relaxed)
    }

    /// Reads what changed and swaps in a new view.
    pub async fn refresh(&self) -> PortResult<()> {
        // One refresh at a time; a second caller waits and then reads the result of the first.
        let mut cursor = self.cursor.lock().await;
        let started = Instant::now();
        self.store_reads.fetch_add(2, Ordering::Relaxed);
        let keys = self.keys.list_keys().await?;
        let delta = self.revocations.revocations_since(cursor.as_ref(), self.clock.now()).await?;
        let mut ring = KeyRing::new();
        for k in keys.iter().filter(|k| k.status.is_published()) {
            match k.public_key() {
                Ok(pk) => ring.insert(k.kid.clone(), pk),
                Err(e) => {
                    tracing::error!(kid = %k.kid, error = %e, "stored public key does not parse; not trusted")
                }
            }
        }
        let mut revoked = self.snapshot().revoked.clone();
        revoked.apply(&delta.added);
        revoked.set_disabled(&delta.disabled_clients);
        revoked.prune(self.clock.now(), self.freshness.leeway);
        let next = Arc::new(Snapshot { ring, revoked });
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
        *cursor = Some(delta.cursor);
        if let Ok(mut at) = self.refreshed_at.lock() {
            *at = started;
        }
        Ok(())
    }

    /// Refreshes first if the view is older than the staleness bound.
    pub async fn ensure_fresh(&self) -> PortResult<()> {
        let age = self.refreshed_at.lock().map(|at| at.elapsed()).unwrap_or(Duration::MAX);
        if age <= self.freshness.max_staleness {
            return Ok(());
        }
        if let Err(e) = self.refresh().await {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "authorizer state refresh failed");
            return Err(e);
        }
        Ok(())
    }

    /// On an unknown kid: reload now unless a reload happened within the rate limit. Whether it did.
    pub async fn reload_for_unknown_kid(&self) -> bool {
        {
            let Ok(mut last) = self.last_kid_reload.lock() else {
                return false;
            };
            if last.is_some_and(|t| t.elapsed() < self.freshness.unknown_kid_reload) {
                return false;
            }
            *last = Some(Instant::now());
        }
        self.refresh().await.is_ok()
    }

    /// Refreshes every `every` in the background for as long as the process lives.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.refresh().await {
                    tracing::warn!(error = %e, "background refresh failed; requests will refresh or refuse");
                }
            }
        })
    }
}
