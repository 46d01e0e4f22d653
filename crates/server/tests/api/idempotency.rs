//! `Idempotency-Key` on POST /posts, POST /users/follow/:id and POST /auth/signup: a retry
//! gets the first response and writes nothing, on any instance of the database; the key
//! reused for another request is 422; a malformed key is 400.

use reqwest::header::HeaderValue;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp, TestUser};

const KEY: &str = "Idempotency-Key";

/// `method path` with an optional JSON body, token and key.
async fn send(
    app: &TestApp,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
    key: &str,
) -> Response {
    let mut r = app.request(Method::POST, path).header(KEY, key);
    if let Some(body) = body {
        r = r.json(&body);
    }
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

async fn post(app: &TestApp, user: &TestUser, content: &str, key: &str) -> Response {
    let body = json!({ "content": content });
    send(app, "/posts", Some(body), Some(&user.token), key).await
}

/// Status and raw body: a replay must repeat both byte for byte.
async fn answer(res: Response) -> (StatusCode, String) {
    (res.status(), res.text().await.unwrap())
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    let res = app.get_auth("/users/me", &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn timeline_len(app: &TestApp) -> usize {
    app.walk("/posts", "posts", 100, None).await.len()
}

#[tokio::test]
async fn a_retried_post_gets_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let first = answer(post(&app, &ann, "hello", "post-1").await).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    for _ in 0..2 {
        let again = answer(post(&app, &ann, "hello", "post-1").await).await;
        assert_eq!(again, first);
    }
    assert_eq!(me(&app, &ann).await["postsCount"], 1);
    assert_eq!(timeline_len(&app).await, 1);

    // The key with other content: 422, nothing written.
    let other = post(&app, &ann, "something else", "post-1").await;
    assert_error(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IdempotencyKeyReusedError",
    )
    .await;
    // Keys are per caller: another user's key of the same name is theirs.
    let bob = app.signup("bob").await;
    let theirs = answer(post(&app, &bob, "hello", "post-1").await).await;
    assert_eq!(theirs.0, StatusCode::CREATED);
    assert_ne!(theirs.1, first.1);
    assert_eq!(me(&app, &ann).await["postsCount"], 1);
    assert_eq!(timeline_len(&app).await, 2);
}

#[tokio::test]
async fn a_malformed_key_is_400_naming_the_header_and_writes_nothing() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let long = "k".repeat(256);
    let bad: Vec<HeaderValue> = vec![
        HeaderValue::from_static(""),
        HeaderValue::from_str(&long).unwrap(),
        HeaderValue::from_static("two words"),
        HeaderValue::from_bytes(b"caf\xe9").unwrap(),
    ];
    for value in bad {
        let res = app
            .request(Method::POST, "/posts")
            .bearer_auth(&ann.token)
            .header(KEY, value.clone())
            .json(&json!({"content": "hi"}))
            .send()
            .await
            .unwrap();
        let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(body["details"][0]["field"], KEY, "{value:?}: {body}");
    }
    let twice = app
        .request(Method::POST, "/posts")
        .bearer_auth(&ann.token)
        .header(KEY, "a")
        .header(KEY, "b")
        .json(&json!({"content": "hi"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(twice, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["details"][0]["field"], KEY);
    // The widest key allowed is fine.
    let widest: String = (0x21u8..=0x7e).map(char::from).collect();
    assert_eq!(
        post(&app, &ann, "hi", &widest).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(me(&app, &ann).await["postsCount"], 1);
}

#[tokio::test]
async fn twenty_concurrent_duplicates_create_exactly_one_post() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let answers = futures::future::join_all(
        (0..20).map(|_| async { answer(post(&app, &ann, "once", "race").await).await }),
    )
    .await;
    for a in &answers {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!(me(&app, &ann).await["postsCount"], 1);
    assert_eq!(timeline_len(&app).await, 1);
}

#[tokio::test]
async fn a_retried_follow_gets_the_first_response_and_writes_nothing() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.signup("ann").await,
        app.signup("bob").await,
        app.signup("cat").await,
    );
    let follow = |whom: &TestUser, key: &'static str| {
        let path = format!("/users/follow/{}", whom.id);
        let token = ann.token.clone();
        let app = &app;
        async move { answer(send(app, &path, None, Some(&token), key).await).await }
    };
    let first = follow(&bob, "f-1").await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert_eq!(
        follow(&bob, "f-1").await,
        first,
        "not 409: the first answer"
    );
    assert_eq!(me(&app, &ann).await["followingCount"], 1);
    assert_eq!(me(&app, &bob).await["followersCount"], 1);

    let other = send(
        &app,
        &format!("/users/follow/{}", cat.id),
        None,
        Some(&ann.token),
        "f-1",
    )
    .await;
    assert_error(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IdempotencyKeyReusedError",
    )
    .await;
    assert_eq!(me(&app, &cat).await["followersCount"], 0);

    // Undone since: the retry still gets the first answer and follows nobody again.
    let res = app
        .request(Method::DELETE, &format!("/users/follow/{}", bob.id))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(follow(&bob, "f-1").await, first);
    assert_eq!(me(&app, &ann).await["followingCount"], 0);
    assert_eq!(me(&app, &bob).await["followersCount"], 0);
}

fn signup_body(username: &str, password: &str) -> Value {
    json!({"email": "ann@example.com", "password": password, "username": username, "name": "Ann"})
}

#[tokio::test]
async fn a_retried_signup_gets_the_first_account_and_a_fresh_token() {
    let app = spawn_app().await;
    let signup = |body: Value| send(&app, "/auth/signup", Some(body), None, "signup-1");
    let first = signup(signup_body("ann", "password123")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = signup(signup_body("ann", "password123")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["user"], first["user"]);
    assert_ne!(again["token"], first["token"], "never a stored token");
    let fresh = TestUser {
        id: again["user"]["id"].as_str().unwrap().to_owned(),
        token: again["token"].as_str().unwrap().to_owned(),
        email: "ann@example.com".to_owned(),
    };
    assert_eq!(me(&app, &fresh).await["id"], first["user"]["id"]);

    for body in [
        signup_body("ann", "another-password"),
        signup_body("anne", "password123"),
    ] {
        let res = signup(body).await;
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "IdempotencyKeyReusedError",
        )
        .await;
    }
    // Without the key it is a second signup for a taken email, as ever.
    let res = app.signup_raw(signup_body("ann", "password123")).await;
    assert_error(res, StatusCode::CONFLICT, "ConflictError").await;
}

#[tokio::test]
async fn a_replay_is_served_by_another_instance_of_the_same_database() {
    let first_app = spawn_app().await;
    let ann = first_app.signup("ann").await;
    let first = answer(post(&first_app, &ann, "hello", "anywhere").await).await;
    assert_eq!(first.0, StatusCode::CREATED);
    let url = first_app.database_url.clone();
    let second_app = spawn_app_with(&["--database-url", &url]).await;
    let again = answer(post(&second_app, &ann, "hello", "anywhere").await).await;
    assert_eq!(again, first);
    assert_eq!(me(&second_app, &ann).await["postsCount"], 1);
    assert_eq!(timeline_len(&second_app).await, 1);
}

#[tokio::test]
async fn the_openapi_document_states_the_header_and_the_422() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, method) in [
        ("/posts", "post"),
        ("/users/follow/{id}", "post"),
        ("/auth/signup", "post"),
    ] {
        let op = &doc["paths"][path][method];
        let header = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == KEY)
            .unwrap_or_else(|| panic!("{path}: no {KEY} parameter"));
        assert_eq!(header["in"], "header", "{path}");
        assert_ne!(header["required"], true, "{path}");
        assert_eq!(header["schema"]["maxLength"], 255, "{path}: {header}");
        assert_eq!(header["schema"]["minLength"], 1, "{path}: {header}");
        assert!(op["responses"]["422"].is_object(), "{path}: no 422");
    }
    // Wherever the error body's schema lists its types (a description or an enum).
    let error_body = doc["components"]["schemas"]["ErrorBody"].to_string();
    assert!(
        error_body.contains("IdempotencyKeyReusedError"),
        "{error_body}"
    );
}
