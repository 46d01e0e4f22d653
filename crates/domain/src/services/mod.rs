//! Use-case services, one per capability. Each holds only the ports it needs.

mod api_keys;
mod auth;
mod authors;
mod feed;
mod idempotency;
mod posts;
mod tiers;
mod users;

use std::sync::Arc;

pub use api_keys::{ApiKeyService, CreatedApiKey};
pub use auth::{AuthService, LoginLimits, Presented, Session, SignupInput, CLOCK_SKEW_ALLOWANCE};
pub use authors::Authors;
pub use feed::FeedService;
pub use idempotency::{IdempotencyService, SWEEP_BATCH};
pub use posts::PostService;
pub use tiers::TierService;
pub use users::UserService;

use crate::cache::{CachePolicy, ReadCache};
use crate::ports::{
    ApiKeyRepository, ApiKeySecrets, Cache, Clock, FollowRepository, IdGenerator,
    IdempotencyKeyRepository, PasswordHasher, PostRepository, RateLimiter, TokenIssuer,
    UserRepository,
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
    /// `login_limits` limits failed logins (see [`LoginLimits`]).
    pub fn new(ports: &Ports, login_limits: LoginLimits) -> Self {
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
            posts: PostService::new(ports, cache, authors.clone(), idempotency.clone()),
            feed: FeedService::new(ports.posts.clone(), authors),
            idempotency,
        }
    }
}
