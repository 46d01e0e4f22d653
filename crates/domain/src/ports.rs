//! The traits adapters implement. Each says what MUST hold, and the `testkit` suite of the
//! port checks exactly that.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{
    Email, FollowRecord, KeyClaim, Keyset, NewUser, Password, PostId, PostRecord, ProfileUpdate,
    StoredCredentials, Tier, Timestamp, User, UserId, UserSummary, Username,
};

mod api_keys;
mod follows;
mod idempotency;
mod live;
mod timeline;

pub use api_keys::{ApiKeyRepository, ApiKeySecrets, CreateApiKeyError};
pub use follows::{FollowError, FollowRepository};
pub use idempotency::{IdempotencyKeyRepository, Keyed};
pub use live::LiveLog;
pub use timeline::{
    Delivery, EdgeChange, FeedEventStream, FeedOutbox, PulledAuthors, TimelineStore, TimelineWindow,
};

/// Creating a user failed for a reason the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("email taken")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users and their counters.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user with zeroed counters.
    ///
    /// # Errors
    /// MUST return `EmailTaken` / `UsernameTaken` when another user has that email, or that
    /// username ignoring ASCII case — decided by the store atomically, so of two racing
    /// signups for one name exactly one succeeds. Email is checked first when both clash.
    async fn create(&self, user: &NewUser) -> Result<User, CreateUserError>;

    /// `create` storing the key in the same transaction (rules: [`Keyed`]'s module).
    async fn create_keyed(
        &self,
        user: &NewUser,
        claim: &KeyClaim,
    ) -> Result<Keyed<User>, CreateUserError>;

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Looks a username up ignoring ASCII case.
    async fn by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// The user owning this (already lower-cased) email, with the hash to verify against.
    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, StoreError>;

    /// Applies the fields the update names and returns the user as now stored; `None` when no
    /// such user exists.
    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError>;

    /// Summaries of those of `ids` that exist, in any order.
    async fn summaries(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, StoreError>;

    /// Revokes the user's tokens issued at or before `at`: `tokens_valid_after` becomes the
    /// later of `at` and one millisecond past its current value (so it never moves back, and
    /// every logout revokes the tokens issued just after the previous one). `false` when no
    /// such user.
    async fn revoke_tokens(&self, id: UserId, at: Timestamp) -> Result<bool, StoreError>;

    /// Sets the tier of the user with this username (ignoring ASCII case); their id, or `None`
    /// when there is no such user.
    async fn set_tier(&self, username: &Username, tier: Tier)
        -> Result<Option<UserId>, StoreError>;
}

/// Posts and the lists they appear in.
#[async_trait]
pub trait PostRepository: Send + Sync {
    /// Stores a post and increments its author's `posts_count` in the same transaction.
    ///
    /// # Errors
    /// MUST return `Ok(false)` without writing anything when the author does not exist.
    async fn create(&self, post: &PostRecord) -> Result<bool, StoreError>;

    /// `create` storing the key in the same transaction (rules: [`Keyed`]'s module).
    async fn create_keyed(
        &self,
        post: &PostRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<bool>, StoreError>;

    async fn by_id(&self, id: PostId) -> Result<Option<PostRecord>, StoreError>;

    /// Deletes the post if `author` wrote it, decrementing their `posts_count` in the same
    /// transaction. `false` when there was no such post by that author.
    async fn delete(&self, id: PostId, author: UserId) -> Result<bool, StoreError>;

    /// Every post, newest first (the global timeline).
    async fn latest(&self, q: Keyset) -> Result<Vec<PostRecord>, StoreError>;

    /// One author's posts, newest first.
    async fn by_author(&self, author: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError>;

    /// The home feed computed on read: posts by `user` and by everyone `user` follows, newest
    /// first.
    async fn feed(&self, user: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError>;
}

/// Bulk loading, for `socialscale seed`: millions of rows in minutes instead of hours, through
/// each database's own fast path (COPY, large transactions of prepared multi-row inserts).
///
/// Counters are not maintained per row: [`BulkLoad::recount`] computes every user's counters
/// from the rows once the load is in, exactly as the per-row ports would have left them.
#[async_trait]
pub trait BulkStore: Send + Sync {
    /// How many users the database holds (a seed refuses a non-empty database by default).
    async fn user_count(&self) -> Result<u64, StoreError>;

    /// Opens one transaction for the whole load. With `fresh` (the database is empty) the
    /// secondary indexes, foreign keys and counter triggers are set aside until
    /// [`BulkLoad::restore`] and rebuilt once, the way a DBA bulk-loads; otherwise they stay.
    /// Fresh or not, the feed outbox is bypassed: loaded rows record no [`FeedOutbox`] events
    /// (seeded users have no timelines yet), and the outbox is back in force for every write
    /// after the load, whether it commits (with or without `restore`) or rolls back.
    /// Dropping the load without [`BulkLoad::commit`] rolls everything back, indexes included.
    async fn begin_load(&self, fresh: bool) -> Result<Box<dyn BulkLoad>, StoreError>;

    /// Refreshes the planner's statistics (and PostgreSQL's visibility map) after a load.
    async fn analyze(&self) -> Result<(), StoreError>;
}

/// One bulk load in progress: rows in any batch sizes, then restore, recount, commit.
///
/// Rows must be valid and consistent (every referenced user loaded first or already present,
/// no duplicate edge, no self-follow): the database still checks, and a violation fails the
/// batch or the restore, which rolls the whole load back.
#[async_trait]
pub trait BulkLoad: Send {
    async fn users(&mut self, rows: &[NewUser]) -> Result<(), StoreError>;
    async fn follows(&mut self, rows: &[FollowRecord]) -> Result<(), StoreError>;
    async fn posts(&mut self, rows: &[PostRecord]) -> Result<(), StoreError>;
    /// Rebuilds what `begin_load` set aside (a no-op when nothing was).
    async fn restore(&mut self) -> Result<(), StoreError>;
    /// Sets every user's `followersCount`, `followingCount` and `postsCount` from the rows.
    async fn recount(&mut self) -> Result<(), StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// One database pool's connections at a moment, as an adapter reports them for the
/// `db_pool_*` gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// The pool's role: `write`/`read` on SQLite, `primary`/`replica` on PostgreSQL.
    pub pool: &'static str,
    /// For a replica, its position in the list of replica URLs.
    pub replica: Option<usize>,
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolStats {
    /// From a pool's size (connections open) and idle count. The two are read one after the
    /// other, so a connection returned in between could make idle exceed size for an instant.
    pub fn new(
        pool: &'static str,
        replica: Option<usize>,
        size: u32,
        idle: usize,
        max: u32,
    ) -> Self {
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolStats {
            pool,
            replica,
            in_use: size - idle,
            idle,
            max,
        }
    }
}

/// A dependency whose state `/health` reports.
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// What this is, for `/health`'s `backends` (e.g. `sqlite`, `postgres`, `local`, `redis`).
    fn backend(&self) -> &'static str;

    /// One cheap round trip. Callers cache the answer; this is not called per request.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The future a cache runs to fill a missing key: the encoded value, or `None` when the thing
/// does not exist (absence is not cached).
pub type Loader<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send + 'a>>;

/// A key → bytes cache with TTLs. Values are encoded by the domain, so one port serves an
/// in-process tier and a shared one alike.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The cached value, or the loader's. Concurrent misses for one key MUST run one loader
    /// and share its result; a loader's error is returned to every waiter and not cached. A
    /// value loaded while [`Cache::invalidate`] ran for its key MUST NOT stay cached.
    async fn get_or_load(
        &self,
        key: &str,
        ttl: Duration,
        load: Loader<'_>,
    ) -> Result<Option<Arc<[u8]>>, StoreError>;

    /// Several keys at once; misses are `None`.
    async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<[u8]>>>;

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration);

    /// Removes keys so that the next read loads afresh. Returns once this instance will no
    /// longer serve the old values.
    async fn invalidate(&self, keys: &[String]);
}

/// Which counting rule a limit uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateAlgorithm {
    /// Counts per aligned window; cheapest, allows a burst of 2× at a window edge.
    FixedWindow,
    /// Weighs the previous window's count by how much of it still overlaps: smooth, O(1).
    SlidingWindow,
    /// `limit` tokens refilled evenly over `window`; allows bursts up to `limit`.
    TokenBucket,
}

impl RateAlgorithm {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fixed_window" => Some(Self::FixedWindow),
            "sliding_window" => Some(Self::SlidingWindow),
            "token_bucket" => Some(Self::TokenBucket),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::FixedWindow => "fixed_window",
            Self::SlidingWindow => "sliding_window",
            Self::TokenBucket => "token_bucket",
        }
    }
}

/// A named limit: at most `limit` hits per `window`, per key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RatePolicy {
    /// Short name, part of every key (`general`, `post`, `login`, `signup`, `login_failures`).
    pub name: &'static str,
    pub limit: u32,
    pub window: Duration,
    pub algorithm: RateAlgorithm,
}

/// The answer to one rate-limit check, with what the `RateLimit-*` headers need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is whole again (`RateLimit-Reset`).
    pub reset_after: Duration,
    /// When denied: until one more hit would be allowed (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl RateDecision {
    /// The answer under a policy with no budget at all (`limit == 0`): every hit is denied,
    /// and retrying is pointless for at least a window.
    pub fn no_budget(policy: &RatePolicy) -> Self {
        RateDecision {
            allowed: false,
            limit: 0,
            remaining: 0,
            reset_after: Duration::ZERO,
            retry_after: Some(policy.window.max(Duration::from_secs(1))),
        }
    }
}

/// Decides whether a hit is allowed.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Records `cost` hits against `key` under `policy` if they fit and says whether they did.
    /// `cost == 0` only looks: allowed while the budget is not exhausted, nothing recorded.
    ///
    /// A denied hit MUST NOT consume budget. Keys of different policies never share budget.
    async fn check(
        &self,
        policy: &RatePolicy,
        key: &str,
        cost: u32,
    ) -> Result<RateDecision, StoreError>;
}

/// Password hashing. Implementations keep the work off the async executor and bound how many
/// hashes run at once.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string of a fresh salted hash.
    async fn hash(&self, password: &Password) -> Result<String, StoreError>;

    /// Whether `password` matches. With `hash == None` (unknown account) it MUST take as long
    /// as a real check and answer `false`, so timing does not reveal which emails exist.
    async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, StoreError>;
}

/// Why a token was not accepted. The caller learns only "unauthorized".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// What a genuine, unexpired token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    pub user: UserId,
    /// To the millisecond: a logout revokes the tokens issued up to its own millisecond, and
    /// whole seconds could not tell a token issued just before a logout from one just after.
    pub issued_at: Timestamp,
}

/// Issues and checks bearer tokens.
pub trait TokenIssuer: Send + Sync {
    /// A token for `user` issued at `issued_at` (the domain picks the instant, see
    /// `AuthService`); it expires a configured lifetime later.
    fn issue(&self, user: UserId, issued_at: Timestamp) -> Result<String, StoreError>;

    /// The claims of a genuine token that has not expired. MUST refuse a stream ticket.
    fn verify(&self, token: &str) -> Result<TokenClaims, TokenError>;

    /// A stream ticket for `user` issued at `issued_at`: signed like a token, alive for
    /// [`STREAM_TICKET_TTL`], and accepted only by [`TokenIssuer::verify_ticket`]. It travels in
    /// a URL (`EventSource` cannot send headers), so it must not be a bearer token.
    fn issue_ticket(&self, user: UserId, issued_at: Timestamp) -> Result<String, StoreError>;

    /// The claims of a genuine, unexpired stream ticket. MUST refuse a bearer token.
    fn verify_ticket(&self, ticket: &str) -> Result<TokenClaims, TokenError>;
}

/// How long a stream ticket lives: long enough to open the stream (and for a browser's
/// reconnects with the same URL), short enough that one copied from a log is worthless.
pub const STREAM_TICKET_TTL: Duration = Duration::from_secs(60);

/// Wall-clock time, injectable so tests control it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// New time-ordered ids (UUIDv7), strictly increasing within one process.
pub trait IdGenerator: Send + Sync {
    fn new_id(&self) -> Uuid;
}
