use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn signup_returns_the_private_user_and_a_token() {
    let app = spawn_app().await;
    let res = app
        .signup_raw(
            json!({"email": "  Ada@Example.COM ", "password": "password123",
            "username": "Ada_L", "name": " Ada Lovelace "}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let user = &body["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["username"], "Ada_L");
    assert_eq!(user["name"], "Ada Lovelace");
    assert!(user["bio"].is_null());
    assert_eq!(user["followersCount"], 0);
    assert_eq!(user["followingCount"], 0);
    assert_eq!(user["postsCount"], 0);
    let created = user["createdAt"].as_str().unwrap();
    assert_eq!(created.len(), 24, "{created}");
    assert!(created.ends_with('Z'));
    assert!(body["token"].as_str().unwrap().split('.').count() == 3);
    let text = body.to_string();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("argon2"), "{text}");
}

#[tokio::test]
async fn signup_reports_every_broken_rule() {
    let app = spawn_app().await;
    let res = app
        .signup_raw(json!({"email": "nope", "password": "short", "username": "a-b"}))
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    let fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "username"]);
    let res = app
        .signup_raw(json!({"email": "a@example.com", "password": "password123",
            "username": "x".repeat(21)}))
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["error"], "Username must be at most 20 characters");
    let res = app.signup_raw(json!({})).await;
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
}

#[tokio::test]
async fn duplicate_email_or_username_conflicts_ignoring_case() {
    let app = spawn_app().await;
    app.signup("grace").await;
    let res = app
        .signup_raw(
            json!({"email": "GRACE@example.com", "password": "password123", "username": "other"}),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "ConflictError").await;
    assert_eq!(body["error"], "Email already in use");
    let res = app
        .signup_raw(
            json!({"email": "new@example.com", "password": "password123", "username": "GRACE"}),
        )
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "ConflictError").await;
    assert_eq!(body["error"], "Username already in use");
}

#[tokio::test]
async fn racing_signups_for_one_name_give_exactly_one_201() {
    let app = spawn_app().await;
    let attempts = (0..8).map(|i| {
        let username = if i % 2 == 0 { "racer" } else { "RACER" };
        app.signup_raw(
            json!({"email": format!("r{i}@example.com"), "password": "password123",
            "username": username}),
        )
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let conflicts = results
        .iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 7));
}

#[tokio::test]
async fn login_succeeds_and_fails_indistinguishably() {
    let app = spawn_app().await;
    let user = app.signup("linus").await;
    let res = app
        .post_json(
            "/auth/login",
            json!({"email": "LINUS@example.com", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["id"], user.id.as_str());
    assert!(body["token"].is_string());

    let wrong = app
        .post_json(
            "/auth/login",
            json!({"email": user.email, "password": "password124"}),
            None,
        )
        .await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    let unknown = app
        .post_json(
            "/auth/login",
            json!({"email": "who@example.com", "password": "password123"}),
            None,
        )
        .await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "Invalid credentials");
}

#[tokio::test]
async fn bodies_that_are_not_good_json_get_json_errors() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/auth/signup")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    let res = app
        .request(Method::POST, "/auth/signup")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaTypeError",
    )
    .await;
    let res = app
        .request(Method::POST, "/auth/signup")
        .header("content-type", "application/json")
        .body(json!({"email": 5, "password": [], "username": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(70_000), "username": "abc"});
    let res = app.signup_raw(huge).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeError").await;
    let res = app
        .request(Method::POST, "/auth/login")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
}

#[tokio::test]
async fn forged_or_malformed_tokens_are_401() {
    let app = spawn_app().await;
    let user = app.signup("mallory").await;
    let res = app.get("/users/me").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    for token in ["garbage", "a.b.c", &format!("{}x", user.token)] {
        let res = app.get_auth("/users/me", token).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    }
    // Same claims, `alg: none`, no signature.
    let claims = user.token.split('.').nth(1).unwrap();
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    let res = app.get_auth("/users/me", &none).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    // A token from a server with another secret.
    let other = crate::helpers::spawn_app_with(&["--jwt-secret", &"k".repeat(40)]).await;
    let stranger = other.signup("mallory").await;
    let res = app.get_auth("/users/me", &stranger.token).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
}
