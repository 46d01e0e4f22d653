//! An instance whose Redis goes away keeps serving, says so on `/health`, and moves back to
//! Redis by itself once it answers again; under concurrent load on two instances, not one
//! request fails meanwhile.

use std::sync::Arc;
use std::time::Duration;

use redis_adapter::testing::{can_start_servers, RedisServer};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::load::{assert_statuses, Load, Request};
use crate::support::{database, eventually, prefix, spawn, wait_for_listeners, Instance};

#[tokio::test]
async fn without_redis_an_instance_keeps_serving_and_recovers_by_itself() {
    if !can_start_servers() {
        return;
    }
    let redis = tokio::task::spawn_blocking(RedisServer::start)
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

    let mut redis = off_the_runtime(redis, RedisServer::stop).await;
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

    redis = off_the_runtime(redis, RedisServer::restart).await;
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

/// `change` (which waits on processes) on a blocking thread.
async fn off_the_runtime(mut redis: RedisServer, change: fn(&mut RedisServer)) -> RedisServer {
    tokio::task::spawn_blocking(move || {
        change(&mut redis);
        redis
    })
    .await
    .unwrap()
}

const UP: u8 = 0;
const DOWN: u8 = 2;
const BACK: u8 = 4;

/// `method path` on `instance`, as `token`'s owner, with `body`.
fn request(
    instance: &Instance,
    what: &'static str,
    method: Method,
    path: String,
    token: &str,
    body: Option<Value>,
) -> Request {
    let (url, token) = (format!("{}{path}", instance.base), token.to_owned());
    Arc::new(move |c: &Client| {
        let mut r = c.request(method.clone(), &url).bearer_auth(&token);
        if let Some(b) = &body {
            r = r.json(b);
        }
        (what, r)
    })
}

/// How Redis goes away.
#[derive(Clone, Copy)]
enum Fault {
    /// Killed: connections refused.
    Stopped,
    /// Frozen (`SIGSTOP`): connections open, nothing answered.
    Hung,
}

impl Fault {
    fn start(self) -> fn(&mut RedisServer) {
        match self {
            Fault::Stopped => RedisServer::stop,
            Fault::Hung => |r| r.pause(),
        }
    }

    fn end(self) -> fn(&mut RedisServer) {
        match self {
            Fault::Stopped => RedisServer::restart,
            Fault::Hung => |r| r.resume(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_under_concurrent_load_costs_no_request_and_is_used_again_by_itself() {
    under_load(Fault::Stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hung_under_concurrent_load_costs_no_request_and_is_used_again_by_itself() {
    under_load(Fault::Hung).await;
}

/// Two instances under concurrent writes and reads (cached heads, profiles, feeds, renames
/// that invalidate across instances) while their Redis goes away and comes back: every
/// request is answered, none with a 5xx, and both go back to Redis by themselves.
async fn under_load(fault: Fault) {
    if !can_start_servers() {
        return;
    }
    let mut redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let db = database().await;
    let prefix = prefix();
    let flags = ["--redis-timeout-ms", "200"];
    let a = spawn(&db, &redis.url(), &prefix, &flags).await;
    let b = spawn(&db, &redis.url(), &prefix, &flags).await;
    wait_for_listeners(&redis.url(), &prefix, 2).await;
    let ada = a.signup("ada").await;
    let bob = b.signup("bob").await;
    b.follow(&bob, &ada).await;
    a.post(&ada, "first").await;

    let requests = vec![
        request(
            &a,
            "POST /posts (ada, A)",
            Method::POST,
            "/posts".into(),
            &ada.token,
            Some(json!({"content": "load"})),
        ),
        request(
            &b,
            "POST /posts (bob, B)",
            Method::POST,
            "/posts".into(),
            &bob.token,
            Some(json!({"content": "load"})),
        ),
        request(
            &a,
            "PUT /users/profile (A)",
            Method::PUT,
            "/users/profile".into(),
            &ada.token,
            Some(json!({"bio": "busy"})),
        ),
        request(
            &a,
            "GET /posts (A)",
            Method::GET,
            "/posts?limit=20".into(),
            &bob.token,
            None,
        ),
        request(
            &b,
            "GET /posts (B)",
            Method::GET,
            "/posts?limit=20".into(),
            &bob.token,
            None,
        ),
        request(
            &b,
            "GET /users/:id (B)",
            Method::GET,
            format!("/users/{}", ada.id),
            &bob.token,
            None,
        ),
        request(
            &b,
            "GET /users/:id/posts (B)",
            Method::GET,
            format!("/users/{}/posts", ada.id),
            &bob.token,
            None,
        ),
        request(
            &a,
            "GET /feed (A)",
            Method::GET,
            "/feed".into(),
            &bob.token,
            None,
        ),
    ];
    let load = Load::start(requests, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis = off_the_runtime(redis, fault.start()).await;
    load.set_phase(DOWN);
    // Long enough for the breaker to open and the fallbacks to carry the load.
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis = off_the_runtime(redis, fault.end()).await;
    load.set_phase(BACK);
    for i in [&a, &b] {
        eventually(
            Duration::from_secs(10),
            "health is ok again once Redis is back",
            || async { i.get("/health").await.status() == StatusCode::OK },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let outcomes = load.stop().await;

    assert_statuses(&outcomes, &[200, 201]);
    for phase in [UP, DOWN, BACK] {
        let n = outcomes
            .iter()
            .filter(|o| o.sent_in == phase && o.answered_in == phase)
            .count();
        assert!(n > 0, "no request answered in phase {phase}");
    }
    let down: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.sent_in == DOWN && o.answered_in == DOWN)
        .map(|o| o.what)
        .collect();
    for what in [
        "POST /posts (ada, A)",
        "PUT /users/profile (A)",
        "GET /posts (B)",
        "GET /feed (A)",
    ] {
        assert!(down.contains(&what), "{what} while Redis was down");
    }
    // Back on Redis: a write through one instance is read fresh through the other.
    let id = a.post(&ada, "after").await;
    let page = b.json_as("/posts?limit=20", Some(&bob.token)).await;
    assert_eq!(page["posts"][0]["id"], id.as_str());
    drop(redis);
}
