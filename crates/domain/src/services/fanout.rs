//! Fan-out on write: what a worker does with each outbox event, so that every stored timeline
//! ends up holding what the pull query would answer (see `FeedService` for the read side).
//!
//! Every handler is safe to run twice and in any order against other events: pushes and
//! removals are idempotent, edge changes carry the outbox `seq` and a late older one is
//! ignored, and a push racing an unfollow is skipped by the timeline itself (it records the
//! unfollow). Authors with more than `fanout_limit` followers are not pushed: their posts are
//! merged on read ("pulled"), and an author who drops back under the limit has their followers'
//! timelines dropped so the next read rebuilds them with everything.

use std::sync::Arc;

use crate::error::StoreError;
use crate::model::{FeedEvent, Keyset, Limit, OutboxEntry, PostId, TimelineEntry, UserId};
use crate::ports::{EdgeChange, FollowRepository, PostRepository, TimelineStore, UserRepository};

/// How the fan-out behaves; `FEED_*` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanoutSettings {
    /// Authors with more followers than this are pulled on read, not pushed.
    pub fanout_limit: u64,
    /// Followers read (and timelines written) per step of a post's fan-out.
    pub walk_batch: usize,
}

impl Default for FanoutSettings {
    fn default() -> Self {
        FanoutSettings {
            fanout_limit: 10_000,
            walk_batch: 1_000,
        }
    }
}

/// What handling one event did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Timelines written (pushed into, removed from, merged into, or dropped).
    pub timelines: usize,
    /// The post was not pushed: its author is pulled on read.
    pub pulled: bool,
    /// An author dropped back under the limit and their followers' timelines were dropped.
    pub demoted: bool,
}

/// Applies outbox events to the timelines.
#[derive(Clone)]
pub struct FanoutService {
    users: Arc<dyn UserRepository>,
    posts: Arc<dyn PostRepository>,
    follows: Arc<dyn FollowRepository>,
    timelines: Arc<dyn TimelineStore>,
    settings: FanoutSettings,
}

impl FanoutService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        posts: Arc<dyn PostRepository>,
        follows: Arc<dyn FollowRepository>,
        timelines: Arc<dyn TimelineStore>,
        settings: FanoutSettings,
    ) -> Self {
        FanoutService {
            users,
            posts,
            follows,
            timelines,
            settings,
        }
    }

    /// Handles one event. An error leaves the event to be retried (the worker does not
    /// acknowledge it); running it again is harmless.
    pub async fn apply(&self, entry: &OutboxEntry) -> Result<Applied, StoreError> {
        match entry.event {
            FeedEvent::Posted { post, author } => self.posted(post, author).await,
            FeedEvent::Deleted { post, author } => {
                let gone = TimelineEntry { post, author };
                // The author's own timeline may hold it too (a rebuild copies own posts).
                self.timelines.remove(gone, &[author]).await?;
                let timelines = self
                    .each_follower_batch(author, |users| async move {
                        self.timelines.remove(gone, &users).await?;
                        Ok(users.len())
                    })
                    .await?;
                Ok(Applied {
                    timelines: timelines + 1,
                    ..Applied::default()
                })
            }
            FeedEvent::Followed { follower, followee } => {
                let newest = self
                    .posts
                    .by_author(
                        followee,
                        Keyset {
                            before: None,
                            limit: Limit::MAX + 1,
                        },
                    )
                    .await?;
                let complete = newest.len() <= Limit::MAX;
                let posts = newest
                    .iter()
                    .take(Limit::MAX)
                    .map(|p| TimelineEntry {
                        post: p.id,
                        author: p.author_id,
                    })
                    .collect();
                let change = EdgeChange::Followed { posts, complete };
                let applied = self
                    .timelines
                    .apply_edge(follower, followee, entry.seq, change)
                    .await?;
                Ok(Applied {
                    timelines: usize::from(applied),
                    ..Applied::default()
                })
            }
            FeedEvent::Unfollowed { follower, followee } => {
                let applied = self
                    .timelines
                    .apply_edge(follower, followee, entry.seq, EdgeChange::Unfollowed)
                    .await?;
                let dropped = self.demote_if_under_limit(followee).await?;
                Ok(Applied {
                    timelines: usize::from(applied) + dropped.unwrap_or(0),
                    pulled: false,
                    demoted: dropped.is_some(),
                })
            }
        }
    }

    async fn posted(&self, post: PostId, author: UserId) -> Result<Applied, StoreError> {
        let Some(user) = self.users.by_id(author).await? else {
            // The author is gone (never happens: users are not deleted); nothing to push.
            return Ok(Applied::default());
        };
        if user.followers_count > self.settings.fanout_limit {
            self.timelines.mark_pulled(author).await?;
            return Ok(Applied {
                pulled: true,
                ..Applied::default()
            });
        }
        let entry = TimelineEntry { post, author };
        let timelines = self
            .each_follower_batch(author, |users| async move {
                self.timelines.push(entry, &users).await
            })
            .await?;
        Ok(Applied {
            timelines,
            ..Applied::default()
        })
    }

    /// When `author` is pulled but now has no more followers than the limit, drops their
    /// followers' timelines (rebuilt whole on the next read) and takes them out of the pulled
    /// set — unless a post of theirs was skipped meanwhile, which keeps them pulled (a later
    /// unfollow tries again). `Some(timelines dropped)` when demoted.
    async fn demote_if_under_limit(&self, author: UserId) -> Result<Option<usize>, StoreError> {
        let pulled = self.timelines.pulled_authors().await?;
        let Some(&(_, generation)) = pulled.authors.iter().find(|(a, _)| *a == author) else {
            return Ok(None);
        };
        let Some(user) = self.users.by_id(author).await? else {
            return Ok(None);
        };
        if user.followers_count > self.settings.fanout_limit {
            return Ok(None);
        }
        let dropped = self
            .each_follower_batch(author, |users| async move {
                self.timelines.drop_timelines(&users).await?;
                Ok(users.len())
            })
            .await?;
        let demoted = self.timelines.unmark_pulled(author, generation).await?;
        Ok(demoted.then_some(dropped))
    }

    /// Runs `step` over `author`'s followers in batches of `walk_batch`; the sum of its
    /// answers.
    async fn each_follower_batch<F, Fut>(
        &self,
        author: UserId,
        step: F,
    ) -> Result<usize, StoreError>
    where
        F: Fn(Vec<UserId>) -> Fut,
        Fut: std::future::Future<Output = Result<usize, StoreError>>,
    {
        let mut before = None;
        let mut total = 0;
        loop {
            let q = Keyset {
                before,
                limit: self.settings.walk_batch,
            };
            let edges = self.follows.follower_ids(author, q).await?;
            let Some(&(last, _)) = edges.last() else {
                return Ok(total);
            };
            let full = edges.len() == self.settings.walk_batch;
            total += step(edges.into_iter().map(|(_, f)| f).collect()).await?;
            if !full {
                return Ok(total);
            }
            before = Some(last);
        }
    }
}

#[cfg(test)]
mod tests;
