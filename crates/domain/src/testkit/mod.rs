//! Contract suites, one per port (feature `testkit`).
//!
//! Each suite is a plain async function over the port (a `&dyn Port` or a bundle of them), so it runs on any
//! runtime and against any backend. An adapter's tests call it; if an adapter needs the suite
//! changed to pass, the port or the adapter is wrong, not the suite.

pub mod cache;
pub mod fakes;
mod join;
pub mod limiter;
pub mod live;
pub mod repos;
pub mod timeline;
