//! The Redis adapters against the machine's Redis (`SOCIALSCALE_TEST_REDIS_URL`), and against
//! no Redis at all (degraded mode needs none).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::suites;
use common::support::{cache, shared};
use domain::ports::{Cache, Loader, RateAlgorithm, RateLimiter, RatePolicy};
use local::LocalRateLimiter;
use redis_adapter::testing::{free_port, redis_url};
use redis_adapter::{spawn_invalidation_listener, FallbackLimiter, RedisRateLimiter};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn value<'a>(calls: &'a AtomicUsize, v: &'static [u8]) -> Loader<'a> {
    Box::pin(async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(Some(v.to_vec()))
    })
}

async fn get(cache: &dyn Cache, key: &str) -> Option<Arc<[u8]>> {
    cache.get_many(&[key.to_owned()]).await.pop().flatten()
}

#[tokio::test]
async fn two_level_cache_passes_the_cache_contracts() {
    let Some(url) = redis_url().await else { return };
    suites::cache_suites(&url).await;
}

#[tokio::test]
async fn redis_limiter_passes_the_limiter_contract() {
    let Some(url) = redis_url().await else { return };
    suites::limiter_suites(&url).await;
}

#[tokio::test]
async fn instances_share_l2_and_invalidate_each_others_l1() {
    let Some(url) = redis_url().await else { return };
    let redis_a = shared(&url);
    // Instance B: same Redis and prefix, its own handle and L1.
    let redis_b = Arc::new(redis_adapter::RedisShared::new(
        redis_a.target().clone(),
        redis_adapter::RedisOptions {
            key_prefix: redis_a.prefix().to_owned(),
            timeout: redis_a.timeout(),
            ..Default::default()
        },
    ));
    let (a, b) = (Arc::new(cache(&redis_a)), Arc::new(cache(&redis_b)));
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    spawn_invalidation_listener(b.clone(), stop.clone());

    let calls = AtomicUsize::new(0);
    let got = a
        .get_or_load("k", Duration::from_secs(60), value(&calls, b"v1"))
        .await;
    assert_eq!(got.unwrap().as_deref(), Some(&b"v1"[..]));
    let got = b
        .get_or_load("k", Duration::from_secs(60), value(&calls, b"other"))
        .await;
    assert_eq!(
        got.unwrap().as_deref(),
        Some(&b"v1"[..]),
        "B reads A's load from L2"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one load for both instances"
    );

    // B now holds k in its L1. A's invalidation must reach it through pub/sub, within the
    // bound (polled, so a slow machine only makes the test slower).
    a.invalidate(&["k".to_owned()]).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while get(b.as_ref(), "k").await.is_some() {
        assert!(
            Instant::now() < deadline,
            "B still serves k a second after A invalidated it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!redis_b.is_degraded());
}

#[tokio::test]
async fn a_write_back_racing_another_instances_invalidation_is_refused() {
    let Some(url) = redis_url().await else { return };
    let redis = shared(&url);
    let (a, b) = (cache(&redis), cache(&redis));
    let keys = ["raced".to_owned()];
    let racing: Loader<'_> = Box::pin(async {
        // Another instance invalidates while A's load is in flight.
        b.invalidate(&keys).await;
        Ok(Some(b"stale".to_vec()))
    });
    let served = a
        .get_or_load("raced", Duration::from_secs(60), racing)
        .await;
    assert_eq!(served.unwrap().as_deref(), Some(&b"stale"[..]));
    assert_eq!(
        get(&b, "raced").await,
        None,
        "the stale value did not reach L2"
    );
}

/// Redis is a closed port: every call fails fast or within the timeout, and nothing fails
/// for the caller. Needs no Redis, so it always runs.
#[tokio::test]
async fn without_redis_the_cache_and_limiter_keep_working() {
    let redis = shared(&format!("redis://127.0.0.1:{}", free_port()));
    let c = cache(&redis);
    let calls = AtomicUsize::new(0);
    for _ in 0..5 {
        let got = c
            .get_or_load("k", Duration::from_secs(60), value(&calls, b"v"))
            .await;
        assert_eq!(got.unwrap().as_deref(), Some(&b"v"[..]));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "L1 still caches");
    c.invalidate(&["k".to_owned()]).await;
    assert_eq!(
        get(&c, "k").await,
        None,
        "L1 invalidation does not depend on Redis"
    );
    c.set("s", b"x".to_vec(), Duration::from_secs(60)).await;

    let limiter = FallbackLimiter::new(
        RedisRateLimiter::new(redis.clone()),
        Arc::new(LocalRateLimiter::new()),
    );
    let policy = RatePolicy {
        name: "degraded",
        limit: 3,
        window: Duration::from_secs(60),
        algorithm: RateAlgorithm::SlidingWindow,
    };
    for _ in 0..3 {
        assert!(limiter.check(&policy, "ip", 1).await.unwrap().allowed);
    }
    let d = limiter.check(&policy, "ip", 1).await.unwrap();
    assert!(!d.allowed, "the local fallback still limits: {d:?}");
    assert!(redis.is_degraded(), "the breaker opened");
    assert!(redis.ping().await.is_err());
}
