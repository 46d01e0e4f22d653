//! Shared-tier adapters over Redis: what makes several instances behave as one.
//!
//! # Layout
//!
//! - [`target`]: [`RedisTarget`], `REDIS_URL` parsed — one server or a cluster.
//! - [`shared`]: [`RedisShared`], the one handle every adapter here uses: a lazily made
//!   connection (an unreachable Redis never stops start-up), a timeout on every call and the
//!   [`breaker`] that turns repeated failures into degraded mode.
//! - [`cache`]: [`TwoLevelCache`], `local::L1Cache` in front of Redis, with generation-guarded
//!   write-backs so a load racing an invalidation never leaves a stale value in either tier.
//! - [`invalidation`]: the background listener applying other instances' invalidations to
//!   this instance's L1 (Redis pub/sub), with a keepalive `PING` that catches a silently dead
//!   subscription; it also acknowledges each message, so a write returns only once every
//!   instance has applied it (`acks`, bounded by a short timeout).
//! - [`limiter`]: [`RedisRateLimiter`] (three Lua scripts, one round trip a decision) and
//!   [`FallbackLimiter`], which hands decisions to the local limiter while Redis is away.
//! - [`timelines`]: [`RedisTimelines`], the fan-out home timelines (`FEED_STRATEGY=fanout`):
//!   per-user sorted sets of post ids with their rebuild state and follow-edge changes, one
//!   Lua script per user and operation, pipelined across users.
//! - [`stream`]: [`RedisFeedStream`], the feed event stream from the outbox to the fan-out
//!   workers: a Redis stream and one consumer group, blocking reads on their own connections.
//! - [`live`]: [`RedisLiveLog`], the live log behind every instance's `GET /stream`: one capped
//!   stream all instances append to (each outbox event once) and tail, so subscribers get the
//!   same events at the same positions whichever instance serves them.
//! - [`RedisProbe`]: `/health`'s view of Redis.
//!
//! Everything keeps answering while Redis is down: the cache from L1 and its loader, the
//! limiter from its fallback. Only `/health` says so. The timelines, the stream and the live
//! log are the exception: they answer `StoreError::Unavailable` quickly (the breaker and the
//! timeout bound every call) and leave the fallback to their callers.

mod acks;
pub mod breaker;
pub mod cache;
mod codec;
pub mod invalidation;
pub mod limiter;
pub mod live;
pub mod shared;
pub mod stream;
pub mod target;
pub mod timelines;

use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::HealthProbe;
use domain::StoreError;

pub use cache::TwoLevelCache;
pub use invalidation::{
    spawn_invalidation_listener, spawn_invalidation_listener_with, ListenerOptions,
};
pub use limiter::{FallbackLimiter, RedisRateLimiter};
pub use live::RedisLiveLog;
pub use shared::{RedisOptions, RedisShared};
pub use stream::RedisFeedStream;
pub use target::RedisTarget;
pub use timelines::{RedisTimelines, TimelineSettings};

/// [`HealthProbe`] for the Redis-backed cache and limiter.
pub struct RedisProbe(pub Arc<RedisShared>);

#[async_trait]
impl HealthProbe for RedisProbe {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

#[cfg(feature = "testing")]
pub mod testing;
