//! A circuit breaker in front of Redis, so that a dead or slow Redis costs a request at most
//! one bounded timeout and, once the breaker is open, nothing at all.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// `open_until` value meaning "closed".
const CLOSED: u64 = 0;

/// Lock-free: every request consults it, so it must cost a few atomic loads.
pub struct Breaker {
    origin: Instant,
    threshold: u32,
    cool_down: Duration,
    failures: AtomicU32,
    /// Milliseconds since `origin` until which calls are refused; [`CLOSED`] when closed.
    open_until: AtomicU64,
    /// When the last half-open probe was let through. A probe whose future is dropped never
    /// reports back, so a new one is allowed after a cool-down instead of waiting forever.
    probe_at: AtomicU64,
}

/// Whether a call may go to Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    Closed,
    /// The one call allowed through while open, to find out whether Redis is back.
    Probe,
    Denied,
}

impl Breaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        // Set on every transition only; without this the gauge would not exist (no data, not 0)
        // until Redis first failed.
        metrics::gauge!("redis_breaker_open").set(0.0);
        Breaker {
            origin: Instant::now(),
            threshold: threshold.max(1),
            cool_down,
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(CLOSED),
            probe_at: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        // +1 so that "now" is never the CLOSED sentinel.
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn cool_down_ms(&self) -> u64 {
        u64::try_from(self.cool_down.as_millis()).unwrap_or(u64::MAX / 2)
    }

    pub fn permit(&self) -> Permit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == CLOSED {
            return Permit::Closed;
        }
        let now = self.now_ms();
        if now < until {
            return Permit::Denied;
        }
        let last = self.probe_at.load(Ordering::Acquire);
        if now.saturating_sub(last) >= self.cool_down_ms()
            && self
                .probe_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            Permit::Probe
        } else {
            Permit::Denied
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != CLOSED
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until.swap(CLOSED, Ordering::AcqRel) != CLOSED {
            tracing::info!("redis is reachable again: leaving degraded mode");
            metrics::gauge!("redis_breaker_open").set(0.0);
        }
    }

    pub fn failure(&self, permit: Permit) {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if n >= self.threshold || permit == Permit::Probe {
            let until = self.now_ms() + self.cool_down_ms();
            if self.open_until.swap(until, Ordering::AcqRel) == CLOSED {
                tracing::warn!(
                    failures = n,
                    "redis unreachable: degraded mode (local cache and limits)"
                );
                metrics::gauge!("redis_breaker_open").set(1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let b = Breaker::new(3, Duration::from_secs(1));
        for _ in 0..2 {
            b.failure(Permit::Closed);
        }
        assert_eq!(b.permit(), Permit::Closed);
        b.failure(Permit::Closed);
        assert_eq!(b.permit(), Permit::Denied);
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(b.permit(), Permit::Probe);
        assert_eq!(b.permit(), Permit::Denied, "one probe at a time");
        b.failure(Permit::Probe);
        assert_eq!(b.permit(), Permit::Denied, "a failed probe re-opens");
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(b.permit(), Permit::Probe);
        b.success();
        assert_eq!(b.permit(), Permit::Closed);
        assert!(!b.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_probe_does_not_keep_it_open_forever() {
        let b = Breaker::new(1, Duration::from_secs(1));
        b.failure(Permit::Closed);
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(b.permit(), Permit::Probe);
        // The probe's future was dropped: no report. Another is allowed after a cool-down.
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(b.permit(), Permit::Probe);
    }
}
