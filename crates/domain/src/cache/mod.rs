//! The read cache the services use: typed reads, versioned values, and the domain's rule of
//! which write makes which read stale.
//!
//! - [`Write`] → [`Read`]s: the domain rule (a post makes its author's list, the global list and
//!   the author's counters stale; a profile edit every list embedding that author; a follow both
//!   users' counters; only a logout or a tier change what authenticating the user reads).
//! - [`CachePolicy`]: keys, lifetimes and encoding, in one place out of the use-case services.
//! - [`ReadCache`]: reads through the byte store of [`crate::ports::Cache`] and hands out
//!   [`Versioned`] values. The version is stored with the value, so freshness is a matter of
//!   equal values, never of which pointer a tier returned: the HTTP adapter keys rendered pages
//!   by it, and a hit from the shared tier is reused exactly like one from the local tier.

mod memo;
mod policy;

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::model::{
    ApiKey, ApiKeyId, Post, PostId, PostRecord, Standing, User, UserId, UserSummary, Version,
    Versioned,
};
use crate::ports::{Cache, IdGenerator, Loader};

use memo::Memo;
pub use policy::{CachePolicy, Read};

/// How many decoded values the memo keeps.
const MEMO_ENTRIES: usize = 50_000;

/// A write, as far as cached reads are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    Post {
        author: UserId,
    },
    Delete {
        author: UserId,
        post: PostId,
    },
    ProfileEdit {
        user: UserId,
    },
    /// A follow or an unfollow that changed the graph.
    Follow {
        follower: UserId,
        followee: UserId,
    },
    /// A logout or a tier change: what authenticating this user reads.
    Credentials {
        user: UserId,
    },
    /// An API key revoked (or its coarse last use recorded).
    ApiKey {
        key: ApiKeyId,
    },
}

impl Write {
    /// The reads this write makes stale.
    pub fn stale(&self) -> Vec<Read> {
        match *self {
            // The author's posts count moves too.
            Write::Post { author } => {
                vec![
                    Read::GlobalHead,
                    Read::AuthorHead(author),
                    Read::User(author),
                ]
            }
            Write::Delete { author, post } => vec![
                Read::Post(post),
                Read::GlobalHead,
                Read::AuthorHead(author),
                Read::User(author),
            ],
            // Heads embed authors: both lists that can show this user's name go.
            Write::ProfileEdit { user } => vec![
                Read::Summary(user),
                Read::GlobalHead,
                Read::AuthorHead(user),
                Read::User(user),
            ],
            Write::Follow { follower, followee } => vec![
                Read::User(follower),
                Read::User(followee),
                Read::FollowedPulled(follower),
            ],
            Write::Credentials { user } => vec![Read::User(user), Read::Standing(user)],
            Write::ApiKey { key } => vec![Read::ApiKey(key)],
        }
    }
}

/// Typed, versioned reads through a byte cache. Cheap to clone.
#[derive(Clone)]
pub struct ReadCache {
    store: Arc<dyn Cache>,
    ids: Arc<dyn IdGenerator>,
    policy: Arc<CachePolicy>,
    memo: Arc<Memo>,
}

impl ReadCache {
    /// `ids` mints versions: time-ordered with random bits, so two instances loading the same
    /// key never mint the same one.
    pub fn new(store: Arc<dyn Cache>, ids: Arc<dyn IdGenerator>, policy: CachePolicy) -> Self {
        ReadCache {
            store,
            ids,
            policy: Arc::new(policy),
            memo: Arc::new(Memo::new(MEMO_ENTRIES)),
        }
    }

    fn mint(&self) -> Version {
        Version::from_u128(self.ids.new_id().as_u128())
    }

    /// Removes what `write` made stale; returns once this instance no longer serves it.
    pub async fn written(&self, write: Write) {
        let keys: Vec<String> = write
            .stale()
            .iter()
            .map(|read| CachePolicy::key(read).into_owned())
            .collect();
        self.store.invalidate(&keys).await;
    }

    pub async fn post<F, Fut>(
        &self,
        id: PostId,
        load: F,
    ) -> Result<Option<Arc<PostRecord>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<PostRecord>, StoreError>> + Send,
    {
        Ok(self.get(Read::Post(id), load).await?.map(|v| v.value))
    }

    /// A head ([`Read::GlobalHead`] or [`Read::AuthorHead`]); an absent head is an empty one.
    pub async fn head<F, Fut>(
        &self,
        read: Read,
        load: F,
    ) -> Result<Versioned<Vec<Post>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<Post>, StoreError>> + Send,
    {
        let loaded = self
            .get(read, || {
                let fut = load();
                async move { fut.await.map(Some) }
            })
            .await?;
        Ok(loaded.unwrap_or_else(|| Versioned {
            version: self.mint(),
            value: Arc::default(),
        }))
    }

    /// Which pulled authors a user follows ([`Read::FollowedPulled`]): the pulled set's version
    /// it was computed from, and the authors.
    pub async fn followed_pulled<F, Fut>(
        &self,
        user: UserId,
        load: F,
    ) -> Result<Option<Arc<(u64, Vec<UserId>)>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<(u64, Vec<UserId>)>, StoreError>> + Send,
    {
        Ok(self
            .get(Read::FollowedPulled(user), load)
            .await?
            .map(|v| v.value))
    }

    /// Drops one user's [`Read::FollowedPulled`] (computed from an older pulled set).
    pub async fn forget_followed_pulled(&self, user: UserId) {
        let key = CachePolicy::key(&Read::FollowedPulled(user)).into_owned();
        self.store.invalidate(&[key]).await;
    }

    /// One user with their counters.
    pub async fn user<F, Fut>(&self, id: UserId, load: F) -> Result<Option<Arc<User>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<User>, StoreError>> + Send,
    {
        Ok(self.get(Read::User(id), load).await?.map(|v| v.value))
    }

    /// What authenticating one user reads.
    pub async fn standing<F, Fut>(
        &self,
        id: UserId,
        load: F,
    ) -> Result<Option<Arc<Standing>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<Standing>, StoreError>> + Send,
    {
        Ok(self.get(Read::Standing(id), load).await?.map(|v| v.value))
    }

    /// One API key's record.
    pub async fn api_key<F, Fut>(
        &self,
        id: ApiKeyId,
        load: F,
    ) -> Result<Option<Arc<ApiKey>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<ApiKey>, StoreError>> + Send,
    {
        Ok(self.get(Read::ApiKey(id), load).await?.map(|v| v.value))
    }

    /// One summary, loaded under the cache's guard against a concurrent invalidation (so a
    /// profile edit is never overwritten by a read that began before it).
    pub async fn summary<F, Fut>(
        &self,
        id: UserId,
        load: F,
    ) -> Result<Option<Arc<UserSummary>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<UserSummary>, StoreError>> + Send,
    {
        Ok(self.get(Read::Summary(id), load).await?.map(|v| v.value))
    }

    /// The cached summaries among `ids` (in the same order; misses and undecodable values are
    /// `None`). Never loads.
    pub async fn cached_summaries(&self, ids: &[UserId]) -> Vec<Option<Arc<UserSummary>>> {
        self.cached_many(ids.iter().map(|id| Read::Summary(*id)))
            .await
    }

    /// The cached records among `ids` (in the same order; misses and undecodable values are
    /// `None`), in one round trip to each tier. Never loads.
    pub async fn cached_posts(&self, ids: &[PostId]) -> Vec<Option<Arc<PostRecord>>> {
        self.cached_many(ids.iter().map(|id| Read::Post(*id))).await
    }

    /// Several reads of one type from the store at once (`Cache::get_many`); never loads.
    async fn cached_many<T>(&self, reads: impl Iterator<Item = Read>) -> Vec<Option<Arc<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let keys: Vec<String> = reads
            .map(|read| CachePolicy::key(&read).into_owned())
            .collect();
        let hits = self.store.get_many(&keys).await;
        keys.iter()
            .zip(hits)
            .map(|(key, hit)| self.decode::<T>(key, &hit?).ok().map(|v| v.value))
            .collect()
    }

    /// Stores summaries read outside the guard of [`ReadCache::summary`] (a batch of misses):
    /// only for [`CachePolicy::summary_unguarded`], since an edit could have landed meanwhile.
    pub async fn put_unguarded_summaries(
        &self,
        summaries: &[UserSummary],
    ) -> Result<(), StoreError> {
        for summary in summaries {
            let key = CachePolicy::key(&Read::Summary(summary.id)).into_owned();
            let bytes = CachePolicy::encode(self.mint(), summary)?;
            self.store
                .set(&key, bytes, self.policy.summary_unguarded)
                .await;
        }
        Ok(())
    }

    /// Reads `read` through the cache, filling it from `load` on a miss.
    ///
    /// A cached value that no longer decodes (another encoding, a corrupt entry in a shared
    /// tier) is dropped and the store answers instead: a bad entry costs one reload, not an
    /// error.
    async fn get<T, F, Fut>(&self, read: Read, load: F) -> Result<Option<Versioned<T>>, StoreError>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, StoreError>> + Send,
    {
        let key = CachePolicy::key(&read);
        let first = load();
        // Minted only when a load runs: a hit costs no id.
        let loader: Loader<'_> = Box::pin(async move {
            match first.await? {
                Some(v) => Ok(Some(CachePolicy::encode(self.mint(), &v)?)),
                None => Ok(None),
            }
        });
        let ttl = self.policy.ttl(&read);
        let Some(bytes) = self.store.get_or_load(&key, ttl, loader).await? else {
            return Ok(None);
        };
        match self.decode::<T>(&key, &bytes) {
            Ok(v) => Ok(Some(v)),
            Err(_) => {
                self.store.invalidate(&[key.into_owned()]).await;
                Ok(load().await?.map(|value| Versioned {
                    version: self.mint(),
                    value: Arc::new(value),
                }))
            }
        }
    }

    fn decode<T>(&self, key: &str, bytes: &[u8]) -> Result<Versioned<T>, StoreError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let version = CachePolicy::version(bytes)?;
        if let Some(seen) = self.memo.get::<T>(key, version) {
            return Ok(seen);
        }
        let value = Versioned {
            version,
            value: Arc::new(CachePolicy::decode::<T>(bytes)?),
        };
        self.memo.put(key, &value);
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
