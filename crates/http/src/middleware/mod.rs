//! Cross-cutting request handling: request ids, the per-route layer (metrics, drain, rate
//! limits).

pub mod drain;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod route;
