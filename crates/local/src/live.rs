//! The live log in the process: [`LiveMemoryLog`], the [`LiveLog`] of the embedded default
//! (one instance, no Redis).
//!
//! Positions are `<epoch>-<n>`: `epoch` is the wall-clock millisecond the log was made at and
//! `n` counts appended entries from 1. A restarted process has another epoch, so a position a
//! client kept from before the restart is recognised as not this log's and replays as a reset
//! instead of being mistaken for a position in the new, unrelated sequence.
//!
//! The entries held are always a contiguous run of `n`s ending at the newest, so whether a
//! position lost something to the cap is arithmetic on the oldest held `n`.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use domain::model::{LiveEvent, LiveEventId, OutboxEntry, Replay};
use domain::ports::LiveLog;
use domain::StoreError;
use tokio::sync::watch;

/// The last epoch handed out in this process: two logs made in the same millisecond (tests)
/// still get distinct epochs, so neither takes the other's positions for its own.
static LAST_EPOCH: AtomicU64 = AtomicU64::new(0);

fn new_epoch() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let prev = LAST_EPOCH
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(now);
    now.max(prev.saturating_add(1))
}

/// The [`LiveLog`] in memory: the newest `history` entries in a ring.
pub struct LiveMemoryLog {
    epoch: u64,
    history: usize,
    /// A std mutex: held only to read or change the ring, never across an `.await`.
    state: Mutex<State>,
    /// The newest `n`, for waking readers: a receiver made before a reader looks at the ring
    /// sees every append after that look as a change, so no wake-up falls between the two.
    newest: watch::Sender<u64>,
}

struct State {
    ring: VecDeque<LiveEvent>,
    /// The seqs of the entries in the ring. A seq the cap dropped is forgotten; the relays
    /// repeat rows within seconds, far inside any useful history.
    held: HashSet<i64>,
    /// The `n` of the newest entry ever appended (0: none).
    newest: u64,
}

impl State {
    /// The entries after `after`, oldest first.
    fn after(&self, after: LiveEventId) -> impl Iterator<Item = &LiveEvent> {
        let from = self.ring.partition_point(|e| e.id <= after);
        self.ring.range(from..)
    }
}

impl LiveMemoryLog {
    pub fn new(history: usize) -> Self {
        LiveMemoryLog {
            epoch: new_epoch(),
            history,
            state: Mutex::new(State {
                ring: VecDeque::with_capacity(history.min(4_096)),
                held: HashSet::new(),
                newest: 0,
            }),
            newest: watch::Sender::new(0),
        }
    }

    /// The epoch of this log's positions (their `ms`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self, after: LiveEventId, max: usize) -> Vec<LiveEvent> {
        self.state().after(after).take(max).copied().collect()
    }
}

#[async_trait]
impl LiveLog for LiveMemoryLog {
    async fn append(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
        let newest = {
            let mut s = self.state();
            for &entry in entries {
                if !s.held.insert(entry.seq) {
                    continue;
                }
                s.newest += 1;
                let id = LiveEventId::new(self.epoch, s.newest);
                s.ring.push_back(LiveEvent { id, entry });
                while s.ring.len() > self.history {
                    if let Some(old) = s.ring.pop_front() {
                        s.held.remove(&old.entry.seq);
                    }
                }
            }
            s.newest
        };
        self.newest
            .send_if_modified(|n| std::mem::replace(n, newest) != newest);
        Ok(())
    }

    async fn head(&self) -> Result<LiveEventId, StoreError> {
        Ok(LiveEventId::new(self.epoch, self.state().newest))
    }

    async fn read_after(
        &self,
        after: LiveEventId,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut appended = self.newest.subscribe();
        loop {
            let got = self.read(after, max);
            if !got.is_empty() {
                return Ok(got);
            }
            match tokio::time::timeout_at(deadline, appended.changed()).await {
                // The sender lives as long as `self`, so `Err` cannot happen while we borrow it.
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Ok(Vec::new()),
            }
        }
    }

    async fn replay(&self, after: LiveEventId, max: usize) -> Result<Replay, StoreError> {
        let s = self.state();
        if after.ms != self.epoch || after.n > s.newest {
            return Ok(Replay::Reset);
        }
        // Everything from 1 to `oldest - 1` was dropped (or there never was anything).
        let oldest = s.ring.front().map_or(s.newest + 1, |e| e.id.n);
        if after.n.saturating_add(1) < oldest {
            return Ok(Replay::Reset);
        }
        let events: Vec<LiveEvent> = s
            .after(after)
            .take(max.saturating_add(1))
            .copied()
            .collect();
        if events.len() > max {
            return Ok(Replay::Reset);
        }
        Ok(Replay::Events(events))
    }
}
