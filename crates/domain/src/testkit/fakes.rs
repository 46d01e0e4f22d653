//! In-memory fakes of every port, for unit tests of the services (and of anything else that
//! wants a whole set of ports without a database, a runtime or a network).
//!
//! Each fake is the simplest thing that keeps its port's contract: one `std::sync::Mutex`
//! around plain collections, scanned linearly. None of them ever returns `Pending`, so a test
//! drives them with [`block_on`] and needs no async runtime. The mutexes are never held across
//! an `.await` (the fakes' methods do not await while holding them; [`MapCache`] releases its
//! lock before running a loader).
//!
//! Besides the port, each fake exposes what tests want to assert on: call counters, a switch
//! that makes a store fail, a settable clock.
//!
//! [`Fakes`] bundles one of each, keeps the concrete `Arc`s so tests can reach into them, and
//! builds the [`Ports`] / [`Services`] the services are tested through.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use uuid::{Builder, Uuid};

use crate::error::{AuthError, StoreError};
use crate::model::{
    Email, FollowEdge, FollowRecord, Keyset, NewUser, Password, PostId, PostRecord, ProfileUpdate,
    StoredCredentials, Timestamp, User, UserId, UserSummary, Username,
};
use crate::ports::{
    Cache, Clock, CreateUserError, FollowError, FollowRepository, HealthProbe, IdGenerator, Loader,
    PasswordHasher, PostRepository, RateAlgorithm, RateDecision, RateLimiter, RatePolicy,
    TokenError, TokenIssuer, UserRepository,
};
use crate::services::{Ports, Services, Session, SignupInput};

/// Locks `m`, recovering the data if another thread panicked while holding it.
///
/// Every critical section below leaves the state consistent at each step it could panic at
/// (there are no such steps: they are plain collection operations), and a test that panicked
/// has already failed, so a poisoned lock carries no information worth a second panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create(&self, new: &NewUser) -> Result<User, CreateUserError> {
        self.check()?;
        let mut s = lock(&self.state);
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
        let user = User {
            id: new.id,
            email: new.email.as_str().to_owned(),
            username: new.username.as_str().to_owned(),
            name: new.name.as_ref().map(|n| n.as_str().to_owned()),
            bio: None,
            created_at: new.created_at,
            followers_count: 0,
            following_count: 0,
            posts_count: 0,
        };
        s.users
            .insert(new.id, (user.clone(), new.password_hash.clone()));
        Ok(user)
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
}

#[async_trait]
impl PostRepository for MemoryStore {
    async fn create(&self, post: &PostRecord) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
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
        Ok(true)
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
impl FollowRepository for MemoryStore {
    async fn follow(&self, edge: &FollowRecord) -> Result<(), FollowError> {
        self.check()?;
        let mut s = lock(&self.state);
        if !s.users.contains_key(&edge.follower_id) || !s.users.contains_key(&edge.following_id) {
            return Err(FollowError::UnknownUser);
        }
        if s.follows
            .values()
            .any(|f| f.follower_id == edge.follower_id && f.following_id == edge.following_id)
        {
            return Err(FollowError::AlreadyFollowing);
        }
        // What a SQL CHECK constraint would refuse; the service never asks for it.
        if edge.follower_id == edge.following_id {
            return Err(StoreError::Internal("a user cannot follow themselves".to_owned()).into());
        }
        if s.follows.contains_key(&edge.id) {
            return Err(StoreError::Internal(format!("duplicate follow id {}", edge.id)).into());
        }
        s.follows.insert(edge.id, edge.clone());
        if let Some(follower) = s.user_mut(edge.follower_id) {
            follower.following_count += 1;
        }
        if let Some(followed) = s.user_mut(edge.following_id) {
            followed.followers_count += 1;
        }
        Ok(())
    }

    async fn unfollow(&self, follower: UserId, following: UserId) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let Some(id) = s
            .follows
            .values()
            .find(|f| f.follower_id == follower && f.following_id == following)
            .map(|f| f.id)
        else {
            return Ok(false);
        };
        s.follows.remove(&id);
        if let Some(u) = s.user_mut(follower) {
            u.following_count = u.following_count.saturating_sub(1);
        }
        if let Some(u) = s.user_mut(following) {
            u.followers_count = u.followers_count.saturating_sub(1);
        }
        Ok(true)
    }

    async fn followers(&self, user: UserId, q: Keyset) -> Result<Vec<FollowEdge>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let edges = s.follows.values().rev().filter(|f| f.following_id == user);
        Ok(keyset(edges, |f| f.id.as_uuid(), q)
            .filter_map(|f| {
                Some(FollowEdge {
                    id: f.id,
                    user: s.summary(f.follower_id)?,
                })
            })
            .collect())
    }

    async fn following(&self, user: UserId, q: Keyset) -> Result<Vec<FollowEdge>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let edges = s.follows.values().rev().filter(|f| f.follower_id == user);
        Ok(keyset(edges, |f| f.id.as_uuid(), q)
            .filter_map(|f| {
                Some(FollowEdge {
                    id: f.id,
                    user: s.summary(f.following_id)?,
                })
            })
            .collect())
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

// ---------------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct CacheState {
    entries: HashMap<String, Arc<[u8]>>,
    /// Bumped by every invalidation of a key: a load that began under an older generation
    /// does not store its value (the port's "loaded while invalidated" rule).
    generations: HashMap<String, u64>,
    loads: HashMap<String, usize>,
    hits: usize,
    invalidated: Vec<String>,
}

/// A `HashMap` cache that ignores TTLs (entries live until invalidated) and counts what
/// happened, so tests can assert that a read was served from it or that a write invalidated.
///
/// Concurrent misses are not coalesced (each runs its loader): the fakes are driven from one
/// thread by [`block_on`], where misses never overlap.
#[derive(Default)]
pub struct MapCache {
    state: Mutex<CacheState>,
}

impl MapCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loader calls, over all keys.
    pub fn loads(&self) -> usize {
        lock(&self.state).loads.values().sum()
    }

    /// Loader calls for one key.
    pub fn loads_of(&self, key: &str) -> usize {
        lock(&self.state).loads.get(key).copied().unwrap_or(0)
    }

    /// Reads answered from the map (by `get_or_load` or `get_many`).
    pub fn hits(&self) -> usize {
        lock(&self.state).hits
    }

    /// Every key passed to `invalidate`, in order, repeats included.
    pub fn invalidated(&self) -> Vec<String> {
        lock(&self.state).invalidated.clone()
    }

    /// How many keys were invalidated in all.
    pub fn invalidations(&self) -> usize {
        lock(&self.state).invalidated.len()
    }

    pub fn contains(&self, key: &str) -> bool {
        lock(&self.state).entries.contains_key(key)
    }

    /// Drops every entry (without counting invalidations), like a cold start.
    pub fn clear(&self) {
        lock(&self.state).entries.clear();
    }
}

#[async_trait]
impl Cache for MapCache {
    async fn get_or_load(
        &self,
        key: &str,
        _ttl: Duration,
        load: Loader<'_>,
    ) -> Result<Option<Arc<[u8]>>, StoreError> {
        let generation = {
            let mut s = lock(&self.state);
            if let Some(hit) = s.entries.get(key).cloned() {
                s.hits += 1;
                return Ok(Some(hit));
            }
            *s.loads.entry(key.to_owned()).or_default() += 1;
            s.generations.get(key).copied().unwrap_or(0)
        };
        // The lock is released while the loader runs.
        let Some(bytes) = load.await? else {
            return Ok(None);
        };
        let value: Arc<[u8]> = bytes.into();
        let mut s = lock(&self.state);
        if s.generations.get(key).copied().unwrap_or(0) == generation {
            s.entries.insert(key.to_owned(), value.clone());
        }
        Ok(Some(value))
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<[u8]>>> {
        let mut s = lock(&self.state);
        let found: Vec<Option<Arc<[u8]>>> =
            keys.iter().map(|k| s.entries.get(k).cloned()).collect();
        s.hits += found.iter().filter(|v| v.is_some()).count();
        found
    }

    async fn set(&self, key: &str, value: Vec<u8>, _ttl: Duration) {
        lock(&self.state)
            .entries
            .insert(key.to_owned(), value.into());
    }

    async fn invalidate(&self, keys: &[String]) {
        let mut s = lock(&self.state);
        for key in keys {
            s.entries.remove(key);
            *s.generations.entry(key.clone()).or_default() += 1;
            s.invalidated.push(key.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Password hasher, tokens
// ---------------------------------------------------------------------------------------------

/// **Insecure, tests only**: the "hash" is `plain$<password>`, readable by anyone.
///
/// Counts its calls so tests can check that a login went through the hasher exactly once
/// whether or not the account exists.
#[derive(Default)]
pub struct PlainHasher {
    hashes: AtomicUsize,
    verifies: AtomicUsize,
    verifies_without_hash: AtomicUsize,
}

impl PlainHasher {
    pub const PREFIX: &'static str = "plain$";

    pub fn new() -> Self {
        Self::default()
    }

    /// Calls of `hash`.
    pub fn hashes(&self) -> usize {
        self.hashes.load(Ordering::SeqCst)
    }

    /// Calls of `verify`, with or without a stored hash.
    pub fn verifies(&self) -> usize {
        self.verifies.load(Ordering::SeqCst)
    }

    /// Calls of `verify` with `hash == None` (an unknown account).
    pub fn verifies_without_hash(&self) -> usize {
        self.verifies_without_hash.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<String, StoreError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}{}", Self::PREFIX, password.expose()))
    }

    async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, StoreError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        let Some(hash) = hash else {
            self.verifies_without_hash.fetch_add(1, Ordering::SeqCst);
            return Ok(false);
        };
        Ok(hash
            .strip_prefix(Self::PREFIX)
            .is_some_and(|p| p == password.expose()))
    }
}

/// Tokens are `token:<user id>`; `expired:<user id>` (from [`FakeTokens::expired`]) is a
/// well-formed but expired one; anything else is invalid. No signature: tests only.
#[derive(Default)]
pub struct FakeTokens {
    issued: AtomicUsize,
}

impl FakeTokens {
    pub fn new() -> Self {
        Self::default()
    }

    /// A token for `user` that `verify` answers with `TokenError::Expired`.
    pub fn expired(user: UserId) -> String {
        format!("expired:{user}")
    }

    /// How many tokens `issue` handed out.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl TokenIssuer for FakeTokens {
    fn issue(&self, user: UserId) -> Result<String, StoreError> {
        self.issued.fetch_add(1, Ordering::SeqCst);
        Ok(format!("token:{user}"))
    }

    fn verify(&self, token: &str) -> Result<UserId, TokenError> {
        if let Some(id) = token.strip_prefix("token:") {
            id.parse().map_err(|_| TokenError::Invalid)
        } else if let Some(id) = token.strip_prefix("expired:") {
            match id.parse::<UserId>() {
                Ok(_) => Err(TokenError::Expired),
                Err(_) => Err(TokenError::Invalid),
            }
        } else {
            Err(TokenError::Invalid)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clock, ids
// ---------------------------------------------------------------------------------------------

/// A clock that only moves when told to.
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    /// 2026-01-01T00:00:00.000Z in Unix milliseconds, where [`ManualClock::default`] starts.
    pub const START_MILLIS: i64 = 1_767_225_600_000;

    /// [`ManualClock::START_MILLIS`] as a timestamp.
    pub fn start() -> Timestamp {
        Timestamp::from_unix_millis(Self::START_MILLIS)
    }

    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            millis: AtomicI64::new(start.unix_millis()),
        }
    }

    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.unix_millis(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Self::start())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// UUIDv7s with a fixed timestamp and a counter in the low 48 bits: valid v7 ids (they parse
/// as [`UserId`] etc.) that are strictly increasing in creation order, deterministically.
pub struct SequentialIds {
    millis: u64,
    counter: AtomicU64,
}

impl SequentialIds {
    pub fn new(millis: u64) -> Self {
        SequentialIds {
            millis,
            counter: AtomicU64::new(0),
        }
    }
}

impl Default for SequentialIds {
    fn default() -> Self {
        // The same instant the default clock starts at.
        Self::new(ManualClock::START_MILLIS.unsigned_abs())
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        // Bytes 10..16 of the uuid are the last six of these ten; the version and variant bits
        // (in bytes 6 and 8) are set by the builder and untouched by the counter.
        let mut tail = [0u8; 10];
        tail[4..].copy_from_slice(&n.to_be_bytes()[2..]);
        Builder::from_unix_timestamp_millis(self.millis, &tail).into_uuid()
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------------------

/// A fixed budget of `policy.limit` hits per (policy, key) that never refills: time is
/// ignored, which is all the login-failure rule needs. Denied hits consume nothing; `cost == 0`
/// only looks (allowed while budget remains).
#[derive(Default)]
pub struct CountingLimiter {
    used: Mutex<HashMap<(&'static str, String), u32>>,
}

impl CountingLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hits recorded for `key` under the policy named `policy`.
    pub fn used(&self, policy: &str, key: &str) -> u32 {
        lock(&self.used)
            .iter()
            .find(|((p, k), _)| *p == policy && k == key)
            .map_or(0, |(_, n)| *n)
    }
}

#[async_trait]
impl RateLimiter for CountingLimiter {
    async fn check(
        &self,
        policy: &RatePolicy,
        key: &str,
        cost: u32,
    ) -> Result<RateDecision, StoreError> {
        let mut map = lock(&self.used);
        let used = map.entry((policy.name, key.to_owned())).or_default();
        let allowed = if cost == 0 {
            *used < policy.limit
        } else {
            used.checked_add(cost).is_some_and(|n| n <= policy.limit)
        };
        if allowed {
            *used += cost;
        }
        Ok(RateDecision {
            allowed,
            limit: policy.limit,
            remaining: policy.limit.saturating_sub(*used),
            reset_after: policy.window,
            retry_after: (!allowed).then_some(policy.window),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The bundle
// ---------------------------------------------------------------------------------------------

/// The password [`signup`] gives every user.
pub const TEST_PASSWORD: &str = "correct horse battery";

/// The failed-login policy services built by [`Fakes::services`] use: the API's default, 10
/// failures per 15 minutes per email.
pub fn login_failures_policy() -> RatePolicy {
    RatePolicy {
        name: "login_failures",
        limit: 10,
        window: Duration::from_secs(15 * 60),
        algorithm: RateAlgorithm::SlidingWindow,
    }
}

/// One fake of each port, kept concrete so tests can inspect and steer them.
#[derive(Clone, Default)]
pub struct Fakes {
    pub store: Arc<MemoryStore>,
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
            cache: self.cache.clone(),
            hasher: self.hasher.clone(),
            tokens: self.tokens.clone(),
            limiter: self.limiter.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }

    /// Every service over these fakes, with [`login_failures_policy`].
    pub fn services(&self) -> Services {
        Services::new(&self.ports(), login_failures_policy())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bio, FollowId, Limit, Name, PageRequest};

    fn new_user(ids: &SequentialIds, email: &str, username: &str) -> NewUser {
        NewUser {
            id: UserId::from_uuid(ids.new_id()),
            email: Email::parse(email).unwrap(),
            username: Username::parse(username).unwrap(),
            name: None,
            password_hash: "h".to_owned(),
            created_at: ManualClock::start(),
        }
    }

    fn get_user(s: &MemoryStore, id: UserId) -> User {
        block_on(UserRepository::by_id(s, id)).unwrap().unwrap()
    }

    fn post(ids: &SequentialIds, author: UserId) -> PostRecord {
        PostRecord {
            id: PostId::from_uuid(ids.new_id()),
            author_id: author,
            content: "hi".to_owned(),
            created_at: ManualClock::start(),
        }
    }

    fn edge(ids: &SequentialIds, from: UserId, to: UserId) -> FollowRecord {
        FollowRecord {
            id: FollowId::from_uuid(ids.new_id()),
            follower_id: from,
            following_id: to,
            created_at: ManualClock::start(),
        }
    }

    #[test]
    fn sequential_ids_are_v7_and_strictly_increasing() {
        let ids = SequentialIds::default();
        let all: Vec<Uuid> = (0..1000).map(|_| ids.new_id()).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for id in &all {
            assert_eq!(id.get_version_num(), 7);
            assert!(id.to_string().parse::<UserId>().is_ok());
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        assert_eq!(clock.now(), ManualClock::start());
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now().unix_millis(), ManualClock::START_MILLIS + 1500);
        clock.set(Timestamp::from_unix_millis(7));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(7));
    }

    #[test]
    fn plain_hasher_round_trips_and_refuses_unknown_accounts() {
        let h = PlainHasher::new();
        let pw = Password::parse_new("password1").unwrap();
        let hash = block_on(h.hash(&pw)).unwrap();
        assert_eq!(hash, "plain$password1");
        assert!(block_on(h.verify(&pw, Some(&hash))).unwrap());
        let other = Password::parse_attempt("password2").unwrap();
        assert!(!block_on(h.verify(&other, Some(&hash))).unwrap());
        assert!(!block_on(h.verify(&pw, None)).unwrap());
        assert_eq!(
            (h.hashes(), h.verifies(), h.verifies_without_hash()),
            (1, 3, 1)
        );
    }

    #[test]
    fn fake_tokens_verify_what_they_issue() {
        let t = FakeTokens::new();
        let id = UserId::from_uuid(Uuid::now_v7());
        assert_eq!(t.verify(&t.issue(id).unwrap()), Ok(id));
        assert_eq!(t.verify(&FakeTokens::expired(id)), Err(TokenError::Expired));
        for bad in ["", "token:", "token:nope", "Bearer x", "expired:zz"] {
            assert_eq!(t.verify(bad), Err(TokenError::Invalid), "{bad:?}");
        }
        let v4 = Uuid::new_v4();
        assert_eq!(t.verify(&format!("token:{v4}")), Err(TokenError::Invalid));
        assert_eq!(t.issued(), 1);
    }

    #[test]
    fn counting_limiter_budget() {
        let l = CountingLimiter::new();
        let p = RatePolicy {
            name: "p",
            limit: 3,
            window: Duration::from_secs(60),
            algorithm: RateAlgorithm::FixedWindow,
        };
        let q = RatePolicy {
            name: "q",
            ..p.clone()
        };
        assert!(block_on(l.check(&p, "k", 0)).unwrap().allowed);
        assert_eq!(l.used("p", "k"), 0);
        assert!(block_on(l.check(&p, "k", 2)).unwrap().allowed);
        let denied = block_on(l.check(&p, "k", 2)).unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Some(Duration::from_secs(60)));
        assert_eq!(l.used("p", "k"), 2, "a denied hit consumed budget");
        let last = block_on(l.check(&p, "k", 1)).unwrap();
        assert!(last.allowed);
        assert_eq!(last.remaining, 0);
        assert!(!block_on(l.check(&p, "k", 0)).unwrap().allowed);
        assert!(block_on(l.check(&p, "other", 1)).unwrap().allowed);
        assert!(block_on(l.check(&q, "k", 1)).unwrap().allowed);
    }

    #[test]
    fn map_cache_loads_once_and_invalidates() {
        let c = MapCache::new();
        let ttl = Duration::from_secs(1);
        let load =
            |v: &'static [u8]| -> Loader<'static> { Box::pin(async move { Ok(Some(v.to_vec())) }) };
        let a = block_on(c.get_or_load("k", ttl, load(b"1")))
            .unwrap()
            .unwrap();
        let b = block_on(c.get_or_load("k", ttl, load(b"2")))
            .unwrap()
            .unwrap();
        assert_eq!((&*a, &*b), (&b"1"[..], &b"1"[..]));
        assert_eq!((c.loads_of("k"), c.hits()), (1, 1));
        block_on(c.invalidate(&["k".to_owned()]));
        assert!(!c.contains("k"));
        let d = block_on(c.get_or_load("k", ttl, load(b"3")))
            .unwrap()
            .unwrap();
        assert_eq!(&*d, b"3");
        assert_eq!(c.invalidated(), vec!["k".to_owned()]);

        // Absence and errors are not cached.
        let none: Loader<'static> = Box::pin(async { Ok(None) });
        assert!(block_on(c.get_or_load("n", ttl, none)).unwrap().is_none());
        let err: Loader<'static> = Box::pin(async { Err(StoreError::Unavailable("x".into())) });
        assert!(block_on(c.get_or_load("n", ttl, err)).is_err());
        assert!(!c.contains("n"));

        block_on(c.set("s", b"v".to_vec(), ttl));
        let many = block_on(c.get_many(&["s".to_owned(), "missing".to_owned()]));
        assert_eq!(many[0].as_deref(), Some(&b"v"[..]));
        assert!(many[1].is_none());
    }

    #[test]
    fn map_cache_drops_a_value_loaded_across_an_invalidation() {
        let c = Arc::new(MapCache::new());
        let inner = c.clone();
        let loader: Loader<'static> = Box::pin(async move {
            inner.invalidate(&["k".to_owned()]).await;
            Ok(Some(b"stale".to_vec()))
        });
        let got = block_on(c.get_or_load("k", Duration::from_secs(1), loader)).unwrap();
        assert_eq!(got.as_deref(), Some(&b"stale"[..]));
        assert!(
            !c.contains("k"),
            "a value loaded during an invalidation stayed cached"
        );
    }

    #[test]
    fn memory_store_users() {
        let ids = SequentialIds::default();
        let s = MemoryStore::new();
        let alice = block_on(UserRepository::create(
            &s,
            &new_user(&ids, "a@x.io", "Alice"),
        ))
        .unwrap();
        assert_eq!(alice.username, "Alice");
        assert!(matches!(
            block_on(UserRepository::create(
                &s,
                &new_user(&ids, "a@x.io", "alice")
            )),
            Err(CreateUserError::EmailTaken)
        ));
        assert!(matches!(
            block_on(UserRepository::create(
                &s,
                &new_user(&ids, "b@x.io", "ALICE")
            )),
            Err(CreateUserError::UsernameTaken)
        ));
        let found = block_on(s.by_username(&Username::parse("aLiCe").unwrap())).unwrap();
        assert_eq!(found.map(|u| u.id), Some(alice.id));
        let creds = block_on(s.credentials_by_email(&Email::parse("A@X.io").unwrap())).unwrap();
        assert_eq!(creds.unwrap().password_hash, "h");

        let update = ProfileUpdate {
            name: Some(Some(Name::parse("Al").unwrap())),
            bio: Some(Bio::parse("hello").unwrap()),
        };
        let updated = block_on(s.update_profile(alice.id, &update))
            .unwrap()
            .unwrap();
        assert_eq!(
            (updated.name.as_deref(), updated.bio.as_deref()),
            (Some("Al"), Some("hello"))
        );
        let clear = ProfileUpdate {
            name: None,
            bio: Some(None),
        };
        let cleared = block_on(s.update_profile(alice.id, &clear))
            .unwrap()
            .unwrap();
        assert_eq!(
            (cleared.name.as_deref(), cleared.bio.as_deref()),
            (Some("Al"), None)
        );
        let ghost = UserId::from_uuid(ids.new_id());
        assert!(block_on(s.update_profile(ghost, &clear)).unwrap().is_none());
        let sums = block_on(s.summaries(&[ghost, alice.id, alice.id])).unwrap();
        assert_eq!(sums, vec![cleared.summary()]);
    }

    #[test]
    fn memory_store_posts_keysets_and_counters() {
        let ids = SequentialIds::default();
        let s = MemoryStore::new();
        let a = block_on(UserRepository::create(&s, &new_user(&ids, "a@x.io", "aaa"))).unwrap();
        let b = block_on(UserRepository::create(&s, &new_user(&ids, "b@x.io", "bbb"))).unwrap();
        let c = block_on(UserRepository::create(&s, &new_user(&ids, "c@x.io", "ccc"))).unwrap();
        let mut all = Vec::new();
        for i in 0..9 {
            let author = [a.id, b.id, c.id][i % 3];
            let p = post(&ids, author);
            assert!(block_on(PostRepository::create(&s, &p)).unwrap());
            all.push(p);
        }
        all.reverse();
        let ghost = post(&ids, UserId::from_uuid(ids.new_id()));
        assert!(!block_on(PostRepository::create(&s, &ghost)).unwrap());
        assert_eq!(s.counts().1, 9);
        assert_eq!(get_user(&s, a.id).posts_count, 3);

        let q = |before: Option<Uuid>, limit| Keyset { before, limit };
        assert_eq!(block_on(s.latest(q(None, 100))).unwrap(), all);
        assert_eq!(block_on(s.latest(q(None, 2))).unwrap(), all[..2]);
        let below = Some(all[3].id.as_uuid());
        assert_eq!(block_on(s.latest(q(below, 3))).unwrap(), all[4..7]);
        let mine = block_on(s.by_author(a.id, q(None, 100))).unwrap();
        assert!(mine.iter().all(|p| p.author_id == a.id) && mine.len() == 3);

        block_on(s.follow(&edge(&ids, a.id, b.id))).unwrap();
        let feed = block_on(s.feed(a.id, q(None, 100))).unwrap();
        let expected: Vec<PostRecord> = all
            .iter()
            .filter(|p| p.author_id != c.id)
            .cloned()
            .collect();
        assert_eq!(feed, expected);

        let by_c = all.iter().find(|p| p.author_id == c.id).unwrap();
        assert!(!block_on(s.delete(by_c.id, a.id)).unwrap());
        assert!(block_on(s.delete(by_c.id, c.id)).unwrap());
        assert!(!block_on(s.delete(by_c.id, c.id)).unwrap());
        assert_eq!(get_user(&s, c.id).posts_count, 2);
    }

    #[test]
    fn memory_store_follows() {
        let ids = SequentialIds::default();
        let s = MemoryStore::new();
        let a = block_on(UserRepository::create(&s, &new_user(&ids, "a@x.io", "aaa"))).unwrap();
        let b = block_on(UserRepository::create(&s, &new_user(&ids, "b@x.io", "bbb"))).unwrap();
        let c = block_on(UserRepository::create(&s, &new_user(&ids, "c@x.io", "ccc"))).unwrap();
        block_on(s.follow(&edge(&ids, b.id, a.id))).unwrap();
        block_on(s.follow(&edge(&ids, c.id, a.id))).unwrap();
        assert!(matches!(
            block_on(s.follow(&edge(&ids, b.id, a.id))),
            Err(FollowError::AlreadyFollowing)
        ));
        let ghost = UserId::from_uuid(ids.new_id());
        assert!(matches!(
            block_on(s.follow(&edge(&ids, a.id, ghost))),
            Err(FollowError::UnknownUser)
        ));
        let a_now = get_user(&s, a.id);
        assert_eq!((a_now.followers_count, a_now.following_count), (2, 0));
        let q = Keyset {
            before: None,
            limit: 10,
        };
        let followers = block_on(s.followers(a.id, q)).unwrap();
        let names: Vec<&str> = followers.iter().map(|e| e.user.username.as_str()).collect();
        assert_eq!(names, ["ccc", "bbb"]);
        let next = Keyset {
            before: Some(followers[0].id.as_uuid()),
            limit: 10,
        };
        assert_eq!(block_on(s.followers(a.id, next)).unwrap(), followers[1..]);
        let following = block_on(s.following(b.id, q)).unwrap();
        assert_eq!(following[0].user, a_now.summary());

        assert!(block_on(s.unfollow(b.id, a.id)).unwrap());
        assert!(!block_on(s.unfollow(b.id, a.id)).unwrap());
        let b_now = get_user(&s, b.id);
        assert_eq!(b_now.following_count, 0);
        assert_eq!(get_user(&s, a.id).followers_count, 1);
    }

    #[test]
    fn memory_store_can_be_switched_off() {
        let s = MemoryStore::new();
        assert_eq!(s.backend(), "memory");
        assert!(block_on(s.ping()).is_ok());
        s.set_unavailable(true);
        assert!(matches!(
            block_on(s.ping()),
            Err(StoreError::Unavailable(_))
        ));
        let first = PageRequest::first(Limit::DEFAULT).keyset();
        assert!(matches!(
            block_on(s.latest(first)),
            Err(StoreError::Unavailable(_))
        ));
        let id = UserId::from_uuid(Uuid::now_v7());
        assert!(matches!(
            block_on(UserRepository::by_id(&s, id)),
            Err(StoreError::Unavailable(_))
        ));
        s.set_unavailable(false);
        assert!(block_on(s.ping()).is_ok());
    }

    fn contract_repos() -> crate::testkit::repos::Repos {
        let store = Arc::new(MemoryStore::new());
        crate::testkit::repos::Repos {
            users: store.clone(),
            posts: store.clone(),
            follows: store,
        }
    }

    #[test]
    fn memory_store_passes_the_user_repository_contract() {
        block_on(crate::testkit::repos::user_repository_contract(
            &contract_repos(),
        ));
    }

    #[test]
    fn memory_store_passes_the_post_repository_contract() {
        block_on(crate::testkit::repos::post_repository_contract(
            &contract_repos(),
        ));
    }

    #[test]
    fn memory_store_passes_the_follow_repository_contract() {
        block_on(crate::testkit::repos::follow_repository_contract(
            &contract_repos(),
        ));
    }

    #[test]
    fn memory_store_passes_every_repository_contract_on_one_store() {
        let repos = contract_repos();
        block_on(async {
            crate::testkit::repos::user_repository_contract(&repos).await;
            crate::testkit::repos::post_repository_contract(&repos).await;
            crate::testkit::repos::follow_repository_contract(&repos).await;
        });
    }

    /// Not `cache_single_flight_contract`: the fake does not coalesce concurrent misses.
    #[test]
    fn map_cache_passes_the_cache_contract() {
        block_on(crate::testkit::cache::cache_contract(&MapCache::new()));
    }
}
