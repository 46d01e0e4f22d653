//! [`Fakes`], the bundle of one fake per port, and what service tests build on it.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{
    CountingLimiter, FakeTokens, ManualClock, MapCache, MemoryStore, PlainHasher, PlainSecrets,
    SequentialIds,
};
use crate::error::AuthError;
use crate::ports::{RateAlgorithm, RatePolicy};
use crate::services::{LoginLimits, Ports, Services, Session, SignupInput};

/// Runs a future to completion on the current thread, without a runtime.
///
/// Meant for the fakes here, which never return `Pending`. A future that does pend is polled
/// again after a `yield_now` (its waker is a no-op), so it still completes if something on
/// another thread makes progress — but this is a busy loop, not an executor.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------------------------
// The bundle
// ---------------------------------------------------------------------------------------------

/// The password [`signup`] gives every user.
pub const TEST_PASSWORD: &str = "correct horse battery";

/// The failed-login policy per (client, account) services built by [`Fakes::services`] use:
/// the API's default, 10 failures per 15 minutes.
pub fn login_failures_policy() -> RatePolicy {
    RatePolicy {
        name: "login_failures",
        limit: 10,
        window: Duration::from_secs(15 * 60),
        algorithm: RateAlgorithm::SlidingWindow,
    }
}

/// The looser per-account policy: the API's default, 100 failures per 15 minutes.
pub fn login_failures_account_policy() -> RatePolicy {
    RatePolicy {
        name: "login_failures_account",
        limit: 100,
        ..login_failures_policy()
    }
}

/// Both failed-login policies, as [`Fakes::services`] uses them.
pub fn login_limits() -> LoginLimits {
    LoginLimits {
        per_address: login_failures_policy(),
        per_account: login_failures_account_policy(),
    }
}

/// One fake of each port, kept concrete so tests can inspect and steer them.
#[derive(Clone, Default)]
pub struct Fakes {
    pub store: Arc<MemoryStore>,
    pub secrets: Arc<PlainSecrets>,
    pub cache: Arc<MapCache>,
    pub hasher: Arc<PlainHasher>,
    pub tokens: Arc<FakeTokens>,
    pub limiter: Arc<CountingLimiter>,
    pub clock: Arc<ManualClock>,
    pub ids: Arc<SequentialIds>,
}

impl Fakes {
    pub fn new() -> Self {
        Self::default()
    }

    /// The same fakes as trait objects, as the services take them.
    pub fn ports(&self) -> Ports {
        Ports {
            users: self.store.clone(),
            posts: self.store.clone(),
            follows: self.store.clone(),
            api_keys: self.store.clone(),
            keys: self.store.clone(),
            secrets: self.secrets.clone(),
            cache: self.cache.clone(),
            hasher: self.hasher.clone(),
            tokens: self.tokens.clone(),
            limiter: self.limiter.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }

    /// Every service over these fakes, with [`login_limits`].
    pub fn services(&self) -> Services {
        Services::new(&self.ports(), login_limits())
    }
}

/// Fresh fakes and their ports.
pub fn fake_ports() -> (Ports, Fakes) {
    let fakes = Fakes::new();
    (fakes.ports(), fakes)
}

/// Signs `username` up with email `<username lower-cased>@example.com` and [`TEST_PASSWORD`].
pub async fn signup(services: &Services, username: &str) -> Result<Session, AuthError> {
    let email = format!("{}@example.com", username.to_ascii_lowercase());
    services
        .auth
        .signup(SignupInput {
            email: &email,
            password: TEST_PASSWORD,
            username,
            name: None,
        })
        .await
}
