//! What the fan-out timelines are made of: the events the outbox records and the entries a
//! timeline holds.

use super::{PostId, Timestamp, UserId};

/// A change the home timelines follow, recorded by the database in the transaction that made
/// it (the outbox), so no committed change can miss its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    Posted { post: PostId, author: UserId },
    Deleted { post: PostId, author: UserId },
    Followed { follower: UserId, followee: UserId },
    Unfollowed { follower: UserId, followee: UserId },
}

impl FeedEvent {
    /// The kind as the outbox and the stream store it.
    pub fn kind(&self) -> &'static str {
        match self {
            FeedEvent::Posted { .. } => "post",
            FeedEvent::Deleted { .. } => "delete",
            FeedEvent::Followed { .. } => "follow",
            FeedEvent::Unfollowed { .. } => "unfollow",
        }
    }

    /// From a stored kind and its two ids (post and author, or follower and followee).
    pub fn from_parts(kind: &str, a: uuid::Uuid, b: uuid::Uuid) -> Option<Self> {
        Some(match kind {
            "post" => FeedEvent::Posted {
                post: PostId::from_uuid(a),
                author: UserId::from_uuid(b),
            },
            "delete" => FeedEvent::Deleted {
                post: PostId::from_uuid(a),
                author: UserId::from_uuid(b),
            },
            "follow" => FeedEvent::Followed {
                follower: UserId::from_uuid(a),
                followee: UserId::from_uuid(b),
            },
            "unfollow" => FeedEvent::Unfollowed {
                follower: UserId::from_uuid(a),
                followee: UserId::from_uuid(b),
            },
            _ => return None,
        })
    }

    /// The two ids [`FeedEvent::from_parts`] takes back.
    pub fn parts(&self) -> (uuid::Uuid, uuid::Uuid) {
        match *self {
            FeedEvent::Posted { post, author } | FeedEvent::Deleted { post, author } => {
                (post.as_uuid(), author.as_uuid())
            }
            FeedEvent::Followed { follower, followee }
            | FeedEvent::Unfollowed { follower, followee } => {
                (follower.as_uuid(), followee.as_uuid())
            }
        }
    }
}

/// One outbox row: the event, its position and when the database recorded it.
///
/// `seq` grows with commit order for changes to the same follow edge (the second change of an
/// edge waits for the first's row lock), which is what lets a late, older follow event be
/// recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub event: FeedEvent,
    pub recorded_at: Timestamp,
}

/// One post in a stored timeline. The author travels with the id so that an unfollow can take
/// the followee's posts out without reading them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimelineEntry {
    pub post: PostId,
    pub author: UserId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn events_round_trip_through_their_parts() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        for e in [
            FeedEvent::Posted {
                post: PostId::from_uuid(a),
                author: UserId::from_uuid(b),
            },
            FeedEvent::Deleted {
                post: PostId::from_uuid(a),
                author: UserId::from_uuid(b),
            },
            FeedEvent::Followed {
                follower: UserId::from_uuid(a),
                followee: UserId::from_uuid(b),
            },
            FeedEvent::Unfollowed {
                follower: UserId::from_uuid(a),
                followee: UserId::from_uuid(b),
            },
        ] {
            let (x, y) = e.parts();
            assert_eq!(FeedEvent::from_parts(e.kind(), x, y), Some(e));
        }
        assert_eq!(FeedEvent::from_parts("other", a, b), None);
    }
}
