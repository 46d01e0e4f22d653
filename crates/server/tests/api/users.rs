use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, mint_token, spawn_app, unix_now};

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

#[tokio::test]
async fn me_for_a_user_that_no_longer_exists_is_404() {
    let app = spawn_app().await;
    let user = app.signup("exists").await;
    let now = unix_now();
    // The API cannot delete accounts: a genuine token for an id no account has stands in.
    let ghost = mint_token(&uuid::Uuid::now_v7().to_string(), now, now + 600);
    let res = app.get_auth("/users/me", &ghost).await;
    let body = assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
    assert_eq!(body["error"], "User not found");
    // The same minting for a real account is a 200: the 404 is about the missing user.
    let genuine = mint_token(&user.id, now, now + 600);
    let me: Value = app
        .get_auth("/users/me", &genuine)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user.id.as_str());
}

#[tokio::test]
async fn profile_bio_is_kept_as_typed_and_null_clears_name_and_bio() {
    let app = spawn_app().await;
    let user = app.signup("typed").await;
    let put = |body: Value| {
        app.request(Method::PUT, "/users/profile")
            .bearer_auth(&user.token)
            .json(&body)
            .send()
    };
    let me = || async {
        let res = app.get_auth("/users/me", &user.token).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()
    };
    let body: Value = put(json!({"name": "Ty", "bio": "  hi  \n"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["bio"], "  hi  \n");
    assert_eq!(me().await["bio"], "  hi  \n", "stored as typed");

    let body: Value = put(json!({"bio": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["bio"].is_null(), "{body}");
    assert_eq!(body["name"], "Ty", "an absent field is left alone");
    assert!(me().await["bio"].is_null());

    let body: Value = put(json!({"name": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["name"].is_null(), "{body}");
    assert!(me().await["name"].is_null());

    assert_eq!(
        put(json!({"name": "Ty"})).await.unwrap().status(),
        StatusCode::OK
    );
    for empty in ["", "   "] {
        let res = put(json!({ "name": empty })).await.unwrap();
        let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(body["details"][0]["field"], "name", "{body}");
        assert!(
            body["error"].as_str().unwrap().starts_with("Name "),
            "{body}"
        );
    }
    assert_eq!(me().await["name"], "Ty", "a refused update changes nothing");
}

#[tokio::test]
async fn following_or_unfollowing_an_impossible_id_is_404() {
    let app = spawn_app().await;
    let user = app.signup("seeker").await;
    for id in [
        "not-an-id".to_owned(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::now_v7().simple().to_string(),
    ] {
        let path = format!("/users/follow/{id}");
        let res = app
            .request(Method::POST, &path)
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        let body = assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
        assert_eq!(body["error"], "User not found", "POST {path}");
        let res = app
            .request(Method::DELETE, &path)
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        let body = assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
        assert_eq!(body["error"], "Not following this user", "DELETE {path}");
    }
}
