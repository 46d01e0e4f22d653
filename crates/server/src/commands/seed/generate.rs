//! The data `socialscale seed` writes: users, a heavy-tailed follow graph and skewed posting,
//! spread over the last D days. Pure: the same [`Plan`] (seed included) gives the same rows.
//!
//! The shape, and why:
//! - Follows per user are log-normal around the mean M (σ = 0.9): most users follow a dozen or
//!   two, a few follow hundreds or a thousand (the heavy feeds).
//! - Whom they follow: 30% of edges pick by popularity (Zipf, s = 1, over a shuffled ranking),
//!   the rest uniformly. The Zipf part makes the tail (at 1m a handful of accounts with
//!   ≥100,000 followers); the uniform part gives everyone else a few dozen followers, as on a
//!   real network where nobody is followed by only the celebrities' fans.
//! - Who posts: Zipf, s = 0.7, over the same ranking (popular accounts are the active ones):
//!   the most active fifth writes about 60% of the posts.
//! - Time: users join over the first 80% of the window; a post or a follow happens uniformly
//!   between its users' joining and the end of the window, and gets a UUIDv7 minted for that
//!   instant, so ids, `createdAt` and cursors agree. Posts come out in time order (as a real
//!   table fills), which also keeps every id index append-only during the load.
//!
//! Each table draws from its own ChaCha stream of the seed, so changing one table's logic or
//! size does not reshuffle the others.

use std::collections::HashSet;

use domain::model::{
    Email, FollowId, FollowRecord, Name, NewUser, PostId, PostRecord, Timestamp, UserId, Username,
};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Zipf};
use uuid::Uuid;

/// Share of follow edges chosen by popularity rather than uniformly.
const POPULAR_SHARE: f64 = 0.3;
const POPULARITY_EXPONENT: f64 = 1.0;
const ACTIVITY_EXPONENT: f64 = 0.7;
const FOLLOWS_SIGMA: f64 = 0.9;
/// Nobody follows more than this many accounts (a few real users do; it bounds one feed).
const MAX_FOLLOWS: u32 = 5_000;
/// Draws for one more distinct target before a follower is left with fewer follows; only
/// reached when a user is meant to follow nearly everyone in a tiny data set.
const MAX_DRAWS: u32 = 64;
const DAY_MS: i64 = 86_400_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub users: u32,
    /// Mean follows per user.
    pub follows: u32,
    pub posts: u64,
    pub days: u32,
    pub seed: u64,
    /// The end of the window, unix ms.
    pub now_ms: i64,
}

/// The username of seeded user `i` of seed `seed`; the email is this at example.com. Both are
/// documented (README, "Load testing"), so load tools can log in as any seeded account.
pub fn username(seed: u64, i: u32) -> String {
    format!("u{i}_s{}", seed % 100_000)
}

pub fn email(seed: u64, i: u32) -> String {
    format!("{}@example.com", username(seed, i))
}

/// The users of a plan, computed up front (ids, join times, ranking, follow counts: a few
/// bytes per user); follows and posts are then streamed from it.
pub struct Generator {
    plan: Plan,
    password_hash: String,
    ids: Vec<Uuid>,
    joined: Vec<i64>,
    /// `by_rank[r]` is the user index at popularity rank r (0 = most popular).
    by_rank: Vec<u32>,
    /// How many accounts each user follows.
    follow_counts: Vec<u32>,
}

/// Streams: one per table, so each is independent of the others' sizes.
const USERS: u64 = 1;
const RANKING: u64 = 2;
const FOLLOW_COUNTS: u64 = 3;
const FOLLOWS: u64 = 4;
const POSTS: u64 = 5;

fn stream(seed: u64, table: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(table);
    rng
}

/// A UUIDv7 for instant `ms` with the generator's random bits.
fn mint(rng: &mut ChaCha8Rng, ms: i64) -> Uuid {
    let mut random = [0u8; 10];
    rng.fill_bytes(&mut random);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(ms).unwrap_or(0), &random).into_uuid()
}

/// A Zipf sampler of ranks 0..n. `n ≥ 1` and `s > 0` always hold here (`Zipf::new` checks
/// exactly those), so the fallback of rank 0 never runs; it keeps the generator panic-free.
fn zipf(n: u32, s: f64) -> Option<Zipf<f64>> {
    Zipf::new(f64::from(n.max(1)), s).ok()
}

fn rank(z: &Option<Zipf<f64>>, rng: &mut ChaCha8Rng) -> usize {
    z.as_ref()
        .map_or(0, |z| (z.sample(rng) as usize).saturating_sub(1))
}

impl Generator {
    pub fn new(plan: Plan, password_hash: String) -> Generator {
        let n = plan.users as usize;
        let start = plan.now_ms - i64::from(plan.days.max(1)) * DAY_MS;
        let joining = (plan.now_ms - start) * 4 / 5;
        let mut rng = stream(plan.seed, USERS);
        let mut ids = Vec::with_capacity(n);
        let mut joined = Vec::with_capacity(n);
        for i in 0..n as i64 {
            let t = start + joining * i / (n as i64).max(1);
            ids.push(mint(&mut rng, t));
            joined.push(t);
        }
        let mut by_rank: Vec<u32> = (0..plan.users).collect();
        by_rank.shuffle(&mut stream(plan.seed, RANKING));
        let mut rng = stream(plan.seed, FOLLOW_COUNTS);
        let mean = f64::from(plan.follows.max(1));
        let cap = plan.users.saturating_sub(1).min(MAX_FOLLOWS);
        // Log-normal with mean M: mu = ln M - σ²/2. σ > 0, so `new` cannot fail.
        let lognormal = LogNormal::new(
            mean.ln() - FOLLOWS_SIGMA * FOLLOWS_SIGMA / 2.0,
            FOLLOWS_SIGMA,
        )
        .ok();
        let follow_counts = (0..n)
            .map(|_| match (&lognormal, plan.follows) {
                (_, 0) | (None, _) => 0,
                // Everyone follows at least one account, when there is another to follow.
                (Some(_), _) if cap == 0 => 0,
                (Some(d), _) => (d.sample(&mut rng).round() as u32).clamp(1, cap),
            })
            .collect();
        Generator {
            plan,
            password_hash,
            ids,
            joined,
            by_rank,
            follow_counts,
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Follows the load will hold (slightly fewer only in tiny, dense data sets).
    pub fn planned_follows(&self) -> u64 {
        self.follow_counts.iter().map(|&k| u64::from(k)).sum()
    }

    pub fn user_id(&self, i: u32) -> UserId {
        UserId::from_uuid(self.ids[i as usize])
    }

    /// Seeded user `i` as a signup would have stored it.
    pub fn user(&self, i: u32) -> Result<NewUser, String> {
        let name = display_name(self.plan.seed, i);
        Ok(NewUser {
            id: self.user_id(i),
            email: Email::parse(&email(self.plan.seed, i)).map_err(|e| e.to_string())?,
            username: Username::parse(&username(self.plan.seed, i)).map_err(|e| e.to_string())?,
            name: Some(Name::parse(&name).map_err(|e| e.to_string())?),
            password_hash: self.password_hash.clone(),
            created_at: Timestamp::from_unix_millis(self.joined[i as usize]),
        })
    }

    /// Every edge, follower by follower (ascending ids, the follows table's key order).
    pub fn follows(&self) -> Follows<'_> {
        Follows {
            generator: self,
            rng: stream(self.plan.seed, FOLLOWS),
            popularity: zipf(self.plan.users, POPULARITY_EXPONENT),
            next: 0,
            pending: Vec::new(),
            seen: HashSet::new(),
            followers: vec![0; self.plan.users as usize],
            following: vec![0; self.plan.users as usize],
        }
    }

    /// Every post, oldest first.
    pub fn posts(&self) -> Posts<'_> {
        let mut rng = stream(self.plan.seed, POSTS);
        let activity = zipf(self.plan.users, ACTIVITY_EXPONENT);
        let mut slots: Vec<(i64, u32)> = Vec::new();
        if self.plan.users > 0 {
            slots.reserve(usize::try_from(self.plan.posts).unwrap_or(0));
            for _ in 0..self.plan.posts {
                let author = self.by_rank[rank(&activity, &mut rng)];
                let from = self.joined[author as usize];
                let t = rng.random_range(from..self.plan.now_ms.max(from + 1));
                slots.push((t, author));
            }
        }
        slots.sort_unstable();
        Posts {
            generator: self,
            rng,
            slots: slots.into_iter(),
            per_author: vec![0; self.plan.users as usize],
        }
    }
}

/// Iterator over the follow edges.
pub struct Follows<'a> {
    generator: &'a Generator,
    rng: ChaCha8Rng,
    popularity: Option<Zipf<f64>>,
    next: u32,
    pending: Vec<FollowRecord>,
    seen: HashSet<u32>,
    followers: Vec<u32>,
    following: Vec<u32>,
}

impl Follows<'_> {
    /// Followers and following per user index, of the edges generated so far.
    pub fn counts(self) -> (Vec<u32>, Vec<u32>) {
        (self.followers, self.following)
    }

    fn fill(&mut self, follower: u32) {
        let g = self.generator;
        let n = g.plan.users;
        let want = g.follow_counts[follower as usize] as usize;
        self.seen.clear();
        let mut draws = 0;
        while self.seen.len() < want && draws < want as u32 * MAX_DRAWS {
            draws += 1;
            let target = if self.rng.random_bool(POPULAR_SHARE) {
                g.by_rank[rank(&self.popularity, &mut self.rng)]
            } else {
                self.rng.random_range(0..n)
            };
            if target != follower {
                self.seen.insert(target);
            }
        }
        let mut targets: Vec<u32> = self.seen.iter().copied().collect();
        targets.sort_unstable();
        self.following[follower as usize] = targets.len() as u32;
        // Reversed, so that `pop` yields them in ascending order.
        for &target in targets.iter().rev() {
            self.followers[target as usize] += 1;
            let from = g.joined[follower as usize].max(g.joined[target as usize]);
            let t = self.rng.random_range(from..g.plan.now_ms.max(from + 1));
            self.pending.push(FollowRecord {
                id: FollowId::from_uuid(mint(&mut self.rng, t)),
                follower_id: g.user_id(follower),
                following_id: g.user_id(target),
                created_at: Timestamp::from_unix_millis(t),
            });
        }
    }
}

impl Iterator for Follows<'_> {
    type Item = FollowRecord;

    fn next(&mut self) -> Option<FollowRecord> {
        while self.pending.is_empty() {
            if self.next >= self.generator.plan.users {
                return None;
            }
            let follower = self.next;
            self.next += 1;
            self.fill(follower);
        }
        self.pending.pop()
    }
}

/// Iterator over the posts.
pub struct Posts<'a> {
    generator: &'a Generator,
    rng: ChaCha8Rng,
    slots: std::vec::IntoIter<(i64, u32)>,
    per_author: Vec<u32>,
}

impl Posts<'_> {
    /// Posts per user index, of the posts generated so far.
    pub fn counts(self) -> Vec<u32> {
        self.per_author
    }
}

impl Iterator for Posts<'_> {
    type Item = PostRecord;

    fn next(&mut self) -> Option<PostRecord> {
        let (t, author) = self.slots.next()?;
        self.per_author[author as usize] += 1;
        Some(PostRecord {
            id: PostId::from_uuid(mint(&mut self.rng, t)),
            author_id: self.generator.user_id(author),
            content: content(&mut self.rng),
            created_at: Timestamp::from_unix_millis(t),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "Niklaus",
    "Katherine",
    "John",
    "Sophie",
    "Tim",
    "Joan",
    "Bjarne",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Wirth",
    "Johnson",
    "McCarthy",
    "Wilson",
    "Berners-Lee",
    "Clarke",
    "Stroustrup",
];
const WORDS: &[&str] = &[
    "the",
    "a",
    "today",
    "scaling",
    "rust",
    "coffee",
    "shipping",
    "tests",
    "green",
    "build",
    "latency",
    "p99",
    "cache",
    "feed",
    "timeline",
    "deploy",
    "friday",
    "weekend",
    "music",
    "reading",
    "running",
    "city",
    "rain",
    "sunny",
    "new",
    "idea",
    "thread",
    "launch",
    "bug",
    "fixed",
    "learned",
    "why",
    "how",
    "again",
    "finally",
    "great",
    "team",
    "talk",
    "slides",
    "database",
    "index",
    "query",
    "graph",
    "queue",
    "stream",
    "events",
    "users",
    "million",
    "#rustlang",
    "#postgres",
    "#scaling",
    "#devlife",
    "#sre",
    "and",
    "with",
    "is",
    "of",
    "to",
];

/// A display name from the index: no draw, so it does not move any stream.
fn display_name(seed: u64, i: u32) -> String {
    let h = splitmix(seed ^ u64::from(i));
    let first = FIRST[(h % FIRST.len() as u64) as usize];
    let last = LAST[((h >> 32) % LAST.len() as u64) as usize];
    format!("{first} {last}")
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// 3 to 40 words, at most 280 characters (all ASCII, so bytes are characters).
fn content(rng: &mut ChaCha8Rng) -> String {
    let words = rng.random_range(3..=40);
    let mut text = String::with_capacity(words * 7);
    for _ in 0..words {
        let word = WORDS[rng.random_range(0..WORDS.len())];
        if text.len() + word.len() + 1 > 280 {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    text
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
