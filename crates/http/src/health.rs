//! Dependency probes for `/health` and `/health/readiness`, cached so that health traffic at
//! any rate costs each dependency at most one probe per second.

use std::sync::Arc;
use std::time::Duration;

use domain::ports::HealthProbe;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use crate::routes::health::FeedHealth;

/// How long a probe's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// A probe that takes longer than this counts as a failure: health must answer promptly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct CachedProbe {
    probe: Arc<dyn HealthProbe>,
    /// A tokio mutex on purpose: it is held across the probe so concurrent health requests
    /// wait for one probe instead of each starting their own.
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl CachedProbe {
    pub fn new(probe: Arc<dyn HealthProbe>) -> Self {
        CachedProbe {
            probe,
            last: Mutex::new(None),
        }
    }

    pub fn backend(&self) -> &'static str {
        self.probe.backend()
    }

    /// `Err` carries a reason for the log and the readiness body; never a secret.
    pub async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return result.clone();
            }
        }
        let result = match tokio::time::timeout(PROBE_TIMEOUT, self.probe.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("probe timed out".to_owned()),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// What `/health` says of the feed, read when it is asked.
pub type FeedReport = Arc<dyn Fn() -> FeedHealth + Send + Sync>;

/// The probes `/health` reports on.
pub struct Health {
    pub database: CachedProbe,
    pub cache: CachedProbe,
    pub rate_limit: CachedProbe,
    pub started: Instant,
    pub feed: FeedReport,
}

impl Health {
    pub fn new(
        database: Arc<dyn HealthProbe>,
        cache: Arc<dyn HealthProbe>,
        rate_limit: Arc<dyn HealthProbe>,
    ) -> Self {
        Health {
            database: CachedProbe::new(database),
            cache: CachedProbe::new(cache),
            rate_limit: CachedProbe::new(rate_limit),
            started: Instant::now(),
            feed: Arc::new(|| FeedHealth {
                strategy: "pull",
                workers: 0,
                relay: "ok",
                outbox_backlog: 0,
                stream_lag: 0,
                events_handled: 0,
            }),
        }
    }

    /// Reports the feed through `report` instead of as the pull strategy.
    pub fn with_feed(self, report: FeedReport) -> Self {
        Health {
            feed: report,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use domain::StoreError;

    use super::*;

    struct Counting(AtomicUsize);

    #[async_trait]
    impl HealthProbe for Counting {
        fn backend(&self) -> &'static str {
            "counting"
        }

        async fn ping(&self) -> Result<(), StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unavailable("down".into()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_cost_a_dependency_at_most_one_ping_per_second() {
        let probe = Arc::new(Counting(AtomicUsize::new(0)));
        let cached = CachedProbe::new(probe.clone());
        for _ in 0..100 {
            assert!(cached.check().await.is_err());
        }
        assert_eq!(probe.0.load(Ordering::SeqCst), 1);
        tokio::time::advance(FRESH_FOR).await;
        assert!(cached.check().await.is_err());
        assert_eq!(probe.0.load(Ordering::SeqCst), 2);
    }
}
