//! Pass/fail criteria, k6-style: `p95<50ms`, `errors<0.1%`, or per step `feed:p99<50ms`;
//! `freshness:p99<2s` and `freshness:errors<1%` (never seen) apply to `mix`'s freshness samples.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::report::{Latency, Report};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    P50,
    P90,
    P95,
    P99,
    Max,
    Errors,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub text: String,
    /// None: the load total.
    pub step: Option<String>,
    pub metric: Metric,
    pub inclusive: bool,
    /// Milliseconds for latencies, a fraction (0.001 = 0.1%) for errors.
    pub limit: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThresholdResult {
    pub threshold: String,
    pub passed: bool,
    pub actual: String,
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = |why: &str| format!("threshold {text:?}: {why}");
        let (step, expr) = match text.split_once(':') {
            Some((s, e)) => (Some(s.trim().to_string()), e.trim()),
            None => (None, text),
        };
        let (metric_s, rest, inclusive) = if let Some((m, r)) = expr.split_once("<=") {
            (m, r, true)
        } else if let Some((m, r)) = expr.split_once('<') {
            (m, r, false)
        } else {
            return Err(bad("expected METRIC<VALUE, e.g. p95<50ms or errors<0.1%"));
        };
        let metric = match metric_s.trim() {
            "p50" => Metric::P50,
            "p90" => Metric::P90,
            "p95" => Metric::P95,
            "p99" => Metric::P99,
            "max" => Metric::Max,
            "errors" => Metric::Errors,
            m => {
                return Err(bad(&format!(
                    "unknown metric {m:?} (p50, p90, p95, p99, max, errors)"
                )))
            }
        };
        let rest = rest.trim();
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let limit = if metric == Metric::Errors {
            let pct = rest
                .strip_suffix('%')
                .and_then(number)
                .ok_or_else(|| bad("an error rate is a percentage, e.g. errors<0.1%"))?;
            pct / 100.0
        } else {
            let (num, factor) = if let Some(n) = rest.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = rest.strip_suffix("us") {
                (n, 0.001)
            } else if let Some(n) = rest.strip_suffix('s') {
                (n, 1000.0)
            } else {
                return Err(bad("a latency needs a unit: us, ms or s (e.g. p95<50ms)"));
            };
            number(num).ok_or_else(|| bad("the limit is not a number >= 0"))? * factor
        };
        Ok(Threshold {
            text: text.to_string(),
            step,
            metric,
            inclusive,
            limit,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn pick(l: &Latency, m: Metric) -> f64 {
    match m {
        Metric::P50 => l.p50_ms,
        Metric::P90 => l.p90_ms,
        Metric::P95 => l.p95_ms,
        Metric::P99 => l.p99_ms,
        Metric::Max => l.max_ms,
        Metric::Errors => 0.0,
    }
}

impl Threshold {
    /// Checks the step names against the scenario's before any traffic is sent.
    pub fn validate(&self, steps: &[&str], has_freshness: bool) -> Result<(), String> {
        match &self.step {
            Some(s) if s == "freshness" && has_freshness => Ok(()),
            Some(s) if !steps.contains(&s.as_str()) => Err(format!(
                "threshold {:?}: this scenario has no step {s:?} (steps: {}{})",
                self.text,
                steps.join(", "),
                if has_freshness { ", freshness" } else { "" }
            )),
            _ => Ok(()),
        }
    }

    pub fn evaluate(&self, report: &Report) -> ThresholdResult {
        let (latency, errors, count) = match self.step.as_deref() {
            None => (
                &report.total.latency,
                report.total.errors,
                report.total.count,
            ),
            Some("freshness") => match &report.freshness {
                Some(f) => (&f.latency, f.never_seen, f.sampled - f.cut_off),
                None => (&report.total.latency, 0, 0),
            },
            Some(name) => match report.step(name) {
                Some(s) => (&s.latency, s.errors, s.count),
                None => (&report.total.latency, 0, 0),
            },
        };
        let (actual, shown) = if self.metric == Metric::Errors {
            let r = if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            };
            (r, format!("{:.3}% ({errors} of {count})", r * 100.0))
        } else {
            let v = pick(latency, self.metric);
            (v, format!("{v:.2}ms"))
        };
        let passed = if self.inclusive {
            actual <= self.limit
        } else {
            actual < self.limit
        };
        ThresholdResult {
            threshold: self.text.clone(),
            passed,
            actual: shown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_and_error_thresholds() {
        let t: Threshold = "p95<50ms".parse().unwrap();
        assert_eq!(
            (t.metric, t.limit, t.step.as_deref()),
            (Metric::P95, 50.0, None)
        );
        let t: Threshold = "feed:p99<=1.5s".parse().unwrap();
        assert_eq!(t.step.as_deref(), Some("feed"));
        assert!(t.inclusive);
        assert_eq!(t.limit, 1500.0);
        let t: Threshold = "errors<0.1%".parse().unwrap();
        assert!((t.limit - 0.001).abs() < 1e-12);
        let t: Threshold = "max<800us".parse().unwrap();
        assert!((t.limit - 0.8).abs() < 1e-12);
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "p95>50ms",
            "p42<5ms",
            "p95<50",
            "errors<0.1",
            "p95<-1ms",
            "p95<xms",
        ] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_steps_are_refused() {
        let t: Threshold = "nope:p95<5ms".parse().unwrap();
        assert!(t.validate(&["feed"], true).is_err());
        let t: Threshold = "freshness:p99<2s".parse().unwrap();
        assert!(t.validate(&["feed"], true).is_ok());
        assert!(t.validate(&["feed"], false).is_err());
    }
}
