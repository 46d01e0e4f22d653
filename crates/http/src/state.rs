//! What every handler and middleware can reach, built by the composition root.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use domain::ports::RatePolicy;
use domain::services::Services;
use tokio::sync::Notify;

use crate::client_ip::TrustedProxies;
use crate::health::Health;

/// Renders the Prometheus exposition text. A closure so this crate needn't know the exporter.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// The per-route policies the router attaches to its routes (login failures per account are
/// a domain rule and live in the auth service).
#[derive(Clone, Debug)]
pub struct RoutePolicies {
    pub general: RatePolicy,
    pub post: RatePolicy,
    pub login: RatePolicy,
    pub signup: RatePolicy,
    /// Requests made with an API key, per key, on the routes keyed by caller (in place of the
    /// route's own policy).
    pub api_key: RatePolicy,
    /// Every user-keyed limit (and the API key one) is this many times larger for trusted
    /// users. At least 1.
    pub trusted_multiplier: u32,
}

/// What handlers and middleware reach, shared as one `Arc`: axum clones the state for every
/// extractor and layer of every request, so a clone must be one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<AppDeps>);

impl AppState {
    pub fn new(deps: AppDeps) -> Self {
        AppState(Arc::new(deps))
    }
}

impl Deref for AppState {
    type Target = AppDeps;

    fn deref(&self) -> &AppDeps {
        &self.0
    }
}

/// The parts the composition root hands the router.
pub struct AppDeps {
    pub services: Services,
    pub limiter: Arc<dyn domain::ports::RateLimiter>,
    pub policies: RoutePolicies,
    pub trusted_proxies: TrustedProxies,
    pub health: Health,
    pub metrics: MetricsRender,
    pub version: &'static str,
    pub shutdown: ShutdownFlag,
    pub rendered: Arc<crate::render::RenderedPages>,
    /// `GET /stream`'s open streams.
    pub stream: crate::stream::StreamHub,
}

/// Set once the server starts draining: readiness fails so load balancers move away, new
/// requests are answered 503 at once, and the server keeps accepting connections until the
/// requests admitted before the drain have finished (see [`ShutdownFlag::drained`]).
#[derive(Clone, Default)]
pub struct ShutdownFlag(Arc<Drain>);

#[derive(Default)]
struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One request admitted before the drain began; the drain waits for it to be dropped.
pub struct Admitted(Arc<Drain>);

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl ShutdownFlag {
    pub fn begin(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Counts a request as in flight, or `None` once draining. Counting before checking the
    /// flag means `drained` can never miss a request that was admitted as the drain began.
    pub fn admit(&self) -> Option<Admitted> {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        let admitted = Admitted(Arc::clone(&self.0));
        (!self.is_set()).then_some(admitted)
    }

    /// Resolves once draining and no admitted request is left.
    pub async fn drained(&self) {
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a drop in between still wakes us.
            idle.as_mut().enable();
            if self.is_set() && self.0.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}
