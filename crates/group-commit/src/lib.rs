//! Group commit: concurrent writes are queued to one writer task, which takes whatever has
//! queued and writes it as one batch (one transaction or one statement), then answers each
//! caller with its own result.
//!
//! Shared by the storage adapters (`sqlite`, `postgres-adapter`); what a batch *is* (SQL,
//! transaction, how a failing item is isolated) stays in each adapter, which hands
//! [`GroupCommit::spawn`] a function from the batch's items to one answer per item.
//!
//! # Bounds
//!
//! - No artificial wait: the writer blocks for the first item, then drains without waiting
//!   whatever else is already queued, up to [`Limits::max_batch`]. A lone request is written at
//!   once; under load, the requests that arrived while the previous batch committed form the
//!   next one. The longest a request waits is therefore the batch in progress plus its own.
//! - The queue holds at most [`Limits::queue`] items; past that, callers wait to enqueue
//!   (back-pressure), bounded by whatever deadline the adapter puts around [`GroupCommit::submit`].
//!
//! # Failure
//!
//! A caller is answered only from the batch function's return value, i.e. after the batch
//! has been written. If the writer stops before answering (the batch function panicked, the
//! task was aborted or its runtime shut down), the caller's reply channel is dropped and it
//! gets [`Rejected::Lost`]: an error, never a false success. A panicking batch does not stop
//! the writer: the next batch runs as usual.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// How big a batch and the queue may grow.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Items written together at most.
    pub max_batch: usize,
    /// Items waiting for the writer at most.
    pub queue: usize,
}

impl Default for Limits {
    /// 128 per batch: at 64 concurrent writers a batch holds everyone who queued meanwhile,
    /// while a batch's transaction stays short (well under a millisecond of SQL on SQLite).
    fn default() -> Self {
        Limits {
            max_batch: 128,
            queue: 1024,
        }
    }
}

/// Why a write got no answer from the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The writer had stopped before the item was queued; nothing was written.
    Closed,
    /// The writer stopped after taking the item and before answering. The item may or may not
    /// have been written, as with a connection lost during a commit.
    Lost,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejected::Closed => "the database writer has stopped",
            Rejected::Lost => "the database writer stopped before answering",
        })
    }
}

impl std::error::Error for Rejected {}

/// A writer that stopped before answering: the write may or may not have happened, and trying
/// again later may work, so `Unavailable` (503) for every adapter.
impl From<Rejected> for domain::StoreError {
    fn from(e: Rejected) -> Self {
        domain::StoreError::Unavailable(e.to_string())
    }
}

/// Batches the writer has taken (the last one possibly still being written) and the items in
/// them, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub batches: u64,
    pub items: u64,
}

struct Job<I, R> {
    item: I,
    reply: oneshot::Sender<R>,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    items: AtomicU64,
}

/// The queue into one writer task. Dropping the last handle lets the writer finish what is
/// queued and stop.
pub struct GroupCommit<I, R> {
    queue: mpsc::Sender<Job<I, R>>,
    counters: Arc<Counters>,
    writer: AbortHandle,
    kind: &'static str,
}

impl<I, R> fmt::Debug for GroupCommit<I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("kind", &self.kind)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<I, R> GroupCommit<I, R>
where
    I: Send + 'static,
    R: Send + 'static,
{
    /// Starts the writer task on the current Tokio runtime.
    ///
    /// `write` gets each batch (1 to `max_batch` items, in arrival order) and must return one
    /// answer per item, in the same order; an item without an answer (a shorter vector) gets
    /// [`Rejected::Lost`]. `backend` and `kind` label the `db_write_batch_size` histogram.
    pub fn spawn<F, Fut>(
        backend: &'static str,
        kind: &'static str,
        limits: Limits,
        write: F,
    ) -> Self
    where
        F: FnMut(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (queue, rx) = mpsc::channel(limits.queue.max(1));
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            rx,
            limits.max_batch.max(1),
            write,
            counters.clone(),
            backend,
            kind,
        ));
        GroupCommit {
            queue,
            counters,
            writer: task.abort_handle(),
            kind,
        }
    }

    /// Queues `item` and waits for its answer, which comes after its batch was written.
    pub async fn submit(&self, item: I) -> Result<R, Rejected> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { item, reply })
            .await
            .map_err(|_| Rejected::Closed)?;
        answer.await.map_err(|_| Rejected::Lost)
    }
}

impl<I, R> GroupCommit<I, R> {
    pub fn stats(&self) -> Stats {
        Stats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            items: self.counters.items.load(Ordering::Relaxed),
        }
    }

    /// Stops the writer now, as a crash would: the batch in progress is abandoned (its future
    /// dropped, so an open transaction rolls back), its callers and everyone queued get
    /// [`Rejected::Lost`], later callers [`Rejected::Closed`].
    pub fn abort(&self) {
        self.writer.abort();
    }
}

async fn run<I, R, F, Fut>(
    mut rx: mpsc::Receiver<Job<I, R>>,
    max_batch: usize,
    mut write: F,
    counters: Arc<Counters>,
    backend: &'static str,
    kind: &'static str,
) where
    F: FnMut(Vec<I>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    let mut jobs = Vec::with_capacity(max_batch);
    // `recv_many` waits only for the first item, then takes what is already queued.
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let n = jobs.len();
        let (items, replies): (Vec<I>, Vec<oneshot::Sender<R>>) =
            jobs.drain(..).map(|j| (j.item, j.reply)).unzip();
        metrics::histogram!("db_write_batch_size", "backend" => backend, "kind" => kind)
            .record(n as f64);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.items.fetch_add(n as u64, Ordering::Relaxed);
        // A panic is a bug in the batch function; it costs this batch's callers an error
        // (their reply senders drop below), not every later write.
        let answers = AssertUnwindSafe(write(items)).catch_unwind().await;
        if let Ok(answers) = answers {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // The caller may have given up (its deadline passed); nothing to do then.
                let _ = reply.send(answer);
            }
        }
    }
}

#[cfg(test)]
mod tests;
