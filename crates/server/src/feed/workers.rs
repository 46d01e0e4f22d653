//! Fan-out workers: members of the stream's consumer group, each handling batches of events.
//!
//! An event is acknowledged only once handled. One that fails (the database or Redis away)
//! stays pending and is claimed again after `FEED_CLAIM_IDLE_MS` — by this worker or any
//! other — as are the events of a worker that died mid-batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use domain::model::FeedEvent;
use domain::ports::Clock;
use domain::ports::{Delivery, FeedEventStream};
use domain::services::FanoutService;
use local::SystemClock;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use super::FeedState;

/// Events per batch.
const BATCH: usize = 64;
/// How long a receive waits for new events.
const WAIT: Duration = Duration::from_millis(500);
/// The wait after a failed receive (the stream away).
const RETRY: Duration = Duration::from_secs(1);

pub(super) struct Worker {
    pub name: String,
    pub stream: Arc<dyn FeedEventStream>,
    pub fanout: FanoutService,
    pub claim_idle: Duration,
    pub state: Arc<FeedState>,
}

pub(super) fn spawn(w: Worker, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        w.state.workers.fetch_add(1, Ordering::Relaxed);
        // Look for abandoned events at once (a restarted worker tier), then every idle period.
        let claim_every = w.claim_idle.min(Duration::from_secs(5));
        let mut claimed = Instant::now() - claim_every;
        while !stop.is_cancelled() {
            let batch = if claimed.elapsed() >= claim_every {
                claimed = Instant::now();
                w.stream.claim_stale(&w.name, w.claim_idle, BATCH).await
            } else {
                Ok(Vec::new())
            };
            let batch = match batch {
                Ok(b) if !b.is_empty() => Ok(b),
                Ok(_) => tokio::select! {
                    got = w.stream.receive(&w.name, BATCH, WAIT) => got,
                    () = stop.cancelled() => break,
                },
                Err(e) => Err(e),
            };
            match batch {
                Ok(batch) => handle(&w, batch).await,
                Err(e) => {
                    tracing::warn!(worker = %w.name, error = %e, "feed worker: stream unavailable");
                    tokio::select! {
                        () = sleep(RETRY) => {}
                        () = stop.cancelled() => break,
                    }
                }
            }
        }
        w.state.workers.fetch_sub(1, Ordering::Relaxed);
    })
}

/// Handles a whole batch (a stop request waits for it) and acknowledges what succeeded.
async fn handle(w: &Worker, batch: Vec<Delivery>) {
    let mut done = Vec::with_capacity(batch.len());
    for d in batch {
        let started = Instant::now();
        match w.fanout.apply(&d.entry).await {
            Ok(applied) => {
                let kind = d.entry.event.kind();
                metrics::counter!("feed_events_handled_total", "kind" => kind).increment(1);
                metrics::counter!("feed_timeline_writes_total").increment(applied.timelines as u64);
                metrics::histogram!("feed_event_handle_seconds", "kind" => kind)
                    .record(started.elapsed().as_secs_f64());
                if matches!(d.entry.event, FeedEvent::Posted { .. }) && !applied.pulled {
                    // Commit (as the outbox recorded it) to the last follower written.
                    let now = SystemClock.now();
                    let ms = now.unix_millis() - d.entry.recorded_at.unix_millis();
                    metrics::histogram!("feed_fanout_seconds").record(ms.max(0) as f64 / 1000.0);
                }
                if applied.pulled {
                    metrics::counter!("feed_posts_pulled_total").increment(1);
                }
                if applied.demoted {
                    metrics::counter!("feed_authors_demoted_total").increment(1);
                }
                w.state.events_handled.fetch_add(1, Ordering::Relaxed);
                done.push(d.id);
            }
            Err(e) => {
                metrics::counter!("feed_event_errors_total").increment(1);
                tracing::warn!(worker = %w.name, seq = d.entry.seq, error = %e,
                    "feed worker: event left pending, to be retried");
            }
        }
    }
    if !done.is_empty() {
        if let Err(e) = w.stream.ack(&done).await {
            // Unacknowledged events are claimed and handled again: harmless, handling is
            // idempotent.
            tracing::warn!(worker = %w.name, error = %e, "feed worker: acknowledging failed");
        }
    }
}
