//! Repository adapters over PostgreSQL, the production store, with read-replica routing and
//! their migrations.
//!
//! [`PgStore`] implements `UserRepository`, `PostRepository`, `FollowRepository`,
//! `ApiKeyRepository`, `IdempotencyKeyRepository`, `FeedOutbox` and `HealthProbe` from
//! `domain::ports`; the composition root wraps one store in an `Arc` and hands out
//! `Arc<dyn Port>` clones of it.
//!
//! # Layout
//!
//! - `target`: [`PgUrl`], a `postgres://` URL parsed and checked once (redacted in logs).
//! - `store`: connecting ([`PgOptions`]: pool size, acquire timeout, per-connection
//!   `statement_timeout`), routing a read (`page_route`, with failover to the primary), the
//!   per-call deadline, migrations, closing, the health probe.
//! - `replicas`: the replica pools, their freshness measured once a second against the
//!   primary's WAL position (`replicas/probe`), and which replica (if any) may serve a page
//!   after a cursor.
//! - `users`, `posts`, `follows`, `api_keys`: one port each. Every statement is a `&'static str` (one
//!   prepared statement per connection) and is served by an index; each file says which, and
//!   docs/SCALING.md shows the plans on a million posts.
//! - `group`: group commit of `create` and `follow`: a writer task per kind writes whatever
//!   queued meanwhile as one multi-row statement, counters folded in; a failing item fails
//!   alone; a write older than its send window is not sent (it bounds when a row may commit,
//!   which replica routing relies on).
//! - `idempotency`: the idempotency keys keyed writes claim in their own statement (a CTE),
//!   their lookup and sweep.
//! - `outbox`: `FeedOutbox`, the rows statement-level triggers write in the same statement as
//!   every post created or deleted and every follow made or removed (migration 0004), for the
//!   fan-out relay: read oldest first on the primary, deleted once relayed.
//! - `bulk`: `BulkStore` for `socialscale seed` (COPY in one transaction; constraints and
//!   indexes set aside and rebuilt once for a fresh load; the outbox triggers disabled for
//!   every load, so seeded rows record no events).
//! - `plans`: the generic plan of a statement ([`explain`]), for the index checks.
//! - `codec`: ids as native `uuid` (bytewise order = UUIDv7 time order), times as
//!   `timestamptz`, the shared row decoders.
//! - `error`: sqlx errors → `StoreError` (connection, pool, timeout, overload →
//!   `Unavailable`, i.e. 503; the rest `Internal`).
//! - `testing` (feature `testkit`): a throwaway database per test.
//! - `migrations/` (next to `src/`): the commented schema, embedded at compile time.

mod api_keys;
mod bulk;
mod codec;
mod error;
mod follows;
mod group;
mod idempotency;
mod outbox;
mod plans;
mod posts;
mod replicas;
mod store;
mod target;
#[cfg(feature = "testkit")]
pub mod testing;
mod users;

pub use plans::explain;
pub use replicas::ReplicaStats;
pub use store::{PgOptions, PgStore};
pub use target::PgUrl;

/// The statements the ports run, by a stable name, for `EXPLAIN` in tests and docs.
pub const STATEMENTS: &[(&str, &str)] = &[
    ("users.insert", users::INSERT),
    ("users.conflict", users::CONFLICT),
    ("users.by_id", users::BY_ID),
    ("users.by_username", users::BY_USERNAME),
    ("users.by_email", users::BY_EMAIL),
    ("users.update_profile", users::UPDATE_PROFILE),
    ("users.summaries", users::SUMMARIES),
    ("users.revoke_tokens", users::REVOKE_TOKENS),
    ("users.set_tier", users::SET_TIER),
    ("users.insert_keyed", users::INSERT_KEYED),
    ("api_keys.lock_owner", api_keys::LOCK_OWNER),
    ("api_keys.insert", api_keys::INSERT),
    ("api_keys.by_id", api_keys::BY_ID),
    ("api_keys.list", api_keys::LIST),
    ("api_keys.delete", api_keys::DELETE),
    ("api_keys.touch", api_keys::TOUCH),
    ("posts.create", posts::CREATE),
    ("posts.create_keyed", posts::CREATE_KEYED),
    ("posts.create_batch", group::CREATE_BATCH),
    ("posts.delete", posts::DELETE),
    ("posts.by_id", posts::BY_ID),
    ("posts.latest", posts::LATEST),
    ("posts.by_author", posts::BY_AUTHOR),
    ("posts.feed", posts::FEED),
    ("follows.follow", follows::FOLLOW),
    ("follows.follow_keyed", follows::FOLLOW_KEYED),
    ("follows.follow_batch", group::FOLLOW_BATCH),
    ("follows.unfollow", follows::UNFOLLOW),
    ("follows.followers", follows::FOLLOWERS),
    ("follows.following", follows::FOLLOWING),
    ("idempotency_keys.find", idempotency::FIND),
    ("idempotency_keys.sweep", idempotency::SWEEP),
    ("outbox.pending", outbox::PENDING),
    ("outbox.relayed", outbox::RELAYED),
    ("outbox.backlog", outbox::BACKLOG),
];
