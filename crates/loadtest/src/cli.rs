//! Flags, and the checks done before any request is sent.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use reqwest::Url;

use crate::stages::{parse_duration, Stages};
use crate::threshold::Threshold;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Per virtual user: health, two signups, a login, then posts, a follow, timelines, profile
    /// updates, with 0.5–2.5 s think time (the original project's k6 journey).
    Journey,
    /// GET /health, sleep 1 s (the seed's k6-basic test).
    Health,
    /// Log in, GET /posts?limit=20 with the token, sleep 1 s (the seed's k6-auth test).
    Auth,
    /// GET /posts?limit=20 in a tight loop (the seed's k6-stress test).
    Stress,
    /// A realistic read/write mix at a constant arrival rate on a seeded database.
    Mix,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Journey => "journey",
            Scenario::Health => "health",
            Scenario::Auth => "auth",
            Scenario::Stress => "stress",
            Scenario::Mix => "mix",
        }
    }

    /// The seed README's k6 stages for its three tests; a ramp-hold-ramp for the others.
    pub fn default_stages(self) -> &'static str {
        match self {
            Scenario::Health => "30s:20,1m:50,30s:0",
            Scenario::Auth => "1m:10,2m:20,1m:0",
            Scenario::Stress => "2m:100,5m:100,2m:200,5m:200,2m:0",
            Scenario::Journey => "30s:100,1m:100,30s:0",
            Scenario::Mix => "30s:100,1m:100",
        }
    }

    pub fn is_open(self) -> bool {
        self == Scenario::Mix
    }
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "socialscale-load",
    version,
    about = "Load tests a SocialScale server: the seed's k6 scenarios (closed model) and a \
             realistic mix at a constant arrival rate (open model)",
    after_help = "Start the server with TRUSTED_PROXIES=127.0.0.1 so that each virtual user's \
                  X-Forwarded-For counts as its own client address for rate limits.\n\
                  Default stages: health 30s:20,1m:50,30s:0; auth 1m:10,2m:20,1m:0; stress \
                  2m:100,5m:100,2m:200,5m:200,2m:0 (the seed's k6 tests); journey \
                  30s:100,1m:100,30s:0; mix 30s:100,1m:100 (req/s).\n\
                  Exit status: 0 ok, 1 a threshold broke, 2 bad flags or refused target or \
                  failed setup."
)]
pub struct Args {
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// Base URL of the server. Only loopback hosts unless --allow-remote.
    #[arg(long, default_value = "http://127.0.0.1:3333")]
    pub url: String,

    /// Allow a target that is not 127.0.0.0/8, ::1 or localhost.
    #[arg(long)]
    pub allow_remote: bool,

    /// DURATION:TARGET,... linear ramps from 0; the target is VUs, or req/s for mix
    /// [default: the scenario's, listed below]
    #[arg(long)]
    pub stages: Option<Stages>,

    /// Instead of --stages: hold --vus (or --rate for mix) for this long.
    #[arg(long, value_parser = duration_arg)]
    pub duration: Option<Duration>,

    /// Instead of --stages: a constant number of virtual users (closed scenarios).
    #[arg(long)]
    pub vus: Option<u32>,

    /// Instead of --stages: a constant arrival rate in requests per second (mix).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Pass/fail criterion, repeatable: p50|p90|p95|p99|max<N(us|ms|s), errors<N%, optionally
    /// STEP: in front (feed:p99<50ms; freshness:p99<2s for mix).
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    pub thresholds: Vec<Threshold>,

    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Do not send X-Forwarded-For (every virtual user is then the loopback address).
    #[arg(long)]
    pub no_forwarded_for: bool,

    /// Per-request timeout; a request that takes longer counts as an error.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub timeout: Duration,

    /// After the stages end, how long in-flight work may finish before it is abandoned.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub drain: Duration,

    /// No live progress line on stderr.
    #[arg(long)]
    pub quiet: bool,

    /// journey: sign every virtual user's two accounts up before the stages
    /// (--login-concurrency at a time, within --setup-timeout), so the load itself has no
    /// signup or login: the same journey without password hashing, to compare the other
    /// steps' latency with.
    #[arg(long)]
    pub no_auth_steps: bool,

    /// mix: the --seed the database was seeded with (usernames are u{i}_s{SEED % 100000}).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// mix: how many users the database was seeded with (required for mix).
    #[arg(long)]
    pub seed_users: Option<u64>,

    /// mix: how many seeded accounts to log in and use (picked at random).
    #[arg(long, default_value_t = 1000)]
    pub pool: usize,

    /// mix: logins at once while preparing the pool (each costs an argon2 hash); journey
    /// --no-auth-steps: signups at once before the stages.
    #[arg(long, default_value_t = 4)]
    pub login_concurrency: usize,

    /// mix: bound on preparing the pool; accounts not logged in by then are left out.
    /// journey --no-auth-steps: bound on signing the accounts up.
    #[arg(long, default_value = "3m", value_parser = duration_arg)]
    pub setup_timeout: Duration,

    /// mix: requests in flight at once; an arrival beyond it is dropped and counted an error
    /// (each in-flight request holds a socket: keep it under `ulimit -n`).
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,

    /// mix: watch one created post in N for feed freshness.
    #[arg(long, default_value_t = 20)]
    pub freshness_every: u64,

    /// mix: at most this many freshness samples per run.
    #[arg(long, default_value_t = 200)]
    pub freshness_samples: u64,

    /// mix: how long a follower's feed is polled for a new post before it counts as never seen.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub freshness_timeout: Duration,

    /// mix: the follower's feed is polled this often while watching.
    #[arg(long, default_value = "75ms", value_parser = duration_arg)]
    pub freshness_interval: Duration,
}

/// The checked plan of a run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub args: Args,
    pub base: Url,
    pub stages: Stages,
    pub seed_users: u64,
}

impl Args {
    pub fn plan(self) -> Result<Plan, String> {
        let base = check_url(&self.url, self.allow_remote)?;
        let stages = self.resolve_stages()?;
        let seed_users =
            match (self.scenario, self.seed_users) {
                (Scenario::Mix, None) => return Err(
                    "mix needs --seed-users N: the number of users the database was seeded with"
                        .into(),
                ),
                (Scenario::Mix, Some(0)) => return Err("--seed-users must be at least 1".into()),
                (_, n) => n.unwrap_or(0),
            };
        if self.no_auth_steps && self.scenario != Scenario::Journey {
            return Err("--no-auth-steps is for the journey scenario only".into());
        }
        if (self.scenario == Scenario::Mix || self.no_auth_steps) && self.login_concurrency == 0 {
            return Err("--login-concurrency must be at least 1".into());
        }
        if self.scenario == Scenario::Mix && (self.pool == 0 || self.login_concurrency == 0) {
            return Err("--pool and --login-concurrency must be at least 1".into());
        }
        if self.freshness_every == 0 || self.freshness_interval.is_zero() {
            return Err("--freshness-every and --freshness-interval must be above 0".into());
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be above 0".into());
        }
        Ok(Plan {
            args: self,
            base,
            stages,
            seed_users,
        })
    }

    fn resolve_stages(&self) -> Result<Stages, String> {
        let open = self.scenario.is_open();
        if self.vus.is_some() && open {
            return Err("mix is driven by an arrival rate: use --rate, not --vus".into());
        }
        if self.rate.is_some() && !open {
            return Err(format!(
                "{} is driven by virtual users: use --vus, not --rate",
                self.scenario.name()
            ));
        }
        let level = self.vus.map(f64::from).or(self.rate);
        if let Some(stages) = &self.stages {
            if self.duration.is_some() || level.is_some() {
                return Err(
                    "give either --stages or --duration with --vus/--rate, not both".into(),
                );
            }
            return Ok(stages.clone());
        }
        if self.duration.is_some() || level.is_some() {
            let level = level.unwrap_or(if open { 100.0 } else { 10.0 });
            if !level.is_finite() || level < 0.0 {
                return Err("--rate must be a number >= 0".into());
            }
            let duration = self.duration.unwrap_or(Duration::from_secs(60));
            return Stages::constant(level, duration).map_err(|e| format!("--duration: {e}"));
        }
        self.scenario
            .default_stages()
            .parse()
            .map_err(|e| format!("default stages: {e}"))
    }
}

/// Refuses anything but loopback unless told otherwise: this tool sends real load.
pub fn check_url(url: &str, allow_remote: bool) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("--url {url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("--url {url:?}: only http and https are supported"));
    }
    // The URL parser has already normalised IPv4 forms such as 127.1 or 0x7f.0.0.1.
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("--url {url:?} has no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        return Err(format!(
            "refusing to load {url}: not a loopback address (127.0.0.0/8, ::1, localhost); \
             pass --allow-remote if you really mean it"
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Plan, String> {
        let mut argv = vec!["socialscale-load"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv)
            .map_err(|e| e.to_string())
            .and_then(Args::plan)
    }

    #[test]
    fn only_loopback_by_default() {
        for ok in [
            "http://127.0.0.1:3333",
            "http://localhost:1",
            "http://[::1]:80",
            "http://127.9.9.9",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://192.0.2.1:3333",
            "http://10.0.0.1",
            "http://example.com",
            "http://[2001:db8::1]",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
            assert!(check_url(bad, true).is_ok(), "{bad}");
        }
        assert!(check_url("ftp://127.0.0.1", false).is_err());
    }

    #[test]
    fn help_lists_the_default_stages() {
        let help = <Args as clap::CommandFactory>::command()
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        for s in [
            Scenario::Journey,
            Scenario::Health,
            Scenario::Auth,
            Scenario::Stress,
            Scenario::Mix,
        ] {
            assert!(
                help.contains(&format!("{} {}", s.name(), s.default_stages())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn stage_sources() {
        let p = args(&["health"]).unwrap();
        assert_eq!(p.stages.to_string(), "30s:20,1m:50,30s:0");
        let p = args(&["stress", "--vus", "7", "--duration", "5s"]).unwrap();
        assert_eq!(p.stages.max_target(), 7.0);
        assert_eq!(p.stages.total(), Duration::from_secs(5));
        assert!(args(&["stress", "--rate", "7"]).is_err());
        assert!(args(&["health", "--stages", "1s:1", "--vus", "2"]).is_err());
        assert!(
            args(&["mix", "--rate", "5"]).is_err(),
            "mix without --seed-users"
        );
        assert!(args(&["mix", "--rate", "5", "--seed-users", "10"]).is_ok());
    }

    #[test]
    fn no_auth_steps_is_for_the_journey() {
        assert!(args(&["journey", "--no-auth-steps"]).is_ok_and(|p| p.args.no_auth_steps));
        assert!(args(&["stress", "--no-auth-steps"]).is_err());
        assert!(args(&["journey", "--no-auth-steps", "--login-concurrency", "0"]).is_err());
    }
}
