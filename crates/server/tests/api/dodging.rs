//! The ways a client tried to dodge its rate limits (issue 10), each shut: a credential does not
//! buy a fresh signup or login budget, an IPv6 client cannot rotate through its /64, and a client
//! behind a trusted proxy cannot pick its key by writing `X-Forwarded-For` itself.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app_with, TestApp};

fn signup_body(i: usize) -> Value {
    json!({
        "email": format!("dodger{i}@example.com"),
        "password": "password123",
        "username": format!("dodger{i}"),
    })
}

#[tokio::test]
async fn a_signup_carrying_a_token_still_spends_the_address_budget() {
    let app = spawn_app_with(&["--rate-limit-signup", "3/60s"]).await;
    // What was reported: each signup sent the previous signup's token, and every policy keyed
    // by the user once a token verified, so each token bought a fresh budget.
    let mut token: Option<String> = None;
    for i in 0..3 {
        let res = app
            .post_json("/auth/signup", signup_body(i), token.as_deref())
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "signup {i}");
        let body: Value = res.json().await.unwrap();
        token = Some(body["token"].as_str().unwrap().to_owned());
    }
    let res = app
        .post_json("/auth/signup", signup_body(3), token.as_deref())
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
}

#[tokio::test]
async fn a_login_carrying_a_token_still_spends_the_address_budget() {
    let app = spawn_app_with(&["--rate-limit-login", "2/60s"]).await;
    let user = app.signup("holder").await;
    let login = json!({"email": user.email, "password": "password123"});
    for i in 0..2 {
        let res = app
            .post_json("/auth/login", login.clone(), Some(&user.token))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login {i}");
    }
    let res = app.post_json("/auth/login", login, Some(&user.token)).await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
}

async fn get_from(app: &TestApp, forwarded_for: &str) -> StatusCode {
    app.request(reqwest::Method::GET, "/posts")
        .header("x-forwarded-for", forwarded_for.to_owned())
        .send()
        .await
        .unwrap()
        .status()
}

async fn behind_a_trusted_proxy() -> TestApp {
    spawn_app_with(&[
        "--rate-limit-general",
        "1/60s",
        "--trusted-proxies",
        "127.0.0.1/32",
    ])
    .await
}

#[tokio::test]
async fn an_ipv6_slash_64_shares_one_budget() {
    let app = behind_a_trusted_proxy().await;
    assert_eq!(get_from(&app, "2001:db8:0:7::1").await, StatusCode::OK);
    // Another address of the same /64: a client owns all of them, so it is the same client.
    assert_eq!(
        get_from(&app, "2001:db8:0:7:abcd::42").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The neighbouring /64 is someone else.
    assert_eq!(get_from(&app, "2001:db8:0:8::1").await, StatusCode::OK);
}

#[tokio::test]
async fn a_forged_forwarded_for_cannot_pick_the_key() {
    let app = behind_a_trusted_proxy().await;
    // The trusted proxy appends the address it saw (the rightmost entry); whatever the client
    // wrote to its left is not read.
    assert_eq!(
        get_from(&app, "192.0.2.1, 198.51.100.7").await,
        StatusCode::OK
    );
    assert_eq!(
        get_from(&app, "192.0.2.2, 198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // An entry that does not parse is where the walk stops: it is not skipped to reach a
    // client-written value further left, so varying the left part buys nothing either.
    assert_eq!(
        get_from(&app, "192.0.2.3, not-an-address").await,
        StatusCode::OK
    );
    assert_eq!(
        get_from(&app, "192.0.2.4, not-an-address").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
