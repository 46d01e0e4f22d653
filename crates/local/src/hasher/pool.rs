//! A few dedicated OS threads for CPU-heavy work (password hashing), with a bounded queue and a
//! wait limit.
//!
//! Why not tokio's blocking pool behind a semaphore, as before: a hash there could land on any
//! of its threads, so no thread could keep a work area and each hash allocated and freed its
//! own 19 MiB (which fragmented the heap, see [`super::phc`]); the queue in front of a
//! semaphore had no bound and no deadline (logins waited 10 s under the 1,000-user journey);
//! and those threads run at the priority of request handling, so hashing took the cores from
//! every other route. Here each thread owns its state (the argon2 work area, allocated at its
//! first job, reused for every job after, and dropped when the thread has been idle a while),
//! may run at a lower priority (`nice`), and work that cannot start soon is refused at
//! once with [`StoreError::Overloaded`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::StoreError;
use tokio::sync::oneshot;

/// The shape of a [`Pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Threads, each running one job at a time.
    pub threads: usize,
    /// Jobs that may wait for a thread; one more is refused at once.
    pub queue: usize,
    /// How long a job may wait for a thread before it is refused.
    pub wait: Duration,
    /// Added to the threads' nice value (0–19, Linux only): request handling then wins the
    /// cores whenever both want them.
    pub nice: i32,
    /// A thread without a job for this long drops its state (for the hasher, its 19 MiB work
    /// area), so memory a storm needed goes back once the storm is over; the next job builds
    /// it again. Idle threads take turns at the queue, so with n threads all have dropped
    /// theirs within n times this.
    pub idle: Duration,
}

/// A job's life: queued, then either started by a thread or abandoned by its caller, never
/// both (a compare-and-swap decides).
const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

type Work<S> = Box<dyn FnOnce(&mut S) + Send>;

struct Job<S> {
    state: Arc<AtomicU8>,
    work: Work<S>,
}

/// Threads that each own an `S` and run jobs on it. Dropping the pool stops the threads once
/// they have finished what they are running.
pub struct Pool<S> {
    jobs: SyncSender<Job<S>>,
    wait: Duration,
    /// What a refused caller is told: a queue that was full drains in about one wait limit.
    retry_after: Duration,
}

impl<S: 'static> Pool<S> {
    /// Starts `config.threads` threads named `name-0`, `name-1`, …, each with its own
    /// `state()`.
    ///
    /// # Errors
    /// `Internal` when a thread cannot be started.
    pub fn start<F>(name: &str, config: PoolConfig, state: F) -> Result<Self, StoreError>
    where
        F: Fn() -> S + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::sync_channel::<Job<S>>(config.queue);
        let rx = Arc::new(Mutex::new(rx));
        let state = Arc::new(state);
        for i in 0..config.threads.max(1) {
            let (rx, state) = (Arc::clone(&rx), Arc::clone(&state));
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    lower_priority(config.nice);
                    work_loop(&rx, &*state, config.idle);
                })
                .map_err(|e| {
                    StoreError::Internal(format!("cannot start thread {name}-{i}: {e}"))
                })?;
        }
        Ok(Pool {
            jobs: tx,
            wait: config.wait,
            retry_after: config.wait.max(Duration::from_secs(1)),
        })
    }

    /// Runs `work` on one of the threads and returns its answer.
    ///
    /// # Errors
    /// `Overloaded` when the queue is full or no thread took the job within the wait limit
    /// (the job is then never run); `Internal` when the job panicked.
    pub async fn run<T, W>(&self, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: FnOnce(&mut S) -> T + Send + 'static,
    {
        let (tx, mut rx) = oneshot::channel();
        let ticket = Ticket(Arc::new(AtomicU8::new(QUEUED)));
        let job = Job {
            state: Arc::clone(&ticket.0),
            work: Box::new(move |s: &mut S| {
                let _ = tx.send(work(s));
            }),
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(self.refuse("queue_full")),
            Err(TrySendError::Disconnected(_)) => {
                return Err(StoreError::Unavailable(
                    "the worker threads have stopped".into(),
                ))
            }
        }
        let answer = match tokio::time::timeout(self.wait, &mut rx).await {
            Ok(answer) => answer,
            Err(_) if ticket.abandon() => return Err(self.refuse("wait_limit")),
            // A thread took it just in time: it runs to the end, so wait for its answer.
            Err(_) => rx.await,
        };
        answer.map_err(|_| StoreError::Internal("a worker thread's job panicked".into()))
    }

    fn refuse(&self, reason: &'static str) -> StoreError {
        metrics::counter!("password_hash_rejected_total", "reason" => reason).increment(1);
        StoreError::Overloaded {
            what: format!("password hashing ({reason})"),
            retry_after: self.retry_after,
        }
    }
}

/// The caller's hold on a queued job. Dropped before a thread took the job (the request was
/// cancelled, or waited too long), it marks the job abandoned, and no thread spends a hash on
/// an answer nobody reads.
struct Ticket(Arc<AtomicU8>);

impl Ticket {
    /// True when the job had not started, and now never will.
    fn abandon(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.abandon();
    }
}

fn work_loop<S>(jobs: &Mutex<Receiver<Job<S>>>, make: &dyn Fn() -> S, idle: Duration) {
    // Made at the first job, dropped after `idle` without one.
    let mut state: Option<S> = None;
    loop {
        // The lock is held while waiting, so idle threads queue on the lock and each job goes
        // to exactly one of them. A poisoned lock only means another thread panicked while
        // holding it; the receiver inside is still whole.
        let next = {
            let rx = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            if state.is_some() {
                rx.recv_timeout(idle)
            } else {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            }
        };
        let job = match next {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                state = None;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return, // The pool was dropped.
        };
        let started = job
            .state
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if started {
            let state = state.get_or_insert_with(make);
            // A panic must not cost the pool a thread; its caller sees the answer channel
            // closed. The state may be half-written, which is fine for scratch memory that
            // every job overwrites before reading.
            let _ = catch_unwind(AssertUnwindSafe(|| (job.work)(state)));
        }
    }
}

/// Adds `nice` to the calling thread's nice value. Linux keeps a nice value per thread, so
/// this leaves the rest of the process alone.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    if nice == 0 {
        return;
    }
    let me = Some(rustix::thread::gettid());
    let result = getpriority_process(me)
        .and_then(|current| setpriority_process(me, current.saturating_add(nice).min(19)));
    if let Err(e) = result {
        tracing::warn!(error = %e, nice, "cannot lower the priority of a worker thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: i32) {
    if nice != 0 {
        tracing::warn!(nice, "thread priorities are only lowered on Linux");
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
