//! How domain values are stored (ids as native `uuid`, times as `timestamptz`) and the row →
//! entity decoders every repository shares.

use domain::model::{PostId, PostRecord, Timestamp, UserId, UserSummary};
use domain::StoreError;
use sqlx::postgres::PgRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;

/// The `before` bound of a keyset query.
///
/// `None` (first page) binds the largest UUID instead of switching to a query without the
/// bound: one statement shape stays prepared and `id < $n` keeps its index range. No v7 id
/// equals `Uuid::max()` (its version nibble is 7, not f), so nothing is excluded.
pub(crate) fn before(before: Option<Uuid>) -> Uuid {
    before.unwrap_or(Uuid::max())
}

/// A keyset limit as PostgreSQL's LIMIT wants it.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn time_at(row: &PgRow, idx: usize) -> Result<Timestamp, StoreError> {
    let t: OffsetDateTime = row.try_get(idx).store()?;
    Ok(Timestamp::from_datetime(t))
}

/// Decodes `id, username, name` starting at column `at`.
pub(crate) fn summary(row: &PgRow, at: usize) -> Result<UserSummary, StoreError> {
    Ok(UserSummary {
        id: UserId::from_uuid(row.try_get(at).store()?),
        username: row.try_get(at + 1).store()?,
        name: row.try_get(at + 2).store()?,
    })
}

/// Decodes `id, author_id, content, created_at`.
pub(crate) fn post(row: &PgRow) -> Result<PostRecord, StoreError> {
    Ok(PostRecord {
        id: PostId::from_uuid(row.try_get(0).store()?),
        author_id: UserId::from_uuid(row.try_get(1).store()?),
        content: row.try_get(2).store()?,
        created_at: time_at(row, 3)?,
    })
}
