//! [`IdempotencyKeyRepository`] over the `idempotency_keys` table (migration 0003), and the
//! claim every keyed write makes in its own statement: a data-modifying CTE (`claimed`) that
//! the write's INSERT selects from, so the key and the write commit together or not at all
//! (`posts::CREATE_KEYED`, `follows::FOLLOW_KEYED`, `users::INSERT_KEYED` and the batch
//! statements of `group`).
//!
//! A claim is `INSERT … ON CONFLICT (scope, key) DO UPDATE … WHERE` the existing row is no
//! longer live at the new write's time: an expired row is replaced, a live one leaves the
//! claim empty, hence nothing written. A row being inserted by a concurrent transaction is
//! waited for, so of racing duplicates (any instance) exactly one claims the key.
//!
//! Index use (no statement scans a table: `tests/contract.rs`): claims and finds the
//! `(scope, key)` primary key; the sweep `idempotency_keys_created_at_idx`.

use std::time::Duration;

use async_trait::async_trait;
use domain::model::{
    Fingerprint, IdempotencyKey, KeyClaim, KeyScope, StoredKey, Timestamp, IDEMPOTENCY_KEY_TTL,
};
use domain::ports::IdempotencyKeyRepository;
use domain::StoreError;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use crate::codec;
use crate::error::ResultExt;
use crate::PgStore;

/// The `claimed` CTE of every keyed statement: inserts `$rows` (`VALUES (…)` or a `SELECT`
/// of `scope, key, fingerprint, resource, created_at`), replacing a row of the same scope and
/// key only when it is no longer live at the new row's time (`$ttl`: the parameter holding the
/// lifetime, an interval); returns the `resource` of every row claimed. A macro so that
/// `concat!` builds each statement as one `&'static str`.
macro_rules! claimed {
    ($rows:literal, $ttl:literal) => {
        concat!(
            "claimed AS ( \
                INSERT INTO idempotency_keys (scope, key, fingerprint, resource, created_at) ",
            $rows,
            " ON CONFLICT (scope, key) DO UPDATE SET \
                fingerprint = excluded.fingerprint, \
                resource = excluded.resource, \
                created_at = excluded.created_at \
             WHERE idempotency_keys.created_at <= excluded.created_at - ",
            $ttl,
            "::interval \
             RETURNING resource \
            )"
        )
    };
}
pub(crate) use claimed;

/// The key while it lives: `$3` is the oldest `created_at` that is not yet expired.
pub(crate) const FIND: &str = "SELECT fingerprint, resource, created_at FROM idempotency_keys \
    WHERE scope = $1 AND key = $2 AND created_at > $3";

/// At most `$2` expired rows, oldest first. SKIP LOCKED: a row a claim is replacing right now,
/// or another instance's sweep is deleting, is left to them instead of waited for.
pub(crate) const SWEEP: &str = "\
    DELETE FROM idempotency_keys WHERE (scope, key) IN ( \
        SELECT scope, key FROM idempotency_keys WHERE created_at <= $1 \
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED \
    )";

/// The lifetime, bound as the claims' interval parameter.
pub(crate) const TTL: Duration = IDEMPOTENCY_KEY_TTL;

/// Binds a claim's scope, key and fingerprint (the next three parameters).
pub(crate) fn bind_claim<'q>(
    query: Query<'q, Postgres, PgArguments>,
    claim: &'q KeyClaim,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(claim.scope.as_str())
        .bind(claim.key.as_str())
        .bind(&claim.fingerprint.as_bytes()[..])
}

#[async_trait]
impl IdempotencyKeyRepository for PgStore {
    async fn find(
        &self,
        scope: &KeyScope,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<StoredKey>, StoreError> {
        // The primary: the key was committed there a moment ago.
        let row = self
            .primary_op(
                sqlx::query(FIND)
                    .bind(scope.as_str())
                    .bind(key.as_str())
                    .bind(StoredKey::live_after(now).to_datetime())
                    .fetch_optional(self.primary()),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let raw: &[u8] = row.try_get(0).store()?;
        let fingerprint = Fingerprint::from_slice(raw)
            .ok_or_else(|| StoreError::Internal("stored fingerprint is not 32 bytes".to_owned()))?;
        Ok(Some(StoredKey {
            fingerprint,
            resource: row.try_get(1).store()?,
            created_at: codec::time_at(&row, 2)?,
        }))
    }

    async fn sweep(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let done = self
            .primary_op(
                sqlx::query(SWEEP)
                    .bind(StoredKey::live_after(now).to_datetime())
                    .bind(i64::from(limit))
                    .execute(self.primary()),
            )
            .await?;
        Ok(done.rows_affected())
    }
}
