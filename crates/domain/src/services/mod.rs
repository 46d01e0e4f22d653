//! Use-case services, one per capability. Each holds only the ports it needs.

mod api_keys;
mod auth;
mod authors;
mod fanout;
mod feed;
mod idempotency;
mod posts;
mod tiers;
mod users;

use std::sync::Arc;

pub use api_keys::{ApiKeyService, CreatedApiKey};
pub use auth::{AuthService, LoginLimits, Presented, Session, SignupInput, CLOCK_SKEW_ALLOWANCE};
pub use authors::Authors;
pub use fanout::{Applied, FanoutService, FanoutSettings};
pub use feed::{FeedService, FeedStats};
pub use idempotency::{IdempotencyService, SWEEP_BATCH};
pub use posts::PostService;
pub use tiers::TierService;
pub use users::UserService;

use crate::cache::{CachePolicy, ReadCache};
use crate::ports::{
    ApiKeyRepository, ApiKeySecrets, Cache, Clock, FollowRepository, IdGenerator,
    IdempotencyKeyRepository, PasswordHasher, PostRepository, RateLimiter, TimelineStore,
    TokenIssuer, UserRepository,
};

/// Every port the services use, chosen by the composition root.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub keys: Arc<dyn IdempotencyKeyRepository>,
    pub secrets: Arc<dyn ApiKeySecrets>,
    pub cache: Arc<dyn Cache>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// All services, cheap to clone (each is a handful of `Arc`s).
#[derive(Clone)]
pub struct Services {
    pub auth: AuthService,
    pub api_keys: ApiKeyService,
    pub users: UserService,
    pub posts: PostService,
    pub feed: FeedService,
    pub idempotency: IdempotencyService,
}

impl Services {
    /// `login_limits` limits failed logins (see [`LoginLimits`]). Feeds are pulled.
    pub fn new(ports: &Ports, login_limits: LoginLimits) -> Self {
        Self::with_timelines(ports, login_limits, None)
    }

    /// [`Services::new`] reading feeds from `timelines` when given (the fan-out strategy).
    pub fn with_timelines(
        ports: &Ports,
        login_limits: LoginLimits,
        timelines: Option<Arc<dyn TimelineStore>>,
    ) -> Self {
        let cache = ReadCache::new(
            ports.cache.clone(),
            ports.ids.clone(),
            CachePolicy::default(),
        );
        let authors = Authors::new(ports.users.clone(), cache.clone());
        let api_keys = ApiKeyService::new(ports, cache.clone());
        let idempotency = IdempotencyService::new(ports);
        Services {
            auth: AuthService::new(
                ports,
                cache.clone(),
                api_keys.clone(),
                idempotency.clone(),
                login_limits,
            ),
            api_keys,
            users: UserService::new(ports, cache.clone(), idempotency.clone()),
            posts: PostService::new(ports, cache.clone(), authors.clone(), idempotency.clone()),
            feed: match timelines {
                None => FeedService::new(ports.posts.clone(), authors),
                Some(t) => FeedService::new(ports.posts.clone(), authors).with_timelines(
                    t,
                    ports.follows.clone(),
                    ports.clock.clone(),
                    cache,
                ),
            },
            idempotency,
        }
    }
}
