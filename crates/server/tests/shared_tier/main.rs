//! The shared tier end to end: two instances on one database and one Redis behave as one,
//! and an instance whose Redis goes away keeps serving, says so, and comes back by itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use redis_adapter::testing::{can_start_servers, redis_url, RedisServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{eventually, prefix, spawn, timeline_ids};

/// The freshness bound of the API contract for other readers.
const BOUND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn two_instances_share_one_rate_limit_budget() {
    let Some(url) = redis_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
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

#[tokio::test]
async fn writes_on_one_instance_are_seen_on_the_other() {
    let Some(url) = redis_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let p = prefix();
    let a = spawn(&db, &url, &p, &[]).await;
    let b = spawn(&db, &url, &p, &[]).await;
    let ada = a.signup("ada").await;

    // B caches the (empty) head of the timeline first, so freshness depends on invalidation.
    assert!(timeline_ids(&b).await.is_empty());
    let res = a
        .send(
            Method::POST,
            "/posts",
            Some(&ada.token),
            Some(json!({"content": "hello"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let post: Value = res.json().await.unwrap();
    let id = post["id"].as_str().unwrap().to_owned();
    // The author's own write is visible on any instance in the very next request: A answered
    // only after B acknowledged the invalidation (no polling here).
    assert!(
        timeline_ids(&b).await.contains(&id),
        "the post made via A is in B's timeline on the next request"
    );
    let on_b = b.json(&format!("/posts/{id}")).await;
    assert_eq!(on_b["author"]["id"], ada.id.as_str());

    // B has the author summary cached now; a profile change via A must reach it.
    let res = a
        .send(
            Method::PUT,
            "/users/profile",
            Some(&ada.token),
            Some(json!({"name": "Ada L."})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually(BOUND, "B embeds the new name", || async {
        let page = b.json("/posts?limit=20").await;
        page["posts"][0]["author"]["name"] == "Ada L."
    })
    .await;

    let res = a
        .send(
            Method::DELETE,
            &format!("/posts/{id}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    eventually(BOUND, "the post deleted via A is gone from B", || async {
        b.get(&format!("/posts/{id}")).await.status() == StatusCode::NOT_FOUND
            && !timeline_ids(&b).await.contains(&id)
    })
    .await;
}

#[tokio::test]
async fn without_redis_an_instance_keeps_serving_and_recovers_by_itself() {
    if !can_start_servers() {
        return;
    }
    let mut redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(
        &dir.path().join("app.db"),
        &redis.url(),
        &prefix(),
        &["--redis-timeout-ms", "200"],
    )
    .await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["backends"]["cache"], "redis");
    assert_eq!(body["backends"]["rateLimit"], "redis");
    let ada = app.signup("ada").await;

    let mut redis = tokio::task::spawn_blocking(move || {
        redis.stop();
        redis
    })
    .await
    .unwrap();
    for i in 0..5 {
        let res = app
            .send(
                Method::POST,
                "/posts",
                Some(&ada.token),
                Some(json!({"content": format!("p{i}")})),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "writes succeed without Redis"
        );
        let page = app.json("/posts?limit=20").await;
        assert_eq!(
            page["posts"].as_array().unwrap().len(),
            i + 1,
            "and are read back fresh"
        );
        assert!(app
            .get("/posts")
            .await
            .headers()
            .contains_key("ratelimit-remaining"));
    }
    eventually(
        Duration::from_secs(5),
        "health reports the cache unhealthy",
        || async {
            let res = app.get("/health").await;
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            status == StatusCode::SERVICE_UNAVAILABLE && body["services"]["cache"] == "unhealthy"
        },
    )
    .await;
    assert_eq!(app.get("/health/readiness").await.status(), StatusCode::OK);

    redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "health is ok again once Redis is back",
        || async { app.get("/health").await.status() == StatusCode::OK },
    )
    .await;
    let res = app
        .send(
            Method::POST,
            "/posts",
            Some(&ada.token),
            Some(json!({"content": "back"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        app.json("/posts?limit=20").await["posts"][0]["content"],
        "back"
    );
    drop(redis);
}
