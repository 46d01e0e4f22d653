use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn limited_routes_carry_headers_and_probes_do_not() {
    let app = spawn_app().await;
    let res = app.get("/posts").await;
    assert_eq!(res.headers()["ratelimit-limit"], "15000");
    assert_eq!(res.headers()["ratelimit-remaining"], "14999");
    assert_eq!(res.headers()["ratelimit-policy"], "15000;w=30");
    assert!(res.headers().contains_key("ratelimit-reset"));
    for path in [
        "/health",
        "/health/liveness",
        "/health/readiness",
        "/metrics",
        "/openapi.json",
    ] {
        let res = app.get(path).await;
        assert!(!res.headers().contains_key("ratelimit-limit"), "{path}");
    }
}

#[tokio::test]
async fn exceeding_a_limit_gives_429_with_retry_after() {
    for algorithm in ["fixed_window", "sliding_window", "token_bucket"] {
        let app = spawn_app_with(&[
            "--rate-limit-general",
            "3/60s",
            "--rate-limit-algorithm",
            algorithm,
        ])
        .await;
        for _ in 0..3 {
            assert_eq!(
                app.get("/posts").await.status(),
                StatusCode::OK,
                "{algorithm}"
            );
        }
        let res = app.get("/posts").await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // A sliding window may need part of the next window too: at most two windows.
        assert!((1..=120).contains(&retry), "{algorithm}: {retry}");
        assert_eq!(res.headers()["ratelimit-remaining"], "0");
        let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
        assert_eq!(body["error"], "Too many requests, please try again later.");
        // Probes are never limited.
        assert_eq!(app.get("/health/liveness").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn users_are_limited_by_account_and_anonymous_clients_by_address() {
    let app = spawn_app_with(&["--rate-limit-general", "2/60s"]).await;
    let a = app.signup("limited_a").await;
    let b = app.signup("limited_b").await;
    for _ in 0..2 {
        assert_eq!(
            app.get_auth("/users/me", &a.token).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.get_auth("/users/me", &a.token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account from the same address has its own budget, and so has the address.
    assert_eq!(
        app.get_auth("/users/me", &b.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/posts").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let untrusted = spawn_app_with(&["--rate-limit-general", "1/60s"]).await;
    let get = |app: &crate::helpers::TestApp, ip: &str| {
        app.request(reqwest::Method::GET, "/posts")
            .header("x-forwarded-for", ip.to_owned())
            .send()
    };
    assert_eq!(
        get(&untrusted, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
    // Forging another address does not buy a new budget.
    assert_eq!(
        get(&untrusted, "198.51.100.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let behind_proxy = spawn_app_with(&[
        "--rate-limit-general",
        "1/60s",
        "--trusted-proxies",
        "127.0.0.1/32",
    ])
    .await;
    assert_eq!(
        get(&behind_proxy, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&behind_proxy, "198.51.100.2").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&behind_proxy, "198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_account() {
    let app = spawn_app_with(&["--rate-limit-login-failures", "3/15m"]).await;
    let user = app.signup("target").await;
    let attempt = |password: &str| {
        app.post_json(
            "/auth/login",
            json!({"email": user.email, "password": password}),
            None,
        )
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked now, even with the right password…
    let res = attempt("password123").await;
    assert!(res.headers().contains_key("retry-after"));
    // The headers describe the failed-login limit, not the login route's.
    assert_eq!(res.headers()["ratelimit-limit"], "3");
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    assert!(!res.headers().contains_key("ratelimit-policy"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
    // …but only this account.
    let other = app.signup("bystander").await;
    let res = app
        .post_json(
            "/auth/login",
            json!({"email": other.email, "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].is_string());
}

/// Failed logins count per (address, account): a stranger's guesses from one address lock only
/// that address out of the account, never the owner logging in from theirs; guesses spread
/// over addresses stop at the looser per-account cap. Addresses come from `X-Forwarded-For`
/// behind a trusted proxy (the test client is on loopback); an IPv6 /64 is one address.
#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out() {
    let app = spawn_app_with(&[
        "--rate-limit-login-failures",
        "2/15m",
        "--rate-limit-login-failures-account",
        "5/15m",
        "--trusted-proxies",
        "127.0.0.1/32",
    ])
    .await;
    let owner = app.signup("owner").await;
    let login = |from: &str, password: &str| {
        app.request(reqwest::Method::POST, "/auth/login")
            .header("x-forwarded-for", from.to_owned())
            .json(&json!({"email": owner.email, "password": password}))
            .send()
    };
    let status = |res: reqwest::Result<reqwest::Response>| res.unwrap().status();
    for _ in 0..2 {
        assert_eq!(
            status(login("2001:db8:1:1::1", "wrong").await),
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked for that /64, another host in it included…
    assert_eq!(
        status(login("2001:db8:1:1::ffff", "password123").await),
        StatusCode::TOO_MANY_REQUESTS
    );
    // …while the owner, elsewhere, logs in.
    assert_eq!(
        status(login("198.51.100.20", "password123").await),
        StatusCode::OK
    );
    // Three more failures from other addresses reach the account's cap of 5…
    for from in ["2001:db8:2::1", "2001:db8:3::1", "2001:db8:4::1"] {
        assert_eq!(status(login(from, "wrong").await), StatusCode::UNAUTHORIZED);
    }
    // …and then every address is refused, the owner's too.
    let res = login("198.51.100.20", "password123").await.unwrap();
    assert_eq!(res.headers()["ratelimit-limit"], "5");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
}

/// The header value as a number.
fn header(res: &reqwest::Response, name: &str) -> u64 {
    res.headers()[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn signup_login_and_posting_each_have_their_own_policy() {
    let app = spawn_app_with(&[
        "--rate-limit-general",
        "50/60s",
        "--rate-limit-post",
        "2/60s",
        "--rate-limit-login",
        "3/60s",
        "--rate-limit-signup",
        "4/60s",
    ])
    .await;
    let mut tokens = Vec::new();
    for i in 0..4u64 {
        let res = app
            .signup_raw(json!({
                "email": format!("policy{i}@example.com"),
                "password": "password123",
                "username": format!("policy{i}"),
            }))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(header(&res, "ratelimit-limit"), 4, "signup's own policy");
        assert_eq!(header(&res, "ratelimit-remaining"), 3 - i);
        // When the whole budget is back: within two windows for the (default) sliding window,
        // whose previous window still weighs on the next one.
        let reset = header(&res, "ratelimit-reset");
        assert!((1..=120).contains(&reset), "reset {reset}");
        let body: Value = res.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let res = app
        .signup_raw(json!({"email": "policy9@example.com", "password": "password123", "username": "policy9"}))
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;

    for i in 0..2u64 {
        let res = app
            .post_json("/posts", json!({"content": "limited"}), Some(&tokens[0]))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(header(&res, "ratelimit-limit"), 2, "posting's own policy");
        assert_eq!(header(&res, "ratelimit-remaining"), 1 - i);
    }
    let res = app
        .post_json(
            "/posts",
            json!({"content": "one too many"}),
            Some(&tokens[0]),
        )
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
    // Reading is the general policy, untouched by the posting budget.
    let res = app.get_auth("/posts", &tokens[0]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "ratelimit-limit"), 50);

    let login = json!({"email": "policy1@example.com", "password": "password123"});
    for i in 0..3u64 {
        let res = app.post_json("/auth/login", login.clone(), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "ratelimit-limit"), 3, "login's own policy");
        assert_eq!(header(&res, "ratelimit-remaining"), 2 - i);
    }
    let res = app.post_json("/auth/login", login, None).await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
}

#[tokio::test]
async fn rate_limit_headers_are_on_successes_and_client_errors_alike() {
    let app = spawn_app_with(&["--rate-limit-general", "5/60s"]).await;
    let responses = [
        (app.get("/posts").await, StatusCode::OK),
        (app.get("/posts/nope").await, StatusCode::NOT_FOUND),
        (app.get("/posts?limit=0").await, StatusCode::BAD_REQUEST),
        (app.get("/users/me").await, StatusCode::UNAUTHORIZED),
    ];
    for (i, (res, status)) in responses.iter().enumerate() {
        assert_eq!(res.status(), *status);
        assert_eq!(header(res, "ratelimit-limit"), 5, "{status}");
        assert_eq!(header(res, "ratelimit-remaining"), 4 - i as u64, "{status}");
        // The (default) sliding window's budget is whole again once this window and the
        // next have passed: more than one window, at most two.
        let reset = header(res, "ratelimit-reset");
        assert!((61..=120).contains(&reset), "{status}: reset {reset}");
        assert_eq!(res.headers()["ratelimit-policy"], "5;w=60", "{status}");
    }
}

#[tokio::test]
async fn the_documented_defaults_are_what_responses_show() {
    let app = spawn_app().await;
    let res = app
        .signup_raw(
            json!({"email": "dflt@example.com", "password": "password123", "username": "dflt"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(header(&res, "ratelimit-limit"), 2000);
    assert_eq!(res.headers()["ratelimit-policy"], "2000;w=60");
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_json("/posts", json!({"content": "defaults"}), Some(&token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(header(&res, "ratelimit-limit"), 10000);
    assert_eq!(res.headers()["ratelimit-policy"], "10000;w=30");
    let res = app.get("/posts").await;
    assert_eq!(header(&res, "ratelimit-limit"), 15000);
    assert_eq!(res.headers()["ratelimit-policy"], "15000;w=30");
    // Sliding window is the default algorithm: after a hit its reset lies past the 30 s window
    // (a fixed window's never does, a token bucket's is a fraction of it).
    let reset = header(&res, "ratelimit-reset");
    assert!((31..=60).contains(&reset), "reset {reset}");

    let wrong = json!({"email": "dflt@example.com", "password": "wrong-password"});
    for _ in 0..10 {
        let res = app.post_json("/auth/login", wrong.clone(), None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&res, "ratelimit-limit"), 5000);
        assert_eq!(res.headers()["ratelimit-policy"], "5000;w=60");
    }
    // RATE_LIMIT_LOGIN_FAILURES defaults to 10 per 15 minutes: the eleventh attempt is refused,
    // and a sliding 15-minute window is whole again only after more than 15 minutes.
    let res = app.post_json("/auth/login", wrong, None).await;
    assert_eq!(header(&res, "ratelimit-limit"), 10);
    let reset = header(&res, "ratelimit-reset");
    assert!((901..=1800).contains(&reset), "reset {reset}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
}

/// The guaranteed part of "a second simultaneous login for one account is 429": bursts of
/// parallel guesses for one account, with a failure budget far above their number, so any 429
/// can only come from the in-flight rule. Whether two attempts of a burst really overlap is up
/// to the scheduler, so bursts repeat until one does (each hashes a password off the executor,
/// which leaves room for the next attempt), bounded by a deadline.
#[tokio::test]
async fn simultaneous_logins_for_one_account_are_refused() {
    let app = spawn_app_with(&["--rate-limit-login-failures", "1000/15m"]).await;
    let user = app.signup("guessed").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut attempts = 0;
    loop {
        let burst = (0..8).map(|i| {
            app.post_json(
                "/auth/login",
                json!({"email": user.email, "password": format!("guess-{i}")}),
                None,
            )
        });
        let results = futures::future::join_all(burst).await;
        attempts += results.len();
        let mut refused = None;
        for res in results {
            match res.status() {
                StatusCode::UNAUTHORIZED => {}
                StatusCode::TOO_MANY_REQUESTS => refused = Some(res),
                other => panic!("a racing login got {other}"),
            }
        }
        if let Some(res) = refused {
            // The failed-login policy answered, not the login route's own budget.
            assert_eq!(header(&res, "ratelimit-limit"), 1000);
            assert!(header(&res, "retry-after") >= 1);
            assert!(!res.headers().contains_key("ratelimit-policy"));
            assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{attempts} parallel logins for one account, none refused"
        );
    }
}
