//! What every handler and middleware can reach, built by the composition root.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use domain::ports::RatePolicy;
use domain::services::Services;

use crate::health::Health;
use crate::middleware::client_ip::TrustedProxies;

/// Renders the Prometheus exposition text. A closure so this crate needn't know the exporter.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// The per-route policies the rate-limit middleware applies (login failures per account are
/// a domain rule and live in the auth service).
#[derive(Clone, Debug)]
pub struct RoutePolicies {
    pub general: RatePolicy,
    pub post: RatePolicy,
    pub login: RatePolicy,
    pub signup: RatePolicy,
}

/// Cheap to clone: every field is an `Arc` or holds only `Arc`s.
#[derive(Clone)]
pub struct AppState {
    /// Behind one `Arc`: axum clones the state for every extractor of every request.
    pub services: Arc<Services>,
    pub limiter: Arc<dyn domain::ports::RateLimiter>,
    pub policies: Arc<RoutePolicies>,
    pub trusted_proxies: Arc<TrustedProxies>,
    pub health: Arc<Health>,
    pub metrics: MetricsRender,
    pub version: &'static str,
    pub shutdown: ShutdownFlag,
    pub rendered: Arc<crate::render::RenderedPages>,
}

/// Set once the server starts draining, so readiness fails and load balancers move away
/// while in-flight requests finish.
#[derive(Clone, Default)]
pub struct ShutdownFlag(Arc<AtomicBool>);

impl ShutdownFlag {
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
