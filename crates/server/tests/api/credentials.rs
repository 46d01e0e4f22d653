//! Logout, API keys and tiers over a real socket.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::config::Command;
use server::{Cli, Config};

use crate::helpers::{
    assert_error, mint_token, spawn_app, spawn_app_with, unix_now, TestApp, TestUser,
};

async fn login(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json(
            "/auth/login",
            json!({"email": user.email, "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get_auth("/users/me", token).await.status()
}

async fn logout(app: &TestApp, token: &str) -> reqwest::Response {
    app.request(Method::POST, "/auth/logout")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn logout_revokes_every_token_and_a_new_login_works() {
    let app = spawn_app().await;
    let user = app.signup("leaver").await;
    let second = login(&app, &user).await;
    assert_eq!(me_status(&app, &second).await, StatusCode::OK);

    let res = logout(&app, &second).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for old in [&user.token, &second] {
        let body = assert_error(
            app.get_auth("/users/me", old).await,
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
        )
        .await;
        assert_eq!(body["error"], "Invalid or expired token");
    }
    // Right after the logout, in the same second and quite possibly the same millisecond.
    let fresh = login(&app, &user).await;
    assert_eq!(me_status(&app, &fresh).await, StatusCode::OK);
    assert_error(
        logout(&app, &user.token).await,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedError",
    )
    .await;
    let anonymous = app
        .request(Method::POST, "/auth/logout")
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
}

async fn create_key(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.post_json("/users/me/api-keys", json!({ "name": name }), Some(token))
        .await
}

fn with_key(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    app.request(method, path).header("x-api-key", key)
}

#[tokio::test]
async fn api_keys_are_created_used_listed_without_secret_and_revoked() {
    let app = spawn_app().await;
    let user = app.signup("keyholder").await;
    let res = create_key(&app, &user.token, "  nightly export ").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ssk_"), "{key}");
    assert_eq!(created["name"], "nightly export");
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));

    let res = with_key(&app, Method::GET, "/users/me", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["id"], user.id.as_str());
    let post = with_key(&app, Method::POST, "/posts", &key)
        .json(&json!({"content": "via key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::CREATED);

    let res = app.get_auth("/users/me/api-keys", &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&key[4..]),
        "the secret is never listed: {text}"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["name"], "nightly export");
    assert!(keys[0]["lastUsedAt"].is_string(), "{text}");
    assert!(keys[0].get("key").is_none() && keys[0].get("digest").is_none());

    // Keys cannot manage keys.
    let res = with_key(&app, Method::GET, "/users/me/api-keys", &key)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "ForbiddenError").await;

    let other = app.signup("stranger").await;
    let path = format!("/users/me/api-keys/{id}");
    let res = app
        .request(Method::DELETE, &path)
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
    let res = app
        .request(Method::DELETE, &path)
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = with_key(&app, Method::GET, "/users/me", &key)
        .send()
        .await
        .unwrap();
    let body = assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    assert_eq!(body["error"], "Invalid or revoked API key");
    let res = app
        .request(Method::DELETE, &path)
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
    let res = app
        .request(Method::DELETE, "/users/me/api-keys/not-an-id")
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
}

#[tokio::test]
async fn api_key_names_are_checked_and_keys_are_capped() {
    let app = spawn_app().await;
    let user = app.signup("collector").await;
    for bad in [
        json!({}),
        json!({"name": "  "}),
        json!({"name": "n".repeat(51)}),
    ] {
        let res = app
            .post_json("/users/me/api-keys", bad, Some(&user.token))
            .await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(body["details"][0]["field"], "name");
    }
    for i in 0..10 {
        let res = create_key(&app, &user.token, &format!("key {i}")).await;
        assert_eq!(res.status(), StatusCode::CREATED, "key {i}");
    }
    let res = create_key(&app, &user.token, "eleventh").await;
    let body = assert_error(res, StatusCode::CONFLICT, "ConflictError").await;
    assert_eq!(body["error"], "Too many API keys: at most 10 per user");

    // A genuine token for an account that does not exist: 404, as for `GET /users/me`.
    let now = unix_now();
    let ghost = mint_token(&uuid::Uuid::now_v7().to_string(), now, now + 600);
    let res = create_key(&app, &ghost, "ghost").await;
    let body = assert_error(res, StatusCode::NOT_FOUND, "NotFoundError").await;
    assert_eq!(body["error"], "User not found");
}

/// A key has its own budget (`RATE_LIMIT_API_KEY`) and headers; its owner's token still has
/// the route's.
#[tokio::test]
async fn an_api_key_is_limited_per_key_with_its_own_headers() {
    let app = spawn_app_with(&["--rate-limit-api-key", "3/60s"]).await;
    let user = app.signup("busy").await;
    let created: Value = create_key(&app, &user.token, "ci")
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    for left in [2, 1, 0] {
        let res = with_key(&app, Method::GET, "/posts", key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(h["ratelimit-policy"], "3;w=60");
        assert_eq!(h["ratelimit-limit"], "3");
        assert_eq!(h["ratelimit-remaining"], left.to_string().as_str());
    }
    let res = with_key(&app, Method::GET, "/posts", key)
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
    let res = app.get_auth("/posts", &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["ratelimit-policy"], "15000;w=30");
}

/// `socialscale user set-tier`, run against the app's database the way an operator would.
pub async fn set_tier(database_url: &str, extra: &[&str], username: &str, tier: &str) {
    let mut args = vec!["socialscale", "--database-url", database_url];
    args.extend_from_slice(extra);
    args.extend(["user", "set-tier", username, tier]);
    let cli = Cli::try_parse_args_only(args).unwrap();
    let config = Config::from_settings(cli.settings).unwrap();
    let Some(Command::User(command)) = cli.command else {
        panic!("not parsed as a user command")
    };
    server::commands::user(&config, &command).await.unwrap();
}

/// A trusted user's budget is the policy's limit times `RATE_LIMIT_TRUSTED_MULTIPLIER`.
#[tokio::test]
async fn a_trusted_users_budget_is_the_multiple() {
    let limits = [
        "--rate-limit-general",
        "2/60s",
        "--rate-limit-trusted-multiplier",
        "3",
    ];
    let app = spawn_app_with(&limits).await;
    let plain = app.signup("plain").await;
    let vip = app.signup("vip").await;
    set_tier(&app.database_url, &[], "VIP", "trusted").await;

    for (user, budget) in [(&plain, 2), (&vip, 6)] {
        for i in 0..budget {
            let res = app.get_auth("/feed", &user.token).await;
            assert_eq!(res.status(), StatusCode::OK, "request {i}");
            assert_eq!(
                res.headers()["ratelimit-limit"],
                budget.to_string().as_str()
            );
        }
        let res = app.get_auth("/feed", &user.token).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "past {budget}");
    }
}
