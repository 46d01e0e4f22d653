//! The [`RateLimiter`] contract.
//!
//! Limits are about time, so the suite takes a [`TimeControl`]: an in-process limiter runs it on
//! a paused clock with real-sized windows, a shared one (Redis) with short windows and real
//! sleeps. Keys carry a random prefix so runs against a shared server never meet.
//!
//! The suite assumes no window boundary passes between two steps except through
//! [`TimeControl::advance`]; with a real clock, pick a window long enough for that (a few hundred
//! milliseconds is plenty) or align the start to a window boundary.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use uuid::Uuid;

use crate::ports::{RateAlgorithm, RateDecision, RateLimiter, RatePolicy};
use crate::testkit::join::{join_all, BoxFuture};

/// Lets time pass for the limiter under test.
pub trait TimeControl: Send + Sync {
    /// Returns once `d` has passed for the limiter (advance a paused clock, or sleep).
    fn advance(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Every policy in the suite allows this many hits per window.
const LIMIT: u32 = 5;

/// How many checks on one key are in flight at once in the concurrency step.
const CONCURRENT: usize = 50;

const ALGORITHMS: [RateAlgorithm; 3] = [
    RateAlgorithm::FixedWindow,
    RateAlgorithm::SlidingWindow,
    RateAlgorithm::TokenBucket,
];

/// Runs [`rate_limiter_algorithm_contract`] for every algorithm.
pub async fn rate_limiter_contract(
    limiter: &dyn RateLimiter,
    time: &dyn TimeControl,
    window: Duration,
) {
    for algorithm in ALGORITHMS {
        rate_limiter_algorithm_contract(limiter, time, window, algorithm).await;
    }
}

/// What every algorithm must do, with policies of [`LIMIT`] hits per `window`.
pub async fn rate_limiter_algorithm_contract(
    limiter: &dyn RateLimiter,
    time: &dyn TimeControl,
    window: Duration,
    algorithm: RateAlgorithm,
) {
    let s = Suite {
        limiter,
        time,
        policy: policy("contract", window, algorithm),
        prefix: format!(
            "contract:{}:{}:",
            Uuid::new_v4().simple(),
            algorithm.as_str()
        ),
        // A little extra on every wait: a real clock may tick a hair behind what a decision
        // promised, and more time never shrinks a budget.
        slack: window / 100,
    };
    s.allows_exactly_the_limit_then_denies().await;
    s.denied_hits_consume_nothing().await;
    s.budget_is_whole_after_reset().await;
    s.peeking_records_nothing().await;
    s.costs_count_and_an_oversized_cost_consumes_nothing().await;
    s.keys_are_independent().await;
    s.policies_are_independent().await;
    s.concurrent_checks_allow_exactly_the_limit().await;
}

struct Suite<'a> {
    limiter: &'a dyn RateLimiter,
    time: &'a dyn TimeControl,
    policy: RatePolicy,
    prefix: String,
    slack: Duration,
}

impl Suite<'_> {
    async fn allows_exactly_the_limit_then_denies(&self) {
        let key = self.key("exact");
        for i in 1..=LIMIT {
            let d = self.hit(&self.policy, &key, 1).await;
            self.expect(d.allowed, &format!("hit {i} of {LIMIT} is allowed: {d:?}"));
            self.expect(
                d.remaining == LIMIT - i,
                &format!("remaining counts down: {d:?}"),
            );
            self.expect(
                d.reset_after > Duration::ZERO,
                &format!("budget in use: {d:?}"),
            );
        }
        let d = self.hit(&self.policy, &key, 1).await;
        self.expect(!d.allowed, &format!("hit {} is denied: {d:?}", LIMIT + 1));
        self.expect(d.remaining == 0, &format!("nothing remains: {d:?}"));
        let retry = d.retry_after.unwrap_or_default();
        self.expect(
            retry <= d.reset_after,
            &format!("retry comes before reset: {d:?}"),
        );
    }

    async fn denied_hits_consume_nothing(&self) {
        let key = self.key("denied");
        self.exhaust(&key).await;
        let first = self.hit(&self.policy, &key, 1).await;
        self.expect(!first.allowed, &format!("exhausted: {first:?}"));
        for _ in 0..3 {
            let d = self.hit(&self.policy, &key, 1).await;
            self.expect(!d.allowed, &format!("still exhausted: {d:?}"));
        }
        self.time
            .advance(first.retry_after.unwrap_or_default() + self.slack)
            .await;
        let d = self.hit(&self.policy, &key, 1).await;
        self.expect(
            d.allowed,
            &format!("allowed once the first denial's retry_after passed, denials consumed nothing: {d:?}"),
        );
    }

    async fn budget_is_whole_after_reset(&self) {
        let key = self.key("reset");
        let last = self.exhaust(&key).await;
        self.time.advance(last.reset_after + self.slack).await;
        let d = self.hit(&self.policy, &key, 0).await;
        self.expect(
            d.allowed && d.remaining == LIMIT,
            &format!("the whole budget is back after reset_after: {d:?}"),
        );
        for i in 1..=LIMIT {
            let d = self.hit(&self.policy, &key, 1).await;
            self.expect(d.allowed, &format!("hit {i} after reset is allowed: {d:?}"));
        }
    }

    async fn peeking_records_nothing(&self) {
        let key = self.key("peek");
        for _ in 0..LIMIT * 2 {
            let d = self.hit(&self.policy, &key, 0).await;
            self.expect(
                d.allowed && d.remaining == LIMIT,
                &format!("a peek on a fresh key is allowed and takes nothing: {d:?}"),
            );
        }
        self.exhaust(&key).await;
        let d = self.hit(&self.policy, &key, 0).await;
        self.expect(
            !d.allowed && d.remaining == 0,
            &format!("a peek on an exhausted key is denied: {d:?}"),
        );
    }

    async fn costs_count_and_an_oversized_cost_consumes_nothing(&self) {
        let key = self.key("cost");
        let d = self.hit(&self.policy, &key, LIMIT - 1).await;
        self.expect(
            d.allowed && d.remaining == 1,
            &format!("a cost counts as that many hits: {d:?}"),
        );
        let d = self.hit(&self.policy, &key, 2).await;
        self.expect(
            !d.allowed && d.remaining == 1,
            &format!("a cost over the remaining budget is denied and takes nothing: {d:?}"),
        );
        let d = self.hit(&self.policy, &key, 1).await;
        self.expect(
            d.allowed && d.remaining == 0,
            &format!("the last hit still fits: {d:?}"),
        );
    }

    async fn keys_are_independent(&self) {
        let (a, b) = (self.key("key-a"), self.key("key-b"));
        self.exhaust(&a).await;
        let d = self.hit(&self.policy, &b, 1).await;
        self.expect(
            d.allowed && d.remaining == LIMIT - 1,
            &format!("another key has its own budget: {d:?}"),
        );
        let d = self.hit(&self.policy, &a, 1).await;
        self.expect(!d.allowed, &format!("the first key stays exhausted: {d:?}"));
    }

    async fn policies_are_independent(&self) {
        let key = self.key("shared-key");
        let other = policy("contract_other", self.policy.window, self.policy.algorithm);
        self.exhaust(&key).await;
        let d = self.hit(&other, &key, 1).await;
        self.expect(
            d.allowed && d.remaining == LIMIT - 1,
            &format!("the same key under another policy has its own budget: {d:?}"),
        );
        let d = self.hit(&self.policy, &key, 1).await;
        self.expect(
            !d.allowed,
            &format!("the first policy stays exhausted: {d:?}"),
        );
    }

    /// [`CONCURRENT`] checks on a fresh key, all in flight together (polled on one task, see
    /// [`join_all`], so a limiter that reads, awaits, then writes lets them all read the same
    /// count): exactly [`LIMIT`] are allowed, each seeing its own remaining budget, and the
    /// rest are denied with nothing left.
    async fn concurrent_checks_allow_exactly_the_limit(&self) {
        let key = self.key("concurrent");
        let checks: Vec<BoxFuture<'_, RateDecision>> = (0..CONCURRENT)
            .map(|_| Box::pin(self.hit(&self.policy, &key, 1)) as BoxFuture<'_, RateDecision>)
            .collect();
        let decisions = join_all(checks).await;
        let allowed: Vec<&RateDecision> = decisions.iter().filter(|d| d.allowed).collect();
        self.expect(
            allowed.len() == LIMIT as usize,
            &format!(
                "of {CONCURRENT} concurrent hits exactly {LIMIT} are allowed, not {}",
                allowed.len()
            ),
        );
        let mut remaining: Vec<u32> = allowed.iter().map(|d| d.remaining).collect();
        remaining.sort_unstable();
        self.expect(
            remaining == (0..LIMIT).collect::<Vec<_>>(),
            &format!("each allowed hit took its own unit of budget: remaining {remaining:?}"),
        );
        for d in decisions.iter().filter(|d| !d.allowed) {
            self.expect(
                d.remaining == 0 && d.reset_after > Duration::ZERO,
                &format!("a denied concurrent hit sees nothing left: {d:?}"),
            );
        }
        let d = self.hit(&self.policy, &key, 0).await;
        self.expect(
            !d.allowed && d.remaining == 0,
            &format!("after the burst the key is exhausted: {d:?}"),
        );
    }

    /// Spends the whole budget of a fresh key; returns the last (allowed) decision.
    async fn exhaust(&self, key: &str) -> RateDecision {
        let d = self.hit(&self.policy, key, LIMIT).await;
        self.expect(
            d.allowed && d.remaining == 0,
            &format!("a fresh key takes its whole budget at once: {d:?}"),
        );
        d
    }

    /// One check, with the invariants every decision keeps.
    async fn hit(&self, policy: &RatePolicy, key: &str, cost: u32) -> RateDecision {
        let d = match self.limiter.check(policy, key, cost).await {
            Ok(d) => d,
            Err(e) => panic!("{}: check failed: {e}", self.policy.algorithm.as_str()),
        };
        self.expect(
            d.limit == policy.limit,
            &format!("limit is the policy's: {d:?}"),
        );
        self.expect(
            d.remaining <= d.limit,
            &format!("remaining within limit: {d:?}"),
        );
        self.expect(
            d.reset_after <= policy.window * 2,
            &format!("reset within two windows: {d:?}"),
        );
        match (d.allowed, d.retry_after) {
            (true, None) => {}
            (false, Some(r)) if r > Duration::ZERO && r <= policy.window * 2 => {}
            _ => self.expect(
                false,
                &format!("retry_after is set, positive and within two windows exactly when denied: {d:?}"),
            ),
        }
        d
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn expect(&self, ok: bool, what: &str) {
        assert!(ok, "{}: {what}", self.policy.algorithm.as_str());
    }
}

fn policy(name: &'static str, window: Duration, algorithm: RateAlgorithm) -> RatePolicy {
    RatePolicy {
        name,
        limit: LIMIT,
        window,
        algorithm,
    }
}
