//! The contract suites on the Redis adapters, for any `REDIS_URL` (one server or a cluster).
#![allow(dead_code)]

use std::time::Duration;

use domain::ports::RateAlgorithm;
use domain::testkit::cache::{cache_contract, cache_single_flight_contract};
use domain::testkit::limiter::rate_limiter_algorithm_contract;
use redis_adapter::RedisRateLimiter;

use super::support::{align_to_window, cache, shared, Offset, WINDOW};

pub async fn cache_suites(url: &str) {
    let redis = shared(url);
    cache_contract(&cache(&redis)).await;
    cache_single_flight_contract(&cache(&redis)).await;
    assert!(
        !redis.is_degraded(),
        "the suites ran against Redis, not around it"
    );
}

pub async fn limiter_suites(url: &str) {
    let redis = shared(url);
    let limiter = RedisRateLimiter::new(redis.clone());
    let mut offset = Duration::ZERO;
    for algorithm in [
        RateAlgorithm::FixedWindow,
        RateAlgorithm::SlidingWindow,
        RateAlgorithm::TokenBucket,
    ] {
        align_to_window(url, &limiter, &mut offset).await;
        rate_limiter_algorithm_contract(&limiter, &Offset(&limiter), WINDOW, algorithm).await;
    }
}
