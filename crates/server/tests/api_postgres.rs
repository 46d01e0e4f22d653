//! The end-to-end suite of `tests/api` once more, on PostgreSQL: the very same files, included
//! by path; `helpers::POSTGRES` (true in this binary) gives every test a fresh PostgreSQL
//! database instead of an SQLite file. Plus the outage tests only PostgreSQL has, one of them
//! on a private server the test stops and starts under load.
//!
//! Runs when `SOCIALSCALE_TEST_POSTGRES_URL` is set at build time (see `build.rs`); a server
//! that is named there but unreachable fails every test, it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(postgres_tests)]
const POSTGRES: bool = true;

#[cfg(postgres_tests)]
#[path = "api/auth.rs"]
mod auth;
#[cfg(postgres_tests)]
#[path = "api/credentials.rs"]
mod credentials;
#[cfg(postgres_tests)]
#[path = "api/feed.rs"]
mod feed;
#[cfg(postgres_tests)]
#[path = "api/helpers.rs"]
mod helpers;
#[cfg(postgres_tests)]
#[path = "api/idempotency.rs"]
mod idempotency;
#[cfg(postgres_tests)]
#[path = "api/input.rs"]
mod input;
#[cfg(postgres_tests)]
#[path = "common/load.rs"]
mod load;
#[cfg(postgres_tests)]
#[path = "api/ops.rs"]
mod ops;
#[cfg(postgres_tests)]
#[path = "api_postgres/outage.rs"]
mod outage;
#[cfg(postgres_tests)]
#[path = "api/posts.rs"]
mod posts;
#[cfg(postgres_tests)]
#[path = "api/rate_limit.rs"]
mod rate_limit;
#[cfg(postgres_tests)]
#[path = "api_postgres/restart.rs"]
mod restart;
#[cfg(postgres_tests)]
#[path = "api/shutdown.rs"]
mod shutdown;
#[cfg(postgres_tests)]
#[path = "common/sse.rs"]
mod sse;
#[cfg(postgres_tests)]
#[path = "api/stream.rs"]
mod stream;
#[cfg(postgres_tests)]
#[path = "api/stream_limits.rs"]
mod stream_limits;
#[cfg(postgres_tests)]
#[path = "api/users.rs"]
mod users;

#[cfg(not(postgres_tests))]
#[test]
fn postgres_suite_skipped() {
    use std::io::Write;
    // Straight to the stream: the harness hides `eprintln!` output of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "note: SOCIALSCALE_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run of the API suite"
    );
}
