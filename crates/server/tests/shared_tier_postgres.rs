//! The shared-tier suite of `tests/shared_tier` once more, on PostgreSQL: the very same files,
//! included by path; `support::POSTGRES` (true in this binary) gives each test one fresh
//! PostgreSQL database that all its instances share, instead of an SQLite file.
//!
//! Runs when `SOCIALSCALE_TEST_POSTGRES_URL` is set at build time (see `build.rs`); a server
//! that is named there but unreachable fails every test, it is never skipped. Tests needing
//! Redis skip, as in the SQLite run, when `SOCIALSCALE_TEST_REDIS_URL` is unset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(postgres_tests)]
const POSTGRES: bool = true;

#[cfg(postgres_tests)]
#[path = "shared_tier/credentials.rs"]
mod credentials;
#[cfg(postgres_tests)]
#[path = "shared_tier/fanout.rs"]
mod fanout;
#[cfg(postgres_tests)]
#[path = "shared_tier/freshness.rs"]
mod freshness;
#[cfg(postgres_tests)]
#[path = "shared_tier/idempotency.rs"]
mod idempotency;
#[cfg(postgres_tests)]
#[path = "shared_tier/limits.rs"]
mod limits;
#[cfg(postgres_tests)]
#[path = "common/load.rs"]
mod load;
#[cfg(postgres_tests)]
#[path = "shared_tier/outage.rs"]
mod outage;
#[cfg(postgres_tests)]
#[path = "common/sse.rs"]
mod sse;
#[cfg(postgres_tests)]
#[path = "shared_tier/stream.rs"]
mod stream;
#[cfg(postgres_tests)]
#[path = "shared_tier/support.rs"]
mod support;

#[cfg(not(postgres_tests))]
#[test]
fn postgres_suite_skipped() {
    use std::io::Write;
    // Straight to the stream: the harness hides `eprintln!` output of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "note: SOCIALSCALE_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run of the shared-tier suite"
    );
}
