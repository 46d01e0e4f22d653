//! The model test of fan-out timelines on the fakes: random graphs, posts, deletes, follows and
//! unfollows, events handled late, out of order and twice, reads building timelines at random
//! moments; afterwards every user's whole feed, walked with several page sizes, equals the pull
//! query's answer. The same check runs against Redis and real databases in the server's tests.

use std::sync::Arc;

use super::*;
use crate::model::{Limit, PageRequest, PostId, User};
use crate::ports::{FeedOutbox, PostRepository, TimelineStore};
use crate::services::{FeedService, Services};
use crate::testkit::fakes::{block_on, login_limits, signup, Fakes, MemoryTimelines};

/// A small deterministic generator (xorshift64*): the same seed replays the same run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

struct World {
    fakes: Fakes,
    pull: Services,
    fanout: Services,
    timelines: Arc<MemoryTimelines>,
    worker: FanoutService,
    users: Vec<User>,
    posts: Vec<(PostId, UserId)>,
    /// Events taken from the outbox, not handled yet.
    queue: Vec<OutboxEntry>,
}

const LIMIT: u64 = 2;
const CAP: usize = 6;

impl World {
    fn new(users: usize) -> Self {
        let fakes = Fakes::new();
        let timelines = Arc::new(MemoryTimelines::new(CAP));
        let pull = fakes.services();
        let store: Arc<dyn TimelineStore> = timelines.clone();
        let fanout = Services::with_timelines(&fakes.ports(), login_limits(), Some(store.clone()));
        let worker = FanoutService::new(
            fakes.store.clone(),
            fakes.store.clone(),
            fakes.store.clone(),
            store,
            FanoutSettings {
                fanout_limit: LIMIT,
                walk_batch: 2,
            },
        );
        let users = (0..users)
            .map(|i| block_on(signup(&pull, &format!("user{i}"))).unwrap().user)
            .collect();
        World {
            fakes,
            pull,
            fanout,
            timelines,
            worker,
            users,
            posts: Vec::new(),
            queue: Vec::new(),
        }
    }

    fn pick(&self, rng: &mut Rng) -> UserId {
        self.users[rng.below(self.users.len())].id
    }

    /// Moves what the outbox holds to the queue (the relay).
    fn relay(&mut self) {
        let rows = block_on(self.fakes.store.pending(1_000)).unwrap();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        block_on(self.fakes.store.relayed(&seqs)).unwrap();
        self.queue.extend(rows);
    }

    /// Handles up to `n` queued events in random order, some twice (a redelivery).
    fn handle(&mut self, rng: &mut Rng, n: usize) {
        for _ in 0..n.min(self.queue.len()) {
            let e = self.queue.swap_remove(rng.below(self.queue.len()));
            block_on(self.worker.apply(&e)).unwrap();
            if rng.below(5) == 0 {
                block_on(self.worker.apply(&e)).unwrap();
            }
        }
    }

    fn step(&mut self, rng: &mut Rng) {
        match rng.below(10) {
            0..=2 => {
                let (a, b) = (self.pick(rng), self.pick(rng));
                let _ = block_on(self.pull.users.follow(a, b));
            }
            3 => {
                let (a, b) = (self.pick(rng), self.pick(rng));
                let _ = block_on(self.pull.users.unfollow(a, b));
            }
            4..=6 => {
                let a = self.pick(rng);
                let p = block_on(self.pull.posts.create(a, "x")).unwrap();
                self.posts.push((p.id, a));
            }
            7 if !self.posts.is_empty() => {
                let (p, a) = self.posts.swap_remove(rng.below(self.posts.len()));
                block_on(self.pull.posts.delete(a, p)).unwrap();
            }
            _ => {
                // A read: builds the reader's timeline when missing.
                let u = self.pick(rng);
                let limit = Limit::new(1 + rng.below(5)).unwrap();
                block_on(self.fanout.feed.feed(u, PageRequest::first(limit))).unwrap();
            }
        }
        self.relay();
        let n = rng.below(3);
        self.handle(rng, n);
        self.fakes
            .clock
            .advance(std::time::Duration::from_millis(100));
    }

    fn drain(&mut self, rng: &mut Rng) {
        // Past the reads' reuse of the pulled set: they see it as the workers left it.
        self.fakes.clock.advance(std::time::Duration::from_secs(1));
        self.relay();
        let n = self.queue.len();
        self.handle(rng, n);
        assert!(self.queue.is_empty());
    }

    /// Every user's feed through `feed`, walked with each page size, against the pull query.
    fn check(&self, feed: &FeedService, what: &str) {
        for u in &self.users {
            let want = walk(&self.pull.feed, u.id, 100);
            for limit in [1, 2, 3, 7, 100] {
                let got = walk(feed, u.id, limit);
                if got != want && std::env::var("FANOUT_DEBUG").is_ok() {
                    let missing: Vec<_> = want.iter().filter(|p| !got.contains(p)).collect();
                    let extra: Vec<_> = got.iter().filter(|p| !want.contains(p)).collect();
                    eprintln!("user {} missing {missing:?} extra {extra:?}", u.username);
                    for p in missing.iter().chain(extra.iter()) {
                        let r = block_on(PostRepository::by_id(&*self.fakes.store, **p)).unwrap();
                        eprintln!("  {p:?}: {:?}", r.map(|r| r.author_id));
                    }
                    eprintln!(
                        "  timeline {:?}",
                        self.timelines.entries_of(u.id).map(|v| v
                            .iter()
                            .map(|e| (
                                e.post.as_uuid().as_u128() & 0xfff,
                                e.author.as_uuid().as_u128() & 0xf
                            ))
                            .collect::<Vec<_>>())
                    );
                    eprintln!("  pulled {:?}", block_on(self.timelines.pulled_authors()));
                    let users: Vec<_> = self
                        .users
                        .iter()
                        .map(|u| (u.username.clone(), u.id))
                        .collect();
                    eprintln!("  users {users:?}");
                }
                assert_eq!(got, want, "{what}: {} limit {limit}", u.username);
            }
        }
    }
}

fn walk(feed: &FeedService, user: UserId, limit: usize) -> Vec<PostId> {
    let mut page = PageRequest::first(Limit::new(limit).unwrap());
    let mut all = Vec::new();
    loop {
        let got = block_on(feed.feed(user, page)).unwrap();
        assert!(got.items.len() <= limit);
        all.extend(got.items.iter().map(|p| p.id));
        match got.next_cursor {
            Some(c) => page.after = Some(c),
            None => return all,
        }
    }
}

#[test]
fn fanout_feeds_equal_the_pull_query_after_random_histories() {
    for seed in (1..=40).chain(
        std::env::var("FANOUT_SEED")
            .ok()
            .and_then(|s| s.parse().ok()),
    ) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let mut w = World::new(7);
        for _ in 0..160 {
            w.step(&mut rng);
        }
        w.drain(&mut rng);
        w.check(&w.fanout.feed, &format!("seed {seed}"));
        let stats = w.fanout.feed.stats();
        assert!(stats.rebuilds.load(std::sync::atomic::Ordering::Relaxed) > 0);

        // Both paths ran: some author was pulled, and some timeline was pushed into.
        let pulled = block_on(w.timelines.pulled_authors()).unwrap();
        if seed == 1 {
            assert!(
                !pulled.authors.is_empty(),
                "a small limit makes pulled authors"
            );
        }

        // Redis flushed: every timeline is rebuilt on read, feeds unchanged.
        let fresh: Arc<dyn TimelineStore> = Arc::new(MemoryTimelines::new(CAP));
        let flushed =
            Services::with_timelines(&w.fakes.ports(), login_limits(), Some(fresh.clone()));
        w.check(&flushed.feed, &format!("seed {seed}, flushed"));

        // The timeline store down: the pull query answers, feeds unchanged.
        w.timelines.set_unavailable(true);
        w.check(&w.fanout.feed, &format!("seed {seed}, timelines down"));
        assert!(stats.fallbacks.load(std::sync::atomic::Ordering::Relaxed) > 0);
        w.timelines.set_unavailable(false);
    }
}

#[test]
fn a_post_reaches_existing_timelines_only_and_the_author_at_once() {
    let mut w = World::new(3);
    let (a, b, c) = (w.users[0].id, w.users[1].id, w.users[2].id);
    block_on(w.pull.users.follow(b, a)).unwrap();
    block_on(w.pull.users.follow(c, a)).unwrap();
    let first = PageRequest::first(Limit::DEFAULT);
    // b reads (its timeline is built); c never does.
    block_on(w.fanout.feed.feed(b, first)).unwrap();
    let mut rng = Rng(7);
    w.drain(&mut rng);

    let post = block_on(w.pull.posts.create(a, "hello")).unwrap();
    // The author sees it before any worker ran.
    let own = block_on(w.fanout.feed.feed(a, first)).unwrap();
    assert_eq!(own.items[0].id, post.id);

    w.relay();
    let applied = block_on(w.worker.apply(&w.queue[0])).unwrap();
    assert_eq!(applied.timelines, 1, "b's timeline only: c has none");
    w.queue.clear();
    let bs = block_on(w.fanout.feed.feed(b, first)).unwrap();
    assert_eq!(bs.items[0].id, post.id);
    let window = block_on(w.timelines.window(c, None, 10)).unwrap();
    assert_eq!(window, crate::ports::TimelineWindow::Missing);
}
