//! Cross-cutting request handling: the edge (request ids, log lines, panics), compression of
//! the responses worth it (`compress`), the request timeout and load shedding (`overload`), the
//! per-route layer (metrics, drain, rate limits).

pub mod compress;
pub mod drain;
pub mod edge;
pub mod metrics;
pub mod overload;
pub mod rate_limit;
pub mod request_id;
pub mod route;
