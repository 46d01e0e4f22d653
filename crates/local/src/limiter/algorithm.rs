//! The three counting rules as pure functions of a key's state and the current time: no lock,
//! no clock, so each is tested exactly.
//!
//! All time is integer nanoseconds since the limiter's origin, in `u128` so that products such
//! as `limit × window` cannot overflow. Integer arithmetic keeps decisions exact: a float would
//! let a sliding window admit one hit too many at some boundary.

use domain::ports::RateAlgorithm;

/// A policy in the units the rules work in. Both are at least 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    pub limit: u128,
    pub window: u128,
}

/// What one key has used. Windows are aligned to the limiter's origin, the same for every key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Fixed {
        window: u128,
        count: u128,
    },
    Sliding {
        window: u128,
        prev: u128,
        curr: u128,
    },
    /// GCRA: the "theoretical arrival time" at which the bucket is full again, scaled by the
    /// limit (one nanosecond = `limit` units) so that the refill interval `window / limit` is
    /// an exact integer (`window`).
    Bucket {
        tat: u128,
    },
}

impl State {
    pub fn fresh(algorithm: RateAlgorithm) -> Self {
        match algorithm {
            RateAlgorithm::FixedWindow => State::Fixed {
                window: 0,
                count: 0,
            },
            RateAlgorithm::SlidingWindow => State::Sliding {
                window: 0,
                prev: 0,
                curr: 0,
            },
            RateAlgorithm::TokenBucket => State::Bucket { tat: 0 },
        }
    }
}

/// A decision in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    pub allowed: bool,
    /// Hits still allowed after this one.
    pub remaining: u128,
    /// Until the state is the same as a fresh one, which is also when it may be forgotten.
    pub reset_after: u128,
    /// Until one more hit (of this cost, at most the limit) fits; meaningful when denied.
    pub retry_after: u128,
}

/// Applies a hit of `cost` (0 = only look) at `now`. The state changes only when the hit is
/// allowed and costs something; a roll-over to a new window is the same state, written
/// differently.
pub(super) fn check(state: &mut State, p: Params, now: u128, cost: u128) -> Verdict {
    // A peek asks "would one more hit fit?".
    let need = cost.max(1);
    match state {
        State::Fixed { window, count } => fixed(window, count, p, now, cost, need),
        State::Sliding { window, prev, curr } => sliding(window, prev, curr, p, now, cost, need),
        State::Bucket { tat } => bucket(tat, p, now, cost, need),
    }
}

fn fixed(
    window: &mut u128,
    count: &mut u128,
    p: Params,
    now: u128,
    cost: u128,
    need: u128,
) -> Verdict {
    let idx = now / p.window;
    if *window != idx {
        *window = idx;
        *count = 0;
    }
    let allowed = *count + need <= p.limit;
    if allowed {
        *count += cost;
    }
    let until_end = (idx + 1) * p.window - now;
    Verdict {
        allowed,
        remaining: p.limit.saturating_sub(*count),
        reset_after: if *count == 0 { 0 } else { until_end },
        retry_after: until_end,
    }
}

/// Estimates the hits of the last `window` as the current window's count plus the previous
/// window's weighted by how much of it still overlaps. Compared multiplied through by
/// `window`, so the weight is never rounded.
fn sliding(
    window: &mut u128,
    prev: &mut u128,
    curr: &mut u128,
    p: Params,
    now: u128,
    cost: u128,
    need: u128,
) -> Verdict {
    let (w, l) = (p.window, p.limit);
    let idx = now / w;
    if *window + 1 == idx {
        *prev = *curr;
        *curr = 0;
    } else if *window != idx {
        *prev = 0;
        *curr = 0;
    }
    *window = idx;
    let elapsed = now - idx * w;
    let until_end = w - elapsed;
    let weighted_prev = *prev * until_end;
    let allowed = weighted_prev + (*curr + need) * w <= l * w;
    if allowed {
        *curr += cost;
    }
    let reset_after = if *curr > 0 {
        // The current count must first become the previous one, then slide out.
        until_end + w
    } else if *prev > 0 {
        until_end
    } else {
        0
    };
    let n = need.min(l);
    let retry_after = if *curr + n <= l {
        // Fits within this window once the previous one's weight has shrunk enough:
        // prev × (w − x) ≤ (l − curr − n) × w.
        match (l - *curr - n)
            .checked_mul(w)
            .and_then(|v| v.checked_div(*prev))
        {
            Some(room) => w.saturating_sub(room).saturating_sub(elapsed),
            None => 0,
        }
    } else {
        // Needs the next window, where this window's count is the one weighing:
        // curr × (w − y) ≤ (l − n) × w.
        let room = ((l - n) * w).checked_div(*curr).unwrap_or(w);
        until_end + w.saturating_sub(room)
    };
    Verdict {
        allowed,
        remaining: (l * w).saturating_sub(*prev * until_end + *curr * w) / w,
        reset_after,
        retry_after,
    }
}

/// Token bucket as GCRA: one number per key instead of a token count and a refill time.
fn bucket(tat: &mut u128, p: Params, now: u128, cost: u128, need: u128) -> Verdict {
    let (w, l) = (p.window, p.limit);
    let now_s = now * l;
    // In scaled units one token takes `w` to refill and a full bucket is `w × l` of debt.
    let burst = w * l;
    let base = (*tat).max(now_s);
    let allowed = base + need * w - now_s <= burst;
    if allowed && cost > 0 {
        *tat = base + cost * w;
    }
    let debt = (*tat).max(now_s) - now_s;
    let n = need.min(l);
    Verdict {
        allowed,
        remaining: burst.saturating_sub(debt) / w,
        reset_after: debt.div_ceil(l),
        retry_after: (base + n * w).saturating_sub(now_s + burst).div_ceil(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u128 = 1_000_000_000;
    const P: Params = Params {
        limit: 10,
        window: 60 * SEC,
    };

    fn hits(state: &mut State, now: u128, n: u128) -> Verdict {
        let mut last = check(state, P, now, 0);
        for _ in 0..n {
            last = check(state, P, now, 1);
        }
        last
    }

    #[test]
    fn fixed_window_resets_at_the_aligned_boundary() {
        let mut s = State::fresh(RateAlgorithm::FixedWindow);
        let v = hits(&mut s, 50 * SEC, 10);
        assert_eq!((v.allowed, v.remaining, v.reset_after), (true, 0, 10 * SEC));
        let v = check(&mut s, P, 59 * SEC, 1);
        assert_eq!((v.allowed, v.retry_after), (false, SEC));
        let v = check(&mut s, P, 60 * SEC, 1);
        assert_eq!(
            (v.allowed, v.remaining),
            (true, 9),
            "a new window, a new budget"
        );
    }

    #[test]
    fn sliding_window_weighs_the_previous_window() {
        let mut s = State::fresh(RateAlgorithm::SlidingWindow);
        assert!(hits(&mut s, 0, 10).allowed);
        // Half way through the next window, half of the previous 10 still count.
        let v = check(&mut s, P, 90 * SEC, 0);
        assert_eq!((v.allowed, v.remaining), (true, 5));
        let v = hits(&mut s, 90 * SEC, 5);
        assert_eq!((v.allowed, v.remaining), (true, 0));
        let v = check(&mut s, P, 90 * SEC, 1);
        assert!(!v.allowed);
        // prev 10 × (60 − x) + 6 × 60 ≤ 600  ⇒  x ≥ 36 s into the window, 6 s from now.
        assert_eq!(v.retry_after, 6 * SEC);
        assert!(!check(&mut s, P, 96 * SEC - 1, 1).allowed);
        assert!(check(&mut s, P, 96 * SEC, 1).allowed);
    }

    /// `RateLimit-Reset`: nothing counted → 0; only the previous window's hits left → they are
    /// gone when this window ends; hits in this window → they must also slide out of the next.
    #[test]
    fn sliding_window_reset_depends_on_which_window_holds_hits() {
        let mut s = State::fresh(RateAlgorithm::SlidingWindow);
        assert_eq!(check(&mut s, P, 10 * SEC, 0).reset_after, 0);
        hits(&mut s, 10 * SEC, 3);
        let v = check(&mut s, P, 70 * SEC, 0);
        assert_eq!(
            v.reset_after,
            50 * SEC,
            "only the previous window's hits remain"
        );
        let v = check(&mut s, P, 70 * SEC, 1);
        assert_eq!(v.reset_after, 110 * SEC);
    }

    #[test]
    fn sliding_window_retry_can_reach_into_the_next_window() {
        let mut s = State::fresh(RateAlgorithm::SlidingWindow);
        hits(&mut s, 30 * SEC, 10);
        let v = check(&mut s, P, 30 * SEC, 1);
        // This window ends in 30 s; then 10 × (60 − y) + 60 ≤ 600 needs y ≥ 6 s.
        assert_eq!((v.allowed, v.retry_after), (false, 36 * SEC));
        assert_eq!(v.reset_after, 90 * SEC);
        assert!(!check(&mut s, P, 66 * SEC - 1, 1).allowed);
        assert!(check(&mut s, P, 66 * SEC, 1).allowed);
    }

    #[test]
    fn token_bucket_refills_evenly() {
        let mut s = State::fresh(RateAlgorithm::TokenBucket);
        let v = hits(&mut s, 7 * SEC, 10);
        assert_eq!((v.allowed, v.remaining, v.reset_after), (true, 0, 60 * SEC));
        let v = check(&mut s, P, 7 * SEC, 1);
        assert_eq!(
            (v.allowed, v.retry_after),
            (false, 6 * SEC),
            "one token per 6 s"
        );
        let v = check(&mut s, P, 13 * SEC, 0);
        assert_eq!((v.allowed, v.remaining, v.reset_after), (true, 1, 54 * SEC));
        let v = check(&mut s, P, 67 * SEC, 0);
        assert_eq!((v.remaining, v.reset_after), (10, 0), "full after a window");
    }

    #[test]
    fn token_bucket_is_exact_when_the_window_does_not_divide() {
        let p = Params {
            limit: 7,
            window: 60 * SEC,
        };
        let mut s = State::fresh(RateAlgorithm::TokenBucket);
        for _ in 0..7 {
            assert!(check(&mut s, p, 0, 1).allowed);
        }
        // 60 s / 7 = 8.571428571… s, rounded up to the nanosecond.
        let v = check(&mut s, p, 0, 1);
        assert_eq!(v.retry_after, 8_571_428_572);
        assert!(!check(&mut s, p, 8_571_428_571, 1).allowed);
        assert!(check(&mut s, p, 8_571_428_572, 1).allowed);
    }

    #[test]
    fn a_cost_larger_than_the_limit_is_denied_with_a_positive_retry() {
        for algorithm in [
            RateAlgorithm::FixedWindow,
            RateAlgorithm::SlidingWindow,
            RateAlgorithm::TokenBucket,
        ] {
            let mut s = State::fresh(algorithm);
            let v = check(&mut s, P, 5 * SEC, 11);
            assert!(!v.allowed, "{algorithm:?}");
            assert_eq!(s, State::fresh(algorithm), "{algorithm:?} recorded nothing");
        }
    }
}
