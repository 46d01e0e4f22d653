//! [`FollowRepository`] on the [`MemoryStore`].

use async_trait::async_trait;
use uuid::Uuid;

use super::{keyset, lock, MemoryStore, StoreState};
use crate::error::StoreError;
use crate::model::{FeedEvent, FollowEdge, FollowRecord, KeyClaim, Keyset, UserId};
use crate::ports::{FollowError, FollowRepository, Keyed};

fn follow_edge(s: &mut StoreState, edge: &FollowRecord) -> Result<(), FollowError> {
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
    s.outbox.record(FeedEvent::Followed {
        follower: edge.follower_id,
        followee: edge.following_id,
    });
    Ok(())
}

#[async_trait]
impl FollowRepository for MemoryStore {
    async fn follow(&self, edge: &FollowRecord) -> Result<(), FollowError> {
        self.check()?;
        follow_edge(&mut lock(&self.state), edge)
    }

    async fn follow_keyed(
        &self,
        edge: &FollowRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<()>, FollowError> {
        let (id, at) = (edge.id.as_uuid(), edge.created_at);
        self.keyed(claim, id, at, |s| follow_edge(s, edge), |_| true)
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
        s.outbox.record(FeedEvent::Unfollowed {
            follower,
            followee: following,
        });
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

    async fn follower_ids(
        &self,
        user: UserId,
        q: Keyset,
    ) -> Result<Vec<(Uuid, UserId)>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let edges = s.follows.values().rev().filter(|f| f.following_id == user);
        Ok(keyset(edges, |f| f.id.as_uuid(), q)
            .map(|f| (f.id.as_uuid(), f.follower_id))
            .collect())
    }

    async fn followed_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        Ok(candidates
            .iter()
            .copied()
            .filter(|c| {
                s.follows
                    .values()
                    .any(|f| f.follower_id == user && f.following_id == *c)
            })
            .collect())
    }
}
