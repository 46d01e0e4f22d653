//! The router over fake ports, without a socket: the 503 paths a real database or a real
//! shutdown make hard to reach from the end-to-end suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use domain::model::{Tier, Timestamp, UserId};
use domain::ports::{
    HealthProbe, RateAlgorithm, RateDecision, RateLimiter, RatePolicy, TokenClaims, TokenError,
    TokenIssuer,
};
use domain::services::{Services, TierService};
use domain::testkit::fakes::{login_limits, signup, Fakes};
use domain::StoreError;
use http_adapter::{
    router, AppDeps, AppState, Health, HttpOptions, HttpService, RoutePolicies, ShutdownFlag,
    StreamHub, StreamOptions,
};
use serde_json::Value;
use tower::ServiceExt;

struct AlwaysUp;

#[async_trait]
impl HealthProbe for AlwaysUp {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn policy(name: &'static str) -> RatePolicy {
    RatePolicy {
        name,
        limit: 1_000,
        window: Duration::from_secs(60),
        algorithm: RateAlgorithm::FixedWindow,
    }
}

fn app(f: &Fakes, draining: &ShutdownFlag) -> HttpService {
    app_with(f.services(), draining, f.limiter.clone(), f)
}

fn app_with_limiter(
    f: &Fakes,
    draining: &ShutdownFlag,
    limiter: Arc<dyn RateLimiter>,
) -> HttpService {
    app_with(f.services(), draining, limiter, f)
}

fn app_with(
    services: Services,
    draining: &ShutdownFlag,
    limiter: Arc<dyn RateLimiter>,
    f: &Fakes,
) -> HttpService {
    let stream = StreamHub::new(
        Arc::new(local::LiveMemoryLog::new(1_000)),
        services.clone(),
        StreamOptions::default(),
    );
    let state = AppState::new(AppDeps {
        services,
        limiter,
        policies: RoutePolicies {
            general: policy("general"),
            post: policy("post"),
            login: policy("login"),
            signup: policy("signup"),
            api_key: policy("api_key"),
            trusted_multiplier: 10,
        },
        trusted_proxies: Default::default(),
        health: Health::new(f.store.clone(), Arc::new(AlwaysUp), Arc::new(AlwaysUp)),
        metrics: Arc::new(String::new),
        version: "test",
        shutdown: draining.clone(),
        rendered: Default::default(),
        stream,
    });
    router(state, &HttpOptions::default())
}

async fn send(app: &HttpService, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = send_full(app, req).await;
    (status, body)
}

async fn send_full(app: &HttpService, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20)
        .await
        .unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

async fn get(app: &HttpService, path: &str) -> (StatusCode, Value) {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn readiness_fails_while_draining_and_liveness_does_not() {
    let f = Fakes::new();
    let draining = ShutdownFlag::default();
    let app = app(&f, &draining);
    let (status, body) = get(&app, "/health/readiness").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );

    draining.begin();
    let (status, body) = get(&app, "/health/readiness").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["error"], "shutting down");
    let (status, _) = get(&app, "/health/liveness").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_database_that_is_down_gives_503s_not_500s() {
    let f = Fakes::new();
    let app = app(&f, &ShutdownFlag::default());
    f.store.set_unavailable(true);

    let (status, body) = get(&app, "/posts").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["type"], "ServiceUnavailableError");
    assert_eq!(body["error"], "Service temporarily unavailable");

    let (status, body) = get(&app, "/health/readiness").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "database unavailable");
    let (status, body) = get(&app, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["services"]["database"], "unhealthy");
    assert_eq!(body["services"]["cache"], "healthy");
}

/// A limiter that cannot decide: its adapter is broken in a way no fallback covers.
struct BrokenLimiter;

#[async_trait]
impl RateLimiter for BrokenLimiter {
    async fn check(&self, _: &RatePolicy, _: &str, _: u32) -> Result<RateDecision, StoreError> {
        Err(StoreError::Unavailable("limiter store gone".into()))
    }
}

/// Log lines written while the test's subscriber is the default.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Limiting is protection, not a dependency: a limiter that fails lets the request through
/// (no 5xx, no 429) and says so in a warning.
#[tokio::test(flavor = "current_thread")]
async fn a_failing_limiter_lets_requests_through_with_a_warning() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // The current-thread runtime polls the request on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let f = Fakes::new();
    let app = app_with_limiter(&f, &ShutdownFlag::default(), Arc::new(BrokenLimiter));

    let (status, _) = get(&app, "/posts").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("WARN") && text.contains("rate limiter failed; allowing"),
        "{text}"
    );
    assert!(text.contains("limiter store gone"), "{text}");
}

/// The fake token issuer, counting how often a token is verified.
struct CountingTokens {
    inner: Arc<dyn TokenIssuer>,
    verified: AtomicUsize,
}

impl TokenIssuer for CountingTokens {
    fn issue(&self, user: UserId, at: Timestamp) -> Result<String, StoreError> {
        self.inner.issue(user, at)
    }

    fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        self.verified.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(token)
    }

    fn issue_ticket(&self, user: UserId, at: Timestamp) -> Result<String, StoreError> {
        self.inner.issue_ticket(user, at)
    }

    fn verify_ticket(&self, ticket: &str) -> Result<TokenClaims, TokenError> {
        self.inner.verify_ticket(ticket)
    }
}

fn with_counting_tokens(f: &Fakes) -> (Services, Arc<CountingTokens>) {
    let tokens = Arc::new(CountingTokens {
        inner: f.tokens.clone(),
        verified: AtomicUsize::new(0),
    });
    let mut ports = f.ports();
    ports.tokens = tokens.clone();
    (Services::new(&ports, login_limits()), tokens)
}

fn authed(method: &str, path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The route limiter keys the request by its caller and the handler's `AuthUser` reuses that
/// verification: one verify per request, valid token or not.
#[tokio::test]
async fn a_token_is_verified_once_per_request() {
    let f = Fakes::new();
    let (services, tokens) = with_counting_tokens(&f);
    let session = signup(&services, "once").await.unwrap();
    let app = app_with(services, &ShutdownFlag::default(), f.limiter.clone(), &f);

    let (status, body) = send(&app, authed("GET", "/users/me", &session.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], "once");
    assert_eq!(tokens.verified.load(Ordering::SeqCst), 1);
    let key = format!("user:{}", session.user.id);
    assert_eq!(f.limiter.used("general", &key), 1, "keyed by the user");

    let (status, body) = send(&app, authed("GET", "/users/me", "forged")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "Invalid or expired token");
    assert_eq!(tokens.verified.load(Ordering::SeqCst), 2);
    assert_eq!(
        f.limiter.used("general", "ip:0.0.0.0"),
        1,
        "a bad token is anonymous"
    );
}

/// Signup and login are keyed by the client address even when a valid token comes along, so
/// no account's token buys a fresh budget for guessing passwords or mass sign-ups; their
/// tokens are never even verified.
#[tokio::test]
async fn login_and_signup_are_limited_by_address_whatever_the_token() {
    let f = Fakes::new();
    let (services, tokens) = with_counting_tokens(&f);
    let session = signup(&services, "holder").await.unwrap();
    let app = app_with(services, &ShutdownFlag::default(), f.limiter.clone(), &f);

    for path in ["/auth/login", "/auth/signup"] {
        let mut req = authed("POST", path, &session.token);
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        *req.body_mut() = Body::from(r#"{"email":"holder@example.com","password":"x"}"#);
        let (status, _) = send(&app, req).await;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    assert_eq!(f.limiter.used("login", "ip:0.0.0.0"), 1);
    assert_eq!(f.limiter.used("signup", "ip:0.0.0.0"), 1);
    let key = format!("user:{}", session.user.id);
    assert_eq!(f.limiter.used("login", &key), 0);
    assert_eq!(tokens.verified.load(Ordering::SeqCst), 0);
}

/// Any JSON value, nested a few levels, with strings that break parsers.
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let text = prop_oneof![
        any::<String>(),
        "[a-z0-9_]{0,24}",
        "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}",
        Just("a\u{0}b".to_owned()),
        Just("\u{202E}x".to_owned()),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        let key = prop_oneof![
            Just("email".to_owned()),
            Just("password".to_owned()),
            Just("username".to_owned()),
            Just("name".to_owned()),
            Just("bio".to_owned()),
            Just("content".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every body a client can send to a route that takes one, as JSON or as raw bytes: the answer
/// is one of the contract's statuses with its JSON error shape, never a panic or a 5xx.
#[test]
fn arbitrary_bodies_get_the_contracts_answers_never_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = Fakes::new();
    let services = f.services();
    let session = rt.block_on(signup(&services, "prober")).unwrap();
    let app = app_with(services, &ShutdownFlag::default(), f.limiter.clone(), &f);
    let routes = prop_oneof![
        Just(("POST", "/auth/signup")),
        Just(("POST", "/auth/login")),
        Just(("PUT", "/users/profile")),
        Just(("POST", "/posts")),
    ];
    let bodies = prop_oneof![
        3 => any_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    runner
        .run(&(routes, bodies), |((method, path), body)| {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {}", session.token))
                .body(Body::from(body.clone()))
                .unwrap();
            let (status, json) = rt.block_on(send(&app, req));
            prop_assert!(
                !status.is_server_error(),
                "{method} {path} {:?}: {status} {json}",
                String::from_utf8_lossy(&body)
            );
            if status.is_client_error() {
                prop_assert!(json["error"].is_string(), "{json}");
                prop_assert!(json["type"].is_string(), "{json}");
                prop_assert!(
                    [400, 401, 409, 413, 429].contains(&status.as_u16()),
                    "{method} {path}: {status} {json}"
                );
            } else {
                prop_assert!(status.is_success(), "{status} {json}");
                // Only an object can have been read as a request.
                prop_assert_eq!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{'));
            }
            Ok(())
        })
        .unwrap();
}

/// What the password-hashing pool answers when its queue is full or a hash cannot start in
/// time (`local::hasher`'s unit tests show it does).
struct SaturatedHasher;

#[async_trait]
impl domain::ports::PasswordHasher for SaturatedHasher {
    async fn hash(&self, _: &domain::model::Password) -> Result<String, StoreError> {
        Err(saturated())
    }

    async fn verify(
        &self,
        _: &domain::model::Password,
        _: Option<&str>,
    ) -> Result<bool, StoreError> {
        Err(saturated())
    }
}

fn saturated() -> StoreError {
    StoreError::Overloaded {
        what: "password hashing (queue_full)".into(),
        retry_after: Duration::from_millis(2_500),
    }
}

/// A login storm is answered 503 with `Retry-After` and the contract's body, for signups and
/// for logins with a known or an unknown email alike, and a refused login is not counted as a
/// failed one (the password was never checked).
#[tokio::test]
async fn a_saturated_hasher_answers_503_with_retry_after() {
    let f = Fakes::new();
    signup(&f.services(), "known").await.unwrap();
    let mut ports = f.ports();
    ports.hasher = Arc::new(SaturatedHasher);
    let services = Services::new(&ports, login_limits());
    let app = app_with(services, &ShutdownFlag::default(), f.limiter.clone(), &f);

    let bodies = [
        (
            "/auth/signup",
            r#"{"email":"new@example.com","password":"long enough","username":"newcomer"}"#,
        ),
        (
            "/auth/login",
            r#"{"email":"known@example.com","password":"whatever"}"#,
        ),
        (
            "/auth/login",
            r#"{"email":"nobody@example.com","password":"whatever"}"#,
        ),
    ];
    for (path, body) in bodies {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap());
        assert_eq!(retry, Some("3"), "whole seconds, rounded up: {body}");
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["type"], "ServiceUnavailableError", "{body}");
        assert_eq!(json["error"], "Server is busy, please retry shortly");
    }
    let failures = domain::testkit::fakes::login_failures_policy().name;
    assert_eq!(f.limiter.used(failures, "ip:0.0.0.0|known@example.com"), 0);
    assert_eq!(f.limiter.used(failures, "ip:0.0.0.0|nobody@example.com"), 0);
    let (status, _) = get(&app, "/posts").await;
    assert_eq!(status, StatusCode::OK, "routes that do not hash are served");
}

fn with_key(method: &str, path: &str, key: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("x-api-key", key)
        .body(Body::empty())
        .unwrap()
}

/// A trusted user's route budget is the policy's limit times the multiplier, in the headers
/// too; a standard user's is the policy's.
#[tokio::test]
async fn a_trusted_users_budget_is_the_multiple() {
    let f = Fakes::new();
    let app = app(&f, &ShutdownFlag::default());
    let services = f.services();
    let plain = signup(&services, "plain").await.unwrap();
    let vip = signup(&services, "vip").await.unwrap();
    let tiers = TierService::new(f.store.clone(), f.cache.clone(), f.ids.clone());
    tiers.set_tier("vip", Tier::Trusted).await.unwrap();

    for (session, limit) in [(&plain, "1000"), (&vip, "10000")] {
        let (status, headers, _) =
            send_full(&app, authed("GET", "/users/me", &session.token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["ratelimit-limit"], limit);
        assert_eq!(
            headers["ratelimit-policy"],
            format!("{limit};w=60").as_str()
        );
    }
}

/// A request with an API key spends the key's own budget (not its owner's route budget) and
/// says so in its headers; key management refuses API keys; both credentials at once is 401.
#[tokio::test]
async fn an_api_key_has_its_own_budget_and_cannot_manage_keys() {
    let f = Fakes::new();
    let app = app(&f, &ShutdownFlag::default());
    let services = f.services();
    let owner = signup(&services, "owner").await.unwrap();
    let created = services.api_keys.create(owner.user.id, "ci").await.unwrap();

    let (status, headers, body) =
        send_full(&app, with_key("GET", "/users/me", &created.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], "owner");
    assert_eq!(headers["ratelimit-policy"], "1000;w=60");
    let key = format!("key:{}", created.key.id);
    assert_eq!(f.limiter.used("api_key", &key), 1);
    let user = format!("user:{}", owner.user.id);
    assert_eq!(f.limiter.used("general", &user), 0);

    let (status, body) = send(&app, with_key("GET", "/users/me/api-keys", &created.secret)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "ForbiddenError");

    let mut both = authed("GET", "/users/me", &owner.token);
    both.headers_mut()
        .insert("x-api-key", created.secret.parse().unwrap());
    let (status, body) = send(&app, both).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["error"],
        "Send either a bearer token or an API key, not both"
    );

    let (status, body) = send(&app, with_key("GET", "/users/me", "ssk_nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "Invalid or revoked API key");
}

/// When whether a token was revoked cannot be known, the answer is 503 (retry), not 401 (which
/// would tell the client to throw its token away).
#[tokio::test]
async fn a_credential_that_cannot_be_checked_is_503() {
    let f = Fakes::new();
    let app = app(&f, &ShutdownFlag::default());
    let session = signup(&f.services(), "down").await.unwrap();
    f.store.set_unavailable(true);
    let (status, body) = send(&app, authed("GET", "/users/me", &session.token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["type"], "ServiceUnavailableError");
}
