//! What the services cache, under which keys, for how long — and the author lookup every post
//! listing shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
/// Summaries loaded in a batch, outside the invalidation guard: at most this stale.
pub const TTL_SUMMARY_UNGUARDED: Duration = Duration::from_secs(1);
/// The newest posts change on every post and profile edit; those invalidate, the TTL is a
/// backstop.
pub const TTL_GLOBAL_HEAD: Duration = Duration::from_secs(5);

/// How many decoded values each memo keeps (see [`Decoded`]).
pub(crate) const MEMO_ENTRIES: usize = 50_000;

/// Cache keys. Versioned so a change of encoding never reads an old value.
pub mod keys {
    use crate::model::{PostId, UserId};

    /// The newest [`crate::model::Limit::MAX`] + 1 posts with their authors: every first page
    /// of `GET /posts` is a slice of it. Authors are embedded so a warm first page is one cache
    /// read; in exchange every profile edit invalidates it too (edits are rare next to reads).
    pub const GLOBAL_HEAD: &str = "v2:posts:head";

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

/// The bytes a value was decoded from, and the value.
type Slot<T> = (Arc<[u8]>, Arc<T>);

/// Decoded forms of cached values, reused for as long as the cache hands back the very same
/// bytes.
///
/// The cache port deals in bytes so that a shared tier can hold them; decoding those bytes on
/// every hit was most of the cost of a warm `GET /posts`. An in-process tier returns the same
/// `Arc` for every hit of one entry, so pointer identity says "already decoded" without
/// comparing contents; a refill or an invalidation yields new bytes and a fresh decode.
pub(crate) struct Decoded<T> {
    slots: Mutex<HashMap<String, Slot<T>>>,
    max_entries: usize,
}

impl<T: DeserializeOwned> Decoded<T> {
    pub(crate) fn new(max_entries: usize) -> Self {
        Decoded {
            slots: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    pub(crate) fn decode(&self, key: &str, bytes: &Arc<[u8]>) -> Result<Arc<T>, StoreError> {
        {
            // Poisoning cannot leave a slot half-written (inserts are single calls), so the map
            // is still good.
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((seen, value)) = slots.get(key) {
                if Arc::ptr_eq(seen, bytes) {
                    return Ok(value.clone());
                }
            }
        }
        let value = Arc::new(decode::<T>(bytes)?);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= self.max_entries && !slots.contains_key(key) {
            // Dropping everything is crude but O(1) amortised, and only costs re-decodes.
            slots.clear();
        }
        slots.insert(key.to_owned(), (bytes.clone(), value.clone()));
        Ok(value)
    }
}

/// Reads `key` through the cache, filling it from `load` on a miss.
///
/// A cached value that no longer decodes (an older encoding, a corrupt entry in a shared tier)
/// is dropped and the store answers instead, so a bad entry costs one reload, not an error.
pub(crate) async fn cached<T, F, Fut>(
    cache: &dyn Cache,
    memo: &Decoded<T>,
    key: &str,
    ttl: Duration,
    load: F,
) -> Result<Option<Arc<T>>, StoreError>
where
    T: Serialize + DeserializeOwned,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, StoreError>> + Send,
{
    let first = load();
    let loader: Loader<'_> = Box::pin(async move {
        match first.await? {
            Some(v) => Ok(Some(encode(&v)?)),
            None => Ok(None),
        }
    });
    let Some(bytes) = cache.get_or_load(key, ttl, loader).await? else {
        return Ok(None);
    };
    match memo.decode(key, &bytes) {
        Ok(v) => Ok(Some(v)),
        Err(_) => {
            cache.invalidate(&[key.to_owned()]).await;
            Ok(load().await?.map(Arc::new))
        }
    }
}

/// Author summaries for post listings: from the cache, the misses in one batched query.
#[derive(Clone)]
pub struct Authors {
    users: Arc<dyn UserRepository>,
    cache: Arc<dyn Cache>,
    memo: Arc<Decoded<UserSummary>>,
}

impl Authors {
    pub fn new(users: Arc<dyn UserRepository>, cache: Arc<dyn Cache>) -> Self {
        Authors {
            users,
            cache,
            memo: Arc::new(Decoded::new(MEMO_ENTRIES)),
        }
    }

    pub async fn get(&self, id: UserId) -> Result<Option<UserSummary>, StoreError> {
        Ok(self.many(&[id]).await?.remove(&id))
    }

    /// The summaries of those of `ids` that exist.
    pub async fn many(&self, ids: &[UserId]) -> Result<HashMap<UserId, UserSummary>, StoreError> {
        let mut unique: Vec<UserId> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let keys: Vec<String> = unique.iter().map(|id| keys::summary(*id)).collect();
        let hits = self.cache.get_many(&keys).await;
        let mut found = HashMap::with_capacity(unique.len());
        let mut missing = Vec::new();
        for ((id, key), hit) in unique.iter().zip(&keys).zip(hits) {
            match hit.map(|bytes| self.memo.decode(key, &bytes)) {
                Some(Ok(summary)) => {
                    found.insert(*id, UserSummary::clone(&summary));
                }
                // A miss, or a value that no longer decodes.
                _ => missing.push((*id, key)),
            }
        }
        match missing.as_slice() {
            [] => {}
            // One miss goes through `get_or_load`, whose guard against a concurrent
            // invalidation keeps a profile edit from being overwritten by a stale read.
            [(id, key)] => {
                let (users, id) = (&self.users, *id);
                let loaded = cached(
                    self.cache.as_ref(),
                    &self.memo,
                    key,
                    TTL_SUMMARY,
                    || async move { Ok(users.summaries(&[id]).await?.into_iter().next()) },
                )
                .await?;
                if let Some(summary) = loaded {
                    found.insert(id, UserSummary::clone(&summary));
                }
            }
            // Several misses (a cold cache, or the cache switched off) are one query, not one
            // per author. Those values were read outside any guard, so an edit landing between
            // the read and the write-back could be papered over: they are kept for only
            // `TTL_SUMMARY_UNGUARDED`, the contract's bound on a stale author.
            many => {
                let ids: Vec<UserId> = many.iter().map(|(id, _)| *id).collect();
                for summary in self.users.summaries(&ids).await? {
                    let key = keys::summary(summary.id);
                    self.cache
                        .set(&key, encode(&summary)?, TTL_SUMMARY_UNGUARDED)
                        .await;
                    found.insert(summary.id, summary);
                }
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
