//! The cache and the rate limiter: in process, or — with a Redis target — a two-level cache over
//! Redis and distributed limits, each falling back to the in-process tier while Redis is away.

use std::sync::Arc;
use std::time::Duration;

use domain::ports::{Cache, HealthProbe, RateLimiter};
use local::{L1Cache, LocalProbe, LocalRateLimiter, NoCache};
use redis_adapter::{
    spawn_invalidation_listener, FallbackLimiter, RedisOptions, RedisProbe, RedisRateLimiter,
    RedisShared, TwoLevelCache,
};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// What every instance shares: cache and limits, and their health probes.
pub struct SharedTier {
    pub cache: Arc<dyn Cache>,
    pub limiter: Arc<dyn RateLimiter>,
    pub cache_probe: Arc<dyn HealthProbe>,
    pub limiter_probe: Arc<dyn HealthProbe>,
    /// The Redis handle, when there is one (the feed's timelines and stream use it too).
    pub redis: Option<Arc<RedisShared>>,
}

impl SharedTier {
    /// `shutdown` stops any background task the tier starts (the invalidation listener).
    pub async fn build(config: &Config, shutdown: &CancellationToken) -> anyhow::Result<Self> {
        let s = &config.settings;
        let Some(target) = config.redis.clone() else {
            let cache: Arc<dyn Cache> = if s.cache_enabled {
                Arc::new(L1Cache::new(s.cache_capacity))
            } else {
                Arc::new(NoCache)
            };
            let probe = Arc::new(LocalProbe);
            return Ok(SharedTier {
                cache,
                limiter: Arc::new(LocalRateLimiter::new()),
                cache_probe: probe.clone(),
                limiter_probe: probe,
                redis: None,
            });
        };
        let options = RedisOptions {
            key_prefix: s.redis_key_prefix.clone(),
            timeout: Duration::from_millis(s.redis_timeout_ms),
            ..RedisOptions::default()
        };
        let redis = Arc::new(RedisShared::new(target, options));
        // Not required to succeed: an unreachable Redis means starting in degraded mode.
        match redis.ping().await {
            Ok(()) => tracing::info!("redis reachable: shared cache and limits"),
            Err(e) => {
                tracing::warn!(error = %e, "redis unreachable at start: degraded mode until it answers")
            }
        }
        let cache: Arc<dyn Cache> = if s.cache_enabled {
            let two_level = Arc::new(TwoLevelCache::new(
                Arc::new(L1Cache::new(s.cache_capacity)),
                redis.clone(),
                Duration::from_millis(s.redis_l1_ttl_ms),
            ));
            spawn_invalidation_listener(two_level.clone(), shutdown.clone());
            two_level
        } else {
            Arc::new(NoCache)
        };
        let limiter = FallbackLimiter::new(
            RedisRateLimiter::new(redis.clone()),
            Arc::new(LocalRateLimiter::new()),
        );
        let p = &config.policies;
        limiter.register_metrics(&[
            &p.general,
            &p.post,
            &p.login,
            &p.signup,
            &p.login_failures,
            &p.login_failures_account,
            &p.api_key,
        ]);
        let probe = Arc::new(RedisProbe(redis.clone()));
        Ok(SharedTier {
            cache,
            limiter: Arc::new(limiter),
            cache_probe: probe.clone(),
            limiter_probe: probe,
            redis: Some(redis),
        })
    }
}
