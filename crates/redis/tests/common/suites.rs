//! The contract suites on the Redis adapters, for any `REDIS_URL` (one server or a cluster).
#![allow(dead_code)]

use std::time::Duration;

use domain::ports::RateAlgorithm;
use domain::testkit::cache::{cache_contract, cache_single_flight_contract};
use domain::testkit::limiter::rate_limiter_algorithm_contract;
use domain::testkit::live::live_log_contract;
use domain::testkit::timeline::{feed_event_stream_contract, timeline_store_contract};
use redis_adapter::{
    RedisFeedStream, RedisLiveLog, RedisRateLimiter, RedisTimelines, TimelineSettings,
};

use super::support::{align_to_window, cache, shared, Offset, Sleep, WINDOW};

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

/// The timeline store contract, at two caps (the suite's checks around the cap differ).
pub async fn timeline_suites(url: &str) {
    for cap in [4, 9] {
        let redis = shared(url);
        let settings = TimelineSettings {
            cap,
            ..TimelineSettings::default()
        };
        timeline_store_contract(&RedisTimelines::new(redis.clone(), settings), cap).await;
        assert!(!redis.is_degraded());
    }
}

/// The event stream contract, on a stream of its own (a fresh key prefix).
pub async fn stream_suites(url: &str) {
    let redis = shared(url);
    feed_event_stream_contract(&RedisFeedStream::new(redis.clone()), &Sleep).await;
    assert!(!redis.is_degraded());
}

/// The live log contract, on a stream of its own (a fresh key prefix), with a small history.
pub async fn live_suites(url: &str) {
    let redis = shared(url);
    live_log_contract(&RedisLiveLog::new(redis.clone(), 50), 50).await;
    assert!(!redis.is_degraded());
}
