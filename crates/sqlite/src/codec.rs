//! How domain values are stored: ids as hyphenated lower-case TEXT, times as unix millis, and
//! the row → entity decoders every repository shares.

use domain::model::{PostId, PostRecord, Timestamp, UserId, UserSummary};
use domain::StoreError;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use crate::error::ResultExt;

/// The text form of an id, as stored and compared.
///
/// Hyphenated lower-case hex keeps byte order equal to UUID order, hence (for v7) to time
/// order; `encode_lower` writes into a stack buffer instead of going through `fmt`.
pub(crate) fn key(id: Uuid) -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buf).to_owned()
}

/// Ids as a JSON array of their keys, for `json_each(?)` lists (one statement for any count).
/// Keys are hex digits and hyphens, so nothing in them needs escaping.
pub(crate) fn key_list(ids: impl ExactSizeIterator<Item = Uuid>) -> String {
    let mut json = String::with_capacity(2 + ids.len() * (uuid::fmt::Hyphenated::LENGTH + 3));
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    json.push('[');
    for (i, id) in ids.enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(id.hyphenated().encode_lower(&mut buf));
        json.push('"');
    }
    json.push(']');
    json
}

/// The `before` bound of a keyset query.
///
/// `None` (first page) binds the largest UUID instead of switching to a query without the
/// bound: one statement shape stays cached and `id < ?` keeps its index range. No v7 id equals
/// `Uuid::max()` (its version nibble is 7, not f), so nothing is excluded.
pub(crate) fn before_key(before: Option<Uuid>) -> String {
    key(before.unwrap_or(Uuid::max()))
}

/// A keyset limit as SQLite's LIMIT wants it.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Parses an id column. A bad one means the file was written by something else: `Internal`.
pub(crate) fn uuid_at(row: &SqliteRow, idx: usize) -> Result<Uuid, StoreError> {
    let text: &str = row.try_get(idx).store()?;
    Uuid::try_parse(text)
        .map_err(|e| StoreError::Internal(format!("stored id {text:?} is not a UUID: {e}")))
}

/// Decodes `id, username, name` starting at column `at`.
pub(crate) fn summary(row: &SqliteRow, at: usize) -> Result<UserSummary, StoreError> {
    Ok(UserSummary {
        id: UserId::from_uuid(uuid_at(row, at)?),
        username: row.try_get(at + 1).store()?,
        name: row.try_get(at + 2).store()?,
    })
}

/// Decodes `id, author_id, content, created_at`.
pub(crate) fn post(row: &SqliteRow) -> Result<PostRecord, StoreError> {
    Ok(PostRecord {
        id: PostId::from_uuid(uuid_at(row, 0)?),
        author_id: UserId::from_uuid(uuid_at(row, 1)?),
        content: row.try_get(2).store()?,
        created_at: Timestamp::from_unix_millis(row.try_get(3).store()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_ids() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert!(key(a) < key(b));
        assert_eq!(key(a), a.hyphenated().to_string());
        assert!(key(b) < before_key(None));
    }
}
