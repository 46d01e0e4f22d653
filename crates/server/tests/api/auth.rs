use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, mint_token, spawn_app, token_claims, unix_now};

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

#[tokio::test]
async fn tokens_live_seven_days_by_default_and_expired_ones_are_401() {
    let app = spawn_app().await;
    let user = app.signup("timely").await;
    let claims = token_claims(&user.token);
    assert_eq!(claims["sub"], user.id.as_str());
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 7 * 24 * 60 * 60, "default JWT_TTL");

    let now = unix_now();
    // The same claims with a future `exp` pass, so the 401 below is about expiry alone.
    let current = mint_token(&user.id, now, now + 600);
    assert_eq!(
        app.get_auth("/users/me", &current).await.status(),
        StatusCode::OK
    );
    let expired = mint_token(&user.id, now - 600, now - 60);
    let res = app.get_auth("/users/me", &expired).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    let res = app
        .post_json("/posts", json!({"content": "late"}), Some(&expired))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
}

#[tokio::test]
async fn login_checks_the_email_shape_but_not_the_password_length() {
    let app = spawn_app().await;
    let user = app.signup("shortpw").await;
    let login = |email: &str, password: &str| {
        app.post_json(
            "/auth/login",
            json!({"email": email, "password": password}),
            None,
        )
    };
    for bad in ["not-an-email", "a@b", "shortpw@@example.com"] {
        let res = login(bad, "password123").await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(body["details"][0]["field"], "email", "{bad}: {body}");
    }
    // Shorter than signup's 8-character minimum: just wrong, not a hint about the rules.
    for short in ["x", "passwor"] {
        let res = login(&user.email, short).await;
        let body = assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
        assert_eq!(body["error"], "Invalid credentials");
    }
}

#[tokio::test]
async fn missing_fields_are_named_and_a_missing_body_is_required() {
    let app = spawn_app().await;
    let res = app.signup_raw(json!({})).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["error"], "Email is required");
    assert_eq!(
        body["details"],
        json!([
            {"field": "email", "message": "is required"},
            {"field": "password", "message": "is required"},
            {"field": "username", "message": "is required"},
        ])
    );
    let res = app.post_json("/auth/login", json!({}), None).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["error"], "Email is required");
    let res = app
        .post_json("/auth/login", json!({"email": "who@example.com"}), None)
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["error"], "Password is required");
    assert_eq!(body["details"][0]["field"], "password");

    let user = app.signup("bodyless").await;
    let res = app.post_json("/posts", json!({}), Some(&user.token)).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["details"][0]["field"], "content", "{body}");

    for (method, path) in [
        (Method::POST, "/auth/signup"),
        (Method::POST, "/auth/login"),
        (Method::POST, "/posts"),
        (Method::PUT, "/users/profile"),
    ] {
        let res = app
            .request(method, path)
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(body["error"], "Request body is required", "{path}");
    }
}

#[tokio::test]
async fn wrong_json_types_are_400_without_details() {
    let app = spawn_app().await;
    let user = app.signup("typist").await;
    for (method, path, body) in [
        (
            Method::POST,
            "/auth/signup",
            json!({"email": 5, "password": "password123", "username": "typist2"}),
        ),
        (
            Method::POST,
            "/auth/login",
            json!({"email": ["typist@example.com"], "password": "password123"}),
        ),
        (Method::POST, "/posts", json!({"content": 42})),
        (
            Method::PUT,
            "/users/profile",
            json!({"name": {"first": "T"}}),
        ),
        (Method::PUT, "/users/profile", json!({"bio": true})),
        (Method::POST, "/posts", json!(["not", "an", "object"])),
    ] {
        let res = app
            .request(method, path)
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let res = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert!(res.get("details").is_none(), "{path} {body}: {res}");
    }
}
