//! The open streams of one instance and whom each one follows: which streams an event goes
//! to, the caps, and what a full or closed stream means.
//!
//! Plain data under the hub's lock (never held across an `.await`): indexes from an author to
//! the streams that want their posts, and from a user to their own streams (for their follow
//! changes and the per-user cap).

use std::collections::{HashMap, HashSet};

use domain::model::{Identity, LiveEventId, UserId, Via};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;

use super::frames::Frame;

/// A stream's number within its instance.
pub(super) type StreamId = u64;

struct Open {
    user: UserId,
    /// The credential it was opened with, checked again for revocation.
    identity: Identity,
    follows: HashSet<UserId>,
    tx: Sender<Frame>,
}

/// Why a stream cannot open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The user has `max_per_user` streams open here.
    PerUser,
    /// The instance has `max_connections` streams open.
    Instance,
    /// The instance is draining.
    Closed,
}

/// Where a stream was registered: its number, and the position after which events reach it
/// live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Registered {
    pub id: StreamId,
    pub live_after: LiveEventId,
}

pub(super) struct Registry {
    max_connections: usize,
    max_per_user: usize,
    /// The last event routed: every later one reaches the streams registered now.
    cursor: LiveEventId,
    next: StreamId,
    open: HashMap<StreamId, Open>,
    by_author: HashMap<UserId, HashSet<StreamId>>,
    by_user: HashMap<UserId, HashSet<StreamId>>,
    closed: bool,
}

impl Registry {
    pub(super) fn new(max_connections: usize, max_per_user: usize) -> Self {
        Registry {
            max_connections,
            max_per_user,
            cursor: LiveEventId::ZERO,
            next: 0,
            open: HashMap::new(),
            by_author: HashMap::new(),
            by_user: HashMap::new(),
            closed: false,
        }
    }

    pub(super) fn cursor(&self) -> LiveEventId {
        self.cursor
    }

    /// Where the tailer starts (the log's head when it began).
    pub(super) fn start_at(&mut self, head: LiveEventId) {
        self.cursor = self.cursor.max(head);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether `user` could open one more stream now.
    pub(super) fn admits(&self, user: UserId) -> Result<(), Refused> {
        if self.closed {
            return Err(Refused::Closed);
        }
        if self.by_user.get(&user).map_or(0, HashSet::len) >= self.max_per_user {
            return Err(Refused::PerUser);
        }
        if self.open.len() >= self.max_connections {
            return Err(Refused::Instance);
        }
        Ok(())
    }

    /// Opens a stream for `user`, who follows `follows`: from now on it gets the posts and
    /// deletions of those authors and its own, and its follow changes update the set.
    pub(super) fn register(
        &mut self,
        identity: Identity,
        follows: HashSet<UserId>,
        tx: Sender<Frame>,
    ) -> Result<Registered, Refused> {
        let user = identity.user;
        self.admits(user)?;
        let id = self.next;
        self.next += 1;
        for author in follows.iter().chain([&user]) {
            self.by_author.entry(*author).or_default().insert(id);
        }
        self.by_user.entry(user).or_default().insert(id);
        self.open.insert(
            id,
            Open {
                user,
                identity,
                follows,
                tx,
            },
        );
        Ok(Registered {
            id,
            live_after: self.cursor,
        })
    }

    /// Forgets a stream (its sender drops, so the stream ends once it has written what it
    /// holds). Unknown ids are ignored.
    pub(super) fn remove(&mut self, id: StreamId) {
        let Some(open) = self.open.remove(&id) else {
            return;
        };
        for author in open.follows.iter().chain([&open.user]) {
            unindex(&mut self.by_author, *author, id);
        }
        unindex(&mut self.by_user, open.user, id);
    }

    /// Whether `user`'s stream `id` wants events about `author`'s posts.
    pub(super) fn wants(&self, id: StreamId, author: UserId) -> bool {
        self.open
            .get(&id)
            .is_some_and(|o| o.user == author || o.follows.contains(&author))
    }

    /// Whether any stream here wants events about `author`'s posts (else the post need not
    /// be read at all).
    pub(super) fn interested(&self, author: UserId) -> bool {
        self.by_author.contains_key(&author)
    }

    /// Moves the cursor past an event no stream here wanted.
    pub(super) fn passed(&mut self, at: LiveEventId) {
        self.cursor = self.cursor.max(at);
    }

    /// Moves the cursor to `at` and applies a follow (`true`) or unfollow of `followee` by
    /// `follower` to the follower's streams.
    pub(super) fn follow_changed(
        &mut self,
        at: LiveEventId,
        follower: UserId,
        followee: UserId,
        follows: bool,
    ) {
        self.cursor = self.cursor.max(at);
        let ids: Vec<StreamId> = self
            .by_user
            .get(&follower)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in ids {
            let Some(open) = self.open.get_mut(&id) else {
                continue;
            };
            if follows {
                open.follows.insert(followee);
                self.by_author.entry(followee).or_default().insert(id);
            } else if followee != follower && open.follows.remove(&followee) {
                unindex(&mut self.by_author, followee, id);
            }
        }
    }

    /// Moves the cursor to `at` and queues `frame` (an event about `author`'s post) on every
    /// stream that wants it; a stream whose queue is full (a reader too slow) or gone is
    /// removed. How many were removed for being full.
    pub(super) fn deliver(&mut self, at: LiveEventId, author: UserId, frame: &Frame) -> usize {
        self.cursor = self.cursor.max(at);
        let ids: Vec<StreamId> = self
            .by_author
            .get(&author)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let mut slow = 0;
        for id in ids {
            let Some(open) = self.open.get(&id) else {
                continue;
            };
            match open.tx.try_send(frame.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    slow += 1;
                    self.remove(id);
                }
                Err(TrySendError::Closed(_)) => self.remove(id),
            }
        }
        slow
    }

    /// The credentials the open streams were opened with, each once.
    pub(super) fn identities(&self) -> Vec<Identity> {
        let mut all: Vec<Identity> = self.open.values().map(|o| o.identity).collect();
        all.sort_by_key(|i| {
            let key = match i.via {
                Via::Token => None,
                Via::ApiKey(id) => Some(id),
            };
            (i.user, i.issued_at.map(|t| t.unix_millis()), key)
        });
        all.dedup();
        all
    }

    /// Ends the streams opened with any of `revoked`; how many.
    pub(super) fn close_opened_with(&mut self, revoked: &[Identity]) -> usize {
        let ids: Vec<StreamId> = self
            .open
            .iter()
            .filter(|(_, o)| revoked.contains(&o.identity))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.remove(*id);
        }
        ids.len()
    }

    /// Ends every stream and refuses new ones (the instance is draining).
    pub(super) fn close(&mut self) {
        self.closed = true;
        self.open.clear();
        self.by_author.clear();
        self.by_user.clear();
    }
}

fn unindex(index: &mut HashMap<UserId, HashSet<StreamId>>, key: UserId, id: StreamId) {
    if let Some(set) = index.get_mut(&key) {
        set.remove(&id);
        if set.is_empty() {
            index.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests;
