//! Repository adapters over SQLite, the embedded default backend, with their migrations.
//!
//! [`SqliteStore`] implements `UserRepository`, `PostRepository`, `FollowRepository`,
//! `ApiKeyRepository`, `IdempotencyKeyRepository`, `FeedOutbox` and `HealthProbe` (and
//! `BulkStore`) from `domain::ports`; the composition root wraps one store in an `Arc` and
//! hands out `Arc<dyn Port>` clones of it.
//!
//! # Layout
//!
//! - `target`: [`SqliteTarget`], a database URL parsed and checked once (the URL forms).
//! - `store`: connecting (pragmas, the one-writer/many-readers pools), migrations, closing,
//!   the health probe.
//! - `users`, `posts`, `follows`, `api_keys`: one port each. Every statement is a `&'static str` so sqlx's
//!   per-connection prepared-statement cache always hits, and every one is served by an index
//!   (each file says which; `tests/contract.rs` checks the query plans).
//! - `group`: group commit of `create` and `follow`: a writer task per kind writes whatever
//!   queued meanwhile in one `BEGIN IMMEDIATE` transaction; a failing item fails alone.
//! - `idempotency`: the idempotency keys keyed writes claim in their own transaction, their
//!   lookup and sweep.
//! - `outbox`: `FeedOutbox`, the rows triggers write in the same statement as every post
//!   created or deleted and every follow made or removed (migration 0005), for the fan-out
//!   relay: read oldest first, deleted once relayed.
//! - `bulk`: `BulkStore` for `socialscale seed` (one transaction, multi-row inserts, indexes
//!   and triggers set aside and rebuilt for a fresh load; the outbox triggers set aside for
//!   every load, so seeded rows record no events).
//! - `codec`: how ids (hyphenated lower-case TEXT, whose order is UUIDv7 time order) and times
//!   (unix millis) are stored, and the shared row decoders.
//! - `plans`: `EXPLAIN QUERY PLAN` of every statement ([`SqliteStore::query_plans`]), for the
//!   index checks in the tests and for diagnosing a slow database.
//! - `error`: sqlx errors → `StoreError` (busy/pool/IO → `Unavailable`, the rest `Internal`).
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
mod store;
mod target;
mod users;

pub use plans::QueryPlan;
pub use store::SqliteStore;
pub use target::SqliteTarget;
