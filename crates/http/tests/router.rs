//! The router over fake ports, without a socket: the 503 paths a real database or a real
//! shutdown make hard to reach from the end-to-end suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::ports::{HealthProbe, RateAlgorithm, RateDecision, RateLimiter, RatePolicy};
use domain::testkit::fakes::Fakes;
use domain::StoreError;
use http_adapter::{router, AppState, Health, HttpOptions, RoutePolicies, ShutdownFlag};
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

fn app(f: &Fakes, draining: &ShutdownFlag) -> axum::Router {
    app_with_limiter(f, draining, f.limiter.clone())
}

fn app_with_limiter(
    f: &Fakes,
    draining: &ShutdownFlag,
    limiter: Arc<dyn RateLimiter>,
) -> axum::Router {
    let state = AppState {
        services: Arc::new(f.services()),
        limiter,
        policies: Arc::new(RoutePolicies {
            general: policy("general"),
            post: policy("post"),
            login: policy("login"),
            signup: policy("signup"),
        }),
        trusted_proxies: Arc::default(),
        health: Arc::new(Health::new(
            f.store.clone(),
            Arc::new(AlwaysUp),
            Arc::new(AlwaysUp),
        )),
        metrics: Arc::new(String::new),
        version: "test",
        shutdown: draining.clone(),
        rendered: Default::default(),
    };
    router(state, &HttpOptions::default())
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let res = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
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
