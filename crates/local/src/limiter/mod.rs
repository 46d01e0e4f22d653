//! The in-process rate limiter: exact for one instance, the fallback when no shared store is
//! configured or reachable.

mod algorithm;

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{RateAlgorithm, RateDecision, RateLimiter, RatePolicy};
use domain::StoreError;
use tokio::time::Instant;

use algorithm::{Params, State, Verdict};

/// Enough shards that requests on different keys rarely wait on one lock; each lock is held for
/// a hash lookup and a few integer operations.
const SHARDS: usize = 64;

/// A shard sweeps forgotten keys whenever it has doubled since its last sweep, and never below
/// this size: sweeping is O(keys), so it must stay rare enough to be O(1) per insert.
const MIN_SWEEP_AT: usize = 1024;

/// A full shard sweeps at most this often: under a flood of new keys, sweeping on every insert
/// would make each request O(keys).
const FULL_SWEEP_INTERVAL: u128 = 1_000_000_000;

/// About 100 bytes a key: the default bounds the limiter near 50 MB however many clients come.
const DEFAULT_MAX_KEYS: usize = 500_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Config {
    algorithm: RateAlgorithm,
    limit: u32,
    window: u128,
}

struct Slot {
    /// The policy the state was counted under; if the policy is reconfigured, counting restarts
    /// rather than reading one rule's state with another.
    config: Config,
    state: State,
    /// From this instant the state equals a fresh one, so dropping it changes no decision.
    idle_at: u128,
    /// The last check of this key: a full shard evicts the least recently used.
    used_at: u128,
}

#[derive(Default)]
struct Shard {
    /// Policy first so a lookup borrows the caller's `&str`: a hit allocates nothing.
    by_policy: HashMap<&'static str, HashMap<Box<str>, Slot>>,
    len: usize,
    sweep_at: usize,
    next_full_sweep: u128,
}

impl Shard {
    fn slot_mut(&mut self, policy: &str, key: &str) -> Option<&mut Slot> {
        self.by_policy.get_mut(policy)?.get_mut(key)
    }

    /// Stores a new key's state. A shard full of live states first evicts its least recently
    /// used eighth: a key in active use (one being limited right now) is never the one to go,
    /// and a new key is always counted, so a flood of distinct keys cannot make the limiter
    /// stop counting. Evicting an eighth at a time keeps the O(keys) scan rare: O(1) amortised.
    fn insert(&mut self, policy: &'static str, key: &str, slot: Slot, now: u128, cap: usize) {
        let full = self.len >= cap;
        if self.len >= self.sweep_at || (full && now >= self.next_full_sweep) {
            self.sweep(now);
        }
        if self.len >= cap {
            let evicted = self.evict_least_recently_used(cap.div_ceil(8).max(1));
            metrics::counter!("rate_limit_evicted_total").increment(evicted as u64);
        }
        self.by_policy
            .entry(policy)
            .or_default()
            .insert(key.into(), slot);
        self.len += 1;
    }

    /// Drops at least `n` states, those used longest ago; returns how many went.
    fn evict_least_recently_used(&mut self, n: usize) -> usize {
        let mut used: Vec<u128> = self
            .by_policy
            .values()
            .flat_map(|slots| slots.values().map(|s| s.used_at))
            .collect();
        let Some(nth) = n.checked_sub(1).filter(|i| *i < used.len()) else {
            let all = self.len;
            self.by_policy.clear();
            self.len = 0;
            return all;
        };
        let (_, cutoff, _) = used.select_nth_unstable(nth);
        let cutoff = *cutoff;
        for slots in self.by_policy.values_mut() {
            slots.retain(|_, slot| slot.used_at > cutoff);
        }
        self.by_policy.retain(|_, slots| !slots.is_empty());
        let before = self.len;
        self.len = self.by_policy.values().map(HashMap::len).sum();
        before - self.len
    }

    fn sweep(&mut self, now: u128) {
        for slots in self.by_policy.values_mut() {
            slots.retain(|_, slot| slot.idle_at > now);
            if slots.capacity() > 4 * slots.len() + 64 {
                slots.shrink_to_fit();
            }
        }
        self.by_policy.retain(|_, slots| !slots.is_empty());
        self.len = self.by_policy.values().map(HashMap::len).sum();
        self.sweep_at = (self.len * 2).max(MIN_SWEEP_AT);
        self.next_full_sweep = now + FULL_SWEEP_INTERVAL;
    }
}

/// Counts hits per `(policy, key)` in this process, for every [`RateAlgorithm`].
///
/// Time comes from `tokio::time`, so tests drive it with a paused clock. Memory is bounded: a
/// key's state is dropped once it is equivalent to a fresh one, and at most `max_keys` states
/// are kept; beyond that the least recently used are evicted (counted in
/// `rate_limit_evicted_total`). Every new key is counted: the limiter never fails open.
pub struct LocalRateLimiter {
    origin: Instant,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    shard_capacity: usize,
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalRateLimiter {
    /// A limiter remembering up to about 500 000 keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A limiter remembering up to about `max_keys` keys (spread over shards, so a little less
    /// when keys hash unevenly).
    pub fn with_max_keys(max_keys: usize) -> Self {
        LocalRateLimiter {
            origin: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            shard_capacity: (max_keys / SHARDS).max(1),
        }
    }

    /// How many key states are held (for tests and gauges).
    pub fn tracked_keys(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len).sum()
    }

    fn now(&self) -> u128 {
        Instant::now()
            .saturating_duration_since(self.origin)
            .as_nanos()
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let h = usize::try_from(self.hasher.hash_one(key)).unwrap_or_default();
        &self.shards[h % self.shards.len()]
    }
}

/// A panic while a shard was locked leaves at worst one key's counts off by a hit; refusing
/// every later request over it would be far worse.
fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(
        &self,
        policy: &RatePolicy,
        key: &str,
        cost: u32,
    ) -> Result<RateDecision, StoreError> {
        if policy.limit == 0 {
            return Ok(RateDecision::no_budget(policy));
        }
        let config = Config {
            algorithm: policy.algorithm,
            limit: policy.limit,
            window: policy.window.as_nanos().clamp(1, u128::from(u64::MAX)),
        };
        let params = Params {
            limit: u128::from(policy.limit),
            window: config.window,
        };
        let cost = u128::from(cost);
        let now = self.now();

        let mut shard = lock(self.shard(key));
        let verdict = match shard.slot_mut(policy.name, key) {
            Some(slot) => {
                if slot.config != config {
                    slot.config = config;
                    slot.state = State::fresh(policy.algorithm);
                }
                let v = algorithm::check(&mut slot.state, params, now, cost);
                slot.idle_at = now + v.reset_after;
                slot.used_at = now;
                v
            }
            None => {
                let mut state = State::fresh(policy.algorithm);
                let v = algorithm::check(&mut state, params, now, cost);
                // Only a recorded hit makes the state differ from a fresh one worth keeping.
                if v.allowed && cost > 0 {
                    let slot = Slot {
                        config,
                        state,
                        idle_at: now + v.reset_after,
                        used_at: now,
                    };
                    shard.insert(policy.name, key, slot, now, self.shard_capacity);
                }
                v
            }
        };
        drop(shard);
        Ok(decision(policy.limit, verdict))
    }
}

fn decision(limit: u32, v: Verdict) -> RateDecision {
    RateDecision {
        allowed: v.allowed,
        limit,
        remaining: u32::try_from(v.remaining).unwrap_or(limit),
        reset_after: nanos(v.reset_after),
        // Never zero: "retry in 0" would invite an immediate, equally denied retry.
        retry_after: (!v.allowed).then(|| nanos(v.retry_after.max(1))),
    }
}

fn nanos(ns: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &'static str, limit: u32) -> RatePolicy {
        RatePolicy {
            name,
            limit,
            window: Duration::from_secs(60),
            algorithm: RateAlgorithm::FixedWindow,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn forgets_keys_once_their_state_is_fresh_again() {
        let limiter = LocalRateLimiter::new();
        let p = policy("sweep", 3);
        for i in 0..(MIN_SWEEP_AT * SHARDS) {
            limiter.check(&p, &format!("k{i}"), 1).await.unwrap();
        }
        let peak = limiter.tracked_keys();
        assert_eq!(peak, MIN_SWEEP_AT * SHARDS);
        tokio::time::advance(Duration::from_secs(61)).await;
        // New keys make every shard outgrow its sweep threshold; the old states are idle by
        // now, so each sweep drops all of them.
        let fresh = 3 * MIN_SWEEP_AT * SHARDS;
        for i in 0..fresh {
            limiter.check(&p, &format!("n{i}"), 1).await.unwrap();
        }
        assert_eq!(limiter.tracked_keys(), fresh, "only the live states remain");
    }

    #[tokio::test(start_paused = true)]
    async fn peeks_and_denials_on_unknown_keys_store_nothing() {
        let limiter = LocalRateLimiter::new();
        limiter.check(&policy("p", 3), "a", 0).await.unwrap();
        limiter.check(&policy("p", 3), "b", 4).await.unwrap();
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn stays_bounded_and_counts_every_new_key_when_full() {
        let limiter = LocalRateLimiter::with_max_keys(SHARDS * 8);
        let p = policy("full", 1);
        for i in 0..10_000 {
            tokio::time::advance(Duration::from_micros(1)).await;
            assert!(
                limiter
                    .check(&p, &format!("k{i}"), 1)
                    .await
                    .unwrap()
                    .allowed
            );
        }
        assert!(limiter.tracked_keys() <= SHARDS * 8);
        // The newest key was stored, however full the limiter was: its second hit is denied.
        assert!(!limiter.check(&p, "k9999", 1).await.unwrap().allowed);
    }

    /// A flood of distinct keys (an attacker rotating addresses or usernames) must not evict a
    /// key that is being limited right now, so that key stays limited throughout.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_keys_does_not_free_a_limited_key() {
        let limiter = LocalRateLimiter::with_max_keys(SHARDS * 16);
        let p = policy("flood", 3);
        for _ in 0..3 {
            assert!(limiter.check(&p, "victim", 1).await.unwrap().allowed);
        }
        for i in 0..20_000 {
            tokio::time::advance(Duration::from_micros(1)).await;
            limiter.check(&p, &format!("flood{i}"), 1).await.unwrap();
            if i % 50 == 0 {
                let d = limiter.check(&p, "victim", 1).await.unwrap();
                assert!(!d.allowed, "the limited key was freed after {i} other keys");
            }
        }
        assert!(limiter.tracked_keys() <= SHARDS * 16);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconfigured_policy_starts_counting_afresh() {
        let limiter = LocalRateLimiter::new();
        assert!(
            limiter
                .check(&policy("r", 1), "k", 1)
                .await
                .unwrap()
                .allowed
        );
        assert!(
            !limiter
                .check(&policy("r", 1), "k", 1)
                .await
                .unwrap()
                .allowed
        );
        let d = limiter.check(&policy("r", 2), "k", 1).await.unwrap();
        assert_eq!((d.allowed, d.remaining), (true, 1));
    }

    #[tokio::test]
    async fn a_zero_limit_denies_everything() {
        let d = LocalRateLimiter::new()
            .check(&policy("zero", 0), "k", 1)
            .await
            .unwrap();
        assert!(!d.allowed);
        assert!(d.retry_after.unwrap() > Duration::ZERO);
    }
}
