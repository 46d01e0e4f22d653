//! [`FeedOutbox`] over the `feed_outbox` table, which triggers fill inside every post and follow
//! write (migration 0005); this module only reads and deletes the rows.
//!
//! `pending` and `backlog` read from the read pool: in WAL mode a reader sees every committed
//! transaction without waiting for the writer, and the relay polls often, so sending those
//! reads to the one writer connection would queue them behind the group-commit batches they
//! are meant to follow. Nothing is lost by it: writes are serialised by the one writer, so
//! `seq` order is commit order and a row committed after a read sits above every `seq` that read
//! returned; the next poll takes it. `relayed` deletes, so it goes to the writer.
//!
//! Index use (checked by `tests/contract.rs`): `pending` walks the `seq` primary key (the rowid)
//! in order and stops at its LIMIT; `relayed` is one rowid lookup per `seq`; `backlog` counts the
//! table, which holds only what the relay has not handed on yet.

use async_trait::async_trait;
use domain::model::{FeedEvent, OutboxEntry, Timestamp};
use domain::ports::FeedOutbox;
use domain::StoreError;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::codec::{self, limit};
use crate::error::ResultExt;
use crate::SqliteStore;

pub(crate) const PENDING: &str =
    "SELECT seq, kind, a, b, recorded_at FROM feed_outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2";
/// `?1`: a JSON array of seqs, so one statement shape serves any number of them.
pub(crate) const RELAYED: &str =
    "DELETE FROM feed_outbox WHERE seq IN (SELECT value FROM json_each(?1))";
pub(crate) const BACKLOG: &str = "SELECT count(*) FROM feed_outbox";

/// Seqs per DELETE: the writer is shared with every other write, so a long list (a relay
/// catching up after an outage) is deleted in short statements rather than one long one.
const RELAYED_PER_STATEMENT: usize = 1_000;

/// Decodes `seq, kind, a, b, recorded_at`. A kind this build does not know is `Internal`.
fn entry(row: &SqliteRow) -> Result<OutboxEntry, StoreError> {
    let seq: i64 = row.try_get(0).store()?;
    let kind: &str = row.try_get(1).store()?;
    let (a, b) = (codec::uuid_at(row, 2)?, codec::uuid_at(row, 3)?);
    let event = FeedEvent::from_parts(kind, a, b).ok_or_else(|| {
        StoreError::Internal(format!("outbox row {seq} has an unknown kind {kind:?}"))
    })?;
    Ok(OutboxEntry {
        seq,
        event,
        recorded_at: Timestamp::from_unix_millis(row.try_get(4).store()?),
    })
}

#[async_trait]
impl FeedOutbox for SqliteStore {
    async fn pending_after(&self, after: i64, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(PENDING)
            .bind(after)
            .bind(limit(max))
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(entry).collect()
    }

    async fn relayed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        for chunk in seqs.chunks(RELAYED_PER_STATEMENT) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            sqlx::query(RELAYED)
                .bind(format!("[{}]", list.join(",")))
                .execute(&self.write)
                .await
                .store()?;
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(BACKLOG)
            .fetch_one(&self.read)
            .await
            .store()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
