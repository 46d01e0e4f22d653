//! Idempotency keys across instances: a write made through one instance and retried through
//! the other (a load balancer that picked another instance for the retry) is replayed there,
//! from the database, and writes nothing more, with Redis caching in front of both.

use redis_adapter::testing::redis_url;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{database, prefix, spawn, wait_for_listeners, Instance};

const KEY: &str = "Idempotency-Key";

async fn keyed(
    i: &Instance,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    key: &str,
) -> (StatusCode, String) {
    let mut r = i.client.post(format!("{}{path}", i.base)).header(KEY, key);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res: Response = r.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_write_through_one_instance_is_replayed_by_the_other() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let db = database().await;
    let prefix = prefix();
    let a = spawn(&db, &redis, &prefix, &[]).await;
    let b = spawn(&db, &redis, &prefix, &[]).await;
    wait_for_listeners(&redis, &prefix, 2).await;

    // A signup through A, retried through B: the same account, a fresh token.
    let body = json!({"email": "ann@example.com", "password": "password123", "username": "ann"});
    let (status, first) = keyed(&a, "/auth/signup", None, Some(body.clone()), "s").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = keyed(&b, "/auth/signup", None, Some(body), "s").await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    let (first, again): (Value, Value) = (
        serde_json::from_str(&first).unwrap(),
        serde_json::from_str(&again).unwrap(),
    );
    assert_eq!(again["user"], first["user"]);
    let ann = first["token"].as_str().unwrap().to_owned();
    let bob = b.signup("bob").await;

    // B caches ann's profile and posts before the retries reach it.
    let me = b.json_as("/users/me", Some(&ann)).await;
    assert_eq!(me["postsCount"], 0);
    let id = me["id"].as_str().unwrap().to_owned();
    assert!(b.json(&format!("/users/{id}/posts")).await["posts"]
        .as_array()
        .unwrap()
        .is_empty());

    let post = json!({"content": "once"});
    let first_post = keyed(&a, "/posts", Some(&ann), Some(post.clone()), "p").await;
    assert_eq!(first_post.0, StatusCode::CREATED, "{}", first_post.1);
    assert_eq!(
        keyed(&b, "/posts", Some(&ann), Some(post), "p").await,
        first_post
    );
    let follow = format!("/users/follow/{}", bob.id);
    let first_follow = keyed(&a, &follow, Some(&ann), None, "f").await;
    assert_eq!(first_follow.0, StatusCode::CREATED, "{}", first_follow.1);
    assert_eq!(
        keyed(&b, &follow, Some(&ann), None, "f").await,
        first_follow
    );

    for i in [&a, &b] {
        let me = i.json_as("/users/me", Some(&ann)).await;
        assert_eq!(
            (me["postsCount"].clone(), me["followingCount"].clone()),
            (json!(1), json!(1))
        );
        let posts = i.json(&format!("/users/{id}/posts")).await;
        assert_eq!(posts["posts"].as_array().unwrap().len(), 1);
    }
    let res = b
        .send(Method::GET, &format!("/users/{}", bob.id), None, None)
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["followersCount"], 1);
}
