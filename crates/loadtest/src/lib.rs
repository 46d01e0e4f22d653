//! `socialscale-load`: the load tool of SocialScale.
//!
//! Scenarios: `journey` (the original project's k6 user journey), `health`, `auth` and
//! `stress` (the seed README's k6-basic, k6-auth and k6-stress tests, with their stages as
//! defaults), and `mix` (a realistic read/write mix on a seeded database at a constant arrival
//! rate, with a feed-freshness measurement). k6-style `--stages` and `--threshold`, a live
//! progress line on stderr, a per-step table and `--json`.
//!
//! # Why reqwest + hdrhistogram and not goose
//!
//! Goose (the well-kept Rust load-testing framework, after Locust) was the first choice and is
//! not used, for two reasons:
//!
//! - **It is a closed model.** Each `GooseUser` runs its transactions one after another and
//!   waits for each response before sending the next request; `--throttle-requests` is a
//!   leaky bucket that only *caps* the request rate across users (a user blocks until a token
//!   is free), it never launches requests that are due while responses are slow. `mix` must
//!   be an open model, k6's `ramping-arrival-rate`: arrivals are launched on schedule however
//!   slow the server is, so a slow server cannot hide its latency by slowing the client down
//!   (coordinated omission). Goose's answer to that, `--co-mitigation`, is documented as
//!   experimental and off by default, and it *backfills* synthetic samples for requests that
//!   were never sent, based on the user's average or min/max cadence: an estimate of the
//!   latency the server would have shown, not a measurement of it.
//! - **`mix` needs coordination across users.** Feed freshness is measured by one account
//!   writing a post and another account (a follower) polling its feed for that exact post id,
//!   and follows/unfollows use ids learned from other users' timeline reads. Goose's users are
//!   independent state machines with per-user session data; sharing a post id with a watcher
//!   and timing it from the writer's 201 would be built beside the framework anyway.
//!
//! So the tool is tokio tasks (one per virtual user for the closed scenarios, one per arrival
//! for `mix`), reqwest (rustls) with one shared connection pool and a per-request timeout, and
//! an HDR histogram per step, microsecond resolution to an hour, three significant digits.
//! In `mix` a request's latency is timed from its *scheduled* arrival, so lateness of the tool
//! itself shows up in the figures rather than disappearing.
//!
//! # Safety rails
//!
//! Only loopback targets (127.0.0.0/8, `::1`, `localhost`) unless `--allow-remote`, refused
//! before any connection. Every run is bounded: the stages' sum, then `--drain` (default 30 s)
//! for in-flight work, after which it is abandoned; `mix`'s preparation is bounded by
//! `--setup-timeout`. Each virtual user (or pool account) sends its own `X-Forwarded-For`
//! (10.0.0.1, 10.0.0.2, …, a header value only); the server believes it only from a trusted
//! proxy, so start it with `TRUSTED_PROXIES=127.0.0.1` for rate limits to apply per simulated
//! client rather than to the one loopback address.

// `u64::is_multiple_of` is Rust 1.87; the workspace promises 1.85.
#![allow(clippy::manual_is_multiple_of)]

pub mod cli;
pub mod client;
pub mod report;
pub mod scenarios;
pub mod stages;
pub mod stats;
pub mod threshold;

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use cli::{Args, Scenario};
pub use report::Report;

use client::Http;
use scenarios::{journey, mix, run_closed, simple, Shared};
use stats::{Stats, Step};

pub fn steps_of(scenario: Scenario) -> &'static [Step] {
    match scenario {
        Scenario::Journey => journey::STEPS,
        Scenario::Health => simple::HEALTH_STEPS,
        Scenario::Auth => simple::AUTH_STEPS,
        Scenario::Stress => simple::STRESS_STEPS,
        Scenario::Mix => mix::STEPS,
    }
}

/// Runs one load test to its end and returns its figures (thresholds evaluated, `--json`
/// written). An `Err` is a refusal or a failed preparation: one line to show as it is.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    let plan = args.plan().map_err(anyhow::Error::msg)?;
    let a = &plan.args;
    let steps = steps_of(a.scenario);
    let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
    for t in &a.thresholds {
        t.validate(&names, a.scenario.is_open())
            .map_err(anyhow::Error::msg)?;
    }
    let stats = Arc::new(Stats::new(steps));
    let http = Arc::new(Http::new(
        &plan.base,
        a.timeout,
        !a.no_forwarded_for,
        Arc::clone(&stats),
    )?);
    let shared = Arc::new(Shared::new(http));
    let unit = if a.scenario.is_open() { "req/s" } else { "VUs" };
    if !a.quiet {
        eprintln!(
            "{} on {}: stages {} ({unit}), at most {} + {} drain",
            a.scenario.name(),
            plan.base,
            plan.stages,
            stages::format_duration(plan.stages.total()),
            stages::format_duration(a.drain),
        );
    }
    let prepared = match a.scenario {
        Scenario::Mix => Some(mix::prepare(&plan, &shared).await?),
        _ => None,
    };
    let accounts = match a.scenario {
        Scenario::Journey if a.no_auth_steps => Some(journey::prepare(&plan, &shared).await?),
        _ => None,
    };
    let started = Instant::now();
    let progress = CancellationToken::new();
    let progress_task = (!a.quiet).then(|| {
        tokio::spawn(show_progress(
            Arc::clone(&stats),
            Arc::clone(&shared),
            plan.stages.total(),
            unit,
            progress.clone(),
        ))
    });
    let s = Arc::clone(&shared);
    let (stages, drain) = (&plan.stages, a.drain);
    let (abandoned, freshness) = match (a.scenario, prepared) {
        (Scenario::Journey, _) => match accounts {
            Some(accounts) => {
                let script = move |vu| journey::vu_with_accounts(vu, Arc::clone(&accounts));
                (run_closed(s, stages, drain, script).await, None)
            }
            None => (run_closed(s, stages, drain, journey::vu).await, None),
        },
        (Scenario::Health, _) => (run_closed(s, stages, drain, simple::health).await, None),
        (Scenario::Auth, _) => (run_closed(s, stages, drain, simple::auth).await, None),
        (Scenario::Stress, _) => (run_closed(s, stages, drain, simple::stress).await, None),
        (Scenario::Mix, Some(p)) => {
            let (abandoned, f) = mix::run(&plan, &s, p).await;
            (abandoned, Some(f))
        }
        (Scenario::Mix, None) => anyhow::bail!("mix was not prepared"),
    };
    let elapsed = started.elapsed();
    progress.cancel();
    if let Some(t) = progress_task {
        let _ = t.await;
    }
    let (snapshot, dropped) = stats.snapshot();
    let mut report = Report {
        scenario: a.scenario.name().to_string(),
        url: plan.base.to_string(),
        stages: plan.stages.to_string(),
        stage_unit: unit.to_string(),
        duration_s: elapsed.as_secs_f64(),
        total: report::total_report(&snapshot, dropped, elapsed),
        steps: snapshot
            .iter()
            .map(|s| report::step_report(s, elapsed))
            .collect(),
        dropped,
        abandoned,
        freshness,
        thresholds: Vec::new(),
    };
    report.thresholds = a.thresholds.iter().map(|t| t.evaluate(&report)).collect();
    if let Some(path) = &a.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing --json {}", path.display()))?;
    }
    Ok(report)
}

/// About once a second on stderr: elapsed, level, req/s, p99 and errors of the last second.
async fn show_progress(
    stats: Arc<Stats>,
    shared: Arc<Shared>,
    total: Duration,
    unit: &'static str,
    stop: CancellationToken,
) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let (w, count, errors, dropped) = stats.take_window();
        let secs = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let p99 = if w.hist.is_empty() {
            0.0
        } else {
            w.hist.value_at_quantile(0.99) as f64 / 1000.0
        };
        let level = shared.level.load(Ordering::Relaxed);
        let line = format!(
            "[{:>6.1}s / {}] {unit} {level} | {:.0} req/s | p99 {p99:.1} ms | errors {} this second, {errors} of {count} in all{}",
            start.elapsed().as_secs_f64(),
            stages::format_duration(total),
            w.count as f64 / secs,
            w.errors,
            if dropped > 0 { format!(", {dropped} dropped") } else { String::new() },
        );
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if tty {
        eprintln!();
    }
}
