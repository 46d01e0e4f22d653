//! The ports of fan-out timelines (`FEED_STRATEGY=fanout`): the outbox the database keeps, the
//! stream that carries its events to workers, and the per-user timelines the workers write.
//!
//! The rules live in `services::fanout` and `services::feed`; these traits only say what each
//! store MUST do.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{OutboxEntry, PostId, TimelineEntry, UserId};

/// The transactional outbox: rows the database writes in the same transaction as each post,
/// deletion, follow and unfollow (see `FeedEvent`), until the relay has handed them on.
#[async_trait]
pub trait FeedOutbox: Send + Sync {
    /// Up to `max` rows not yet relayed, lowest `seq` first.
    async fn pending(&self, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.pending_after(i64::MIN, max).await
    }

    /// Up to `max` rows not yet relayed with a `seq` above `after`, lowest first: the pull
    /// strategy's relay reads on from where it was, since it leaves rows in place.
    async fn pending_after(&self, after: i64, max: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Deletes the rows with these `seq`s (relayed). Unknown ones are ignored.
    async fn relayed(&self, seqs: &[i64]) -> Result<(), StoreError>;

    /// How many rows wait.
    async fn backlog(&self) -> Result<u64, StoreError>;
}

/// One event as a worker receives it from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The stream's own id, to acknowledge.
    pub id: String,
    pub entry: OutboxEntry,
}

/// A durable queue of outbox events shared by every worker of every instance (a consumer
/// group): each event is delivered to one worker, stays pending until acknowledged, and a
/// pending event whose worker went quiet can be claimed by another.
#[async_trait]
pub trait FeedEventStream: Send + Sync {
    /// Appends the entries in order.
    async fn publish(&self, entries: &[OutboxEntry]) -> Result<(), StoreError>;

    /// Up to `max` events never delivered before, now pending on `consumer`; waits up to
    /// `wait` when there are none.
    async fn receive(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Up to `max` events pending on any consumer for longer than `idle`, now pending on
    /// `consumer` (their idle time restarts).
    async fn claim_stale(
        &self,
        consumer: &str,
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Marks events done and forgets them.
    async fn ack(&self, ids: &[String]) -> Result<(), StoreError>;

    /// Events published and not yet acknowledged.
    async fn lag(&self) -> Result<u64, StoreError>;
}

/// What [`TimelineStore::window`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimelineWindow {
    /// No timeline is stored (never built, expired after inactivity, dropped, or the store was
    /// flushed): answer from the database and rebuild.
    Missing,
    /// A rebuild is writing it: answer from the database.
    Building,
    /// `entries` are the stored ones below the cursor, newest first. The stored timeline holds
    /// every post it should from its oldest entry up (posts of pulled authors and the reader's
    /// own aside, which reads merge); `exhausted` says the window's bottom was reached, so
    /// older posts come from the database.
    Ready {
        entries: Vec<TimelineEntry>,
        exhausted: bool,
    },
}

/// A change of a follow edge, as a timeline applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeChange {
    /// Merge the followee's newest posts. `complete` says they are all of the followee's
    /// posts; if not, entries older than the oldest of them are dropped, so the timeline stays
    /// whole from its oldest entry up.
    Followed {
        posts: Vec<TimelineEntry>,
        complete: bool,
    },
    /// Remove the followee's posts, and have later pushes of their posts skip this timeline
    /// (a fan-out that read the followers before the unfollow committed).
    Unfollowed,
}

/// Authors whose posts are not pushed (more followers than `FEED_FANOUT_LIMIT`) and whose
/// posts reads merge instead, each with a generation bumped on every skipped post.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PulledAuthors {
    /// Changes whenever an author joins or leaves the set.
    pub version: u64,
    pub authors: Vec<(UserId, u64)>,
}

/// Per-user timelines of post ids, newest first, capped.
#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// Up to `n` entries below `before` (all when `None`), newest first, and renews the
    /// timeline's lifetime (an inactive user's timeline expires).
    async fn window(
        &self,
        user: UserId,
        before: Option<PostId>,
        n: usize,
    ) -> Result<TimelineWindow, StoreError>;

    /// Adds `entry` to the timeline of each of `users` that exists (ready or being rebuilt)
    /// and where the author's last applied edge change is not `Unfollowed`, dropping the
    /// oldest entries past the cap. Applying it twice changes nothing. Returns how many
    /// timelines were written.
    async fn push(&self, entry: TimelineEntry, users: &[UserId]) -> Result<usize, StoreError>;

    /// Removes `entry` from each of `users`' timelines.
    async fn remove(&self, entry: TimelineEntry, users: &[UserId]) -> Result<(), StoreError>;

    /// Applies edge change `seq` of `(user, followee)` unless one with a higher `seq` was
    /// applied already (events may arrive out of order). The timeline is left alone when it
    /// does not exist, but the change is still recorded. `false` when ignored as older.
    async fn apply_edge(
        &self,
        user: UserId,
        followee: UserId,
        seq: i64,
        change: EdgeChange,
    ) -> Result<bool, StoreError>;

    /// Claims the rebuild of a missing timeline: `false` when it exists or another rebuild
    /// holds it. From here on pushes and edge changes write into it.
    async fn begin_rebuild(&self, user: UserId) -> Result<bool, StoreError>;

    /// Completes a rebuild claimed by [`TimelineStore::begin_rebuild`] with the database's
    /// newest entries (`complete` when they are the whole feed), merged with what was written
    /// meanwhile; entries of authors unfollowed meanwhile are left out. Does nothing if the
    /// timeline was dropped since.
    async fn finish_rebuild(
        &self,
        user: UserId,
        entries: &[TimelineEntry],
        complete: bool,
    ) -> Result<(), StoreError>;

    /// Forgets these users' timelines (they are rebuilt on their next read).
    async fn drop_timelines(&self, users: &[UserId]) -> Result<(), StoreError>;

    /// Records that a post of `author` was not pushed.
    async fn mark_pulled(&self, author: UserId) -> Result<(), StoreError>;

    /// Every author with posts that were not pushed.
    async fn pulled_authors(&self) -> Result<PulledAuthors, StoreError>;

    /// Takes `author` out of the pulled set if its generation is still `generation` (no post
    /// was skipped since it was read). `true` when taken out.
    async fn unmark_pulled(&self, author: UserId, generation: u64) -> Result<bool, StoreError>;
}
