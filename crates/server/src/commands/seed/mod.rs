//! `socialscale seed`: generated users, follows and posts at the scale of the step being
//! measured (up to `--preset 1m`), through each database's bulk path (`BulkStore`).
//!
//! The generator (`generate`) runs on a blocking thread and hands batches over a short channel,
//! so that on PostgreSQL generating the next batch overlaps with the server ingesting this one.

mod generate;
mod progress;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use domain::model::{FollowRecord, NewUser, Password, PostRecord};
use domain::ports::{BulkStore, Clock, PasswordHasher};
use local::{Argon2Hasher, HasherConfig, SystemClock};
use tokio::sync::mpsc;

pub use generate::{email, username, Generator, Plan};
use progress::Progress;

use crate::backends::Database;
use crate::config::{Config, SeedArgs};

/// Every seeded account has this password, so load tests can log in.
pub const SEED_PASSWORD: &str = "seed-password";

/// Rows per batch handed from the generator to the store.
const BATCH: usize = 20_000;

/// What a seed did, for the summary line and for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedReport {
    pub users: u64,
    pub follows: u64,
    pub posts: u64,
    pub elapsed: Duration,
    /// A typical account: follows about the mean, followers about the median, has posts.
    pub ordinary: Account,
    /// The account with the most followers.
    pub heavy: Account,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub email: String,
    pub followers: u32,
    pub following: u32,
    pub posts: u32,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rows = self.users + self.follows + self.posts;
        let (o, h) = (&self.ordinary, &self.heavy);
        write!(
            f,
            "seeded {} users, {} follows, {} posts in {secs:.1}s ({:.0} rows/s); password \
             {SEED_PASSWORD:?} for all; ordinary account {} ({} followers, follows {}, {} posts); \
             heavy account {} ({} followers, {} posts)",
            self.users,
            self.follows,
            self.posts,
            rows as f64 / secs.max(0.001),
            o.email,
            o.followers,
            o.following,
            o.posts,
            h.email,
            h.followers,
            h.posts,
        )
    }
}

pub async fn seed(config: &Config, args: &SeedArgs) -> anyhow::Result<()> {
    let size = args.size().map_err(|line| anyhow!(line))?;
    let db = Database::open(config).await?;
    let plan = Plan {
        users: size.users,
        follows: size.follows,
        posts: size.posts,
        days: size.days,
        seed: args.seed,
        now_ms: start_of_today_ms(),
    };
    let result = load(db.bulk.as_ref(), plan, args.append, true).await;
    db.close().await;
    println!("{}", result?);
    Ok(())
}

/// The window ends at the start of the current UTC day, so that seeding twice on one day
/// with one seed gives the same rows (the password hash's salt aside).
fn start_of_today_ms() -> i64 {
    let now = SystemClock.now().unix_millis();
    now - now.rem_euclid(86_400_000)
}

/// Hashes the seed password once (the accounts are interchangeable; hashing is deliberately
/// slow), generates `plan` and loads it in one transaction.
pub async fn load(
    bulk: &dyn BulkStore,
    plan: Plan,
    append: bool,
    show_progress: bool,
) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let existing = bulk.user_count().await.context("counting users")?;
    if existing > 0 && !append {
        bail!(
            "the database already has {existing} users: seed an empty database, or pass \
             --append (with a --seed not used on it before) to add to it"
        );
    }
    let hasher = Argon2Hasher::new(HasherConfig::default()).context("password hasher")?;
    let password = Password::parse_new(SEED_PASSWORD).map_err(|e| anyhow!("{e}"))?;
    let hash = hasher.hash(&password).await?;

    let progress = Progress::new(show_progress, &plan);
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let generator = tokio::task::spawn_blocking(move || generate(plan, hash, &tx));
    let mut load = bulk.begin_load(existing == 0).await?;
    while let Some(batch) = rx.recv().await {
        match batch {
            Batch::PlannedFollows(n) => progress.plan_follows(n),
            Batch::Users(rows) => {
                progress.users.begin();
                load.users(&rows).await.with_context(|| {
                    if append {
                        "loading users (with --append, a --seed already used on this database \
                         collides with itself: pick another)"
                    } else {
                        "loading users"
                    }
                })?;
                progress.users.done(rows.len() as u64);
            }
            Batch::Follows(rows) => {
                progress.follows.begin();
                load.follows(&rows).await.context("loading follows")?;
                progress.follows.done(rows.len() as u64);
            }
            Batch::Posts(rows) => {
                progress.posts.begin();
                load.posts(&rows).await.context("loading posts")?;
                progress.posts.done(rows.len() as u64);
            }
        }
    }
    let stats = generator
        .await
        .context("the generator stopped")?
        .map_err(|e| anyhow!("generating rows: {e}"))?;
    progress.finish_tables();
    progress
        .stage("indexes", load.restore())
        .await
        .context("rebuilding indexes and constraints")?;
    progress
        .stage("counters", load.recount())
        .await
        .context("computing counters")?;
    progress
        .stage("commit", load.commit())
        .await
        .context("committing")?;
    progress
        .stage("analyze", bulk.analyze())
        .await
        .context("refreshing statistics")?;
    Ok(stats.report(started.elapsed()))
}

enum Batch {
    PlannedFollows(u64),
    Users(Vec<NewUser>),
    Follows(Vec<FollowRecord>),
    Posts(Vec<PostRecord>),
}

/// Per-user counts the generator saw, to pick the summary's accounts.
#[derive(Default)]
struct Stats {
    seed: u64,
    followers: Vec<u32>,
    following: Vec<u32>,
    posts: Vec<u32>,
}

/// Runs on a blocking thread. A closed channel means the loader failed: stop quietly (empty
/// stats), the loader reports its own error.
fn generate(plan: Plan, hash: String, tx: &mpsc::Sender<Batch>) -> Result<Stats, String> {
    let seed = plan.seed;
    let users = plan.users;
    let g = Generator::new(plan, hash);
    let send = |b: Batch| tx.blocking_send(b).is_ok();
    if !send(Batch::PlannedFollows(g.planned_follows())) {
        return Ok(Stats::default());
    }
    for start in (0..users).step_by(BATCH) {
        let end = (start + BATCH as u32).min(users);
        let rows = (start..end)
            .map(|i| g.user(i))
            .collect::<Result<Vec<_>, _>>()?;
        if !send(Batch::Users(rows)) {
            return Ok(Stats::default());
        }
    }
    let mut follows = g.follows();
    if !send_batches(&mut follows, Batch::Follows, &send) {
        return Ok(Stats::default());
    }
    let mut posts = g.posts();
    if !send_batches(&mut posts, Batch::Posts, &send) {
        return Ok(Stats::default());
    }
    let (followers, following) = follows.counts();
    Ok(Stats {
        seed,
        followers,
        following,
        posts: posts.counts(),
    })
}

/// Sends `rows` in batches of [`BATCH`]; `false` once the loader has gone.
fn send_batches<T>(
    rows: &mut impl Iterator<Item = T>,
    wrap: fn(Vec<T>) -> Batch,
    send: &impl Fn(Batch) -> bool,
) -> bool {
    loop {
        let batch: Vec<T> = rows.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            return true;
        }
        if !send(wrap(batch)) {
            return false;
        }
    }
}

impl Stats {
    fn report(&self, elapsed: Duration) -> SeedReport {
        let sum = |v: &[u32]| v.iter().map(|&x| u64::from(x)).sum::<u64>();
        let account = |i: usize| Account {
            email: email(self.seed, u32::try_from(i).unwrap_or(0)),
            followers: self.followers.get(i).copied().unwrap_or(0),
            following: self.following.get(i).copied().unwrap_or(0),
            posts: self.posts.get(i).copied().unwrap_or(0),
        };
        let heavy = (0..self.followers.len())
            .max_by_key(|&i| (self.followers[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        SeedReport {
            users: self.followers.len() as u64,
            follows: sum(&self.following),
            posts: sum(&self.posts),
            elapsed,
            ordinary: account(self.ordinary()),
            heavy: account(heavy),
        }
    }

    /// The first user whose followers are near the median, who follows about the mean, and
    /// who has posted: a representative account for load tests.
    fn ordinary(&self) -> usize {
        let n = self.followers.len();
        if n == 0 {
            return 0;
        }
        let median = |v: &[u32]| {
            let mut sorted = v.to_vec();
            sorted.sort_unstable();
            sorted[sorted.len() / 2]
        };
        let (fo, fi) = (median(&self.followers), median(&self.following));
        let near = |x: u32, m: u32| x.abs_diff(m) <= (m / 4).max(1);
        (0..n)
            .find(|&i| {
                near(self.followers[i], fo) && near(self.following[i], fi) && self.posts[i] > 0
            })
            .unwrap_or(0)
    }
}
