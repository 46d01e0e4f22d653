//! `mix`: a realistic read/write mix over a pool of seeded accounts at a constant arrival rate
//! (an open model: arrivals are launched on schedule however slow the answers are, so a slow
//! server shows its latency instead of slowing the client down).
//!
//! Per arrival: 50% `GET /feed` (one in five also reads the next page), 20% `GET /posts`,
//! 10% `GET /users/:id/posts`, 10% a profile view, 8% `POST /posts`, 2% a follow or unfollow.
//! Users, timelines and follow targets come from ids and usernames seen in earlier timeline
//! pages (`authorId`, `author.username`). A follow answered 409 (the seeded graph, or a racing
//! request, already has it) and an unfollow answered 404 (a racing unfollow got there first)
//! are counted as expected outcomes, shown per status in the table, not as errors: they are
//! the right answers to what a real client in that race would send.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio::task::JoinSet;

use super::freshness::{Freshness, POLL, SETUP_FOLLOW};
use super::Shared;
use crate::cli::Plan;
use crate::client::{authors_of, Caller, Req};
use crate::report::FreshnessReport;
use crate::stages::Stages;
use crate::stats::Step;

pub const SETUP_LOGIN: Step = Step::setup("setup_login", "POST /auth/login");
pub const FEED: Step = Step::load("feed", "GET /feed?limit=20");
pub const FEED_NEXT: Step = Step::load("feed_next", "GET /feed?cursor=…");
pub const POSTS: Step = Step::load("posts", "GET /posts?limit=20");
pub const USER_POSTS: Step = Step::load("user_posts", "GET /users/:id/posts");
pub const PROFILE: Step = Step::load("profile", "GET /users/:id|by-username");
pub const CREATE_POST: Step = Step::load("create_post", "POST /posts");
pub const FOLLOW: Step = Step::load("follow", "POST /users/follow/:id");
pub const UNFOLLOW: Step = Step::load("unfollow", "DELETE /users/follow/:id");

pub const STEPS: &[Step] = &[
    SETUP_LOGIN,
    SETUP_FOLLOW,
    FEED,
    FEED_NEXT,
    POSTS,
    USER_POSTS,
    PROFILE,
    CREATE_POST,
    FOLLOW,
    UNFOLLOW,
    POLL,
];

/// The seed's deterministic naming of user `i` (see `socialscale seed`).
pub fn seeded_username(i: u64, seed: u64) -> String {
    format!("u{i}_s{}", seed % 100_000)
}

pub const SEED_PASSWORD: &str = "seed-password";

/// A logged-in pool account; its requests present its own client address.
pub struct Account {
    pub id: String,
    pub username: String,
    pub token: String,
    pub caller: Caller,
}

/// Ids and usernames seen in timelines, for profile views, user timelines and follows.
const KNOWN_CAP: usize = 10_000;

struct State {
    pool: Vec<Account>,
    known: Mutex<VecDeque<(String, String)>>,
    /// Follows this run made (account index, target id): what an unfollow undoes.
    made: Mutex<Vec<(usize, String)>>,
    created: AtomicU64,
    every: u64,
    fresh: Arc<Freshness>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain collections: a panic elsewhere leaves nothing half-updated worth refusing.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pick<T>(items: &[T]) -> Option<&T> {
    (!items.is_empty()).then(|| &items[rand::random_range(0..items.len())])
}

impl State {
    fn account(&self) -> (usize, &Account) {
        let i = rand::random_range(0..self.pool.len());
        (i, &self.pool[i])
    }

    fn known(&self) -> Option<(String, String)> {
        let known = lock(&self.known);
        (!known.is_empty()).then(|| known[rand::random_range(0..known.len())].clone())
    }

    fn learn(&self, page: Option<serde_json::Value>) {
        let Some(page) = page else { return };
        let mut known = lock(&self.known);
        for a in authors_of(&page) {
            if known.len() >= KNOWN_CAP {
                known.pop_front();
            }
            known.push_back(a);
        }
    }
}

/// Logs in `--pool` random seeded accounts, `--login-concurrency` at a time, within
/// `--setup-timeout`.
async fn log_in_pool(
    plan: &Plan,
    shared: &Arc<Shared>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Vec<Account>> {
    let a = &plan.args;
    let n = plan.seed_users;
    let k = a.pool.min(usize::try_from(n).unwrap_or(usize::MAX));
    let indices: Vec<u64> = {
        let mut rng = rand::rng();
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        rand::seq::index::sample(&mut rng, n, k)
            .into_iter()
            .map(|i| i as u64)
            .collect()
    };
    let seed = a.seed;
    let logins = futures::stream::iter(indices)
        .map(|i| {
            let caller = shared.http.caller(i);
            async move {
                let email = format!("{}@example.com", seeded_username(i, seed));
                let body = json!({ "email": email, "password": SEED_PASSWORD });
                let reply = caller
                    .call(Req::post(&SETUP_LOGIN, "/auth/login", body).want(200))
                    .await;
                let v = reply.filter(|r| r.ok)?.json()?;
                Some(Account {
                    id: v.get("user")?.get("id")?.as_str()?.to_string(),
                    username: v.get("user")?.get("username")?.as_str()?.to_string(),
                    token: v.get("token")?.as_str()?.to_string(),
                    caller,
                })
            }
        })
        .buffer_unordered(a.login_concurrency);
    futures::pin_mut!(logins);
    let mut pool = Vec::with_capacity(k);
    let started = Instant::now();
    while let Ok(Some(next)) = tokio::time::timeout_at(deadline, logins.next()).await {
        pool.extend(next);
    }
    if !a.quiet {
        eprintln!(
            "mix: {} of {k} pool accounts logged in in {:.1}s",
            pool.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if pool.is_empty() {
        let (steps, _) = shared.http.stats.snapshot();
        let outcomes = steps
            .iter()
            .find(|s| s.step.name == SETUP_LOGIN.name)
            .map(|s| format!("{:?}", s.outcomes))
            .unwrap_or_default();
        anyhow::bail!(
            "mix: none of the pool's seeded accounts could log in (outcomes {outcomes}); is the \
             database seeded with --seed {seed} and at least --seed-users {n} users?"
        );
    }
    Ok(pool)
}

/// The pool logged in and the freshness pairs made: what the load phase needs.
pub struct Prepared(Arc<State>);

pub async fn prepare(plan: &Plan, shared: &Arc<Shared>) -> anyhow::Result<Prepared> {
    let a = &plan.args;
    let deadline = tokio::time::Instant::now() + a.setup_timeout;
    let pool = log_in_pool(plan, shared, deadline).await?;
    let fresh = Freshness::prepare(
        &pool,
        deadline,
        a.freshness_samples,
        a.freshness_timeout,
        a.freshness_interval,
    )
    .await;
    let known = pool
        .iter()
        .map(|p| (p.id.clone(), p.username.clone()))
        .collect();
    Ok(Prepared(Arc::new(State {
        pool,
        known: Mutex::new(known),
        made: Mutex::new(Vec::new()),
        created: AtomicU64::new(0),
        every: a.freshness_every,
        fresh: Arc::new(fresh),
    })))
}

/// The load phase; returns (abandoned, freshness figures).
pub async fn run(plan: &Plan, shared: &Arc<Shared>, prepared: Prepared) -> (u64, FreshnessReport) {
    let a = &plan.args;
    let abandoned = arrivals(&plan.stages, shared, &prepared.0, a.max_in_flight, a.drain).await;
    (abandoned, prepared.0.fresh.report())
}

/// Launches arrivals on schedule until the stages end, then drains.
async fn arrivals(
    stages: &Stages,
    shared: &Arc<Shared>,
    state: &Arc<State>,
    cap: usize,
    drain: Duration,
) -> u64 {
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    let total = stages.total();
    let mut launched: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let at = tick.tick().await.into_std();
        let t = start.elapsed();
        if t >= total {
            break;
        }
        while tasks.try_join_next().is_some() {}
        shared
            .level
            .store(stages.target_at(t).round() as u64, Ordering::Relaxed);
        let due = stages.integral(t).floor() as u64;
        while launched < due {
            launched += 1;
            if tasks.len() >= cap {
                shared.http.stats.record_dropped();
                continue;
            }
            let state = Arc::clone(state);
            tasks.spawn(async move { one(&state, at).await });
        }
    }
    state.fresh.stop.cancel();
    shared.level.store(0, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + drain;
    let drained = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        return 0;
    }
    while tasks.try_join_next().is_some() {}
    let abandoned = tasks.len() as u64;
    tasks.abort_all();
    abandoned
}

/// One arrival: picks its request by the mix's weights.
async fn one(state: &State, at: Instant) {
    let r: f64 = rand::random();
    let (i, acct) = state.account();
    let c = &acct.caller;
    if r < 0.50 {
        let reply = c
            .call(
                Req::get(&FEED, "/feed?limit=20")
                    .auth(&acct.token)
                    .since(at),
            )
            .await;
        let page = reply.filter(|r| r.ok).and_then(|r| r.json());
        let cursor = page
            .as_ref()
            .and_then(|p| p.get("nextCursor")?.as_str().map(str::to_string));
        state.learn(page);
        if let Some(cursor) = cursor.filter(|_| rand::random_bool(0.2)) {
            let path = format!("/feed?limit=20&cursor={cursor}");
            c.call(Req::get(&FEED_NEXT, path).auth(&acct.token)).await;
        }
    } else if r < 0.70 {
        let reply = c.call(Req::get(&POSTS, "/posts?limit=20").since(at)).await;
        state.learn(reply.filter(|r| r.ok).and_then(|r| r.json()));
    } else if r < 0.80 {
        let Some((id, _)) = state.known() else { return };
        let req = Req::get(&USER_POSTS, format!("/users/{id}/posts?limit=20")).since(at);
        let reply = c.call(req).await;
        state.learn(reply.filter(|r| r.ok).and_then(|r| r.json()));
    } else if r < 0.90 {
        let Some((id, username)) = state.known() else {
            return;
        };
        let path = if rand::random_bool(0.5) {
            format!("/users/{id}")
        } else {
            format!("/users/by-username/{username}")
        };
        c.call(Req::get(&PROFILE, path).since(at)).await;
    } else if r < 0.98 {
        create_post(state, acct, at).await;
    } else {
        follow_or_unfollow(state, i, acct, at).await;
    }
}

async fn create_post(state: &State, acct: &Account, at: Instant) {
    let n = state.created.fetch_add(1, Ordering::Relaxed);
    // Every `every`-th post (the first included) is written by an author with a watching
    // follower, if a watcher slot is free.
    let sample = (n % state.every == 0 && state.fresh.try_start())
        .then(|| pick(&state.fresh.pairs).copied())
        .flatten();
    let author = sample.and_then(|(a, _)| state.pool.get(a)).unwrap_or(acct);
    let body = json!({ "content": format!("mix post {n}") });
    let reply = author
        .caller
        .call(
            Req::post(&CREATE_POST, "/posts", body)
                .auth(&author.token)
                .since(at),
        )
        .await;
    let created = Instant::now();
    let post_id = reply
        .filter(|r| r.ok)
        .and_then(|r| r.json())
        .and_then(|v| v.get("id")?.as_str().map(str::to_string));
    match (sample, post_id) {
        (Some((_, w)), Some(id)) => match state.pool.get(w) {
            Some(watcher) => Arc::clone(&state.fresh).watch(watcher, id, created).await,
            None => state.fresh.cancel_start(),
        },
        (Some(_), None) => state.fresh.cancel_start(),
        _ => {}
    }
}

async fn follow_or_unfollow(state: &State, i: usize, acct: &Account, at: Instant) {
    let undo = if rand::random_bool(0.5) {
        let mut made = lock(&state.made);
        let len = made.len();
        (len > 0).then(|| made.swap_remove(rand::random_range(0..len)))
    } else {
        None
    };
    if let Some((who, target)) = undo {
        let Some(a) = state.pool.get(who) else { return };
        let path = format!("/users/follow/{target}");
        // 404: a racing unfollow got there first (or the follow was made again and undone).
        let req = Req::new(&UNFOLLOW, Method::DELETE, path)
            .auth(&a.token)
            .want(204)
            .expected(&[404])
            .since(at);
        a.caller.call(req).await;
        return;
    }
    let Some((target, _)) = state.known().filter(|(id, _)| *id != acct.id) else {
        return;
    };
    let path = format!("/users/follow/{target}");
    // 409: the seeded graph (or a racing request) already has this follow.
    let req = Req::new(&FOLLOW, Method::POST, path)
        .auth(&acct.token)
        .want(201)
        .expected(&[409])
        .since(at);
    if acct.caller.call(req).await.is_some_and(|r| r.ok) {
        let mut made = lock(&state.made);
        if made.len() < KNOWN_CAP {
            made.push((i, target));
        }
    }
}
