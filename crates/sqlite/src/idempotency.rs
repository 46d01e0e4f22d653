//! [`IdempotencyKeyRepository`] over the `idempotency_keys` table (migration 0004), and the
//! claim every keyed write runs first inside its own transaction (`group` for posts and
//! follows, `users` for signups).
//!
//! Index use (checked by `tests/contract.rs`): claims, finds and undoing a claim go through the
//! `(scope, key)` primary key; the sweep walks `idempotency_keys_created_at_idx`.

use async_trait::async_trait;
use domain::model::{
    Fingerprint, IdempotencyKey, KeyClaim, KeyScope, StoredKey, Timestamp, IDEMPOTENCY_KEY_TTL,
};
use domain::ports::IdempotencyKeyRepository;
use domain::StoreError;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::codec::{self, key};
use crate::error::ResultExt;
use crate::SqliteStore;

/// Inserts the key, or replaces a row of the same scope and key that is no longer live at the
/// write's time (`?5`, minus the lifetime `?6`): one change when claimed, none when a live key
/// is in the way.
pub(crate) const INSERT: &str = "\
    INSERT INTO idempotency_keys (scope, key, fingerprint, resource, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5) \
    ON CONFLICT (scope, key) DO UPDATE SET \
        fingerprint = excluded.fingerprint, \
        resource = excluded.resource, \
        created_at = excluded.created_at \
    WHERE idempotency_keys.created_at <= excluded.created_at - ?6";

/// Undoes a claim whose write then failed (unknown author, existing edge, taken email), still
/// inside the write's transaction.
pub(crate) const UNCLAIM: &str = "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2";

/// The key while it lives: `?3` is the oldest `created_at` that is not yet expired.
pub(crate) const FIND: &str = "SELECT fingerprint, resource, created_at FROM idempotency_keys \
    WHERE scope = ?1 AND key = ?2 AND created_at > ?3";

/// At most `?2` expired rows, oldest first.
pub(crate) const SWEEP: &str = "\
    DELETE FROM idempotency_keys WHERE (scope, key) IN ( \
        SELECT scope, key FROM idempotency_keys WHERE created_at <= ?1 \
        ORDER BY created_at LIMIT ?2 \
    )";

fn ttl_ms() -> i64 {
    i64::try_from(IDEMPOTENCY_KEY_TTL.as_millis()).unwrap_or(i64::MAX)
}

/// Claims `claim` for the write of `resource` at `at`, on the write's transaction; `false`
/// when a live key is in the way (nothing written).
pub(crate) async fn claim(
    tx: &mut SqliteConnection,
    claim: &KeyClaim,
    resource: Uuid,
    at: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(INSERT)
        .bind(claim.scope.as_str())
        .bind(claim.key.as_str())
        .bind(&claim.fingerprint.as_bytes()[..])
        .bind(key(resource))
        .bind(at.unix_millis())
        .bind(ttl_ms())
        .execute(tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Undoes [`claim`] after the write it was for failed on its own.
pub(crate) async fn unclaim(
    tx: &mut SqliteConnection,
    claim: &KeyClaim,
) -> Result<(), sqlx::Error> {
    sqlx::query(UNCLAIM)
        .bind(claim.scope.as_str())
        .bind(claim.key.as_str())
        .execute(tx)
        .await?;
    Ok(())
}

#[async_trait]
impl IdempotencyKeyRepository for SqliteStore {
    async fn find(
        &self,
        scope: &KeyScope,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        // The read pool: the claim was committed before anyone looks for it.
        let row = sqlx::query(FIND)
            .bind(scope.as_str())
            .bind(key.as_str())
            .bind(StoredKey::live_after(now).unix_millis())
            .fetch_optional(&self.read)
            .await
            .store()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let raw: &[u8] = row.try_get(0).store()?;
        let fingerprint = Fingerprint::from_slice(raw)
            .ok_or_else(|| StoreError::Internal("stored fingerprint is not 32 bytes".to_owned()))?;
        Ok(Some(StoredKey {
            fingerprint,
            resource: codec::uuid_at(&row, 1)?,
            created_at: Timestamp::from_unix_millis(row.try_get(2).store()?),
        }))
    }

    async fn sweep(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(SWEEP)
            .bind(StoredKey::live_after(now).unix_millis())
            .bind(i64::from(limit))
            .execute(&self.write)
            .await
            .store()?;
        Ok(done.rows_affected())
    }
}
