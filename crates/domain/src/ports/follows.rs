//! The follow graph.

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{FollowEdge, FollowRecord, KeyClaim, Keyset, UserId};

use super::Keyed;

/// Following failed for a reason the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("already following")]
    AlreadyFollowing,
    /// Either side of the edge does not exist (a foreign-key violation in SQL terms).
    #[error("unknown user")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The follow graph; maintains both users' follower/following counters.
#[async_trait]
pub trait FollowRepository: Send + Sync {
    /// Adds the edge and increments both counters in one transaction.
    ///
    /// # Errors
    /// `AlreadyFollowing` if the edge exists (counters unchanged); `UnknownUser` if either user
    /// does not exist.
    async fn follow(&self, edge: &FollowRecord) -> Result<(), FollowError>;

    /// `follow` storing the key in the same transaction (rules: [`Keyed`]'s module).
    async fn follow_keyed(
        &self,
        edge: &FollowRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<()>, FollowError>;

    /// Removes the edge and decrements both counters; `false` when there was no edge.
    async fn unfollow(&self, follower: UserId, following: UserId) -> Result<bool, StoreError>;

    /// Who follows `user`, newest follow first, keyed by the edge id.
    async fn followers(&self, user: UserId, q: Keyset) -> Result<Vec<FollowEdge>, StoreError>;

    /// Whom `user` follows, newest follow first, keyed by the edge id.
    async fn following(&self, user: UserId, q: Keyset) -> Result<Vec<FollowEdge>, StoreError>;

    /// Who follows `user` as `(edge id, follower)`, newest follow first, keyed by the edge id:
    /// the fan-out's walk, without the summaries `followers` joins in.
    async fn follower_ids(
        &self,
        user: UserId,
        q: Keyset,
    ) -> Result<Vec<(Uuid, UserId)>, StoreError>;

    /// Those of `candidates` that `user` follows, in any order.
    async fn followed_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;
}
