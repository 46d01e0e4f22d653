//! What the Redis adapter tests share: building adapters on a unique key prefix, and a
//! [`TimeControl`] that moves the limiter's clock instead of sleeping.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use domain::model::{FeedEvent, OutboxEntry, PostId, Timestamp, UserId};
use domain::testkit::limiter::TimeControl;
use domain::StoreError;
use local::L1Cache;
use redis_adapter::{RedisOptions, RedisRateLimiter, RedisShared, RedisTarget, TwoLevelCache};
use uuid::Uuid;

pub fn shared(url: &str) -> Arc<RedisShared> {
    shared_with_ack_timeout(url, RedisOptions::default().ack_timeout)
}

/// [`shared`], waiting up to `ack_timeout` for other instances to acknowledge invalidations.
pub fn shared_with_ack_timeout(url: &str, ack_timeout: Duration) -> Arc<RedisShared> {
    let target = RedisTarget::parse(url).unwrap();
    let options = RedisOptions {
        // A unique prefix per test: runs on a shared server never meet.
        key_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
        // Generous: these tests check behaviour, not latency, on a busy 2-core machine.
        timeout: Duration::from_secs(2),
        ack_timeout,
        ..RedisOptions::default()
    };
    Arc::new(RedisShared::new(target, options))
}

pub fn cache(redis: &Arc<RedisShared>) -> TwoLevelCache {
    TwoLevelCache::new(
        Arc::new(L1Cache::new(10_000)),
        redis.clone(),
        Duration::from_secs(1),
    )
}

/// Advances the limiter's view of Redis time.
pub struct Offset<'a>(pub &'a RedisRateLimiter);

impl TimeControl for Offset<'_> {
    fn advance(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.advance_clock(d);
        Box::pin(async {})
    }
}

/// Real time: sleeps (for stores on Redis's own clock, like a stream's idle times).
pub struct Sleep;

impl TimeControl for Sleep {
    fn advance(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Advances tokio's paused clock: the time of an in-process limiter (and of the breaker).
pub struct PausedClock;

impl TimeControl for PausedClock {
    fn advance(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::advance(d))
    }
}

/// The window the limiter suites use: long next to a suite's real duration, so with the
/// start aligned to a window edge no edge passes except through [`Offset`].
pub const WINDOW: Duration = Duration::from_secs(60);

/// Moves the limiter's clock to just after the next window edge of Redis time.
pub async fn align_to_window(url: &str, limiter: &RedisRateLimiter, offset: &mut Duration) {
    let now = redis_now(url).await + *offset;
    let w = WINDOW.as_micros();
    let into = now.as_micros() % w;
    let step = Duration::from_micros(u64::try_from(w - into).unwrap() + 1_000);
    limiter.advance_clock(step);
    *offset += step;
}

async fn redis_now(url: &str) -> Duration {
    // On a cluster any node's clock will do: the nodes share the machine's.
    let first = RedisTarget::parse(url).unwrap().nodes()[0].clone();
    let client = redis::Client::open(first).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    Duration::from_secs(s) + Duration::from_micros(us)
}

/// Another instance's handle on the same Redis (any URL naming it) and key prefix as `like`:
/// its own connection and instance id, so it receives `like`'s invalidation messages.
pub fn same_prefix(url: &str, like: &RedisShared) -> Arc<RedisShared> {
    let options = RedisOptions {
        key_prefix: like.prefix().to_owned(),
        timeout: like.timeout(),
        ack_timeout: like.ack_timeout(),
        ..RedisOptions::default()
    };
    Arc::new(RedisShared::new(RedisTarget::parse(url).unwrap(), options))
}

/// A cache whose L1 entries live a minute, returned with its L1: when an entry disappears
/// within a test, an invalidation (message or reconnection) removed it, not the TTL cap.
pub fn long_lived_cache(redis: &Arc<RedisShared>) -> (Arc<TwoLevelCache>, Arc<L1Cache>) {
    let l1 = Arc::new(L1Cache::new(10_000));
    let cache = TwoLevelCache::new(l1.clone(), redis.clone(), Duration::from_secs(60));
    (Arc::new(cache), l1)
}

/// Whether `l1` itself (not L2 behind it) holds `key`.
pub async fn in_l1(l1: &L1Cache, key: &str) -> bool {
    use domain::ports::Cache;
    l1.get_many(&[key.to_owned()]).await[0].is_some()
}

/// Polls `ok` every 10 ms until it holds; panics naming `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !ok().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A handle on a Redis that is not there (a closed port), with a short timeout.
pub fn unreachable(port: u16) -> Arc<RedisShared> {
    let options = RedisOptions {
        key_prefix: format!("test:{}:", Uuid::new_v4().simple()),
        timeout: Duration::from_millis(200),
        ..RedisOptions::default()
    };
    let target = RedisTarget::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    Arc::new(RedisShared::new(target, options))
}

pub fn unavailable<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {r:?}"
    );
}

/// A new post by a new author, at `seq`.
pub fn posted(seq: i64) -> OutboxEntry {
    OutboxEntry {
        seq,
        event: FeedEvent::Posted {
            post: PostId::from_uuid(Uuid::now_v7()),
            author: UserId::from_uuid(Uuid::now_v7()),
        },
        recorded_at: Timestamp::from_unix_millis(1_700_000_000_000),
    }
}

/// A connection of the test's own, beside the adapters'.
pub async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Adds two entries to the stream at `key` that are no outbox event: fields missing, and a kind
/// no event has.
pub async fn add_undecodable(url: &str, key: &str) {
    let mut c = conn(url).await;
    for fields in [
        vec![("seq", "x"), ("kind", "post")],
        vec![
            ("seq", "2"),
            ("kind", "reshare"),
            ("a", "1"),
            ("b", "2"),
            ("at", "3"),
        ],
    ] {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key).arg("*");
        for (k, v) in fields {
            cmd.arg(k).arg(v);
        }
        let _: String = cmd.query_async(&mut c).await.unwrap();
    }
}
