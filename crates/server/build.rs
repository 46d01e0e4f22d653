//! Turns on the PostgreSQL runs of the end-to-end suites (`tests/api_postgres.rs`,
//! `tests/shared_tier_postgres.rs`) when `SOCIALSCALE_TEST_POSTGRES_URL` is set at build time.
//! A cfg rather than a runtime check because those tests are the very files of `tests/api`
//! and `tests/shared_tier`, which cannot skip themselves; a binary built without it has one
//! test that says the suite was skipped.

fn main() {
    println!("cargo::rerun-if-env-changed=SOCIALSCALE_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    let set = std::env::var_os("SOCIALSCALE_TEST_POSTGRES_URL")
        .is_some_and(|v| !v.to_string_lossy().trim().is_empty());
    if set {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
