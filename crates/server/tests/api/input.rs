//! Hostile input gets the contract's 400 on every backend: bodies that are not JSON objects,
//! control and bidi characters in names and bios, a `limit` with a sign, a path segment that is
//! not valid percent-encoding, an email beyond ASCII. Each case once wrote data, or answered
//! 200, 500 or plain text.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp, TestUser};

async fn put_profile(app: &TestApp, user: &TestUser, body: &str) -> reqwest::Response {
    app.request(Method::PUT, "/users/profile")
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    app.get_auth("/users/me", &user.token)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let user = app.signup("shaper").await;
    assert_eq!(
        put_profile(&app, &user, r#"{"bio": "kept"}"#)
            .await
            .status(),
        StatusCode::OK
    );
    // serde reads a struct from an array: this one once set the bio to "hi".
    for body in [r#"[null, "hi"]"#, r#""hi""#, "42", "null", "true", "  [ ]"] {
        let res = put_profile(&app, &user, body).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert!(
            err["error"].as_str().unwrap().contains("JSON object"),
            "{body}: {err}"
        );
    }
    assert_eq!(me(&app, &user).await["bio"], "kept");
    let res = app
        .request(Method::POST, "/posts")
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body(r#"["hello"]"#)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    // A `+json` media type is JSON too.
    let res = app
        .request(Method::POST, "/posts")
        .bearer_auth(&user.token)
        .header(
            "content-type",
            "application/vnd.socialscale+json; charset=utf-8",
        )
        .body(r#"{"content": "typed"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn control_and_bidi_characters_in_name_and_bio_are_400_naming_the_field() {
    let app = spawn_app().await;
    let user = app.signup("typist").await;
    let cases = [
        (json!({"name": "a\u{0}b"}), "name"),
        (json!({"name": "two\nlines"}), "name"),
        (json!({"name": "evil\u{202E}gpj.exe"}), "name"),
        (json!({"bio": "nul \u{0} here"}), "bio"),
        (json!({"bio": "bell\u{7}"}), "bio"),
        (json!({"bio": "isolate \u{2067}x\u{2069}"}), "bio"),
    ];
    for (body, field) in cases {
        let res = put_profile(&app, &user, &body.to_string()).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(err["details"][0]["field"], field, "{body}: {err}");
    }
    let unchanged = me(&app, &user).await;
    assert!(unchanged["bio"].is_null(), "{unchanged}");
    // A bio may still span lines.
    let res = put_profile(
        &app,
        &user,
        &json!({"bio": "line one\nline two"}).to_string(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // And a signup's name follows the same rule.
    let res = app
        .signup_raw(json!({
            "email": "nul@example.com",
            "password": "password123",
            "username": "nulname",
            "name": "x\u{0}",
        }))
        .await;
    let err = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(err["details"][0]["field"], "name", "{err}");
}

#[tokio::test]
async fn a_limit_with_a_sign_is_400() {
    let app = spawn_app().await;
    for limit in ["%2B5", "-5", "%205"] {
        let res = app.get(&format!("/posts?limit={limit}")).await;
        assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    }
    assert_eq!(app.get("/posts?limit=5").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_path_that_is_not_valid_percent_encoding_is_a_json_400() {
    let app = spawn_app().await;
    let user = app.signup("walker").await;
    for path in ["/users/%FF", "/users/by-username/%C3%28", "/posts/%E2%82"] {
        let res = app.get_auth(path, &user.token).await;
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    }
    let res = app
        .post_json("/users/follow/%FF", json!({}), Some(&user.token))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
}

#[tokio::test]
async fn emails_are_ascii_with_a_local_part_of_at_most_64_characters() {
    let app = spawn_app().await;
    let signup = |email: String, username: &str| {
        app.signup_raw(json!({
            "email": email,
            "password": "password123",
            "username": username,
        }))
    };
    // The first two were once taken; the document's patterns (ASCII, RFC 5321) refuse all three.
    for (i, bad) in [
        "ü@example.com".to_owned(),
        "a@bücher.de".to_owned(),
        format!("{}@example.com", "a".repeat(65)),
    ]
    .into_iter()
    .enumerate()
    {
        let res = signup(bad.clone(), &format!("intl{i}")).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        assert_eq!(err["details"][0]["field"], "email", "{bad}: {err}");
    }
    // An internationalised domain in its ASCII form, and a 64-character local part, are fine.
    for (email, username) in [
        ("a@xn--bcher-kva.de".to_owned(), "punycode"),
        (format!("{}@example.com", "b".repeat(64)), "longlocal"),
    ] {
        let res = signup(email.clone(), username).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{email}");
    }
}
