//! The live log: the recent outbox events every instance's `GET /stream` subscribers are fed
//! from, in one order, with positions a reconnecting subscriber resumes from.
//!
//! The relay appends each committed outbox row (see `server::feed::relay`); every instance
//! tails the log and routes each event to its own subscribers. On the embedded default the log
//! lives in the process; with Redis it is one capped stream all instances share.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{LiveEvent, LiveEventId, OutboxEntry, Replay};

/// A capped, ordered log of outbox events.
#[async_trait]
pub trait LiveLog: Send + Sync {
    /// Appends the entries in order, each at a position after every one already held.
    ///
    /// MUST skip an entry whose `seq` the log already took (within at least the last minute):
    /// the relays of several instances hand on the same row, and a relay reads its recent rows
    /// again. MUST keep at least the newest entries up to the log's configured history and MAY
    /// drop older ones.
    async fn append(&self, entries: &[OutboxEntry]) -> Result<(), StoreError>;

    /// The position of the newest entry ever appended (`LiveEventId::ZERO`, or any id below
    /// every future entry's, when there was none): a new subscriber starts after it.
    async fn head(&self) -> Result<LiveEventId, StoreError>;

    /// Up to `max` entries after `after`, oldest first; waits up to `wait` (then answers none)
    /// when there are none yet. A zero `wait` does not wait.
    async fn read_after(
        &self,
        after: LiveEventId,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LiveEvent>, StoreError>;

    /// Every entry after `after` for a subscriber resuming from it, or [`Replay::Reset`] when
    /// that cannot be promised: an entry after `after` is no longer held (dropped by the cap,
    /// the log was flushed or restarted), `after` cannot be a position this log handed out (it
    /// is past the head, or older than every held entry although nothing after it was dropped,
    /// or from another process's in-memory log), or more than `max` entries follow it.
    async fn replay(&self, after: LiveEventId, max: usize) -> Result<Replay, StoreError>;
}
