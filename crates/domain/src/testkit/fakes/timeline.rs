//! [`MemoryTimelines`] and [`MemoryFeedStream`] (in `stream`): the fan-out timeline store and
//! the feed event stream over plain collections.
//!
//! Lifetimes are not modelled: a timeline never expires and a rebuild never times out (drop
//! one with `drop_timelines` to get `Missing` back). The stream never waits in `receive`: with
//! nothing new it answers at once, which "waits up to `wait`" allows.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::error::StoreError;
use crate::model::{PostId, TimelineEntry, UserId};
use crate::ports::{EdgeChange, PulledAuthors, TimelineStore, TimelineWindow};

mod stream;
#[cfg(test)]
mod tests;

pub use stream::MemoryFeedStream;

fn switched_off(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} switched off"))
}

// ---------------------------------------------------------------------------------------------
// Timelines
// ---------------------------------------------------------------------------------------------

struct Timeline {
    building: bool,
    /// `TimelineEntry` orders by post id first, so iterating in reverse is newest first.
    entries: BTreeSet<TimelineEntry>,
    /// The timeline holds every post it should with an id from here up (`None`: all of them).
    floor: Option<PostId>,
}

#[derive(Default)]
struct TimelineState {
    timelines: HashMap<UserId, Timeline>,
    /// (user, followee) -> (seq, followed) of the last applied edge change.
    edges: HashMap<(UserId, UserId), (i64, bool)>,
    pulled: HashMap<UserId, u64>,
    version: u64,
    /// Generations come from one counter, so a value is never handed out twice: an author
    /// taken out and marked again cannot match a generation read before.
    generations: u64,
}

impl TimelineState {
    fn unfollowed(&self, user: UserId, author: UserId) -> bool {
        matches!(self.edges.get(&(user, author)), Some((_, false)))
    }
}

impl Timeline {
    /// After entries were added: raises the floor to `cut` (what an incomplete merge could not
    /// bring) and to what the cap drops, and drops whatever lies below it.
    fn settle(&mut self, cap: usize, cut: Option<PostId>) {
        self.floor = self.floor.max(cut);
        while self.entries.len() > cap {
            self.entries.pop_first();
            let lowest = self.entries.first().map(|e| e.post);
            self.floor = self.floor.max(lowest);
        }
        if let Some(floor) = self.floor {
            self.entries.retain(|e| e.post >= floor);
        }
    }
}

/// The [`TimelineStore`] in memory, with the same cap as the store it stands in for.
///
/// [`MemoryTimelines::set_unavailable`] makes every call fail with [`StoreError::Unavailable`].
pub struct MemoryTimelines {
    cap: usize,
    state: Mutex<TimelineState>,
    unavailable: AtomicBool,
}

impl MemoryTimelines {
    pub fn new(cap: usize) -> Self {
        MemoryTimelines {
            cap,
            state: Mutex::default(),
            unavailable: AtomicBool::new(false),
        }
    }

    /// While `true`, every call fails with `StoreError::Unavailable`.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// The stored entries of `user`, newest first (`None` without a timeline), for assertions.
    pub fn entries_of(&self, user: UserId) -> Option<Vec<TimelineEntry>> {
        let s = lock(&self.state);
        let tl = s.timelines.get(&user)?;
        Some(tl.entries.iter().rev().copied().collect())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(switched_off("memory timelines"))
        } else {
            Ok(())
        }
    }
}

impl Default for MemoryTimelines {
    /// The production cap (800).
    fn default() -> Self {
        Self::new(800)
    }
}

#[async_trait]
impl TimelineStore for MemoryTimelines {
    async fn window(
        &self,
        user: UserId,
        before: Option<PostId>,
        n: usize,
    ) -> Result<TimelineWindow, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let Some(tl) = s.timelines.get(&user) else {
            return Ok(TimelineWindow::Missing);
        };
        if tl.building {
            return Ok(TimelineWindow::Building);
        }
        let entries: Vec<TimelineEntry> = tl
            .entries
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.post < b))
            .take(n)
            .copied()
            .collect();
        Ok(TimelineWindow::Ready {
            exhausted: entries.len() < n,
            entries,
        })
    }

    async fn push(&self, entry: TimelineEntry, users: &[UserId]) -> Result<usize, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let mut written = 0;
        for &user in users {
            if s.unfollowed(user, entry.author) {
                continue;
            }
            if let Some(tl) = s.timelines.get_mut(&user) {
                tl.entries.insert(entry);
                tl.settle(self.cap, None);
                written += 1;
            }
        }
        Ok(written)
    }

    async fn remove(&self, entry: TimelineEntry, users: &[UserId]) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        for user in users {
            if let Some(tl) = s.timelines.get_mut(user) {
                tl.entries.remove(&entry);
            }
        }
        Ok(())
    }

    async fn apply_edge(
        &self,
        user: UserId,
        followee: UserId,
        seq: i64,
        change: EdgeChange,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if s.edges
            .get(&(user, followee))
            .is_some_and(|&(at, _)| at >= seq)
        {
            return Ok(false);
        }
        let followed = matches!(change, EdgeChange::Followed { .. });
        s.edges.insert((user, followee), (seq, followed));
        let Some(tl) = s.timelines.get_mut(&user) else {
            return Ok(true);
        };
        match change {
            EdgeChange::Followed { posts, complete } => {
                tl.entries.extend(posts.iter().copied());
                let cut = posts.iter().map(|e| e.post).min().filter(|_| !complete);
                tl.settle(self.cap, cut);
            }
            EdgeChange::Unfollowed => tl.entries.retain(|e| e.author != followee),
        }
        Ok(true)
    }

    async fn begin_rebuild(&self, user: UserId) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if s.timelines.contains_key(&user) {
            return Ok(false);
        }
        s.timelines.insert(
            user,
            Timeline {
                building: true,
                entries: BTreeSet::new(),
                floor: None,
            },
        );
        Ok(true)
    }

    async fn finish_rebuild(
        &self,
        user: UserId,
        entries: &[TimelineEntry],
        complete: bool,
    ) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let kept: Vec<TimelineEntry> = entries
            .iter()
            .filter(|e| !s.unfollowed(user, e.author))
            .copied()
            .collect();
        let Some(tl) = s.timelines.get_mut(&user).filter(|tl| tl.building) else {
            return Ok(());
        };
        tl.entries.extend(kept);
        let cut = entries.iter().map(|e| e.post).min().filter(|_| !complete);
        tl.settle(self.cap, cut);
        tl.building = false;
        Ok(())
    }

    async fn drop_timelines(&self, users: &[UserId]) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        for user in users {
            s.timelines.remove(user);
        }
        Ok(())
    }

    async fn mark_pulled(&self, author: UserId) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        s.generations += 1;
        let generation = s.generations;
        if s.pulled.insert(author, generation).is_none() {
            s.version += 1;
        }
        Ok(())
    }

    async fn pulled_authors(&self) -> Result<PulledAuthors, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let mut authors: Vec<(UserId, u64)> = s.pulled.iter().map(|(&a, &g)| (a, g)).collect();
        authors.sort();
        Ok(PulledAuthors {
            version: s.version,
            authors,
        })
    }

    async fn unmark_pulled(&self, author: UserId, generation: u64) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if s.pulled.get(&author) != Some(&generation) {
            return Ok(false);
        }
        s.pulled.remove(&author);
        s.version += 1;
        Ok(true)
    }
}
