//! [`ApiKeyRepository`] over the `api_keys` table, on the primary (a revocation must be seen by
//! the next request, and keys are read through the cache anyway).
//!
//! Index use (checked by `tests/contract.rs` with `EXPLAIN`): by id the primary key; a user's
//! keys and the cap's count `api_keys_user_id_id_idx`.

use async_trait::async_trait;
use domain::model::{ApiKey, ApiKeyId, Timestamp, UserId};
use domain::ports::{ApiKeyRepository, CreateApiKeyError};
use domain::StoreError;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::codec;
use crate::error::ResultExt;
use crate::PgStore;

macro_rules! key_columns {
    () => {
        "id, user_id, name, digest, created_at, last_used_at"
    };
}

/// Taken first in the create's transaction: racing creates for one user queue on the user's
/// row, so each counts the keys the previous ones committed.
pub(crate) const LOCK_OWNER: &str = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE";

/// Run after [`LOCK_OWNER`], in the same transaction; under READ COMMITTED this statement's
/// snapshot is taken once the lock is held, so its count is exact.
pub(crate) const INSERT: &str = "INSERT INTO api_keys \
    (id, user_id, name, digest, created_at) \
    SELECT $1::uuid, $2::uuid, $3::text, $4::bytea, $5::timestamptz \
    WHERE (SELECT count(*) FROM api_keys WHERE user_id = $2) < $6";

pub(crate) const BY_ID: &str = concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1");

pub(crate) const LIST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys WHERE user_id = $1 ORDER BY id"
);

pub(crate) const DELETE: &str = "DELETE FROM api_keys WHERE id = $1 AND user_id = $2";

pub(crate) const TOUCH: &str = "UPDATE api_keys \
    SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1";

fn api_key(row: &PgRow) -> Result<ApiKey, StoreError> {
    let digest: Vec<u8> = row.try_get(3).store()?;
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(row.try_get(0).store()?),
        user: UserId::from_uuid(row.try_get(1).store()?),
        name: row.try_get(2).store()?,
        digest: digest
            .try_into()
            .map_err(|_| StoreError::Internal("stored digest is not 32 bytes".into()))?,
        created_at: codec::time_at(row, 4)?,
        last_used_at: row
            .try_get::<Option<time::OffsetDateTime>, _>(5)
            .store()?
            .map(Timestamp::from_datetime),
    })
}

#[async_trait]
impl ApiKeyRepository for PgStore {
    async fn create(&self, k: &ApiKey, max: usize) -> Result<(), CreateApiKeyError> {
        let inserted = self
            .primary_op(async {
                let mut tx = self.primary().begin().await?;
                let owner = sqlx::query(LOCK_OWNER)
                    .bind(k.user.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                if owner.is_none() {
                    return Ok(None);
                }
                let done = sqlx::query(INSERT)
                    .bind(k.id.as_uuid())
                    .bind(k.user.as_uuid())
                    .bind(k.name.as_str())
                    .bind(&k.digest[..])
                    .bind(k.created_at.to_datetime())
                    .bind(codec::limit(max))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(done.rows_affected()))
            })
            .await?;
        match inserted {
            None => Err(CreateApiKeyError::UnknownUser),
            Some(0) => Err(CreateApiKeyError::TooMany),
            Some(_) => Ok(()),
        }
    }

    async fn by_id(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        self.primary_op(
            sqlx::query(BY_ID)
                .bind(id.as_uuid())
                .fetch_optional(self.primary()),
        )
        .await?
        .as_ref()
        .map(api_key)
        .transpose()
    }

    async fn list(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self
            .primary_op(
                sqlx::query(LIST)
                    .bind(user.as_uuid())
                    .fetch_all(self.primary()),
            )
            .await?;
        rows.iter().map(api_key).collect()
    }

    async fn delete(&self, user: UserId, id: ApiKeyId) -> Result<bool, StoreError> {
        let done = self
            .primary_op(
                sqlx::query(DELETE)
                    .bind(id.as_uuid())
                    .bind(user.as_uuid())
                    .execute(self.primary()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        self.primary_op(
            sqlx::query(TOUCH)
                .bind(id.as_uuid())
                .bind(at.to_datetime())
                .execute(self.primary()),
        )
        .await?;
        Ok(())
    }
}
