//! The scenarios, and the closed-model driver that the k6-style ones share: a pool of virtual
//! users sized by the stages, each looping its script until told to stop.

pub mod freshness;
pub mod journey;
pub mod mix;
pub mod simple;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{Caller, Http};
use crate::stages::Stages;

/// What every virtual user of a run shares.
pub struct Shared {
    pub http: Arc<Http>,
    /// Random per run, so that accounts a run signs up never collide with an earlier run's.
    pub run_id: String,
    seq: AtomicU64,
    /// What the progress line shows as the current level: active VUs, or the arrival rate.
    pub level: AtomicU64,
}

impl Shared {
    pub fn new(http: Arc<Http>) -> Self {
        let run_id = base36(rand::random_range(36u64.pow(5)..36u64.pow(6)));
        Shared {
            http,
            run_id,
            seq: AtomicU64::new(0),
            level: AtomicU64::new(0),
        }
    }

    /// A username unique to this run and call: `lt` + run id + a counter, at most 20 characters
    /// of `[a-z0-9]` with room for a one-letter suffix.
    pub fn unique_name(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("lt{}{}", self.run_id, base36(n))
    }
}

pub fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// The password of every account this tool signs up.
pub const PASSWORD: &str = "load-test-password";

/// One virtual user of a closed scenario.
pub struct Vu {
    pub id: usize,
    pub caller: Caller,
    pub shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Vu {
    /// Checked between iterations: a virtual user told to stop (ramp-down, end of the stages)
    /// finishes the iteration it is in, like k6's graceful ramp-down.
    pub fn stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Sleeps, cut short by a stop; false when stopped.
    pub async fn think(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stopped(),
            _ = self.stop.cancelled() => false,
        }
    }
}

struct Slot {
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// Runs virtual users along the stages (each VU runs `script` once; the script loops while
/// `!vu.stopped()`), then lets them finish for at most `drain` and abandons the rest.
/// Returns how many were abandoned.
pub async fn run_closed<F, Fut>(
    shared: Arc<Shared>,
    stages: &Stages,
    drain: Duration,
    script: F,
) -> u64
where
    F: Fn(Vu) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let all = CancellationToken::new();
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut retiring: Vec<JoinHandle<()>> = Vec::new();
    let start = Instant::now();
    let total = stages.total();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let t = start.elapsed();
        if t >= total {
            break;
        }
        let target = stages.target_at(t).round() as usize;
        if slots.len() < target {
            slots.resize_with(target, || None);
        }
        let mut active = 0;
        for (id, slot) in slots.iter_mut().enumerate() {
            let running = slot
                .as_ref()
                .is_some_and(|s| !s.stop.is_cancelled() && !s.handle.is_finished());
            if id < target {
                if !running {
                    if let Some(old) = slot.take() {
                        retiring.push(old.handle);
                    }
                    let stop = all.child_token();
                    let vu = Vu {
                        id,
                        caller: shared.http.caller(id as u64),
                        shared: Arc::clone(&shared),
                        stop: stop.clone(),
                    };
                    let handle = tokio::spawn(script(vu));
                    *slot = Some(Slot { stop, handle });
                }
                active += 1;
            } else if running {
                if let Some(s) = slot.as_ref() {
                    s.stop.cancel();
                }
            }
        }
        retiring.retain(|h| !h.is_finished());
        shared.level.store(active, Ordering::Relaxed);
    }
    all.cancel();
    shared.level.store(0, Ordering::Relaxed);
    retiring.extend(slots.into_iter().flatten().map(|s| s.handle));
    drain_tasks(retiring, drain).await
}

/// Waits for the tasks until `drain` has passed, then aborts those still running.
pub async fn drain_tasks(handles: Vec<JoinHandle<()>>, drain: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + drain;
    let mut abandoned = 0;
    for h in handles {
        if h.is_finished() {
            continue;
        }
        let abort = h.abort_handle();
        if tokio::time::timeout_at(deadline, h).await.is_err() {
            abort.abort();
            abandoned += 1;
        }
    }
    abandoned
}

#[cfg(test)]
mod tests {
    use super::base36;

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(36u64.pow(6) - 1), "zzzzzz");
    }
}
