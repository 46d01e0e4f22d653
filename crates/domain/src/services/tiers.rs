use std::sync::Arc;

use crate::cache::{CachePolicy, ReadCache, Write};
use crate::error::UserError;
use crate::model::{Tier, UserId, Username};
use crate::ports::{Cache, IdGenerator, UserRepository};

/// What operators change about a user from the command line: their tier.
pub struct TierService {
    users: Arc<dyn UserRepository>,
    cache: ReadCache,
}

impl TierService {
    /// `cache` must be the cache the servers share (Redis when they use it), so the change
    /// reaches them through its invalidation.
    pub fn new(
        users: Arc<dyn UserRepository>,
        cache: Arc<dyn Cache>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        TierService {
            users,
            cache: ReadCache::new(cache, ids, CachePolicy::default()),
        }
    }

    /// Sets the tier of the user named `username` (ignoring case) and makes what
    /// authentication reads of them (their standing) and the cached user stale; their id, or
    /// `NotFound`.
    pub async fn set_tier(&self, username: &str, tier: Tier) -> Result<UserId, UserError> {
        let username = Username::parse(username).map_err(|_| UserError::NotFound)?;
        let id = self
            .users
            .set_tier(&username, tier)
            .await?
            .ok_or(UserError::NotFound)?;
        self.cache.written(Write::Credentials { user: id }).await;
        Ok(id)
    }
}
