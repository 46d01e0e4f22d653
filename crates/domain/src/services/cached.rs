//! What the services cache, under which keys, for how long — and the author lookup every post
//! listing shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::model::{Post, PostRecord, UserId, UserSummary};
use crate::ports::{Cache, Loader, UserRepository};

/// Post bodies never change, only disappear (and deletion invalidates), so they may live long.
pub const TTL_POST: Duration = Duration::from_secs(300);
/// Summaries change on a profile edit, which invalidates; the TTL only bounds memory.
pub const TTL_SUMMARY: Duration = Duration::from_secs(60);
/// The newest posts change on every post; writes invalidate, the TTL is a backstop.
pub const TTL_GLOBAL_HEAD: Duration = Duration::from_secs(5);

/// Cache keys. Versioned so a change of encoding never reads an old value.
pub mod keys {
    use crate::model::{PostId, UserId};

    /// The newest [`crate::model::Limit::MAX`] + 1 posts: every first page of `GET /posts` is a
    /// slice of it.
    pub const GLOBAL_HEAD: &str = "v1:posts:head";

    pub fn post(id: PostId) -> String {
        format!("v1:post:{id}")
    }

    pub fn summary(id: UserId) -> String {
        format!("v1:user:{id}:summary")
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(StoreError::from)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(StoreError::from)
}

/// Reads `key` through the cache, filling it from `load` on a miss.
pub(crate) async fn cached<T, F>(
    cache: &dyn Cache,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<Option<T>, StoreError>
where
    T: Serialize + DeserializeOwned,
    F: std::future::Future<Output = Result<Option<T>, StoreError>> + Send,
{
    let loader: Loader<'_> = Box::pin(async move {
        match load.await? {
            Some(v) => Ok(Some(encode(&v)?)),
            None => Ok(None),
        }
    });
    match cache.get_or_load(key, ttl, loader).await? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

/// Author summaries for post listings: from the cache, the misses in one batched query.
#[derive(Clone)]
pub struct Authors {
    users: Arc<dyn UserRepository>,
    cache: Arc<dyn Cache>,
}

impl Authors {
    pub fn new(users: Arc<dyn UserRepository>, cache: Arc<dyn Cache>) -> Self {
        Authors { users, cache }
    }

    pub async fn get(&self, id: UserId) -> Result<Option<UserSummary>, StoreError> {
        Ok(self.many(&[id]).await?.remove(&id))
    }

    pub async fn many(&self, ids: &[UserId]) -> Result<HashMap<UserId, UserSummary>, StoreError> {
        let mut unique: Vec<UserId> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let keys: Vec<String> = unique.iter().map(|id| keys::summary(*id)).collect();
        let hits = self.cache.get_many(&keys).await;
        let mut found = HashMap::with_capacity(unique.len());
        let mut missing = Vec::new();
        for (id, hit) in unique.iter().zip(hits) {
            match hit.map(|bytes| decode::<UserSummary>(&bytes)) {
                Some(Ok(summary)) => {
                    found.insert(*id, summary);
                }
                // A value that no longer decodes is just a miss.
                _ => missing.push(*id),
            }
        }
        // Misses go one key at a time through `get_or_load`, whose guard against a concurrent
        // invalidation is what keeps a profile edit from being overwritten by a stale read.
        // Only a cold cache pays this; the common case is all hits above.
        for id in missing {
            let users = &self.users;
            let summary = cached(
                self.cache.as_ref(),
                &keys::summary(id),
                TTL_SUMMARY,
                async move { Ok(users.summaries(&[id]).await?.into_iter().next()) },
            )
            .await?;
            if let Some(summary) = summary {
                found.insert(id, summary);
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
