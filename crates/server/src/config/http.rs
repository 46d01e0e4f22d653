//! The HTTP server's own bounds: timeouts, connection cap, load shedding.

use std::time::Duration;

use clap::Args;

/// `HTTP_*`: how long a connection or request may take and how many there may be.
#[derive(Args, Debug, Clone)]
pub struct HttpSettings {
    /// A connection that has not sent a complete request head this long after it opened (or,
    /// on a kept-alive connection, after the next request's first byte) is closed.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_MS", value_name = "HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000),
        global = true)]
    pub http_header_timeout_ms: u64,
    /// A kept-alive connection with no new request this long after its last response is
    /// closed, and so is one whose response makes no progress this long. Past the 60 s idle timeout of the proxies usually in front (nginx upstream, AWS
    /// ALB), so they close first and never send a request on a connection being closed here.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_MS", value_name = "HTTP_IDLE_TIMEOUT_MS",
        default_value_t = 75_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000),
        global = true)]
    pub http_idle_timeout_ms: u64,
    /// A request not answered within this is answered 503 (its handler is stopped).
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT_MS", value_name = "HTTP_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000),
        global = true)]
    pub http_request_timeout_ms: u64,
    /// Open connections at most; past it a new connection is closed at once [default: 10000,
    /// or less when the open-file limit is lower].
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", value_name = "HTTP_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub http_max_connections: Option<u32>,
    /// Requests handled at once at most; past it a new request is answered 503 with
    /// `Retry-After` at once (probes and /metrics excepted).
    #[arg(long, env = "HTTP_MAX_IN_FLIGHT", value_name = "HTTP_MAX_IN_FLIGHT",
        default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000),
        global = true)]
    pub http_max_in_flight: u32,
}

/// The checked HTTP bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    /// `None`: the default cap, fitted to the open-file limit at start-up (see `listener`).
    pub max_connections: Option<usize>,
    pub max_in_flight: usize,
}

impl HttpSettings {
    pub fn limits(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_millis(self.http_header_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            request_timeout: Duration::from_millis(self.http_request_timeout_ms),
            max_connections: self.http_max_connections.map(|n| n as usize),
            max_in_flight: self.http_max_in_flight as usize,
        }
    }
}
