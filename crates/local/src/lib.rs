//! In-process adapters: everything SocialScale needs that runs without a server.
//!
//! With no Redis configured these are the whole shared tier of a single instance; with Redis,
//! the cache here is the L1 in front of it and the limiter is the fallback while Redis is
//! unreachable.
//!
//! # Layout
//!
//! - [`cache`]: [`L1Cache`], a bounded moka cache with a TTL per entry, single-flight loads and
//!   the invalidation guard the `Cache` port requires; [`NoCache`] to measure with caching off.
//! - [`limiter`]: [`LocalRateLimiter`], fixed window, sliding window and token bucket over
//!   sharded maps, with idle keys forgotten so memory stays bounded.
//! - [`hasher`]: [`Argon2Hasher`], argon2id on a few dedicated threads, each with one reused
//!   work area, behind a bounded queue with a wait limit.
//! - [`jwt`]: [`JwtIssuer`], HS256 tokens with the algorithm pinned.
//! - [`api_keys`]: [`Sha256Secrets`], API key secrets (random, SHA-256, constant-time check).
//! - [`live`]: [`LiveMemoryLog`], the live log behind `GET /stream` on one instance: a ring of
//!   the newest outbox events, positions stamped with the process's start so a restart resets
//!   resuming clients.
//! - [`clock`] and [`ids`]: [`SystemClock`] and [`UuidV7Generator`].
//! - [`LocalProbe`]: what `/health` reports for the cache and limiter when they are these.
//!
//! Each type implements a port of `domain::ports` and passes that port's `domain::testkit`
//! suite (see `tests/`).

pub mod api_keys;
pub mod cache;
pub mod clock;
pub mod hasher;
pub mod ids;
pub mod jwt;
pub mod limiter;
pub mod live;

use async_trait::async_trait;
use domain::ports::HealthProbe;
use domain::StoreError;

pub use api_keys::Sha256Secrets;
pub use cache::{L1Cache, NoCache};
pub use clock::SystemClock;
pub use hasher::{Argon2Hasher, HasherConfig, PoolConfig};
pub use ids::UuidV7Generator;
pub use jwt::JwtIssuer;
pub use limiter::LocalRateLimiter;
pub use live::LiveMemoryLog;

/// [`HealthProbe`] for in-process backends: they live and die with the process, so there is
/// nothing to ping.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalProbe;

#[async_trait]
impl HealthProbe for LocalProbe {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
