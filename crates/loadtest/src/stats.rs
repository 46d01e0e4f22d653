//! What every request did, per step: an HDR histogram of latencies and counts of outcomes.
//! One mutex for all steps: it is held for a few hundred nanoseconds per request, far below
//! what even 10,000 virtual users on one machine can contend for.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are kept in microseconds, from 1 µs to one hour, to 3 significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy new_with_bounds' rules (low >= 1, high >= 2 * low,
    // sigfig <= 5), so it cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant, valid histogram bounds")
}

/// Where a step belongs: the load itself (in totals, thresholds and the progress line),
/// preparing it (logins of the pool, per-user signups), or probing it (freshness polls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Load,
    Setup,
    Probe,
}

/// One step of a scenario: a name for reports and thresholds and the request it makes.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub name: &'static str,
    pub request: &'static str,
    pub phase: Phase,
}

impl Step {
    pub const fn load(name: &'static str, request: &'static str) -> Self {
        Step {
            name,
            request,
            phase: Phase::Load,
        }
    }
    pub const fn setup(name: &'static str, request: &'static str) -> Self {
        Step {
            name,
            request,
            phase: Phase::Setup,
        }
    }
    pub const fn probe(name: &'static str, request: &'static str) -> Self {
        Step {
            name,
            request,
            phase: Phase::Probe,
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// The status the step wants.
    Ok(u16),
    /// A status that is a normal answer under concurrency, not an error: a follow that a racing
    /// request made first (409), an unfollow of a follow already gone (404).
    Expected(u16),
    /// Any other status.
    Unexpected(u16),
    /// No response: `timeout`, `connect` or `request`.
    Transport(&'static str),
}

#[derive(Clone)]
pub struct StepStats {
    pub step: Step,
    pub hist: Histogram<u64>,
    pub count: u64,
    pub errors: u64,
    pub expected: u64,
    /// Every outcome by status ("200", "409") or transport error kind ("timeout").
    pub outcomes: BTreeMap<String, u64>,
    /// Errors only, by status or kind.
    pub error_outcomes: BTreeMap<String, u64>,
}

impl StepStats {
    pub(crate) fn new(step: Step) -> Self {
        StepStats {
            step,
            hist: histogram(),
            count: 0,
            errors: 0,
            expected: 0,
            outcomes: BTreeMap::new(),
            error_outcomes: BTreeMap::new(),
        }
    }
}

/// Counts since the progress line last looked.
pub struct Window {
    pub hist: Histogram<u64>,
    pub count: u64,
    pub errors: u64,
}

struct Inner {
    steps: Vec<StepStats>,
    window: Window,
    total_count: u64,
    total_errors: u64,
    /// Open model only: arrivals not launched because the in-flight cap was reached.
    dropped: u64,
}

pub struct Stats {
    inner: Mutex<Inner>,
}

impl Stats {
    pub fn new(steps: &[Step]) -> Self {
        Stats {
            inner: Mutex::new(Inner {
                steps: steps.iter().copied().map(StepStats::new).collect(),
                window: Window {
                    hist: histogram(),
                    count: 0,
                    errors: 0,
                },
                total_count: 0,
                total_errors: 0,
                dropped: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counters, not broken invariants: keep counting.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn record(&self, step: &Step, latency: Duration, outcome: Outcome) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_MICROS)
            .max(1);
        let (key, is_error, is_expected, has_latency) = match outcome {
            Outcome::Ok(s) => (s.to_string(), false, false, true),
            Outcome::Expected(s) => (s.to_string(), false, true, true),
            Outcome::Unexpected(s) => (s.to_string(), true, false, true),
            Outcome::Transport(kind) => (kind.to_string(), true, false, false),
        };
        let mut inner = self.lock();
        let Some(stats) = inner.steps.iter_mut().find(|s| s.step.name == step.name) else {
            return;
        };
        stats.count += 1;
        // A request that got no response has no latency to speak of (a refused connect takes
        // microseconds, a timeout exactly the timeout): it is counted, not timed.
        if has_latency {
            stats.hist.saturating_record(micros);
        }
        if is_error {
            stats.errors += 1;
            *stats.error_outcomes.entry(key.clone()).or_default() += 1;
        }
        if is_expected {
            stats.expected += 1;
        }
        *stats.outcomes.entry(key).or_default() += 1;
        if step.phase == Phase::Load {
            inner.total_count += 1;
            inner.window.count += 1;
            if is_error {
                inner.total_errors += 1;
                inner.window.errors += 1;
            }
            if has_latency {
                inner.window.hist.saturating_record(micros);
            }
        }
    }

    pub fn record_dropped(&self) {
        self.lock().dropped += 1;
    }

    /// The window since the last call, and the running totals (count, errors, dropped).
    pub fn take_window(&self) -> (Window, u64, u64, u64) {
        let mut inner = self.lock();
        let fresh = Window {
            hist: histogram(),
            count: 0,
            errors: 0,
        };
        let w = std::mem::replace(&mut inner.window, fresh);
        (w, inner.total_count, inner.total_errors, inner.dropped)
    }

    pub fn snapshot(&self) -> (Vec<StepStats>, u64) {
        let inner = self.lock();
        (inner.steps.clone(), inner.dropped)
    }
}

/// `200` → `2xx`; a transport kind stays itself.
pub fn class_of(outcome: &str) -> String {
    match outcome.parse::<u16>() {
        Ok(s) => format!("{}xx", s / 100),
        Err(_) => outcome.to_string(),
    }
}
