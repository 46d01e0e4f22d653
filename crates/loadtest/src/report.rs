//! The figures of a run: a per-step table on stdout and the same numbers as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::{class_of, Phase, StepStats};
use crate::threshold::ThresholdResult;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub name: String,
    pub request: String,
    pub phase: Phase,
    pub count: u64,
    pub ok: u64,
    /// Statuses that are normal answers under concurrency (409 on follow, 404 on unfollow).
    pub expected: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub rps: f64,
    /// Every outcome by status or transport error kind.
    pub outcomes: BTreeMap<String, u64>,
    /// Errors by status (or kind), and the same grouped by class (`5xx`, `timeout`).
    pub errors_by_status: BTreeMap<String, u64>,
    pub errors_by_class: BTreeMap<String, u64>,
    pub latency: Latency,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FreshnessReport {
    /// New posts whose appearance in a follower's feed was watched.
    pub sampled: u64,
    pub seen: u64,
    /// Not in the follower's first page within the bound.
    pub never_seen: u64,
    /// Still being watched when the run ended: neither seen nor proven unseen.
    pub cut_off: u64,
    pub bound_ms: f64,
    /// From the 201 of the post to the first feed response that holds it.
    pub latency: Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub url: String,
    pub stages: String,
    /// Virtual users (closed scenarios) or requests per second (`mix`).
    pub stage_unit: String,
    pub duration_s: f64,
    /// Load steps only (not setup or probes).
    pub total: StepReport,
    pub steps: Vec<StepReport>,
    /// `mix`: arrivals not sent because the in-flight cap was reached (counted as errors).
    pub dropped: u64,
    /// Requests or virtual users still running at the hard cap, abandoned.
    pub abandoned: u64,
    pub freshness: Option<FreshnessReport>,
    pub thresholds: Vec<ThresholdResult>,
}

pub fn step_report(s: &StepStats, elapsed: Duration) -> StepReport {
    let mut by_class = BTreeMap::new();
    for (k, v) in &s.error_outcomes {
        *by_class.entry(class_of(k)).or_default() += v;
    }
    StepReport {
        name: s.step.name.to_string(),
        request: s.step.request.to_string(),
        phase: s.step.phase,
        count: s.count,
        ok: s.count - s.errors - s.expected,
        expected: s.expected,
        errors: s.errors,
        error_rate: rate(s.errors, s.count),
        rps: s.count as f64 / elapsed.as_secs_f64().max(1e-9),
        outcomes: s.outcomes.clone(),
        errors_by_status: s.error_outcomes.clone(),
        errors_by_class: by_class,
        latency: Latency::of(&s.hist),
    }
}

fn rate(errors: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        errors as f64 / count as f64
    }
}

/// The load steps summed into one row; `dropped` arrivals count as errors there.
pub fn total_report(steps: &[StepStats], dropped: u64, elapsed: Duration) -> StepReport {
    let mut total = StepStats::new(crate::stats::Step::load("total", "all load steps"));
    for s in steps.iter().filter(|s| s.step.phase == Phase::Load) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = total.hist.add(&s.hist);
        total.count += s.count;
        total.errors += s.errors;
        total.expected += s.expected;
        for (k, v) in &s.outcomes {
            *total.outcomes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &s.error_outcomes {
            *total.error_outcomes.entry(k.clone()).or_default() += v;
        }
    }
    if dropped > 0 {
        total.count += dropped;
        total.errors += dropped;
        total.outcomes.insert("dropped".into(), dropped);
        total.error_outcomes.insert("dropped".into(), dropped);
    }
    step_report(&total, elapsed)
}

fn errors_cell(r: &StepReport) -> String {
    if r.errors_by_status.is_empty() {
        return "-".into();
    }
    r.errors_by_status
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(out: &mut String, r: &StepReport) {
    let l = &r.latency;
    let expected = if r.expected > 0 {
        let codes: Vec<String> = r
            .outcomes
            .iter()
            .filter(|(k, _)| !r.errors_by_status.contains_key(*k))
            .map(|(k, v)| format!("{k}×{v}"))
            .collect();
        format!(" ({})", codes.join(" "))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{:<16} {:<28} {:>8} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}{}",
        r.name,
        r.request,
        r.count,
        r.errors,
        l.p50_ms,
        l.p90_ms,
        l.p95_ms,
        l.p99_ms,
        l.max_ms,
        errors_cell(r),
        expected
    );
}

impl Report {
    /// The human table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{} on {}: {:.1}s, stages {} ({})",
            self.scenario, self.url, self.duration_s, self.stages, self.stage_unit
        );
        let _ = writeln!(
            out,
            "{:<16} {:<28} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}  errors by status",
            "step", "request", "count", "errors", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms"
        );
        for phase in [Phase::Setup, Phase::Load, Phase::Probe] {
            for s in self.steps.iter().filter(|s| s.phase == phase) {
                row(&mut out, s);
            }
        }
        row(&mut out, &self.total);
        let _ = writeln!(
            out,
            "total: {:.1} req/s, error rate {:.3}%{}{}",
            self.total.rps,
            self.total.error_rate * 100.0,
            if self.dropped > 0 {
                format!(", {} arrivals dropped at the in-flight cap", self.dropped)
            } else {
                String::new()
            },
            if self.abandoned > 0 {
                format!(", {} abandoned at the hard cap", self.abandoned)
            } else {
                String::new()
            }
        );
        if let Some(f) = &self.freshness {
            let _ = writeln!(
                out,
                "feed freshness: {} sampled, {} seen (p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms), \
                 {} never seen within {:.0} ms, {} cut off by the end",
                f.sampled,
                f.seen,
                f.latency.p50_ms,
                f.latency.p99_ms,
                f.latency.max_ms,
                f.never_seen,
                f.bound_ms,
                f.cut_off
            );
        }
        for t in &self.thresholds {
            let _ = writeln!(
                out,
                "threshold {}: {} (actual {})",
                t.threshold,
                if t.passed { "ok" } else { "BROKEN" },
                t.actual
            );
        }
        out
    }

    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }
}
