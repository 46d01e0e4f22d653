//! The centre of the SocialScale hexagon.
//!
//! Nothing in this crate does I/O or knows which database, cache or web framework is in use:
//! it owns the rules, and everything else plugs into the traits it declares.
//!
//! # Layout
//!
//! - [`model`]: entities (`User`, `PostRecord`, `Follow`) and the value types requests are parsed
//!   into at the edge (`Email`, `Username`, `PostContent`, …). A value that exists is valid.
//! - [`ports`]: the traits adapters implement — repositories, cache, rate limiter, password
//!   hasher, token issuer, clock and id generator. Services hold them as `Arc<dyn Port>` so the
//!   backend is picked at start-up from config.
//! - [`services`]: one service per capability (auth — signup, login, logout, authenticating a
//!   token or API key —, API keys, tiers, users, posts, feed).
//! - [`cache`]: the read cache the services use. *Which* write makes *which* read stale is a
//!   domain rule (`cache::Write`); keys, lifetimes and encoding are one policy beside it
//!   (`cache::CachePolicy`), and values carry a version so freshness is a matter of values.
//! - [`error`]: the error every port may return, and per-use-case error enums.
//! - `testkit` (feature `testkit`): one contract suite per port. Every adapter of a port runs the
//!   same suite, which is what makes adapters interchangeable.

pub mod cache;
pub mod error;
pub mod model;
pub mod ports;
pub mod services;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use error::StoreError;
