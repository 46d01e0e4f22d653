//! The shared tier end to end: two instances on one database and one Redis behave as one,
//! and an instance whose Redis goes away keeps serving, still limits, says so, and comes back
//! by itself.
//!
//! This binary runs on SQLite; `shared_tier_postgres` runs these same files on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const POSTGRES: bool = false;

mod credentials;
mod fanout;
mod freshness;
mod idempotency;
mod limits;
#[path = "../common/load.rs"]
mod load;
mod outage;
#[path = "../common/sse.rs"]
mod sse;
mod stream;
mod support;
