//! The author lookup every post listing shares.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::ReadCache;
use crate::error::StoreError;
use crate::model::{Post, PostRecord, UserId, UserSummary};
use crate::ports::UserRepository;

/// Author summaries for post listings: from the cache, the misses in one batched query.
#[derive(Clone)]
pub struct Authors {
    users: Arc<dyn UserRepository>,
    cache: ReadCache,
}

impl Authors {
    pub fn new(users: Arc<dyn UserRepository>, cache: ReadCache) -> Self {
        Authors { users, cache }
    }

    pub async fn get(&self, id: UserId) -> Result<Option<UserSummary>, StoreError> {
        Ok(self.summary(id).await?.map(|s| UserSummary::clone(&s)))
    }

    /// Whether `id` is a user: one cached read, nothing copied (an author page asks this on
    /// every request).
    pub async fn exists(&self, id: UserId) -> Result<bool, StoreError> {
        Ok(self.summary(id).await?.is_some())
    }

    /// One summary, a miss loaded under the cache's guard against a concurrent invalidation,
    /// which keeps a profile edit from being overwritten by a stale read.
    async fn summary(&self, id: UserId) -> Result<Option<Arc<UserSummary>>, StoreError> {
        let users = &self.users;
        self.cache
            .summary(id, || async move {
                Ok(users.summaries(&[id]).await?.into_iter().next())
            })
            .await
    }

    /// The summaries of those of `ids` that exist.
    pub async fn many(&self, ids: &[UserId]) -> Result<HashMap<UserId, UserSummary>, StoreError> {
        let mut unique: Vec<UserId> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let hits = self.cache.cached_summaries(&unique).await;
        let mut found = HashMap::with_capacity(unique.len());
        let mut missing = Vec::new();
        for (id, hit) in unique.iter().zip(hits) {
            match hit {
                Some(summary) => {
                    found.insert(*id, UserSummary::clone(&summary));
                }
                None => missing.push(*id),
            }
        }
        match missing.as_slice() {
            [] => {}
            // One miss is loaded under the cache's guard (see `summary`).
            [id] => {
                if let Some(summary) = self.summary(*id).await? {
                    found.insert(*id, UserSummary::clone(&summary));
                }
            }
            // Several misses (a cold cache, or the cache switched off) are one query, not one
            // per author; the cache keeps those briefly (see `put_unguarded_summaries`).
            many => {
                let summaries = self.users.summaries(many).await?;
                self.cache.put_unguarded_summaries(&summaries).await?;
                found.extend(summaries.into_iter().map(|s| (s.id, s)));
            }
        }
        Ok(found)
    }

    /// Joins each record with its author's current summary. A record whose author is gone is
    /// left out (users are never deleted, so this only guards against a torn read).
    pub async fn hydrate(&self, records: Vec<PostRecord>) -> Result<Vec<Post>, StoreError> {
        let ids: Vec<UserId> = records.iter().map(|r| r.author_id).collect();
        let authors = self.many(&ids).await?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let author = authors.get(&r.author_id)?.clone();
                Some(Post::new(r, author))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
