//! Cross-cutting request handling: ids, client addresses, rate limits, metrics.

pub mod client_ip;
pub mod drain;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
