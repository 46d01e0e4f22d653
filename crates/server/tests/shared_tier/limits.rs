//! Rate limits across instances: one budget shared through Redis, and still enforced (by each
//! instance on its own) while Redis cannot be reached.

use redis_adapter::testing::{can_start_servers, redis_url, ClosedPort, RedisServer};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{database, prefix, spawn, Instance};

#[tokio::test]
async fn two_instances_share_one_rate_limit_budget() {
    let Some(url) = redis_url().await else { return };
    let db = database().await;
    let p = prefix();
    let limit = ["--rate-limit-general", "6/60s"];
    let a = spawn(&db, &url, &p, &limit).await;
    let b = spawn(&db, &url, &p, &limit).await;
    for (i, instance) in [&a, &b, &a, &b, &a, &b].into_iter().enumerate() {
        let res = instance.get("/posts").await;
        assert_eq!(res.status(), StatusCode::OK, "request {i}");
        let remaining = res.headers()["ratelimit-remaining"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            remaining,
            (5 - i).to_string(),
            "one budget counts down across instances"
        );
    }
    for instance in [&a, &b] {
        let res = instance.get("/posts").await;
        assert_eq!(
            res.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "the shared budget is spent"
        );
        assert!(res.headers().contains_key("retry-after"));
    }
}

/// The general policy every test here sets: small enough to spend in a few requests, a window
/// long enough that it cannot roll over (and refill) during the test.
const SMALL: [&str; 2] = ["--rate-limit-general", "3/60s"];

/// Spends [`SMALL`] on `app`: three 200s counting down, then a real 429 — not merely the
/// headers of a limiter that would never say no.
async fn spend_small_budget(app: &Instance) {
    for left in [2, 1, 0] {
        let res = app.get("/posts").await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "within the budget, without Redis"
        );
        assert_eq!(
            res.headers()["ratelimit-remaining"].to_str().unwrap(),
            left.to_string(),
            "the local limiter counts this instance's requests"
        );
    }
    let res = app.get("/posts").await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the budget is spent: limits stay enforced without Redis"
    );
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // A sliding window's hits must partly slide out first (docs/API.md): up to two windows.
    assert!(
        (1..=120).contains(&retry),
        "Retry-After within two windows, got {retry}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "RateLimitError");
}

#[tokio::test]
async fn with_redis_gone_the_local_limiter_still_answers_429() {
    if !can_start_servers() {
        return;
    }
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let db = database().await;
    let app = spawn(
        &db,
        &redis.url(),
        &prefix(),
        &[SMALL[0], SMALL[1], "--redis-timeout-ms", "200"],
    )
    .await;
    // Redis is there at start-up and gone before the first limited request: every decision
    // below is the fallback's.
    let body: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(body["backends"]["rateLimit"], "redis");
    tokio::task::spawn_blocking(move || drop(redis))
        .await
        .unwrap();
    spend_small_budget(&app).await;
}

#[tokio::test]
async fn with_redis_never_reachable_the_local_limiter_still_answers_429() {
    // Nothing listens there: the instance starts degraded and never leaves the fallback. No
    // Redis is needed, so this runs (and guards the fallback) on machines without one too.
    let closed = ClosedPort::new();
    let url = format!("redis://127.0.0.1:{}", closed.port);
    let db = database().await;
    let app = spawn(
        &db,
        &url,
        &prefix(),
        &[SMALL[0], SMALL[1], "--redis-timeout-ms", "200"],
    )
    .await;
    spend_small_budget(&app).await;
}
