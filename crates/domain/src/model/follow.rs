use serde::{Deserialize, Serialize};

use super::{FollowId, Timestamp, UserId, UserSummary};

/// `follower` follows `following`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    pub follower_id: UserId,
    pub following_id: UserId,
    pub created_at: Timestamp,
}

/// A follow as stored: its own time-ordered id orders follower lists newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowRecord {
    pub id: FollowId,
    pub follower_id: UserId,
    pub following_id: UserId,
    pub created_at: Timestamp,
}

impl FollowRecord {
    pub fn follow(&self) -> Follow {
        Follow {
            follower_id: self.follower_id,
            following_id: self.following_id,
            created_at: self.created_at,
        }
    }
}

/// One row of a followers/following list: the other user, and the edge's id as the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowEdge {
    pub id: FollowId,
    pub user: UserSummary,
}
