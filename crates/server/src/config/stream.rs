//! `STREAM_*`: the live stream's caps and history (see `http_adapter::stream`).

use std::time::Duration;

use clap::Args;
use http_adapter::StreamOptions;

#[derive(Args, Debug, Clone)]
pub struct StreamSettings {
    /// Live streams (`GET /stream`) one instance holds open; more are answered 503. Below the
    /// connection cap, which counts streams too [default: 90% of the connection cap].
    #[arg(long, env = "STREAM_MAX_CONNECTIONS", value_name = "STREAM_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u64).range(0..=1_000_000), global = true)]
    pub stream_max_connections: Option<u64>,
    /// Live streams one user holds open on one instance; more are answered 429.
    #[arg(long, env = "STREAM_MAX_PER_USER", value_name = "STREAM_MAX_PER_USER", default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=1_000), global = true)]
    pub stream_max_per_user: u64,
    /// Events queued for one stream before its reader counts as too slow and is disconnected.
    #[arg(long, env = "STREAM_BUFFER", value_name = "STREAM_BUFFER", default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=65_536), global = true)]
    pub stream_buffer: u64,
    /// Events the live log keeps for resuming clients.
    #[arg(long, env = "STREAM_HISTORY", value_name = "STREAM_HISTORY", default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(100..=10_000_000), global = true)]
    pub stream_history: u64,
    /// Seconds between checks of the open streams' credentials: a logout or a revoked API key
    /// ends the streams opened with them within this.
    #[arg(long, env = "STREAM_REVALIDATE_SECONDS", value_name = "STREAM_REVALIDATE_SECONDS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3_600), global = true)]
    pub stream_revalidate_seconds: u64,
    /// Seconds between heartbeats on a quiet stream.
    #[arg(long, env = "STREAM_HEARTBEAT_SECONDS", value_name = "STREAM_HEARTBEAT_SECONDS", default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=3_600), global = true)]
    pub stream_heartbeat_seconds: u64,
}

/// The checked stream settings.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// `max_connections` is the explicit `STREAM_MAX_CONNECTIONS` until [`StreamConfig::fit`]
    /// settles it against the connection cap.
    pub options: StreamOptions,
    /// Events the live log keeps.
    pub history: usize,
    explicit_max: Option<usize>,
}

impl StreamConfig {
    /// The stream cap against the instance's connection cap (known once the open-file limit
    /// was read): by default 90% of it, so a full set of streams leaves room for requests; an
    /// explicit one must stay below it. The error is one line naming both variables.
    pub fn fit(&mut self, connection_cap: usize) -> Result<(), String> {
        self.options.max_connections = match self.explicit_max {
            None => connection_cap - connection_cap / 10,
            Some(n) if n < connection_cap => n,
            Some(n) => {
                return Err(format!(
                    "STREAM_MAX_CONNECTIONS ({n}) must be below the connection cap \
                     (HTTP_MAX_CONNECTIONS, {connection_cap} here): streams are connections, \
                     and requests need some too"
                ))
            }
        };
        Ok(())
    }
}

impl StreamSettings {
    /// The error is one line naming the variable.
    pub fn config(&self) -> Result<StreamConfig, String> {
        let size =
            |v: u64, name: &str| usize::try_from(v).map_err(|_| format!("{name} is too large"));
        let history = size(self.stream_history, "STREAM_HISTORY")?;
        let explicit_max = self
            .stream_max_connections
            .map(|n| size(n, "STREAM_MAX_CONNECTIONS"))
            .transpose()?;
        Ok(StreamConfig {
            explicit_max,
            options: StreamOptions {
                max_connections: explicit_max.unwrap_or(StreamOptions::default().max_connections),
                max_per_user: size(self.stream_max_per_user, "STREAM_MAX_PER_USER")?,
                buffer: size(self.stream_buffer, "STREAM_BUFFER")?,
                heartbeat: Duration::from_secs(self.stream_heartbeat_seconds),
                revalidate: Duration::from_secs(self.stream_revalidate_seconds),
                // A resume never replays more than the log holds.
                replay_max: history.min(StreamOptions::default().replay_max),
            },
            history,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: Option<u64>) -> StreamSettings {
        StreamSettings {
            stream_max_connections: max,
            stream_max_per_user: 5,
            stream_buffer: 256,
            stream_history: 100_000,
            stream_revalidate_seconds: 30,
            stream_heartbeat_seconds: 15,
        }
    }

    #[test]
    fn the_stream_cap_leaves_room_for_requests() {
        let mut default = settings(None).config().unwrap();
        default.fit(10_000).unwrap();
        assert_eq!(default.options.max_connections, 9_000);
        let mut explicit = settings(Some(10_000)).config().unwrap();
        explicit.fit(10_100).unwrap();
        assert_eq!(explicit.options.max_connections, 10_000);
        let line = explicit.fit(10_000).unwrap_err();
        assert!(
            line.starts_with("STREAM_MAX_CONNECTIONS (10000)")
                && line.contains("HTTP_MAX_CONNECTIONS"),
            "{line}"
        );
    }
}
