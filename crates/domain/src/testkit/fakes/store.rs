//! [`MemoryStore`]: the user, post and follow repositories (and their health probe) over one
//! in-memory store, with the feed outbox its post and follow writes fill.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use super::lock;

mod api_keys;
mod follows;
mod idempotency;
mod outbox;

use crate::error::StoreError;
use crate::model::{
    Email, FeedEvent, FollowRecord, KeyClaim, Keyset, NewUser, PostId, PostRecord, ProfileUpdate,
    StoredCredentials, StoredKey, Tier, Timestamp, User, UserId, UserSummary, Username,
};
use crate::ports::{CreateUserError, HealthProbe, Keyed, PostRepository, UserRepository};
pub use api_keys::PlainSecrets;

// ---------------------------------------------------------------------------------------------
// Repositories
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct StoreState {
    /// By id; a user's password hash lives next to it.
    users: BTreeMap<UserId, (User, String)>,
    /// By id, which is time-ordered: iterating in reverse is newest first.
    posts: BTreeMap<PostId, PostRecord>,
    /// By edge id, likewise time-ordered.
    follows: BTreeMap<crate::model::FollowId, FollowRecord>,
    /// By id, time-ordered: iterating is oldest first.
    api_keys: BTreeMap<crate::model::ApiKeyId, crate::model::ApiKey>,
    /// Idempotency keys by (scope, key).
    keys: BTreeMap<(String, String), StoredKey>,
    /// The feed outbox, lowest `seq` first (see `outbox`).
    outbox: outbox::Outbox,
}

impl StoreState {
    fn user_mut(&mut self, id: UserId) -> Option<&mut User> {
        self.users.get_mut(&id).map(|(u, _)| u)
    }

    fn summary(&self, id: UserId) -> Option<UserSummary> {
        self.users.get(&id).map(|(u, _)| u.summary())
    }
}

/// Users, posts and follows in one in-memory store, so that every write updates the counters
/// it affects atomically (one lock), as the ports require of a transactional store.
///
/// [`MemoryStore::set_unavailable`] makes every call fail with [`StoreError::Unavailable`], for
/// testing what callers do when the database is down.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<StoreState>,
    unavailable: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every repository call and `ping` fails with `StoreError::Unavailable`.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "memory store switched off".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    /// How many users, posts and follow edges are stored (for "nothing was written" checks).
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = lock(&self.state);
        (s.users.len(), s.posts.len(), s.follows.len())
    }
}

/// Newest first, strictly below `q.before`, at most `q.limit` — the [`Keyset`] rule, applied
/// to an iterator that already yields newest first.
fn keyset<'a, T: 'a>(
    newest_first: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> Uuid,
    q: Keyset,
) -> impl Iterator<Item = &'a T> {
    newest_first
        .filter(move |item| q.before.is_none_or(|before| key(item) < before))
        .take(q.limit)
}

fn create_user(s: &mut StoreState, new: &NewUser) -> Result<User, CreateUserError> {
    // Email first: when both clash, the port says EmailTaken.
    if s.users.values().any(|(u, _)| u.email == new.email.as_str()) {
        return Err(CreateUserError::EmailTaken);
    }
    let canonical = new.username.canonical();
    if s.users
        .values()
        .any(|(u, _)| u.username.to_ascii_lowercase() == canonical)
    {
        return Err(CreateUserError::UsernameTaken);
    }
    if s.users.contains_key(&new.id) {
        return Err(StoreError::Internal(format!("duplicate user id {}", new.id)).into());
    }
    let user = new.to_user();
    s.users
        .insert(new.id, (user.clone(), new.password_hash.clone()));
    Ok(user)
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create(&self, new: &NewUser) -> Result<User, CreateUserError> {
        self.check()?;
        create_user(&mut lock(&self.state), new)
    }

    async fn create_keyed(
        &self,
        new: &NewUser,
        claim: &KeyClaim,
    ) -> Result<Keyed<User>, CreateUserError> {
        let (id, at) = (new.id.as_uuid(), new.created_at);
        self.keyed(claim, id, at, |s| create_user(s, new), |_| true)
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.check()?;
        let canonical = username.canonical();
        Ok(lock(&self.state)
            .users
            .values()
            .find(|(u, _)| u.username.to_ascii_lowercase() == canonical)
            .map(|(u, _)| u.clone()))
    }

    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        self.check()?;
        Ok(lock(&self.state)
            .users
            .values()
            .find(|(u, _)| u.email == email.as_str())
            .map(|(u, hash)| StoredCredentials {
                user: u.clone(),
                password_hash: hash.clone(),
            }))
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let Some(user) = s.user_mut(id) else {
            return Ok(None);
        };
        if let Some(name) = &update.name {
            user.name = name.as_ref().map(|n| n.as_str().to_owned());
        }
        if let Some(bio) = &update.bio {
            user.bio = bio.as_ref().map(|b| b.as_str().to_owned());
        }
        Ok(Some(user.clone()))
    }

    async fn summaries(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let unique: HashSet<UserId> = ids.iter().copied().collect();
        Ok(unique.into_iter().filter_map(|id| s.summary(id)).collect())
    }

    async fn revoke_tokens(&self, id: UserId, at: Timestamp) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let Some(user) = s.user_mut(id) else {
            return Ok(false);
        };
        let next = user.tokens_valid_after.map_or(at, |t| {
            Timestamp::from_unix_millis(t.unix_millis() + 1).max(at)
        });
        user.tokens_valid_after = Some(next);
        Ok(true)
    }

    async fn set_tier(
        &self,
        username: &Username,
        tier: Tier,
    ) -> Result<Option<UserId>, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let canonical = username.canonical();
        let user = s
            .users
            .values_mut()
            .map(|(u, _)| u)
            .find(|u| u.username.to_ascii_lowercase() == canonical);
        Ok(user.map(|u| {
            u.tier = tier;
            u.id
        }))
    }
}

fn create_post(s: &mut StoreState, post: &PostRecord) -> Result<bool, StoreError> {
    if s.posts.contains_key(&post.id) {
        return Err(StoreError::Internal(format!(
            "duplicate post id {}",
            post.id
        )));
    }
    let Some(author) = s.user_mut(post.author_id) else {
        return Ok(false);
    };
    author.posts_count += 1;
    s.posts.insert(post.id, post.clone());
    s.outbox.record(FeedEvent::Posted {
        post: post.id,
        author: post.author_id,
    });
    Ok(true)
}

#[async_trait]
impl PostRepository for MemoryStore {
    async fn create(&self, post: &PostRecord) -> Result<bool, StoreError> {
        self.check()?;
        create_post(&mut lock(&self.state), post)
    }

    async fn create_keyed(
        &self,
        post: &PostRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<bool>, StoreError> {
        let (id, at) = (post.id.as_uuid(), post.created_at);
        self.keyed(claim, id, at, |s| create_post(s, post), |created| *created)
    }

    async fn by_id(&self, id: PostId) -> Result<Option<PostRecord>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).posts.get(&id).cloned())
    }

    async fn delete(&self, id: PostId, author: UserId) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if s.posts.get(&id).is_none_or(|p| p.author_id != author) {
            return Ok(false);
        }
        s.posts.remove(&id);
        if let Some(user) = s.user_mut(author) {
            user.posts_count = user.posts_count.saturating_sub(1);
        }
        s.outbox.record(FeedEvent::Deleted { post: id, author });
        Ok(true)
    }

    async fn latest(&self, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        Ok(keyset(s.posts.values().rev(), |p| p.id.as_uuid(), q)
            .cloned()
            .collect())
    }

    async fn by_author(&self, author: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let mine = s.posts.values().rev().filter(|p| p.author_id == author);
        Ok(keyset(mine, |p| p.id.as_uuid(), q).cloned().collect())
    }

    async fn feed(&self, user: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let mut authors: HashSet<UserId> = s
            .follows
            .values()
            .filter(|f| f.follower_id == user)
            .map(|f| f.following_id)
            .collect();
        authors.insert(user);
        let visible = s
            .posts
            .values()
            .rev()
            .filter(|p| authors.contains(&p.author_id));
        Ok(keyset(visible, |p| p.id.as_uuid(), q).cloned().collect())
    }
}

#[async_trait]
impl HealthProbe for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

#[cfg(test)]
mod tests;
