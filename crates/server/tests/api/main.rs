//! End-to-end tests over a real socket: one server per test on port 0, a fresh database each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// This binary runs the suite on SQLite; `api_postgres.rs` runs the same files on PostgreSQL.
const POSTGRES: bool = false;

mod auth;
mod connections;
mod credentials;
mod dodging;
mod feed;
mod helpers;
mod idempotency;
mod input;
mod internal_errors;
mod ops;
mod posts;
mod rate_limit;
#[path = "../common/raw_http.rs"]
mod raw_http;
mod shutdown;
#[path = "../common/sse.rs"]
mod sse;
mod stream;
mod stream_limits;
mod users;
mod web;
