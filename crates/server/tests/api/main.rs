//! End-to-end tests over a real socket: one server per test on port 0, a fresh database each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// This binary runs the suite on SQLite; `api_postgres.rs` runs the same files on PostgreSQL.
const POSTGRES: bool = false;

mod auth;
mod credentials;
mod feed;
mod helpers;
mod internal_errors;
mod ops;
mod posts;
mod rate_limit;
mod shutdown;
mod users;
