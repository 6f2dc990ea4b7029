//! Token reuse: a client that asks again for the same scopes and audience gets the token it already
//! holds while at least half its life remains, so repeated requests do not each cost a signature (KMS
//! Sign is a shared, rate-limited quota: about 300 ECC requests per second per account and Region).
//!
//! A cached token is handed out again only if it is still signed by the current signing key, its expiry
//! is within what the client may get now, and it is not revoked — checked against the revocation feed,
//! read incrementally (from a cursor: one small strongly consistent query) on every reuse, so a token
//! revoked a moment ago is never handed out again. A reuse costs that query instead of a KMS Sign and a
//! token record write. The cache lives in one process (one Lambda instance); it holds no more than
//! [`MAX_ENTRIES`] tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::ids::ClientId;
use crate::ports::{Cursor, PortResult, RevocationSource};
use crate::revocation::RevocationSet;
use crate::time::UnixTime;
use crate::token::AccessClaims;

use super::issue::IssuedToken;

/// At most this many cached tokens per process.
pub const MAX_ENTRIES: usize = 10_000;

/// What makes two requests the same request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ReuseKey {
    pub client: ClientId,
    pub scopes: String,
    pub audience: String,
    pub cidrs: String,
}

#[derive(Clone, Debug)]
struct Cached {
    token: IssuedToken,
    claims: AccessClaims,
}

#[derive(Debug, Default)]
struct Feed {
    set: RevocationSet,
    cursor: Option<Cursor>,
}

/// The per-process cache.
#[derive(Debug, Default)]
pub(crate) struct Reuse {
    entries: Mutex<HashMap<ReuseKey, Cached>>,
    feed: Mutex<Feed>,
}

impl Reuse {
    /// A token to hand out again, if one qualifies.
    pub async fn find(
        &self,
        key: &ReuseKey,
        signing_kid: &str,
        ttl: Duration,
        now: UnixTime,
        source: &dyn RevocationSource,
    ) -> PortResult<Option<IssuedToken>> {
        let Some(c) = self.entries.lock().ok().and_then(|e| e.get(key).cloned()) else {
            return Ok(None);
        };
        let remaining = c.claims.exp.0 - now.0;
        let half = i64::try_from(ttl.as_secs() / 2).unwrap_or(i64::MAX);
        let fresh = remaining > 0 && remaining >= half && c.claims.exp <= now.plus(ttl) && c.claims.iat <= now;
        if !fresh || c.token.kid != signing_kid {
            return Ok(None);
        }
        self.refresh_feed(now, source).await?;
        let revoked = self.feed.lock().map_or(true, |f| f.set.check(&c.token.kid, &c.claims).is_err());
        if revoked {
            if let Ok(mut e) = self.entries.lock() {
                e.remove(key);
            }
            return Ok(None);
        }
        let mut token = c.token;
        token.expires_in = u64::try_from(remaining).unwrap_or(0);
        token.reused = true;
        Ok(Some(token))
    }

    /// Remembers a token just issued.
    pub fn remember(&self, key: ReuseKey, token: &IssuedToken, claims: &AccessClaims, now: UnixTime) {
        let Ok(mut e) = self.entries.lock() else { return };
        if e.len() >= MAX_ENTRIES {
            e.retain(|_, c| c.claims.exp > now);
            if e.len() >= MAX_ENTRIES {
                e.clear();
            }
        }
        e.insert(key, Cached { token: token.clone(), claims: claims.clone() });
    }

    async fn refresh_feed(&self, now: UnixTime, source: &dyn RevocationSource) -> PortResult<()> {
        let cursor = {
            let Ok(f) = self.feed.lock() else { return Ok(()) };
            f.cursor.clone()
        };
        let delta = source.revocations_since(cursor.as_ref(), now).await?;
        if let Ok(mut f) = self.feed.lock() {
            f.set.apply(&delta.added);
            f.set.set_disabled(&delta.disabled_clients);
            f.set.prune(now, Duration::from_secs(300));
            f.cursor = Some(delta.cursor);
        }
        Ok(())
    }
}
