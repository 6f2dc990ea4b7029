//! The rotation step: plan with [`lifecycle::plan`], apply with conditional writes, publish.
//!
//! Safe under at-least-once delivery and concurrent runs: every write is conditional on the version (or,
//! for a new key, the generation) it planned from, so of two rotators planning the same change exactly one
//! applies it; the other stops, having changed nothing but possibly an orphan key it disposes of.

use std::sync::Arc;

use thiserror::Error;

use crate::discovery::Metadata;
use crate::ids::Kid;
use crate::jose::PublicKey;
use crate::lifecycle::{self, Action, KeyRecord, KeyStatus, RotationPolicy};
use crate::ports::{KeyManager, KeyRegistry, PortError, PublishedDocuments, Publisher, RevocationStore};
use crate::revocation::Revocation;
use crate::time::UnixTime;

/// A rotation step that could not complete. What it had applied stays applied and consistent; the next
/// step continues from there.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RotationError {
    /// A port failed.
    #[error("backend failure during rotation")]
    Backend(#[from] PortError),
    /// The key manager returned a public key that does not parse.
    #[error("key manager returned an invalid public key")]
    BadPublicKey(#[from] crate::jose::keys::KeyError),
    /// The kid named for an emergency retirement is not a published key.
    #[error("no published key with kid {0}")]
    UnknownKey(String),
}

/// What a step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The actions applied, in order.
    pub applied: Vec<Action>,
    /// Another writer changed the keys first; this step stopped early.
    pub lost_race: bool,
    /// The keys published after the step, newest first.
    pub published: Vec<(Kid, KeyStatus)>,
    /// Problems that did not stop the step (the core does not log; the caller does).
    pub warnings: Vec<String>,
}

/// The rotator use case.
#[derive(Clone)]
pub struct Rotator {
    registry: Arc<dyn KeyRegistry>,
    manager: Arc<dyn KeyManager>,
    publisher: Arc<dyn Publisher>,
    revocations: Arc<dyn RevocationStore>,
    policy: RotationPolicy,
    metadata: Metadata,
}

impl std::fmt::Debug for Rotator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotator").field("policy", &self.policy).finish_non_exhaustive()
    }
}

const MAX_ROUNDS: usize = 4;

impl Rotator {
    /// Wires the rotator.
    #[must_use]
    pub fn new(
        registry: Arc<dyn KeyRegistry>,
        manager: Arc<dyn KeyManager>,
        publisher: Arc<dyn Publisher>,
        revocations: Arc<dyn RevocationStore>,
        policy: RotationPolicy,
        metadata: Metadata,
    ) -> Self {
        Self { registry, manager, publisher, revocations, policy, metadata }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &RotationPolicy {
        &self.policy
    }

    /// One rotation step at `now`. `force` promotes the pending key as soon as it has propagated.
    pub async fn step(&self, now: UnixTime, force: bool) -> Result<RotationReport, RotationError> {
        let mut report = RotationReport::default();
        // Plan and apply until nothing is left: a retirement enables disposal, a promotion a new pending
        // key. The result is a fixpoint, so a second step at the same instant does nothing.
        'rounds: for _ in 0..MAX_ROUNDS {
            let keys = self.registry.list_keys().await?;
            let actions = lifecycle::plan(now, &keys, &self.policy, force);
            if actions.is_empty() {
                break;
            }
            for action in actions {
                match self.apply(now, &keys, &action, &mut report.warnings).await {
                    Ok(()) => report.applied.push(action),
                    Err(RotationError::Backend(PortError::Conflict(_))) => {
                        report.lost_race = true;
                        break 'rounds;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        report.published = self.publish(now).await?;
        Ok(report)
    }

    /// Emergency: the key stops verifying at once (a revocation every verifier picks up within its refresh
    /// interval) and leaves the JWKS; if it was signing, another key takes over immediately.
    pub async fn emergency_retire(&self, kid: &str, now: UnixTime) -> Result<RotationReport, RotationError> {
        let keys = self.registry.list_keys().await?;
        let Some(key) = keys.iter().find(|k| k.kid.as_str() == kid && k.status.is_published()) else {
            return Err(RotationError::UnknownKey(kid.to_owned()));
        };
        // Revocation first: from here on no token of this key passes, whatever happens next.
        self.revocations.revoke(&Revocation::Key { kid: key.kid.clone() }, now).await?;
        let mut retired = key.clone();
        retired.status = KeyStatus::Retired;
        retired.retired_at = Some(now);
        retired.version += 1;
        self.registry.update_keys(&[retired]).await?;
        let mut report = self.step(now, false).await?;
        report.applied.insert(0, Action::Retire { kid: key.kid.clone() });
        Ok(report)
    }

    async fn apply(
        &self,
        now: UnixTime,
        keys: &[KeyRecord],
        action: &Action,
        warnings: &mut Vec<String>,
    ) -> Result<(), RotationError> {
        let find = |kid: &Kid| keys.iter().find(|k| &k.kid == kid).cloned();
        match action {
            Action::Create { generation, activate } => {
                let created = self.manager.create_key(self.policy.algorithm).await?;
                let public = PublicKey::from_spki(self.policy.algorithm, &created.public_key_spki)?;
                let record = KeyRecord {
                    kid: public.thumbprint(),
                    generation: *generation,
                    alg: self.policy.algorithm,
                    provider_key_id: created.provider_key_id.clone(),
                    public_key_spki: created.public_key_spki,
                    status: if *activate { KeyStatus::Active } else { KeyStatus::Pending },
                    created_at: now,
                    published_at: None,
                    activated_at: activate.then_some(now),
                    retiring_at: None,
                    retired_at: None,
                    deletion_scheduled: false,
                    version: 1,
                };
                if let Err(e) = self.registry.insert_key(&record).await {
                    // Another rotator claimed this generation: our key was never recorded, so dispose of it.
                    let _ = self.manager.disable_key(&created.provider_key_id).await;
                    let _ = self.manager.schedule_deletion(&created.provider_key_id, self.policy.deletion_window).await;
                    return Err(e.into());
                }
            }
            Action::Promote { kid, demote } => {
                let mut batch = Vec::new();
                if let Some(mut k) = find(kid)
                    && k.status != KeyStatus::Active
                {
                    k.status = KeyStatus::Active;
                    k.activated_at = Some(now);
                    k.version += 1;
                    batch.push(k);
                }
                for d in demote {
                    if let Some(mut k) = find(d) {
                        k.status = KeyStatus::Retiring;
                        k.retiring_at = Some(now);
                        k.version += 1;
                        batch.push(k);
                    }
                }
                self.registry.update_keys(&batch).await?;
                if let Some(k) = batch.iter().find(|k| &k.kid == kid)
                    && let Err(e) = self.manager.mark_active(&k.provider_key_id).await
                {
                    warnings.push(format!("could not point the signing alias at {kid}: {e}"));
                }
            }
            Action::Retire { kid } => {
                if let Some(mut k) = find(kid) {
                    k.status = KeyStatus::Retired;
                    k.retired_at = Some(now);
                    k.version += 1;
                    self.registry.update_keys(&[k]).await?;
                }
            }
            Action::Dispose { kid } => {
                if let Some(mut k) = find(kid) {
                    self.manager.disable_key(&k.provider_key_id).await?;
                    self.manager.schedule_deletion(&k.provider_key_id, self.policy.deletion_window).await?;
                    k.deletion_scheduled = true;
                    k.version += 1;
                    self.registry.update_keys(&[k]).await?;
                }
            }
        }
        Ok(())
    }

    /// Publishes the JWKS and discovery documents, then records when each new key was first published —
    /// only after the write succeeded, since that instant starts its propagation clock.
    pub async fn publish(&self, now: UnixTime) -> Result<Vec<(Kid, KeyStatus)>, RotationError> {
        let metadata = serde_json::to_vec_pretty(&self.metadata).map_err(|e| PortError::Corrupt(e.to_string()))?;
        let published_set = |keys: &[KeyRecord]| -> Vec<Kid> {
            let mut kids: Vec<Kid> = keys.iter().filter(|k| k.status.is_published()).map(|k| k.kid.clone()).collect();
            kids.sort();
            kids
        };
        let mut keys = self.registry.list_keys().await?;
        let mut written = Vec::new();
        // A concurrent rotator may overwrite our JWKS with one built from an older view. Whoever writes
        // last re-reads afterwards and writes again if the keys moved on, so the last JWKS written is
        // always current.
        for _ in 0..MAX_ROUNDS {
            let jwks = lifecycle::jwks(&keys);
            let docs = PublishedDocuments {
                jwks: serde_json::to_vec(&jwks).map_err(|e| PortError::Corrupt(e.to_string()))?,
                openid_configuration: metadata.clone(),
                oauth_authorization_server: metadata.clone(),
                max_age: self.policy.jwks_max_age,
            };
            self.publisher.publish(&docs).await?;
            written = published_set(&keys);
            let after = self.registry.list_keys().await?;
            let stable = published_set(&after) == published_set(&keys);
            keys = after;
            if stable {
                break;
            }
        }
        let newly: Vec<KeyRecord> = keys
            .iter()
            // Only keys the JWKS we wrote holds: that write is what starts their propagation clock.
            .filter(|k| k.status.is_published() && k.published_at.is_none() && written.contains(&k.kid))
            .map(|k| {
                let mut k = k.clone();
                k.published_at = Some(now);
                k.version += 1;
                k
            })
            .collect();
        if !newly.is_empty() {
            match self.registry.update_keys(&newly).await {
                // Someone else recorded it (or changed the key): their record stands.
                Ok(()) | Err(PortError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut published: Vec<&KeyRecord> = keys.iter().filter(|k| k.status.is_published()).collect();
        published.sort_by_key(|k| std::cmp::Reverse(k.generation));
        Ok(published.into_iter().map(|k| (k.kid.clone(), k.status)).collect())
    }
}
