use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn me_and_public_profiles() {
    let app = spawn_app().await;
    let user = app.signup("Hopper").await;
    let me: Value = app
        .get_auth("/users/me", &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user.id.as_str());
    assert_eq!(me["email"], "hopper@example.com");

    let res = app.get(&format!("/users/{}", user.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let public: Value = res.json().await.unwrap();
    assert_eq!(public["username"], "Hopper");
    assert!(public.get("email").is_none(), "{public}");
    assert!(public.get("passwordHash").is_none());

    let by_name: Value = app
        .get("/users/by-username/hOPPER")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["id"], user.id.as_str());

    for path in [
        "/users/by-username/nobody".to_owned(),
        "/users/by-username/x".to_owned(),
        "/users/not-an-id".to_owned(),
        format!("/users/{}", uuid::Uuid::now_v7()),
        format!("/users/{}", uuid::Uuid::new_v4()),
    ] {
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "NotFoundError").await;
    }
}

#[tokio::test]
async fn profile_updates_set_and_clear_fields() {
    let app = spawn_app().await;
    let user = app.signup("turing").await;
    let put = |body: Value| {
        app.request(Method::PUT, "/users/profile")
            .bearer_auth(&user.token)
            .json(&body)
            .send()
    };
    let res = put(json!({"name": "  Alan ", "bio": "Computing machinery"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Alan");
    assert_eq!(body["bio"], "Computing machinery");
    assert_eq!(body["email"], "turing@example.com");

    let body: Value = put(json!({"bio": ""})).await.unwrap().json().await.unwrap();
    assert!(body["bio"].is_null());
    assert_eq!(body["name"], "Alan");
    let body: Value = put(json!({"name": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["name"].is_null());

    let res = put(json!({})).await.unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    let res = put(json!({"name": "", "bio": "b".repeat(161)}))
        .await
        .unwrap();
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["details"].as_array().unwrap().len(), 2);
    let res = app
        .request(Method::PUT, "/users/profile")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
}

#[tokio::test]
async fn following_rules_and_exact_counts() {
    let app = spawn_app().await;
    let a = app.signup("alice").await;
    let b = app.signup("bob").await;

    let res = app.follow(&a, &b).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let follow: Value = res.json().await.unwrap();
    assert_eq!(follow["followerId"], a.id.as_str());
    assert_eq!(follow["followingId"], b.id.as_str());
    assert!(follow["createdAt"].is_string());

    let body = assert_error(
        app.follow(&a, &b).await,
        StatusCode::CONFLICT,
        "ConflictError",
    )
    .await;
    assert_eq!(body["error"], "Already following this user");
    let body = assert_error(
        app.follow(&a, &a).await,
        StatusCode::BAD_REQUEST,
        "ValidationError",
    )
    .await;
    assert_eq!(body["error"], "Cannot follow yourself");
    let res = app
        .request(
            Method::POST,
            &format!("/users/follow/{}", uuid::Uuid::now_v7()),
        )
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;

    let a_now: Value = app
        .get(&format!("/users/{}", a.id))
        .await
        .json()
        .await
        .unwrap();
    let b_now: Value = app
        .get(&format!("/users/{}", b.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            a_now["followingCount"].as_u64(),
            a_now["followersCount"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        (
            b_now["followingCount"].as_u64(),
            b_now["followersCount"].as_u64()
        ),
        (Some(0), Some(1))
    );

    let unfollow = || {
        app.request(Method::DELETE, &format!("/users/follow/{}", b.id))
            .bearer_auth(&a.token)
            .send()
    };
    assert_eq!(unfollow().await.unwrap().status(), StatusCode::NO_CONTENT);
    let body = assert_error(
        unfollow().await.unwrap(),
        StatusCode::NOT_FOUND,
        "NotFoundError",
    )
    .await;
    assert_eq!(body["error"], "Not following this user");
    let b_now: Value = app
        .get(&format!("/users/{}", b.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b_now["followersCount"], 0);
}

#[tokio::test]
async fn follower_lists_are_paginated_newest_first() {
    let app = spawn_app().await;
    let star = app.signup("star").await;
    let mut fans = Vec::new();
    for i in 0..7 {
        let fan = app.signup(&format!("fan{i}")).await;
        assert_eq!(app.follow(&fan, &star).await.status(), StatusCode::CREATED);
        assert_eq!(app.follow(&star, &fan).await.status(), StatusCode::CREATED);
        fans.push(fan);
    }
    let expected: Vec<String> = fans.iter().rev().map(|f| f.id.clone()).collect();
    let followers = app
        .walk(&format!("/users/{}/followers", star.id), "users", 3, None)
        .await;
    assert_eq!(followers, expected);
    let following = app
        .walk(&format!("/users/{}/following", star.id), "users", 2, None)
        .await;
    assert_eq!(following, expected);

    let page: Value = app
        .get(&format!("/users/{}/followers?limit=1", star.id))
        .await
        .json()
        .await
        .unwrap();
    let first = &page["users"][0];
    assert_eq!(first["username"], "fan6");
    assert!(first.get("email").is_none());

    let missing = format!("/users/{}/followers", uuid::Uuid::now_v7());
    assert_error(
        app.get(&missing).await,
        StatusCode::NOT_FOUND,
        "NotFoundError",
    )
    .await;
    let bad = format!("/users/{}/following?cursor=nope", star.id);
    assert_error(
        app.get(&bad).await,
        StatusCode::BAD_REQUEST,
        "ValidationError",
    )
    .await;
}
