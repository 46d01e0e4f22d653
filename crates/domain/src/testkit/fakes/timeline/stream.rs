//! [`MemoryFeedStream`]: the feed event stream over a `BTreeMap`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{lock, switched_off};
use crate::error::StoreError;
use crate::model::OutboxEntry;
use crate::ports::{Delivery, FeedEventStream};

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct StreamState {
    /// Published and not acknowledged, by stream position.
    entries: BTreeMap<u64, OutboxEntry>,
    next: u64,
    /// Positions up to here were delivered once (the consumer group's last-delivered id).
    delivered: u64,
    /// Delivered and not acknowledged: the consumer holding it and since when.
    pending: BTreeMap<u64, (String, Instant)>,
}

/// The [`FeedEventStream`] in memory: one consumer group, ids `"<position>-0"` like Redis's.
///
/// [`MemoryFeedStream::set_unavailable`] makes every call fail with [`StoreError::Unavailable`].
#[derive(Default)]
pub struct MemoryFeedStream {
    state: Mutex<StreamState>,
    unavailable: AtomicBool,
}

impl MemoryFeedStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every call fails with `StoreError::Unavailable`.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(switched_off("memory feed stream"))
        } else {
            Ok(())
        }
    }
}

fn delivery(position: u64, entry: OutboxEntry) -> Delivery {
    Delivery {
        id: format!("{position}-0"),
        entry,
    }
}

#[async_trait]
impl FeedEventStream for MemoryFeedStream {
    async fn publish(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        for &entry in entries {
            s.next += 1;
            let position = s.next;
            s.entries.insert(position, entry);
        }
        Ok(())
    }

    async fn receive(
        &self,
        consumer: &str,
        max: usize,
        _wait: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let fresh: Vec<(u64, OutboxEntry)> = s
            .entries
            .range(s.delivered + 1..)
            .take(max)
            .map(|(&p, &e)| (p, e))
            .collect();
        let now = Instant::now();
        for &(position, _) in &fresh {
            s.delivered = position;
            s.pending.insert(position, (consumer.to_owned(), now));
        }
        Ok(fresh.into_iter().map(|(p, e)| delivery(p, e)).collect())
    }

    async fn claim_stale(
        &self,
        consumer: &str,
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let now = Instant::now();
        let stale: Vec<u64> = s
            .pending
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= idle)
            .map(|(&p, _)| p)
            .take(max)
            .collect();
        let mut out = Vec::with_capacity(stale.len());
        for position in stale {
            s.pending.insert(position, (consumer.to_owned(), now));
            if let Some(&entry) = s.entries.get(&position) {
                out.push(delivery(position, entry));
            }
        }
        Ok(out)
    }

    async fn ack(&self, ids: &[String]) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        for id in ids {
            let position = id.strip_suffix("-0").and_then(|p| p.parse::<u64>().ok());
            if let Some(p) = position {
                s.pending.remove(&p);
                s.entries.remove(&p);
            }
        }
        Ok(())
    }

    async fn lag(&self) -> Result<u64, StoreError> {
        self.check()?;
        Ok(lock(&self.state).entries.len() as u64)
    }
}
