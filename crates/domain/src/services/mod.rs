//! Use-case services, one per capability. Each holds only the ports it needs.

mod auth;
mod authors;
mod feed;
mod posts;
mod users;

use std::sync::Arc;

pub use auth::{AuthService, LoginLimits, Session, SignupInput};
pub use authors::Authors;
pub use feed::FeedService;
pub use posts::PostService;
pub use users::UserService;

use crate::cache::{CachePolicy, ReadCache};
use crate::ports::{
    Cache, Clock, FollowRepository, IdGenerator, PasswordHasher, PostRepository, RateLimiter,
    TokenIssuer, UserRepository,
};

/// Every port the services use, chosen by the composition root.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
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
    pub users: UserService,
    pub posts: PostService,
    pub feed: FeedService,
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
        Services {
            auth: AuthService::new(ports, login_limits),
            users: UserService::new(ports, cache.clone()),
            posts: PostService::new(ports, cache, authors.clone()),
            feed: FeedService::new(ports.posts.clone(), authors),
        }
    }
}
