//! Feed freshness for `mix`: how long after its 201 a new post first shows in a follower's
//! `GET /feed`. This is why `mix` needs coordination across simulated users: the writer and
//! the watcher are different accounts, and the watcher must know the writer's post id.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::mix::Account;
use crate::client::Req;
use crate::report::{FreshnessReport, Latency};
use crate::stats::{histogram, Step};

pub const SETUP_FOLLOW: Step = Step::setup("setup_follow", "POST /users/follow/:id");
pub const POLL: Step = Step::probe("freshness_poll", "GET /feed?limit=20");

/// Watchers at once: each polls several times a second, so this bounds the probe traffic.
const MAX_WATCHING: usize = 20;

/// How many (author, follower) pairs are made at start.
const MAX_PAIRS: usize = 25;

pub struct Freshness {
    /// (author, watcher) indices into the pool; the watcher follows the author.
    pub pairs: Vec<(usize, usize)>,
    max_samples: u64,
    bound: Duration,
    interval: Duration,
    pub stop: CancellationToken,
    hist: Mutex<Histogram<u64>>,
    sampled: AtomicU64,
    seen: AtomicU64,
    never_seen: AtomicU64,
    cut_off: AtomicU64,
    watching: AtomicUsize,
}

impl Freshness {
    /// Makes pool account 2i follow 2i+1, so that pairs exist whatever the seeded graph is
    /// (on a million users, two random accounts almost never follow each other). A 409 means
    /// the seed already made that follow: just as good.
    pub async fn prepare(
        pool: &[Account],
        deadline: tokio::time::Instant,
        max_samples: u64,
        bound: Duration,
        interval: Duration,
    ) -> Self {
        let mut pairs = Vec::new();
        for i in 0..(pool.len() / 2).min(MAX_PAIRS) {
            let (author, watcher) = (2 * i + 1, 2 * i);
            let (Some(a), Some(w)) = (pool.get(author), pool.get(watcher)) else {
                continue;
            };
            let path = format!("/users/follow/{}", a.id);
            let req = Req::new(&SETUP_FOLLOW, Method::POST, path)
                .auth(&w.token)
                .want(201)
                .expected(&[409]);
            let Ok(reply) = tokio::time::timeout_at(deadline, w.caller.call(req)).await else {
                break;
            };
            if let Some(r) = reply {
                if r.ok || r.status == 409 {
                    pairs.push((author, watcher));
                }
            }
        }
        Freshness {
            pairs,
            max_samples,
            bound,
            interval,
            stop: CancellationToken::new(),
            hist: Mutex::new(histogram()),
            sampled: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            never_seen: AtomicU64::new(0),
            cut_off: AtomicU64::new(0),
            watching: AtomicUsize::new(0),
        }
    }

    /// Reserves a sample slot, if the budget and the watcher cap allow one.
    pub fn try_start(&self) -> bool {
        if self.pairs.is_empty() || self.sampled.load(Ordering::Relaxed) >= self.max_samples {
            return false;
        }
        if self.watching.fetch_add(1, Ordering::Relaxed) >= MAX_WATCHING {
            self.watching.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        self.sampled.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Releases a slot reserved by `try_start` whose post was not created.
    pub fn cancel_start(&self) {
        self.sampled.fetch_sub(1, Ordering::Relaxed);
        self.watching.fetch_sub(1, Ordering::Relaxed);
    }

    /// Polls the watcher's first feed page until `post_id` is in it; `created` is when the
    /// 201 arrived.
    pub async fn watch(self: Arc<Self>, watcher: &Account, post_id: String, created: Instant) {
        let outcome = loop {
            let req = Req::get(&POLL, "/feed?limit=20").auth(&watcher.token);
            // A failed poll is recorded on its step; keep watching until the bound.
            if let Some(r) = watcher.caller.call(req).await.filter(|r| r.ok) {
                if r.json().is_some_and(|v| holds(&v, &post_id)) {
                    let micros = u64::try_from(created.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.hist
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .saturating_record(micros.max(1));
                    break &self.seen;
                }
            }
            if created.elapsed() >= self.bound {
                break &self.never_seen;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.stop.cancelled() => break &self.cut_off,
            }
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.watching.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn report(&self) -> FreshnessReport {
        let hist = self.hist.lock().unwrap_or_else(PoisonError::into_inner);
        let sampled = self.sampled.load(Ordering::Relaxed);
        let seen = self.seen.load(Ordering::Relaxed);
        let never_seen = self.never_seen.load(Ordering::Relaxed);
        FreshnessReport {
            sampled,
            seen,
            never_seen,
            // Watchers abandoned at the hard cap never reported: they count as cut off too.
            cut_off: sampled.saturating_sub(seen + never_seen),
            bound_ms: self.bound.as_secs_f64() * 1000.0,
            latency: Latency::of(&hist),
        }
    }
}

fn holds(page: &Value, post_id: &str) -> bool {
    page.get("posts")
        .and_then(Value::as_array)
        .is_some_and(|posts| {
            posts
                .iter()
                .any(|p| p.get("id").and_then(Value::as_str) == Some(post_id))
        })
}
