//! Contract suites for the repository ports: [`UserRepository`], [`PostRepository`],
//! [`FollowRepository`], [`ApiKeyRepository`] and [`IdempotencyKeyRepository`] (with the keyed
//! writes of the first three), and the [`FeedOutbox`] those writes fill.
//!
//! Written only against the ports, so every SQL adapter runs them unchanged. Each suite expects
//! a fresh, migrated database, but also tolerates rows left by other suites (names and emails
//! are unique per call, list checks look at the rows the suite itself wrote), so an adapter may
//! run all three on one database when a fresh one is expensive.
//!
//! Ids come from `Uuid::now_v7()` (time-ordered, like the real id generator) and timestamps are
//! fixed millis: the ports order by id, never by timestamp, and the suites pin that.
//!
//! Races (signups for one name, counter updates) are provoked without a runtime: the creates are polled
//! together on one task, so their I/O is in flight at once and the store has to decide.

// A suite reports a broken contract by panicking, exactly like `assert!`: `expect` on a setup
// step that must succeed says which step failed.
#![allow(clippy::expect_used)]

mod accounts;
mod bulk_outbox;
mod bursts;
mod counts;
mod follows;
mod helpers;
mod keys;
mod outbox;
mod posts;
mod users;
mod walks;

use std::sync::Arc;

use crate::ports::{
    ApiKeyRepository, FeedOutbox, FollowRepository, IdempotencyKeyRepository, PostRepository,
    UserRepository,
};

pub use accounts::{
    api_key_repository_contract, api_keys_cap_under_racing_creates, api_keys_lifecycle,
    users_credentials,
};
pub use bulk_outbox::bulk_loads_record_no_events;
pub use bursts::{follows_burst_each_answered, posts_burst_each_answered};
pub use counts::counters_exact_under_concurrency;
pub use follows::{follow_repository_contract, follows_counters_and_conflicts, follows_lists};
pub use keys::{
    idempotency_key_contract, keyed_duplicates_in_one_burst, keyed_follows, keyed_posts,
    keyed_signups, keys_expire, keys_sweep,
};
pub use outbox::{
    feed_outbox_contract, outbox_failed_writes_record_nothing, outbox_mixed_burst,
    outbox_pending_relayed_backlog, outbox_records_every_write,
};
pub use posts::{
    post_repository_contract, posts_by_author_pages, posts_create_and_delete, posts_feed,
    posts_latest_pages,
};
pub use users::{
    user_repository_contract, users_conflicts, users_create_and_lookup, users_racing_creates,
    users_summaries, users_update_profile,
};
pub use walks::{
    follows_lists_pages_while_following, posts_by_author_pages_while_posting,
    posts_feed_pages_while_posting,
};

/// The repositories under test, usually all backed by one store.
#[derive(Clone)]
pub struct Repos {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub keys: Arc<dyn IdempotencyKeyRepository>,
    /// The outbox the post and follow writes above fill.
    pub outbox: Arc<dyn FeedOutbox>,
}

impl Repos {
    /// Every port served by one store (as every SQL adapter does).
    pub fn sharing<S>(store: S) -> Repos
    where
        S: UserRepository
            + PostRepository
            + FollowRepository
            + ApiKeyRepository
            + IdempotencyKeyRepository
            + FeedOutbox
            + 'static,
    {
        let shared = Arc::new(store);
        Repos {
            users: shared.clone(),
            posts: shared.clone(),
            follows: shared.clone(),
            api_keys: shared.clone(),
            keys: shared.clone(),
            outbox: shared,
        }
    }
}
