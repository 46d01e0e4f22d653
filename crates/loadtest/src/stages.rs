//! k6-style stages: `30s:100,1m:500,30s:0`, each a linear ramp from the previous target (the
//! first from 0) to its own over its duration. The target is a number of virtual users for the
//! closed scenarios and an arrival rate (requests per second) for `mix`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stages(Vec<Stage>);

impl Stages {
    pub fn new(stages: Vec<Stage>) -> Result<Self, String> {
        if stages.is_empty() {
            return Err("no stages".into());
        }
        let s = Stages(stages);
        if s.total().is_zero() {
            return Err("the stages last 0s in all".into());
        }
        Ok(s)
    }

    /// A constant level for `duration`: a 0s jump to it, then a hold.
    pub fn constant(target: f64, duration: Duration) -> Result<Self, String> {
        Stages::new(vec![
            Stage {
                duration: Duration::ZERO,
                target,
            },
            Stage { duration, target },
        ])
    }

    pub fn list(&self) -> &[Stage] {
        &self.0
    }

    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }

    pub fn max_target(&self) -> f64 {
        self.0.iter().map(|s| s.target).fold(0.0, f64::max)
    }

    /// The target at `t` after the start (the last target after the end).
    pub fn target_at(&self, t: Duration) -> f64 {
        let mut from = 0.0;
        let mut start = Duration::ZERO;
        for s in &self.0 {
            let end = start + s.duration;
            if t < end {
                let frac = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return from + (s.target - from) * frac;
            }
            from = s.target;
            start = end;
        }
        from
    }

    /// ∫₀ᵗ target: for an arrival rate, how many arrivals are due by `t`.
    pub fn integral(&self, t: Duration) -> f64 {
        let mut from = 0.0;
        let mut start = Duration::ZERO;
        let mut sum = 0.0;
        for s in &self.0 {
            let end = start + s.duration;
            let upto = t.min(end);
            if upto > start {
                // A 0s stage never gets here (upto > start needs end > start).
                let dt = (upto - start).as_secs_f64();
                let at_upto = from + (s.target - from) * dt / s.duration.as_secs_f64();
                sum += (from + at_upto) / 2.0 * dt;
            }
            if t <= end {
                return sum;
            }
            from = s.target;
            start = end;
        }
        sum
    }
}

impl FromStr for Stages {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut stages = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (d, t) = item
                .split_once(':')
                .ok_or_else(|| format!("stage {item:?} is not DURATION:TARGET (e.g. 30s:100)"))?;
            let duration = parse_duration(d).map_err(|e| format!("stage {item:?}: {e}"))?;
            let target: f64 = t
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("stage {item:?}: target {t:?} is not a number >= 0"))?;
            stages.push(Stage { duration, target });
        }
        Stages::new(stages)
    }
}

impl fmt::Display for Stages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("{}:{}", format_duration(s.duration), s.target))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `500ms`, `30s`, `1m`, `1m30s`, `2h`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration (e.g. 500ms, 30s, 1m30s, 2h)");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else if ms % 60_000 != 0 || ms == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m", ms / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn parses_k6_style_stages() {
        let s: Stages = "30s:100, 1m:500,30s:0".parse().unwrap();
        assert_eq!(s.list().len(), 3);
        assert_eq!(s.total(), secs(120.0));
        assert_eq!(s.max_target(), 500.0);
        assert_eq!(s.to_string(), "30s:100,1m:500,30s:0");
    }

    #[test]
    fn ramps_linearly_from_zero() {
        let s: Stages = "10s:100,10s:100,10s:0".parse().unwrap();
        assert_eq!(s.target_at(secs(0.0)), 0.0);
        assert_eq!(s.target_at(secs(5.0)), 50.0);
        assert_eq!(s.target_at(secs(15.0)), 100.0);
        assert_eq!(s.target_at(secs(25.0)), 50.0);
        assert_eq!(s.target_at(secs(99.0)), 0.0);
        // 10 s ramp to 100/s is 500 arrivals, then 1,000, then 500.
        assert!((s.integral(secs(10.0)) - 500.0).abs() < 1e-6);
        assert!((s.integral(secs(20.0)) - 1500.0).abs() < 1e-6);
        assert!((s.integral(secs(30.0)) - 2000.0).abs() < 1e-6);
        assert!((s.integral(secs(5.0)) - 125.0).abs() < 1e-6);
    }

    #[test]
    fn a_zero_length_stage_is_a_jump() {
        let s = Stages::constant(40.0, secs(2.0)).unwrap();
        assert_eq!(s.target_at(secs(0.0)), 40.0);
        assert!((s.integral(secs(1.0)) - 40.0).abs() < 1e-6);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), secs(0.5));
        assert_eq!(parse_duration("1m30s").unwrap(), secs(90.0));
        assert_eq!(parse_duration("2").unwrap(), secs(2.0));
        assert_eq!(parse_duration("2h").unwrap(), secs(7200.0));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn bad_stages_are_refused() {
        assert!("30s".parse::<Stages>().is_err());
        assert!("30s:-1".parse::<Stages>().is_err());
        assert!("0s:10".parse::<Stages>().is_err());
        assert!("".parse::<Stages>().is_err());
    }
}
