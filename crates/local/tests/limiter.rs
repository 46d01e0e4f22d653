//! `LocalRateLimiter` against the `RateLimiter` contract, on tokio's paused clock.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use domain::ports::{RateAlgorithm, RateLimiter, RatePolicy};
use domain::testkit::limiter::{rate_limiter_contract, TimeControl};
use local::LocalRateLimiter;

struct PausedClock;

impl TimeControl for PausedClock {
    fn advance(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::advance(d))
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn passes_the_contract_from_a_window_start() {
    rate_limiter_contract(&LocalRateLimiter::new(), &PausedClock, MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn passes_the_contract_from_within_a_window() {
    let limiter = LocalRateLimiter::new();
    tokio::time::advance(Duration::from_millis(37_123)).await;
    rate_limiter_contract(&limiter, &PausedClock, MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn passes_the_contract_with_short_and_long_windows() {
    let limiter = LocalRateLimiter::new();
    rate_limiter_contract(&limiter, &PausedClock, Duration::from_millis(250)).await;
    rate_limiter_contract(&limiter, &PausedClock, Duration::from_secs(15 * 60)).await;
}

#[tokio::test(start_paused = true)]
async fn headers_of_a_sliding_window_follow_the_weighted_count() {
    let limiter = LocalRateLimiter::new();
    let policy = RatePolicy {
        name: "general",
        limit: 4,
        window: MINUTE,
        algorithm: RateAlgorithm::SlidingWindow,
    };
    for _ in 0..4 {
        assert!(limiter.check(&policy, "ip", 1).await.unwrap().allowed);
    }
    // A quarter into the next window, three quarters of the previous 4 hits still count.
    tokio::time::advance(Duration::from_secs(75)).await;
    let d = limiter.check(&policy, "ip", 1).await.unwrap();
    assert_eq!((d.allowed, d.remaining), (true, 0));
    let d = limiter.check(&policy, "ip", 1).await.unwrap();
    assert!(!d.allowed);
    // 4 × (60 − x) + 2 × 60 ≤ 240  ⇒  x ≥ 30 s: 15 s after now.
    assert_eq!(d.retry_after, Some(Duration::from_secs(15)));
    assert_eq!(d.reset_after, Duration::from_secs(45 + 60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_hits_never_exceed_the_limit() {
    let limiter = std::sync::Arc::new(LocalRateLimiter::new());
    let policy = RatePolicy {
        name: "post",
        limit: 100,
        window: Duration::from_secs(3600),
        algorithm: RateAlgorithm::TokenBucket,
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (limiter, policy) = (std::sync::Arc::clone(&limiter), policy.clone());
            tokio::spawn(async move {
                let mut allowed = 0;
                for _ in 0..50 {
                    allowed +=
                        usize::from(limiter.check(&policy, "user", 1).await.unwrap().allowed);
                }
                allowed
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 100);
}
