//! An instance whose Redis goes away keeps serving, says so on `/health`, and moves back to
//! Redis by itself once it answers again.

use std::time::Duration;

use redis_adapter::testing::{can_start_servers, RedisServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{database, eventually, prefix, spawn};

#[tokio::test]
async fn without_redis_an_instance_keeps_serving_and_recovers_by_itself() {
    if !can_start_servers() {
        return;
    }
    let mut redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let db = database().await;
    let app = spawn(&db, &redis.url(), &prefix(), &["--redis-timeout-ms", "200"]).await;
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
