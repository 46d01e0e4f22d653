//! [`ApiKeyRepository`] over the `api_keys` table.
//!
//! Index use (checked by `tests/contract.rs`): by id the primary key; a user's keys and the
//! cap's count `api_keys_user_id_id_idx`.

use async_trait::async_trait;
use domain::model::{ApiKey, ApiKeyId, Timestamp, UserId};
use domain::ports::{ApiKeyRepository, CreateApiKeyError};
use domain::StoreError;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::codec::{self, key};
use crate::error::{store_error, violation, ResultExt};
use crate::SqliteStore;

macro_rules! key_columns {
    () => {
        "id, user_id, name, digest, created_at, last_used_at"
    };
}

/// One statement: SQLite runs it alone on the writer, so the count and the insert cannot be
/// split by a racing create.
pub(crate) const INSERT: &str = "INSERT INTO api_keys \
    (id, user_id, name, digest, created_at) \
    SELECT ?1, ?2, ?3, ?4, ?5 \
    WHERE (SELECT count(*) FROM api_keys WHERE user_id = ?2) < ?6";

pub(crate) const BY_ID: &str = concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = ?1");

pub(crate) const LIST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys WHERE user_id = ?1 ORDER BY id"
);

pub(crate) const DELETE: &str = "DELETE FROM api_keys WHERE id = ?1 AND user_id = ?2";

pub(crate) const TOUCH: &str = "UPDATE api_keys \
    SET last_used_at = MAX(COALESCE(last_used_at, ?2), ?2) WHERE id = ?1";

fn api_key(row: &SqliteRow) -> Result<ApiKey, StoreError> {
    let digest: &[u8] = row.try_get(3).store()?;
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(codec::uuid_at(row, 0)?),
        user: UserId::from_uuid(codec::uuid_at(row, 1)?),
        name: row.try_get(2).store()?,
        digest: digest
            .try_into()
            .map_err(|_| StoreError::Internal("stored digest is not 32 bytes".into()))?,
        created_at: Timestamp::from_unix_millis(row.try_get(4).store()?),
        last_used_at: row
            .try_get::<Option<i64>, _>(5)
            .store()?
            .map(Timestamp::from_unix_millis),
    })
}

#[async_trait]
impl ApiKeyRepository for SqliteStore {
    async fn create(&self, k: &ApiKey, max: usize) -> Result<(), CreateApiKeyError> {
        let done = sqlx::query(INSERT)
            .bind(key(k.id.as_uuid()))
            .bind(key(k.user.as_uuid()))
            .bind(k.name.as_str())
            .bind(&k.digest[..])
            .bind(k.created_at.unix_millis())
            .bind(codec::limit(max))
            .execute(&self.write)
            .await;
        let done = match done {
            Ok(done) => done,
            Err(e) if violation(&e, ErrorKind::ForeignKeyViolation).is_some() => {
                return Err(CreateApiKeyError::UnknownUser)
            }
            Err(e) => return Err(store_error(e).into()),
        };
        if done.rows_affected() == 0 {
            return Err(CreateApiKeyError::TooMany);
        }
        Ok(())
    }

    async fn by_id(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        sqlx::query(BY_ID)
            .bind(key(id.as_uuid()))
            .fetch_optional(&self.read)
            .await
            .store()?
            .as_ref()
            .map(api_key)
            .transpose()
    }

    async fn list(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(LIST)
            .bind(key(user.as_uuid()))
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(api_key).collect()
    }

    async fn delete(&self, user: UserId, id: ApiKeyId) -> Result<bool, StoreError> {
        let done = sqlx::query(DELETE)
            .bind(key(id.as_uuid()))
            .bind(key(user.as_uuid()))
            .execute(&self.write)
            .await
            .store()?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query(TOUCH)
            .bind(key(id.as_uuid()))
            .bind(at.unix_millis())
            .execute(&self.write)
            .await
            .store()?;
        Ok(())
    }
}
