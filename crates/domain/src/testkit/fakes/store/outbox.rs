//! [`FeedOutbox`] on the [`MemoryStore`]: each successful post, deletion, follow and unfollow
//! records its event under the store's lock, in the same critical section as the write (what
//! the databases' triggers do inside the write's transaction), and a failed write records
//! nothing because it returns before reaching [`Outbox::record`].

use std::collections::{BTreeMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{lock, MemoryStore};
use crate::error::StoreError;
use crate::model::{FeedEvent, OutboxEntry, Timestamp};
use crate::ports::FeedOutbox;

/// The rows not yet relayed, by `seq`.
#[derive(Default)]
pub(super) struct Outbox {
    rows: BTreeMap<i64, OutboxEntry>,
    /// The last `seq` handed out. Never reused, even once every row is relayed: a timeline
    /// compares the `seq`s of an edge's changes, so a reused one could look older than it is.
    last: i64,
}

impl Outbox {
    pub(super) fn record(&mut self, event: FeedEvent) {
        self.last += 1;
        let entry = OutboxEntry {
            seq: self.last,
            event,
            recorded_at: now(),
        };
        self.rows.insert(entry.seq, entry);
    }
}

impl MemoryStore {
    /// Puts a row in the outbox as it stands, as a transaction that committed after rows with
    /// higher seqs would (PostgreSQL assigns seqs at insert, not at commit).
    pub fn insert_outbox_row(&self, entry: OutboxEntry) {
        lock(&self.state).outbox.rows.insert(entry.seq, entry);
    }
}

/// The wall clock, as a database stamps `recorded_at`. A clock before 1970 (never on a test
/// machine) reads as the epoch.
fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_unix_millis(ms)
}

#[async_trait]
impl FeedOutbox for MemoryStore {
    async fn pending_after(&self, after: i64, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        Ok(s.outbox
            .rows
            .range(after.saturating_add(1)..)
            .take(max)
            .map(|(_, row)| *row)
            .collect())
    }

    async fn relayed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        self.check()?;
        let gone: HashSet<i64> = seqs.iter().copied().collect();
        lock(&self.state)
            .outbox
            .rows
            .retain(|seq, _| !gone.contains(seq));
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        self.check()?;
        Ok(lock(&self.state).outbox.rows.len() as u64)
    }
}
