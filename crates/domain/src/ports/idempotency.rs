//! Idempotency keys in the store.
//!
//! A keyed write (`PostRepository::create_keyed`, `FollowRepository::follow_keyed`,
//! `UserRepository::create_keyed`) stores its [`KeyClaim`] in the write's own transaction, so
//! no crash can leave a committed write without its key or a key without its write. What every
//! keyed write MUST do:
//!
//! - A key is *live* at an instant while it was stored less than
//!   [`IDEMPOTENCY_KEY_TTL`](crate::model::IDEMPOTENCY_KEY_TTL) before it
//!   ([`StoredKey::live_at`]). For a write, the instant is its record's `created_at`.
//! - If a live key with the claim's scope and key exists (committed by anyone, on any
//!   instance; one being committed concurrently is waited for), the write writes nothing and
//!   answers [`Keyed::Taken`] — before, and instead of, any error of the write itself.
//! - Otherwise the write happens as without a key, and if it succeeds the claim is stored with
//!   the record's id as `resource` and its `created_at`, replacing a key of the same scope and
//!   key that is no longer live. A write that fails stores no key.
//! - Of concurrent keyed writes with one scope and key, at most one is `Done`; a store that
//!   batches writes answers each such duplicate `Taken` alone, without failing its batch-mates.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{IdempotencyKey, KeyScope, StoredKey, Timestamp};

/// The outcome of a keyed write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keyed<T> {
    /// No live key was in the way: the write's own answer (its key stored if it succeeded).
    Done(T),
    /// A live key with this scope and key exists: nothing was written.
    Taken,
}

/// Reading and expiring the keys that keyed writes stored.
#[async_trait]
pub trait IdempotencyKeyRepository: Send + Sync {
    /// The key `(scope, key)` if it is live at `now`; a key past its lifetime is `None` even
    /// before the sweep deleted it.
    async fn find(
        &self,
        scope: &KeyScope,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError>;

    /// Deletes at most `limit` keys that are no longer live at `now`, oldest first, in one
    /// short statement; returns how many it deleted. Concurrent sweeps (several instances) do
    /// not wait for each other.
    async fn sweep(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError>;
}
