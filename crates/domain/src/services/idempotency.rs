//! The rules of idempotent writes, shared by the services whose writes take an
//! `Idempotency-Key` (posts, follows, signup), and the sweep of expired keys.
//!
//! A keyed write claims its key in its own transaction (the store's side, see
//! `ports::Keyed`). When the key is taken, the stored key decides: the same fingerprint is a
//! retry, answered with the first write's outcome rebuilt from what the key row keeps (the id
//! it created, its time) and the request itself; another fingerprint is a key reused for a
//! different request. Only a write that succeeded stores its key: a request that failed wrote
//! nothing, and retrying it runs it again.

use std::future::Future;
use std::sync::Arc;

use crate::error::StoreError;
use crate::model::{KeyClaim, StoredKey};
use crate::ports::{Clock, IdempotencyKeyRepository, Keyed};

use super::Ports;

/// Rows one sweep statement deletes at most: a short transaction that never holds the writer
/// (SQLite) or many row locks (PostgreSQL) for long.
pub const SWEEP_BATCH: u32 = 1_000;

/// Statements one [`IdempotencyService::sweep`] runs at most, so one call is bounded even
/// after a long outage; the next call goes on where it stopped.
const SWEEP_ROUNDS: u32 = 100;

/// How often a write is retried when its key is taken but gone by the time it is read: only
/// when the key expired (or was swept) in between, so once more always settles it.
const ATTEMPTS: usize = 3;

/// What a keyed request comes to.
pub(crate) enum Claimed<T> {
    /// This request wrote, and stored its key.
    Written(T),
    /// An earlier request with this key and fingerprint wrote: answer as it was answered.
    Replay(StoredKey),
    /// The key was used for a different request.
    Reused,
}

/// Reads the keys keyed writes stored, and expires them.
#[derive(Clone)]
pub struct IdempotencyService {
    keys: Arc<dyn IdempotencyKeyRepository>,
    clock: Arc<dyn Clock>,
}

impl IdempotencyService {
    pub fn new(ports: &Ports) -> Self {
        IdempotencyService {
            keys: ports.keys.clone(),
            clock: ports.clock.clone(),
        }
    }

    /// What a live key with the claim's scope and key says about this request, if there is
    /// one.
    pub(crate) async fn prior<T>(
        &self,
        claim: &KeyClaim,
    ) -> Result<Option<Claimed<T>>, StoreError> {
        let stored = self
            .keys
            .find(&claim.scope, &claim.key, self.clock.now())
            .await?;
        Ok(stored.map(|stored| {
            if stored.fingerprint == claim.fingerprint {
                Claimed::Replay(stored)
            } else {
                Claimed::Reused
            }
        }))
    }

    /// Runs `write` (a keyed write of the store under `claim`); when the key is taken, the
    /// stored key's verdict instead.
    pub(crate) async fn write<T, E, F, Fut>(
        &self,
        claim: &KeyClaim,
        mut write: F,
    ) -> Result<Claimed<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Keyed<T>, E>>,
        E: From<StoreError>,
    {
        for _ in 0..ATTEMPTS {
            match write().await? {
                Keyed::Done(value) => return Ok(Claimed::Written(value)),
                Keyed::Taken => {
                    if let Some(prior) = self.prior(claim).await? {
                        return Ok(prior);
                    }
                }
            }
        }
        Err(StoreError::Internal(format!(
            "idempotency key taken {ATTEMPTS} times yet never found live"
        ))
        .into())
    }

    /// Deletes the keys past their lifetime, [`SWEEP_BATCH`] per statement, until none is left
    /// or after a bounded number of statements; returns how many it deleted. Run periodically
    /// by the server: an expired key is already ignored by every read, the sweep only reclaims
    /// its row.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let mut total = 0;
        for _ in 0..SWEEP_ROUNDS {
            let deleted = self.keys.sweep(now, SWEEP_BATCH).await?;
            total += deleted;
            if deleted < u64::from(SWEEP_BATCH) {
                break;
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests;
