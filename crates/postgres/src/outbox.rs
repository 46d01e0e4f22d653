//! [`FeedOutbox`] over the `feed_outbox` table, which statement-level triggers fill inside every
//! post and follow write (migration 0004); this module only reads and deletes the rows.
//!
//! Everything runs on the primary: the relay must see rows as soon as they commit, and it
//! deletes them. `seq` order is not commit order across transactions (a row can commit after a
//! higher seq was read), which costs nothing here: `relayed` deletes exactly the seqs it is
//! given, so a late row stays pending and a later poll takes it.
//!
//! Index use: `pending` walks the primary key from its low end and stops at its LIMIT,
//! `relayed` probes it once per seq; `backlog` counts the table, which holds only what the
//! relay has not handed on yet.

use async_trait::async_trait;
use domain::model::{FeedEvent, OutboxEntry};
use domain::ports::FeedOutbox;
use domain::StoreError;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::codec::{self, limit};
use crate::error::ResultExt;
use crate::PgStore;

pub(crate) const PENDING: &str =
    "SELECT seq, kind, a, b, recorded_at FROM feed_outbox WHERE seq > $1 ORDER BY seq LIMIT $2";
pub(crate) const RELAYED: &str = "DELETE FROM feed_outbox WHERE seq = ANY($1)";
pub(crate) const BACKLOG: &str = "SELECT count(*) FROM feed_outbox";

/// Seqs per DELETE: a relay catching up after an outage may send many, and short statements
/// stay far from `statement_timeout` and hold their row locks briefly.
const RELAYED_PER_STATEMENT: usize = 1_000;

/// Decodes `seq, kind, a, b, recorded_at`. A kind this build does not know is `Internal`.
fn entry(row: &PgRow) -> Result<OutboxEntry, StoreError> {
    let seq: i64 = row.try_get(0).store()?;
    let kind: &str = row.try_get(1).store()?;
    let (a, b) = (row.try_get(2).store()?, row.try_get(3).store()?);
    let event = FeedEvent::from_parts(kind, a, b).ok_or_else(|| {
        StoreError::Internal(format!("outbox row {seq} has an unknown kind {kind:?}"))
    })?;
    Ok(OutboxEntry {
        seq,
        event,
        recorded_at: codec::time_at(row, 4)?,
    })
}

#[async_trait]
impl FeedOutbox for PgStore {
    async fn pending_after(&self, after: i64, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self
            .primary_op(
                sqlx::query(PENDING)
                    .bind(after)
                    .bind(limit(max))
                    .fetch_all(self.primary()),
            )
            .await?;
        rows.iter().map(entry).collect()
    }

    async fn relayed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        for chunk in seqs.chunks(RELAYED_PER_STATEMENT) {
            self.primary_op(sqlx::query(RELAYED).bind(chunk).execute(self.primary()))
                .await?;
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .primary_op(sqlx::query_scalar(BACKLOG).fetch_one(self.primary()))
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
