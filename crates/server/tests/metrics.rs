//! Cache hit/miss counters in `/metrics`, counted by the requests that make them. Its own test
//! binary: the metrics recorder is process-global, so in the API suite other tests' traffic
//! would move the same counters and an assertion there could not fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// On SQLite: this binary is about the counters, not the database.
const POSTGRES: bool = false;

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{spawn_app, TestApp};

/// `cache_requests_total{tier="l1",result=…}` as `/metrics` shows it now.
async fn l1(app: &TestApp, result: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("cache_requests_total{"))
        .filter(|l| l.contains("tier=\"l1\"") && l.contains(&format!("result=\"{result}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn a_cold_read_counts_a_miss_and_the_same_read_again_a_hit() {
    let app = spawn_app().await;
    let user = app.signup("metered").await;
    app.create_post(&user, "counted").await;

    let (hits, misses) = (l1(&app, "hit").await, l1(&app, "miss").await);
    app.get("/posts?limit=20").await;
    let (hits1, misses1) = (l1(&app, "hit").await, l1(&app, "miss").await);
    assert!(
        misses1 > misses,
        "a cold timeline is a miss: {misses} → {misses1}"
    );

    app.get("/posts?limit=20").await;
    let (hits2, misses2) = (l1(&app, "hit").await, l1(&app, "miss").await);
    assert!(
        hits2 > hits1,
        "the same page again is a hit: {hits1} → {hits2}"
    );
    assert_eq!(misses2, misses1, "and no miss");
    assert!(hits1 >= hits);
}
