//! [`IdempotencyKeyRepository`] on the [`MemoryStore`], and the claim every keyed write of it
//! makes under the same lock as the write (its transaction).

use async_trait::async_trait;
use uuid::Uuid;

use super::{lock, MemoryStore, StoreState};
use crate::error::StoreError;
use crate::model::{IdempotencyKey, KeyClaim, KeyScope, StoredKey, Timestamp};
use crate::ports::{IdempotencyKeyRepository, Keyed};

fn id(scope: &KeyScope, key: &IdempotencyKey) -> (String, String) {
    (scope.as_str().to_owned(), key.as_str().to_owned())
}

impl MemoryStore {
    /// Runs `write` unless a live key is in the way, storing the claim when `succeeded` says
    /// the write's answer wrote something; all under one lock, as a transaction would.
    pub(super) fn keyed<T, E: From<StoreError>>(
        &self,
        claim: &KeyClaim,
        resource: Uuid,
        at: Timestamp,
        write: impl FnOnce(&mut StoreState) -> Result<T, E>,
        succeeded: impl Fn(&T) -> bool,
    ) -> Result<Keyed<T>, E> {
        self.check()?;
        let mut s = lock(&self.state);
        let id = id(&claim.scope, &claim.key);
        if s.keys
            .get(&id)
            .is_some_and(|k| StoredKey::live_at(k.created_at, at))
        {
            return Ok(Keyed::Taken);
        }
        let answer = write(&mut s)?;
        if succeeded(&answer) {
            let stored = StoredKey {
                fingerprint: claim.fingerprint,
                resource,
                created_at: at,
            };
            s.keys.insert(id, stored);
        }
        Ok(Keyed::Done(answer))
    }
}

#[async_trait]
impl IdempotencyKeyRepository for MemoryStore {
    async fn find(
        &self,
        scope: &KeyScope,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        Ok(s.keys
            .get(&id(scope, key))
            .filter(|k| StoredKey::live_at(k.created_at, now))
            .copied())
    }

    async fn sweep(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let mut expired: Vec<_> = s
            .keys
            .iter()
            .filter(|(_, k)| !StoredKey::live_at(k.created_at, now))
            .map(|(id, k)| (k.created_at, id.clone()))
            .collect();
        expired.sort();
        expired.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        for (_, id) in &expired {
            s.keys.remove(id);
        }
        Ok(expired.len() as u64)
    }
}
