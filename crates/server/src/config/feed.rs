//! `FEED_*`: how home feeds are computed (see `domain::services::feed` and `crate::feed`).

use std::time::Duration;

use clap::{Args, ValueEnum};

/// `FEED_STRATEGY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FeedStrategy {
    /// Each read computes the page from the database.
    Pull,
    /// Timelines in Redis written by fan-out workers (needs `REDIS_URL`).
    Fanout,
}

#[derive(Args, Debug, Clone)]
pub struct FeedSettings {
    /// `pull` or `fanout` [default: `fanout` with REDIS_URL, else `pull`].
    #[arg(
        long,
        env = "FEED_STRATEGY",
        value_name = "FEED_STRATEGY",
        value_enum,
        global = true
    )]
    pub feed_strategy: Option<FeedStrategy>,
    /// Authors with more followers than this are merged into feeds on read, not pushed.
    #[arg(long, env = "FEED_FANOUT_LIMIT", value_name = "FEED_FANOUT_LIMIT", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(0..=100_000_000), global = true)]
    pub feed_fanout_limit: u64,
    /// Posts kept per stored timeline; deeper pages come from the database.
    #[arg(long, env = "FEED_TIMELINE_CAP", value_name = "FEED_TIMELINE_CAP", default_value_t = 800,
        value_parser = clap::value_parser!(u64).range(1..=100_000), global = true)]
    pub feed_timeline_cap: u64,
    /// Days without a feed read after which a timeline expires (and fan-out skips it).
    #[arg(long, env = "FEED_INACTIVE_DAYS", value_name = "FEED_INACTIVE_DAYS", default_value_t = 7,
        value_parser = clap::value_parser!(u64).range(1..=3650), global = true)]
    pub feed_inactive_days: u64,
    /// Fan-out worker tasks per process (0: this process runs no workers).
    #[arg(long, env = "FEED_WORKERS", value_name = "FEED_WORKERS", default_value_t = 2,
        value_parser = clap::value_parser!(u64).range(0..=256), global = true)]
    pub feed_workers: u64,
    /// How long an event may stay unacknowledged by a worker before another claims it.
    #[arg(long, env = "FEED_CLAIM_IDLE_MS", value_name = "FEED_CLAIM_IDLE_MS", default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(10..=3_600_000), global = true)]
    pub feed_claim_idle_ms: u64,
}

/// The feed settings, checked against the rest of the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    pub strategy: FeedStrategy,
    pub fanout_limit: u64,
    pub cap: usize,
    pub inactive: Duration,
    pub workers: usize,
    pub claim_idle: Duration,
}

impl FeedSettings {
    /// The error is one line naming the variable.
    pub fn config(&self, has_redis: bool) -> Result<FeedConfig, String> {
        let strategy = match (self.feed_strategy, has_redis) {
            (Some(FeedStrategy::Fanout), false) => {
                return Err("FEED_STRATEGY=fanout needs REDIS_URL (timelines live in Redis)".into())
            }
            (Some(s), _) => s,
            (None, true) => FeedStrategy::Fanout,
            (None, false) => FeedStrategy::Pull,
        };
        Ok(FeedConfig {
            strategy,
            fanout_limit: self.feed_fanout_limit,
            cap: usize::try_from(self.feed_timeline_cap)
                .map_err(|_| "FEED_TIMELINE_CAP is too large")?,
            inactive: Duration::from_secs(self.feed_inactive_days * 86_400),
            workers: usize::try_from(self.feed_workers).map_err(|_| "FEED_WORKERS is too large")?,
            claim_idle: Duration::from_millis(self.feed_claim_idle_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(strategy: Option<FeedStrategy>) -> FeedSettings {
        FeedSettings {
            feed_strategy: strategy,
            feed_fanout_limit: 10_000,
            feed_timeline_cap: 800,
            feed_inactive_days: 7,
            feed_workers: 2,
            feed_claim_idle_ms: 30_000,
        }
    }

    #[test]
    fn fanout_is_the_default_with_redis_and_needs_it() {
        let default = settings(None);
        assert_eq!(default.config(false).unwrap().strategy, FeedStrategy::Pull);
        assert_eq!(default.config(true).unwrap().strategy, FeedStrategy::Fanout);
        let pull = settings(Some(FeedStrategy::Pull));
        assert_eq!(pull.config(true).unwrap().strategy, FeedStrategy::Pull);
        let fanout = settings(Some(FeedStrategy::Fanout));
        let line = fanout.config(false).unwrap_err();
        assert!(
            line.starts_with("FEED_STRATEGY") && line.contains("REDIS_URL"),
            "{line}"
        );
        let c = fanout.config(true).unwrap();
        assert_eq!(c.inactive, Duration::from_secs(7 * 86_400));
        assert_eq!((c.cap, c.workers), (800, 2));
    }
}
