//! The home timeline: the user's own posts and those of everyone they follow.
//!
//! Two strategies answer the same contract. `pull` computes the page from the database on each
//! read. `fanout` reads the user's stored timeline (written by the workers of
//! `services::fanout`) and merges in what it does not hold:
//!
//! - the reader's own posts (never pushed: the author's next read must show a post at once);
//! - posts of followed authors with too many followers to push ("pulled" authors);
//! - below the stored window's oldest entry, the database's pull query — the timeline holds
//!   every post it should from that entry up, so the seam is invisible.
//!
//! Entries whose post is gone (a delete racing a push) are skipped. A timeline that is missing
//! (never built, expired after inactivity, dropped, Redis flushed) is rebuilt by the read that
//! finds it, from the same query that answers that read; while another read rebuilds it, or
//! while the timeline store cannot be reached, the pull query answers. No page is ever empty or
//! partial because of the timelines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::ReadCache;
use crate::error::{PostError, StoreError};
use crate::model::{
    Keyset, Limit, Page, PageRequest, Post, PostId, PostRecord, TimelineEntry, Timestamp, UserId,
};
use crate::ports::{
    Clock, FollowRepository, PostRepository, PulledAuthors, TimelineStore, TimelineWindow,
};

use super::posts::author_head;
use super::Authors;

/// How long a read reuses the set of pulled authors before asking the store again: a newly
/// pulled author's posts can be missing from feeds this long (well inside the contract's 2 s).
const PULLED_REFRESH: Duration = Duration::from_millis(500);

/// How many of the newest posts a rebuild stores, at least: one default page and the row that
/// says whether another follows. The pull query's cost grows with (accounts followed × rows
/// asked), so a rebuild costs what one pull read costs, whoever the reader follows (at 5,000
/// followed accounts, 200 rows would be ten times that); the window then grows with pushes up
/// to the cap, and deeper pages continue from the database meanwhile.
const REBUILD_DEPTH: usize = Limit::DEFAULT.get() + 1;

/// Counters of the fan-out read path, for metrics.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Pages answered from a stored timeline.
    pub timeline_reads: AtomicU64,
    /// Timelines rebuilt by a read.
    pub rebuilds: AtomicU64,
    /// Pages that merged posts of pulled authors.
    pub pulled_merges: AtomicU64,
    /// Pages answered by the pull query because the timeline store failed.
    pub fallbacks: AtomicU64,
}

struct Timelines {
    store: Arc<dyn TimelineStore>,
    follows: Arc<dyn FollowRepository>,
    clock: Arc<dyn Clock>,
    cache: ReadCache,
    pulled: Mutex<Option<(Timestamp, Arc<PulledAuthors>)>>,
}

#[derive(Clone)]
pub struct FeedService {
    posts: Arc<dyn PostRepository>,
    authors: Authors,
    timelines: Option<Arc<Timelines>>,
    stats: Arc<FeedStats>,
}

impl FeedService {
    /// The pull strategy.
    pub fn new(posts: Arc<dyn PostRepository>, authors: Authors) -> Self {
        FeedService {
            posts,
            authors,
            timelines: None,
            stats: Arc::default(),
        }
    }

    /// The fan-out strategy over `store`.
    pub fn with_timelines(
        self,
        store: Arc<dyn TimelineStore>,
        follows: Arc<dyn FollowRepository>,
        clock: Arc<dyn Clock>,
        cache: ReadCache,
    ) -> Self {
        FeedService {
            timelines: Some(Arc::new(Timelines {
                store,
                follows,
                clock,
                cache,
                pulled: Mutex::new(None),
            })),
            ..self
        }
    }

    pub fn stats(&self) -> Arc<FeedStats> {
        self.stats.clone()
    }

    pub async fn feed(&self, user: UserId, page: PageRequest) -> Result<Page<Post>, PostError> {
        let rows = match &self.timelines {
            None => self.posts.feed(user, page.keyset()).await?,
            Some(t) => match self.fanout_rows(t, user, page).await {
                Ok(rows) => rows,
                Err(Fallback::Store(e)) => return Err(e.into()),
                // Counted (and logged by the adapter that failed); the database answers.
                Err(Fallback::Timelines) => {
                    self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
                    self.posts.feed(user, page.keyset()).await?
                }
            },
        };
        let page = Page::from_rows(rows, page.limit, |r| r.id.as_uuid());
        Ok(Page {
            items: self.authors.hydrate(page.items).await?,
            next_cursor: page.next_cursor,
        })
    }

    /// Up to `limit + 1` rows of the page, newest first.
    async fn fanout_rows(
        &self,
        t: &Timelines,
        user: UserId,
        page: PageRequest,
    ) -> Result<Vec<PostRecord>, Fallback> {
        let want = page.limit.get() + 1;
        let before = page.after.map(|c| PostId::from_uuid(c.key()));
        let window = t
            .store
            .window(user, before, want)
            .await
            .map_err(|_| Fallback::Timelines)?;
        let (mut rows, floor) = match window {
            TimelineWindow::Missing if before.is_none() => {
                return self.rebuild(t, user, want).await
            }
            TimelineWindow::Missing | TimelineWindow::Building => {
                return Ok(self.posts.feed(user, page.keyset()).await?)
            }
            TimelineWindow::Ready { entries, exhausted } => {
                self.stored_rows(t, user, before, entries, exhausted, want)
                    .await?
            }
        };
        self.stats.timeline_reads.fetch_add(1, Ordering::Relaxed);
        if let Below::From(floor) = floor {
            // Below the window the database answers, from exactly where the window ends.
            let q = Keyset {
                before: floor.map(|p| p.as_uuid()),
                limit: want,
            };
            rows.extend(self.posts.feed(user, q).await?);
        }
        let mut merged_authors = vec![user];
        let pulled = self.followed_pulled(t, user).await?;
        if !pulled.is_empty() {
            self.stats.pulled_merges.fetch_add(1, Ordering::Relaxed);
        }
        merged_authors.extend(pulled);
        for author in merged_authors {
            rows.extend(self.authored(t, author, before, want).await?);
        }
        rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
        rows.dedup_by_key(|r| r.id);
        rows.truncate(want);
        Ok(rows)
    }

    /// Up to `want` of `author`'s posts below `before`: a first page from the author's cached
    /// head (the one `GET /users/:id/posts` uses, made stale by each of their posts and
    /// deletes), deeper pages from the database.
    async fn authored(
        &self,
        t: &Timelines,
        author: UserId,
        before: Option<PostId>,
        want: usize,
    ) -> Result<Vec<PostRecord>, Fallback> {
        if before.is_none() && want <= Limit::MAX + 1 {
            let head = author_head(&t.cache, &self.posts, &self.authors, author).await?;
            return Ok(head
                .value
                .iter()
                .take(want)
                .map(|p| PostRecord {
                    id: p.id,
                    author_id: p.author_id,
                    content: p.content.clone(),
                    created_at: p.created_at,
                })
                .collect());
        }
        let q = Keyset {
            before: before.map(|p| p.as_uuid()),
            limit: want,
        };
        Ok(self.posts.by_author(author, q).await?)
    }

    /// The stored entries' posts (gone ones skipped), reading further down the window until
    /// `want` are found or it ends; with the id the database continues below when it ended.
    async fn stored_rows(
        &self,
        t: &Timelines,
        user: UserId,
        before: Option<PostId>,
        mut entries: Vec<TimelineEntry>,
        mut exhausted: bool,
        want: usize,
    ) -> Result<(Vec<PostRecord>, Below), Fallback> {
        let mut rows = Vec::with_capacity(want);
        let mut last = before;
        loop {
            // One round trip for the cached ones; each miss then loads alone (and is cached).
            let ids: Vec<PostId> = entries.iter().map(|e| e.post).collect();
            let cached = t.cache.cached_posts(&ids).await;
            for (id, hit) in ids.into_iter().zip(cached) {
                let record = match hit {
                    Some(record) => Some(record),
                    None => {
                        let posts = &self.posts;
                        t.cache
                            .post(id, || async move { posts.by_id(id).await })
                            .await?
                    }
                };
                if let Some(record) = record {
                    rows.push(PostRecord::clone(&record));
                }
            }
            last = entries.last().map(|e| e.post).or(last);
            if exhausted {
                // Nothing stored below `last`: the database goes on from there.
                return Ok((rows, Below::From(last)));
            }
            if rows.len() >= want {
                return Ok((rows, Below::Nothing));
            }
            let next = t.store.window(user, last, want).await;
            match next.map_err(|_| Fallback::Timelines)? {
                TimelineWindow::Ready {
                    entries: more,
                    exhausted: end,
                } => {
                    entries = more;
                    exhausted = end;
                }
                // Dropped while being read: the database from here on.
                _ => return Ok((rows, Below::From(last))),
            }
        }
    }

    /// Answers a first page from the query that also fills the missing timeline. Another read
    /// rebuilding it already, this one just queries.
    async fn rebuild(
        &self,
        t: &Timelines,
        user: UserId,
        want: usize,
    ) -> Result<Vec<PostRecord>, Fallback> {
        if !t
            .store
            .begin_rebuild(user)
            .await
            .map_err(|_| Fallback::Timelines)?
        {
            let q = Keyset {
                before: None,
                limit: want,
            };
            return Ok(self.posts.feed(user, q).await?);
        }
        let depth = REBUILD_DEPTH.max(want);
        let q = Keyset {
            before: None,
            limit: depth + 1,
        };
        let mut rows = self.posts.feed(user, q).await?;
        let complete = rows.len() <= depth;
        let entries: Vec<TimelineEntry> = rows
            .iter()
            .take(depth)
            .map(|r| TimelineEntry {
                post: r.id,
                author: r.author_id,
            })
            .collect();
        // The rows answer this read whether or not they could be stored; a rebuild that could
        // not finish leaves the timeline building until that state expires, then retried.
        if t.store
            .finish_rebuild(user, &entries, complete)
            .await
            .is_ok()
        {
            self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        }
        rows.truncate(want);
        Ok(rows)
    }

    /// The pulled authors `user` follows: cached per user (stale on their follows and
    /// unfollows), recomputed when the pulled set has changed since.
    async fn followed_pulled(&self, t: &Timelines, user: UserId) -> Result<Vec<UserId>, Fallback> {
        let pulled = self.pulled(t).await?;
        if pulled.authors.is_empty() {
            return Ok(Vec::new());
        }
        let follows = &t.follows;
        let load = || {
            let pulled = pulled.clone();
            async move {
                let candidates: Vec<UserId> = pulled
                    .authors
                    .iter()
                    .map(|(a, _)| *a)
                    .filter(|a| *a != user)
                    .collect();
                let mut followed = follows.followed_among(user, &candidates).await?;
                followed.sort_unstable();
                followed.dedup();
                Ok(Some((pulled.version, followed)))
            }
        };
        for _ in 0..2 {
            if let Some(cached) = t.cache.followed_pulled(user, load).await? {
                if cached.0 == pulled.version {
                    return Ok(cached.1.clone());
                }
            }
            t.cache.forget_followed_pulled(user).await;
        }
        // Another instance keeps storing an older set's answer: ask the store directly.
        Ok(load()
            .await?
            .map(|(_, authors)| authors)
            .unwrap_or_default())
    }

    async fn pulled(&self, t: &Timelines) -> Result<Arc<PulledAuthors>, Fallback> {
        let now = t.clock.now();
        if let Some((at, pulled)) = lock(&t.pulled).as_ref() {
            let age = now.unix_millis().saturating_sub(at.unix_millis());
            if u128::try_from(age).unwrap_or(0) < PULLED_REFRESH.as_millis() {
                return Ok(pulled.clone());
            }
        }
        let fresh = t
            .store
            .pulled_authors()
            .await
            .map_err(|_| Fallback::Timelines)?;
        let fresh = Arc::new(fresh);
        *lock(&t.pulled) = Some((now, fresh.clone()));
        Ok(fresh)
    }
}

/// What lies below the stored rows of a page.
enum Below {
    /// The window had enough.
    Nothing,
    /// The window ended: the database's rows below this id (from the top when `None`).
    From(Option<PostId>),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the memo half-written: it is one store.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why the fan-out read did not answer: the database failed (the request fails, as with the
/// pull strategy), or the timelines did (the pull query answers instead).
enum Fallback {
    Store(StoreError),
    Timelines,
}

impl From<StoreError> for Fallback {
    fn from(e: StoreError) -> Self {
        Fallback::Store(e)
    }
}

#[cfg(test)]
mod tests;
