//! The Redis adapters against the machine's Redis (`SOCIALSCALE_TEST_REDIS_URL`), and against
//! no Redis at all (degraded mode needs none).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::suites;
use common::support::{
    cache, eventually, in_l1, long_lived_cache, same_prefix, shared, shared_with_ack_timeout,
    PausedClock,
};
use domain::ports::{Cache, Loader, RateAlgorithm, RateLimiter, RatePolicy};
use domain::testkit::limiter::rate_limiter_contract;
use futures::{FutureExt, StreamExt};
use local::LocalRateLimiter;
use redis_adapter::testing::{can_start_servers, redis_url, ClosedPort, RedisServer};
use redis_adapter::{
    spawn_invalidation_listener, spawn_invalidation_listener_with, FallbackLimiter,
    ListenerOptions, RedisRateLimiter,
};
use tokio_util::sync::CancellationToken;

/// Generous: delivery normally takes milliseconds; this only bounds a failure.
const DEADLINE: Duration = Duration::from_secs(5);

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
    // A generous ack wait: on a busy machine the acks arrive late rather than never.
    let redis_a = shared_with_ack_timeout(&url, DEADLINE);
    // Instance B: same Redis and prefix, its own handle and L1. Its L1 entries live a minute,
    // so only the invalidation message can remove k within the test.
    let redis_b = same_prefix(&url, &redis_a);
    let a = Arc::new(cache(&redis_a));
    let (b, l1_b) = long_lived_cache(&redis_b);
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    // A listens too: its own listener receives (and counts as acked) its own messages.
    spawn_invalidation_listener(a.clone(), stop.clone());
    spawn_invalidation_listener(b.clone(), stop.clone());
    eventually(DEADLINE, "both listeners subscribed", || async {
        a.listener_subscribed() && b.listener_subscribed()
    })
    .await;

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
    assert!(in_l1(&l1_b, "k").await);

    // A's invalidation returns only once B's listener has acknowledged dropping k: B's very
    // next read, with no polling or sleep in between, no longer finds the old value.
    a.invalidate(&["k".to_owned()]).await;
    assert_eq!(
        (a.acks_confirmed(), a.ack_timeouts()),
        (1, 0),
        "the acks, not the timeout, ended the wait"
    );
    assert!(
        !in_l1(&l1_b, "k").await,
        "B's L1 dropped k before A's invalidate returned"
    );
    assert_eq!(get(b.as_ref(), "k").await, None);

    // The same for a replaced value: B's next read gets the new one.
    let got = b
        .get_or_load("k", Duration::from_secs(60), value(&calls, b"v2"))
        .await;
    assert_eq!(got.unwrap().as_deref(), Some(&b"v2"[..]));
    a.set("k", b"v3".to_vec(), Duration::from_secs(60)).await;
    assert_eq!(get(b.as_ref(), "k").await.as_deref(), Some(&b"v3"[..]));
    assert_eq!(
        b.listener_subscriptions(),
        1,
        "a message, not a reconnection"
    );
    assert!(!redis_b.is_degraded());
}

/// A subscriber standing in for another instance: it acks the first invalidation late, then
/// never again (a hung instance). The writer waits for the late ack, and for the missing one
/// only the bounded ack wait: never a hang or a failure.
#[tokio::test]
async fn invalidate_waits_for_slow_acks_but_not_beyond_the_bound() {
    let Some(url) = redis_url().await else { return };
    const SLOW: Duration = Duration::from_millis(300);
    let ack_timeout = Duration::from_secs(1);
    let redis = shared_with_ack_timeout(&url, ack_timeout);
    let c = Arc::new(cache(&redis));
    // Acks reach the writer through its own listener (which acks the writer's messages too).
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    spawn_invalidation_listener(c.clone(), stop.clone());
    eventually(DEADLINE, "the listener subscribed", || async {
        c.listener_subscribed()
    })
    .await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut sub = client.get_async_pubsub().await.unwrap();
    sub.subscribe(redis.channel()).await.unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ack_to = redis.clone();
    let acked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked_by_other = acked.clone();
    let other = tokio::spawn(async move {
        let acked = acked_by_other;
        let mut messages = sub.into_on_message();
        let payload: String = messages.next().await.unwrap().get_payload().unwrap();
        let head = payload.lines().next().unwrap();
        let (from, id) = head.split_once(' ').unwrap();
        tokio::time::sleep(SLOW).await;
        acked.store(true, std::sync::atomic::Ordering::SeqCst);
        redis::cmd("PUBLISH")
            .arg(ack_to.ack_channel(from))
            .arg(id)
            .query_async::<i64>(&mut conn)
            .await
            .unwrap();
        let second = messages.next().await.unwrap();
        (messages, second.get_payload::<String>().unwrap())
    });

    // The late ack ends the wait: invalidate cannot return before it was sent.
    c.invalidate(&["k".to_owned()]).await;
    assert!(
        acked.load(std::sync::atomic::Ordering::SeqCst),
        "returned before the slow ack"
    );
    assert_eq!((c.acks_confirmed(), c.ack_timeouts()), (1, 0));

    // The missing ack ends in the bounded wait running out, and the call still answers.
    c.invalidate(&["k2".to_owned()]).await;
    assert_eq!((c.acks_confirmed(), c.ack_timeouts()), (1, 1));
    let (_still_subscribed, second) = tokio::time::timeout(DEADLINE, other)
        .await
        .unwrap()
        .unwrap();
    assert!(second.ends_with("\nk2"), "{second}");
    assert!(!redis.is_degraded(), "a missing ack is not a Redis failure");
}

/// The listener's session ends both when its server goes away (the connection closes) and when
/// it hangs with the connection open (only the keepalive `PING` notices); either way it
/// reconnects and clears L1, since messages may have been lost. Starts its own redis-server.
#[tokio::test]
async fn the_listener_reconnects_and_clears_l1_after_a_restart_or_a_hang() {
    if !can_start_servers() {
        return;
    }
    let mut server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let redis = shared(&server.url());
    let (c, l1) = long_lived_cache(&redis);
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let options = ListenerOptions {
        keepalive: Duration::from_millis(100),
    };
    spawn_invalidation_listener_with(c.clone(), stop.clone(), options);
    eventually(DEADLINE, "the listener subscribed", || async {
        c.listener_subscribed()
    })
    .await;
    let calls = AtomicUsize::new(0);
    let warm = || async {
        let got = c.get_or_load("k", Duration::from_secs(60), value(&calls, b"v"));
        assert_eq!(got.await.unwrap().as_deref(), Some(&b"v"[..]));
        assert!(in_l1(&l1, "k").await);
    };

    // Restarted: the connection closes, the listener reconnects and clears L1.
    warm().await;
    let server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    eventually(
        DEADLINE,
        "the listener resubscribed after the restart",
        || async { c.listener_subscribed() && c.listener_subscriptions() >= 2 },
    )
    .await;
    assert!(!in_l1(&l1, "k").await, "L1 cleared on reconnecting");

    // Hung (SIGSTOP): the connection stays open and silent; only the keepalive ends the session.
    warm().await;
    let subscriptions = c.listener_subscriptions();
    server.pause();
    let hung = async {
        eventually(
            DEADLINE,
            "the keepalive noticed the hung server",
            || async { !c.listener_subscribed() },
        )
        .await;
    };
    // Resumed whatever happens, so a failure cannot leave a stopped process behind.
    let noticed = std::panic::AssertUnwindSafe(hung).catch_unwind().await;
    server.resume();
    if let Err(panic) = noticed {
        std::panic::resume_unwind(panic);
    }
    eventually(
        DEADLINE,
        "the listener resubscribed after the hang",
        || async { c.listener_subscribed() && c.listener_subscriptions() > subscriptions },
    )
    .await;
    assert!(!in_l1(&l1, "k").await, "L1 cleared on reconnecting");
    drop(server);
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
    let closed = ClosedPort::new();
    let redis = shared(&format!("redis://127.0.0.1:{}", closed.port));
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

/// The limiter the server wires (`FallbackLimiter`: Redis, else the local limiter) with Redis
/// a closed port, so every decision comes from the fallback path: it keeps the whole limiter
/// contract, concurrent checks included. The paused clock drives the local limiter's windows
/// (and the breaker's); needs no Redis, so it always runs.
#[tokio::test(start_paused = true)]
async fn the_fallback_limiter_without_redis_passes_the_limiter_contract() {
    let closed = ClosedPort::new();
    let redis = shared(&format!("redis://127.0.0.1:{}", closed.port));
    let limiter = FallbackLimiter::new(
        RedisRateLimiter::new(redis.clone()),
        Arc::new(LocalRateLimiter::new()),
    );
    rate_limiter_contract(&limiter, &PausedClock, Duration::from_secs(60)).await;
    assert!(
        redis.is_degraded(),
        "Redis never answered: the breaker is open"
    );
}
