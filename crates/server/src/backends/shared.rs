//! The cache and the rate limiter: in process (this build has no shared tier yet).

use std::sync::Arc;

use domain::ports::{Cache, HealthProbe, RateLimiter};
use local::{L1Cache, LocalProbe, LocalRateLimiter, NoCache};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// What every instance would share: cache and limits, and their health probes.
pub struct SharedTier {
    pub cache: Arc<dyn Cache>,
    pub limiter: Arc<dyn RateLimiter>,
    pub cache_probe: Arc<dyn HealthProbe>,
    pub limiter_probe: Arc<dyn HealthProbe>,
}

impl SharedTier {
    /// `shutdown` stops any background task the tier starts.
    pub async fn build(config: &Config, _shutdown: &CancellationToken) -> anyhow::Result<Self> {
        let s = &config.settings;
        let cache: Arc<dyn Cache> = if s.cache_enabled {
            Arc::new(L1Cache::new(s.cache_capacity))
        } else {
            Arc::new(NoCache)
        };
        let probe = Arc::new(LocalProbe);
        Ok(SharedTier {
            cache,
            limiter: Arc::new(LocalRateLimiter::new()),
            cache_probe: probe.clone(),
            limiter_probe: probe,
        })
    }
}
