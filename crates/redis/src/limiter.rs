//! The distributed rate limiter: one Lua script per algorithm, one round trip per decision,
//! on Redis server time so every instance counts on the same clock. And the wrapper that
//! falls back to the local limiter whenever Redis cannot answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{RateAlgorithm, RateDecision, RateLimiter, RatePolicy};
use domain::StoreError;
use redis::Script;

use crate::shared::RedisShared;

/// Counts hits in Redis with the same rules, keys and answers as `local::LocalRateLimiter`.
pub struct RedisRateLimiter {
    redis: Arc<RedisShared>,
    fixed: Script,
    sliding: Script,
    bucket: Script,
    /// Added to Redis time by the scripts. Always zero in service; tests move it forward
    /// (see [`RedisRateLimiter::advance_clock`]) instead of sleeping through windows.
    offset_us: AtomicU64,
}

impl RedisRateLimiter {
    pub fn new(redis: Arc<RedisShared>) -> Self {
        RedisRateLimiter {
            redis,
            // `Script` sends EVALSHA and falls back to loading the script on NOSCRIPT.
            fixed: Script::new(include_str!("lua/fixed_window.lua")),
            sliding: Script::new(include_str!("lua/sliding_window.lua")),
            bucket: Script::new(include_str!("lua/token_bucket.lua")),
            offset_us: AtomicU64::new(0),
        }
    }

    /// For tests: makes this limiter see time `d` later than Redis's clock says, so the
    /// contract suite can cross windows of real size without waiting.
    pub fn advance_clock(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.offset_us.fetch_add(us, Ordering::SeqCst);
    }

    /// The state's key. The `{…}` hash tag holds what identifies one budget, so on a cluster
    /// a decision touches one slot; the rule's parameters follow it, so a reconfigured policy
    /// starts counting afresh (as the local limiter does) instead of misreading old state.
    fn key(&self, policy: &RatePolicy, key: &str, window_us: u64) -> String {
        let tag = format!("{}:{key}", policy.name).replace(['{', '}'], "_");
        format!(
            "{}rl:{{{tag}}}:{}:{}:{window_us}",
            self.redis.prefix(),
            policy.algorithm.as_str(),
            policy.limit
        )
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(
        &self,
        policy: &RatePolicy,
        key: &str,
        cost: u32,
    ) -> Result<RateDecision, StoreError> {
        if policy.limit == 0 {
            return Ok(RateDecision::no_budget(policy));
        }
        let window_us = u64::try_from(policy.window.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let script = match policy.algorithm {
            RateAlgorithm::FixedWindow => &self.fixed,
            RateAlgorithm::SlidingWindow => &self.sliding,
            RateAlgorithm::TokenBucket => &self.bucket,
        };
        let k = self.key(policy, key, window_us);
        let offset = self.offset_us.load(Ordering::SeqCst);
        let (allowed, remaining, reset_us, retry_us): (i64, i64, i64, i64) = self
            .redis
            .call(|mut c| async move {
                let mut inv = script.key(k);
                inv.arg(policy.limit).arg(window_us).arg(cost).arg(offset);
                inv.invoke_async(&mut c).await
            })
            .await?;
        let allowed = allowed == 1;
        Ok(RateDecision {
            allowed,
            limit: policy.limit,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(policy.limit),
            reset_after: micros(reset_us),
            // Never zero: "retry in 0" would invite an immediate, equally denied retry.
            retry_after: (!allowed).then(|| micros(retry_us).max(Duration::from_micros(1))),
        })
    }
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// Redis first; whenever it cannot answer (down, slow, breaker open) the local limiter
/// decides, so limiting never stops and never turns into rejecting everything.
pub struct FallbackLimiter {
    primary: RedisRateLimiter,
    fallback: Arc<dyn RateLimiter>,
}

impl FallbackLimiter {
    pub fn new(primary: RedisRateLimiter, fallback: Arc<dyn RateLimiter>) -> Self {
        FallbackLimiter { primary, fallback }
    }

    /// Puts `rate_limit_fallback_total` at 0 for these policies, so the series exist (a rate of
    /// 0 on a dashboard, not no data) before Redis first fails to answer.
    pub fn register_metrics(&self, policies: &[&RatePolicy]) {
        for policy in policies {
            metrics::counter!("rate_limit_fallback_total", "policy" => policy.name).increment(0);
        }
    }
}

#[async_trait]
impl RateLimiter for FallbackLimiter {
    async fn check(
        &self,
        policy: &RatePolicy,
        key: &str,
        cost: u32,
    ) -> Result<RateDecision, StoreError> {
        match self.primary.check(policy, key, cost).await {
            Ok(d) => Ok(d),
            Err(_) => {
                metrics::counter!("rate_limit_fallback_total", "policy" => policy.name)
                    .increment(1);
                self.fallback.check(policy, key, cost).await
            }
        }
    }
}
