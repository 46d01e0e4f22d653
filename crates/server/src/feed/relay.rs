//! The outbox relay: hands committed events to the stream, then deletes them.
//!
//! A row is deleted only after the stream took it, so a crash in between publishes it again on
//! restart (the workers' handling is idempotent); nothing committed is ever lost. While the
//! stream cannot be reached the rows wait, and the relay retries every second.
//!
//! With the pull strategy there is no stream: the relay only deletes rows older than
//! [`PULL_KEEP`], so the outbox stays small, and an instance with fan-out sharing the database
//! (a rolling switch of strategy) still gets to relay every recent row first.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use domain::model::OutboxEntry;
use domain::ports::{Clock, FeedEventStream, FeedOutbox};
use domain::StoreError;
use local::SystemClock;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use super::FeedState;

/// Rows per round.
const BATCH: usize = 500;
/// How often an idle relay looks for rows: the floor of a follower's feed freshness.
const POLL: Duration = Duration::from_millis(25);
/// The wait after a failed round.
const RETRY: Duration = Duration::from_secs(1);
/// How long the pull strategy leaves rows for a fan-out instance to relay.
const PULL_KEEP: Duration = Duration::from_secs(60);
/// How often the pull strategy prunes.
const PULL_POLL: Duration = Duration::from_secs(5);
/// How often the backlog and the stream lag are counted for `/health` and `/metrics`.
const COUNT_EVERY: Duration = Duration::from_secs(1);

pub(super) fn spawn(
    outbox: Arc<dyn FeedOutbox>,
    stream: Option<Arc<dyn FeedEventStream>>,
    state: Arc<FeedState>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut counted = Instant::now() - COUNT_EVERY;
        loop {
            if counted.elapsed() >= COUNT_EVERY {
                counted = Instant::now();
                count(&*outbox, stream.as_deref(), &state).await;
            }
            let now = SystemClock.now().unix_millis();
            let pause = match round(&*outbox, stream.as_deref(), now).await {
                Ok(n) => {
                    state.relay_waiting.store(false, Ordering::Relaxed);
                    metrics::counter!("feed_events_relayed_total").increment(n as u64);
                    match (n == BATCH, &stream) {
                        (true, _) => Duration::ZERO,
                        (false, Some(_)) => POLL,
                        // Pruning old rows is in no hurry.
                        (false, None) => PULL_POLL,
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

/// One round at `now` (ms since the epoch): how many rows were relayed (or, without a stream,
/// pruned).
async fn round(
    outbox: &dyn FeedOutbox,
    stream: Option<&dyn FeedEventStream>,
    now: i64,
) -> Result<usize, StoreError> {
    let rows: Vec<OutboxEntry> = outbox.pending(BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let seqs: Vec<i64> = match stream {
        Some(stream) => {
            stream.publish(&rows).await?;
            rows.iter().map(|r| r.seq).collect()
        }
        None => {
            let keep = i64::try_from(PULL_KEEP.as_millis()).unwrap_or(i64::MAX);
            rows.iter()
                .filter(|r| now.saturating_sub(r.recorded_at.unix_millis()) > keep)
                .map(|r| r.seq)
                .collect()
        }
    };
    if !seqs.is_empty() {
        outbox.relayed(&seqs).await?;
    }
    Ok(seqs.len())
}

async fn count(outbox: &dyn FeedOutbox, stream: Option<&dyn FeedEventStream>, state: &FeedState) {
    if let Ok(n) = outbox.backlog().await {
        state.outbox_backlog.store(n, Ordering::Relaxed);
    }
    if let Some(stream) = stream {
        if let Ok(n) = stream.lag().await {
            state.stream_lag.store(n, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use domain::testkit::fakes::{block_on, signup, Fakes, MemoryFeedStream, MemoryStore};

    use super::*;

    /// An outbox holding one post's event, and when it was recorded (ms).
    fn outbox_with_a_post() -> (Arc<MemoryStore>, i64) {
        let fakes = Fakes::new();
        let services = fakes.services();
        let user = block_on(signup(&services, "relayed")).unwrap().user;
        block_on(services.posts.create(user.id, "x")).unwrap();
        let at = block_on(fakes.store.pending(10)).unwrap()[0].recorded_at;
        (fakes.store, at.unix_millis())
    }

    #[test]
    fn rows_are_deleted_only_once_the_stream_took_them() {
        let (outbox, at) = outbox_with_a_post();
        let stream = MemoryFeedStream::new();
        stream.set_unavailable(true);
        assert!(block_on(round(&*outbox, Some(&stream), at)).is_err());
        assert_eq!(
            block_on(outbox.backlog()).unwrap(),
            1,
            "kept while the stream is away"
        );
        stream.set_unavailable(false);
        assert_eq!(block_on(round(&*outbox, Some(&stream), at)).unwrap(), 1);
        assert_eq!(block_on(outbox.backlog()).unwrap(), 0);
        assert_eq!(block_on(stream.lag()).unwrap(), 1);
    }

    #[test]
    fn without_a_stream_rows_are_pruned_only_when_old() {
        let (outbox, at) = outbox_with_a_post();
        let keep = i64::try_from(PULL_KEEP.as_millis()).unwrap();
        assert_eq!(block_on(round(&*outbox, None, at + keep)).unwrap(), 0);
        assert_eq!(block_on(outbox.backlog()).unwrap(), 1, "young rows wait");
        assert_eq!(block_on(round(&*outbox, None, at + keep + 1)).unwrap(), 1);
        assert_eq!(block_on(outbox.backlog()).unwrap(), 0);
    }
}
