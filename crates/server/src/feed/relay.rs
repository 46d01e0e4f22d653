//! The outbox relay: hands committed events to the fan-out stream and the live log, then
//! deletes them.
//!
//! A row is deleted only after the stream (and the live log) took it, so a crash in between
//! publishes it again on restart (the workers' handling is idempotent, and the live log skips
//! a seq it holds); nothing committed is ever lost. While Redis cannot be reached the rows
//! wait, and the relay retries every second.
//!
//! With the pull strategy there is no stream: the relay feeds the live log reading on from the
//! last seq it fed (re-reading the last [`LATE`] seqs, since a PostgreSQL transaction can
//! commit a row after a higher seq was read), and deletes rows only once they are older than
//! [`PULL_KEEP`], so the outbox stays small and an instance with fan-out sharing the database
//! (a rolling switch of strategy) still gets to relay every recent row first.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use domain::model::OutboxEntry;
use domain::ports::{Clock, FeedEventStream, FeedOutbox, LiveLog};
use domain::StoreError;
use local::SystemClock;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use super::FeedState;

/// Rows per round.
const BATCH: usize = 500;
/// How often an idle relay looks for rows: the floor of a follower's feed (and live event)
/// freshness.
const POLL: Duration = Duration::from_millis(25);
/// The wait after a failed round.
const RETRY: Duration = Duration::from_secs(1);
/// How long the pull strategy leaves rows for a fan-out instance to relay.
const PULL_KEEP: Duration = Duration::from_secs(60);
/// How often the pull strategy prunes.
const PULL_POLL: Duration = Duration::from_secs(5);
/// How many seqs below the highest one fed the pull strategy's relay reads again, for rows
/// that committed late. One committing later than this many others is missing from the live
/// log (its readers see it on their next timeline read).
const LATE: i64 = 256;
/// How often the backlog and the stream lag are counted for `/health` and `/metrics`.
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// Where the relay hands events on.
pub(super) struct Sinks {
    pub stream: Option<Arc<dyn FeedEventStream>>,
    pub live: Option<Arc<dyn LiveLog>>,
}

pub(super) fn spawn(
    outbox: Arc<dyn FeedOutbox>,
    sinks: Sinks,
    state: Arc<FeedState>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut relay = Relay::new(outbox, sinks);
        let mut counted = Instant::now() - COUNT_EVERY;
        loop {
            if counted.elapsed() >= COUNT_EVERY {
                counted = Instant::now();
                relay.count(&state).await;
            }
            let now = SystemClock.now().unix_millis();
            let pause = match relay.round(now).await {
                Ok(done) => {
                    state.relay_waiting.store(false, Ordering::Relaxed);
                    metrics::counter!("feed_events_relayed_total").increment(done.relayed as u64);
                    metrics::counter!("live_events_logged_total").increment(done.logged as u64);
                    match (
                        done.more,
                        relay.sinks.stream.is_some() || relay.sinks.live.is_some(),
                    ) {
                        (true, _) => Duration::ZERO,
                        (false, true) => POLL,
                        // Pruning old rows is in no hurry.
                        (false, false) => PULL_POLL,
                    }
                }
                Err(e) => {
                    state.relay_waiting.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e, "feed relay: events wait in the outbox");
                    RETRY
                }
            };
            tokio::select! {
                () = sleep(pause) => {}
                () = stop.cancelled() => break,
            }
        }
    })
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Done {
    /// Rows handed to the stream and deleted, or (pull) pruned.
    relayed: usize,
    /// Rows appended to the live log.
    logged: usize,
    /// A batch was full: go again at once.
    more: bool,
}

struct Relay {
    outbox: Arc<dyn FeedOutbox>,
    sinks: Sinks,
    /// Pull strategy: the highest seq fed to the live log, and the seqs fed within [`LATE`]
    /// of it (so a re-read does not append them again).
    fed: Option<i64>,
    recent: BTreeSet<i64>,
    /// Pull strategy: when (ms) the last prune ran, and whether it found a full batch.
    pruned: Option<(i64, bool)>,
}

impl Relay {
    fn new(outbox: Arc<dyn FeedOutbox>, sinks: Sinks) -> Self {
        Relay {
            outbox,
            sinks,
            fed: None,
            recent: BTreeSet::new(),
            pruned: None,
        }
    }

    /// One round at `now` (ms since the epoch).
    async fn round(&mut self, now: i64) -> Result<Done, StoreError> {
        match self.sinks.stream.clone() {
            Some(stream) => self.relay(&*stream).await,
            None => {
                let mut done = match self.sinks.live.clone() {
                    Some(live) => self.feed_live(&*live).await?,
                    None => Done::default(),
                };
                let due = self
                    .pruned
                    .is_none_or(|(at, full)| full || now.saturating_sub(at) >= millis(PULL_POLL));
                if due {
                    let (pruned, full) = self.prune(now).await?;
                    self.pruned = Some((now, full));
                    done.relayed = pruned;
                    done.more |= full;
                }
                Ok(done)
            }
        }
    }

    /// Fan-out: the oldest rows to the stream and the live log, then deleted.
    async fn relay(&self, stream: &dyn FeedEventStream) -> Result<Done, StoreError> {
        let rows: Vec<OutboxEntry> = self.outbox.pending(BATCH).await?;
        if rows.is_empty() {
            return Ok(Done::default());
        }
        stream.publish(&rows).await?;
        if let Some(live) = &self.sinks.live {
            live.append(&rows).await?;
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        self.outbox.relayed(&seqs).await?;
        Ok(Done {
            relayed: rows.len(),
            logged: if self.sinks.live.is_some() {
                rows.len()
            } else {
                0
            },
            more: rows.len() == BATCH,
        })
    }

    /// Pull: the rows after the last fed seq (and the [`LATE`] ones before it not fed yet) to
    /// the live log.
    async fn feed_live(&mut self, live: &dyn LiveLog) -> Result<Done, StoreError> {
        let after = self.fed.map_or(i64::MIN, |top| top.saturating_sub(LATE));
        let rows = self.outbox.pending_after(after, BATCH).await?;
        let new: Vec<OutboxEntry> = rows
            .iter()
            .filter(|r| !self.recent.contains(&r.seq))
            .copied()
            .collect();
        if !new.is_empty() {
            live.append(&new).await?;
        }
        let top = rows.iter().map(|r| r.seq).chain(self.fed).max();
        self.fed = top;
        self.recent.extend(new.iter().map(|r| r.seq));
        if let Some(top) = top {
            self.recent = self.recent.split_off(&top.saturating_sub(LATE));
        }
        Ok(Done {
            relayed: 0,
            logged: new.len(),
            more: rows.len() == BATCH && !new.is_empty(),
        })
    }

    /// Pull: deletes the oldest rows once older than [`PULL_KEEP`]; how many, and whether the
    /// batch was full.
    async fn prune(&self, now: i64) -> Result<(usize, bool), StoreError> {
        let rows = self.outbox.pending(BATCH).await?;
        let seqs: Vec<i64> = rows
            .iter()
            .filter(|r| now.saturating_sub(r.recorded_at.unix_millis()) > millis(PULL_KEEP))
            .map(|r| r.seq)
            .collect();
        if !seqs.is_empty() {
            self.outbox.relayed(&seqs).await?;
        }
        Ok((seqs.len(), seqs.len() == BATCH))
    }

    async fn count(&self, state: &FeedState) {
        if let Ok(n) = self.outbox.backlog().await {
            state.outbox_backlog.store(n, Ordering::Relaxed);
        }
        if let Some(stream) = &self.sinks.stream {
            if let Ok(n) = stream.lag().await {
                state.stream_lag.store(n, Ordering::Relaxed);
            }
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use domain::model::{LiveEvent, LiveEventId, Replay};
    use domain::testkit::fakes::{block_on, signup, Fakes, MemoryFeedStream, MemoryStore};

    use super::*;

    /// A live log that records what it was given (its other calls are not the relay's).
    #[derive(Default)]
    struct Recorded(Mutex<Vec<i64>>);

    impl Recorded {
        fn seqs(&self) -> Vec<i64> {
            self.0.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl LiveLog for Recorded {
        async fn append(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
            self.0.lock().unwrap().extend(entries.iter().map(|e| e.seq));
            Ok(())
        }
        async fn head(&self) -> Result<LiveEventId, StoreError> {
            unreachable!()
        }
        async fn read_after(
            &self,
            _: LiveEventId,
            _: usize,
            _: Duration,
        ) -> Result<Vec<LiveEvent>, StoreError> {
            unreachable!()
        }
        async fn replay(&self, _: LiveEventId, _: usize) -> Result<Replay, StoreError> {
            unreachable!()
        }
    }

    /// An outbox holding `posts` posts' events, and when the first was recorded (ms).
    fn outbox_with_posts(posts: usize) -> (Arc<MemoryStore>, i64) {
        let fakes = Fakes::new();
        let services = fakes.services();
        let user = block_on(signup(&services, "relayed")).unwrap().user;
        for _ in 0..posts {
            block_on(services.posts.create(user.id, "x")).unwrap();
        }
        let at = block_on(fakes.store.pending(10)).unwrap()[0].recorded_at;
        (fakes.store, at.unix_millis())
    }

    fn relay(
        outbox: &Arc<MemoryStore>,
        stream: Option<&Arc<MemoryFeedStream>>,
        live: Option<&Arc<Recorded>>,
    ) -> Relay {
        Relay::new(
            outbox.clone(),
            Sinks {
                stream: stream.map(|s| s.clone() as Arc<dyn FeedEventStream>),
                live: live.map(|l| l.clone() as Arc<dyn LiveLog>),
            },
        )
    }

    #[test]
    fn rows_are_deleted_only_once_the_stream_took_them() {
        let (outbox, at) = outbox_with_posts(1);
        let stream = Arc::new(MemoryFeedStream::new());
        let live = Arc::new(Recorded::default());
        let mut r = relay(&outbox, Some(&stream), Some(&live));
        stream.set_unavailable(true);
        assert!(block_on(r.round(at)).is_err());
        assert_eq!(
            block_on(outbox.backlog()).unwrap(),
            1,
            "kept while the stream is away"
        );
        stream.set_unavailable(false);
        let done = block_on(r.round(at)).unwrap();
        assert_eq!((done.relayed, done.logged, done.more), (1, 1, false));
        assert_eq!(block_on(outbox.backlog()).unwrap(), 0);
        assert_eq!(block_on(stream.lag()).unwrap(), 1);
        assert_eq!(live.seqs().len(), 1, "the live log has it too");
    }

    #[test]
    fn without_a_stream_rows_are_pruned_only_when_old() {
        let (outbox, at) = outbox_with_posts(1);
        let keep = i64::try_from(PULL_KEEP.as_millis()).unwrap();
        let mut r = relay(&outbox, None, None);
        assert_eq!(block_on(r.round(at + keep)).unwrap(), Done::default());
        assert_eq!(block_on(outbox.backlog()).unwrap(), 1, "young rows wait");
        // The next prune is due a poll later.
        let later = at + keep + millis(PULL_POLL);
        assert_eq!(block_on(r.round(later)).unwrap().relayed, 1);
        assert_eq!(block_on(outbox.backlog()).unwrap(), 0);
    }

    /// Pull: each row reaches the live log once, rows committed late (below the highest seq
    /// fed) too, and the rows stay for a fan-out instance until old.
    #[test]
    fn the_pull_relay_feeds_the_live_log_each_row_once() {
        let (outbox, at) = outbox_with_posts(3);
        let live = Arc::new(Recorded::default());
        let mut r = relay(&outbox, None, Some(&live));
        let first = block_on(outbox.pending(10)).unwrap();
        let seqs: Vec<i64> = first.iter().map(|e| e.seq).collect();
        assert_eq!(block_on(r.round(at)).unwrap().logged, 3);
        assert_eq!(block_on(r.round(at)).unwrap().logged, 0, "nothing new");
        assert_eq!(live.seqs(), seqs);
        assert_eq!(block_on(outbox.backlog()).unwrap(), 3, "rows stay");

        // A row that commits late, with a seq below the highest fed.
        let late = OutboxEntry {
            seq: seqs[0] - 1,
            ..first[0]
        };
        outbox.insert_outbox_row(late);
        assert_eq!(block_on(r.round(at)).unwrap().logged, 1);
        assert_eq!(live.seqs().last(), Some(&late.seq));
        assert_eq!(block_on(r.round(at)).unwrap().logged, 0);
    }

    /// Pull: a backlog larger than a batch is fed batch by batch, asking to go again at once.
    #[test]
    fn the_pull_relay_catches_up_in_batches() {
        let (outbox, at) = outbox_with_posts(BATCH + 10);
        let live = Arc::new(Recorded::default());
        let mut r = relay(&outbox, None, Some(&live));
        let one = block_on(r.round(at)).unwrap();
        assert_eq!((one.logged, one.more), (BATCH, true));
        let two = block_on(r.round(at)).unwrap();
        assert_eq!((two.logged, two.more), (10, false));
        let mut fed = live.seqs();
        let n = fed.len();
        fed.dedup();
        assert_eq!(fed.len(), n, "no row twice");
        assert_eq!(n, BATCH + 10);
    }
}
