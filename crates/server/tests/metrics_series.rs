//! Series `/metrics` must show for dashboards and alerts: the database pool gauges, and the
//! rate-limit and Redis series that exist (at 0) before their first event. Its own test binary:
//! the metrics recorder is process-global, so in the API suite another test's server would set
//! the same gauges between this test's scrape and its assertion.
//!
//! The SQLite tests always run; the PostgreSQL one (primary plus a replica pool and its lag and
//! read series) when
//! `SOCIALSCALE_TEST_POSTGRES_URL` is set, the Redis one when `SOCIALSCALE_TEST_REDIS_URL` is;
//! each skips with one line otherwise. The pool tests set gauges with different `pool` labels,
//! so running them in parallel cannot mix their values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// SQLite unless a test passes its own `--database-url`.
const POSTGRES: bool = false;

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{spawn_app, spawn_app_with, TestApp};

/// Held by every test of this binary for its whole run. The gauges are process-global and set
/// by whichever server renders `/metrics`: every test's server is a SQLite one with the same
/// `pool` labels, and the heap gauges are the whole test process's, so one test's scrape
/// between another's scrapes would mix their values.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of the one series of `name` carrying exactly `labels`.
async fn gauge(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    gauge_in(&text, name, labels)
}

/// [`gauge`] in a scrape already taken.
fn gauge_in(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    let found: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (inside, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let mut have: Vec<String> = inside
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            have.sort();
            (have == want).then(|| value.trim().parse::<f64>().ok())?
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one series {name}{labels:?} in /metrics, found {found:?} in:\n{text}"
    );
    found[0]
}

#[tokio::test]
async fn sqlite_pools_show_their_idle_busy_and_maximum_connections() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with(&["--db-max-connections", "3"]).await;
    // A query through each pool first: the read pool opens its connections lazily.
    let user = app.signup("pooled").await;
    app.create_post(&user, "through the writer").await;
    app.get("/posts?limit=5").await;

    let write = [("pool", "write")];
    assert_eq!(gauge(&app, "db_pool_max_connections", &write).await, 1.0);
    assert_eq!(
        gauge(&app, "db_pool_max_connections", &[("pool", "read")]).await,
        3.0
    );
    // No write is in flight while /metrics renders, and the writer's one connection is kept
    // open for good: it is idle, not in use.
    let state = |s| [("pool", "write"), ("state", s)];
    assert_eq!(
        gauge(&app, "db_pool_connections", &state("idle")).await,
        1.0
    );
    assert_eq!(
        gauge(&app, "db_pool_connections", &state("in_use")).await,
        0.0
    );
    let read_idle = [("pool", "read"), ("state", "idle")];
    let idle = gauge(&app, "db_pool_connections", &read_idle).await;
    assert!(
        (1.0..=3.0).contains(&idle),
        "the read pool holds the connection the timeline used: {idle}"
    );
    // The relay reads the outbox every 25 ms (it feeds the live log): one read may be running.
    let read_busy = [("pool", "read"), ("state", "in_use")];
    let busy = gauge(&app, "db_pool_connections", &read_busy).await;
    assert!(
        (0.0..=1.0).contains(&busy),
        "read connections in use: {busy}"
    );
}

/// The allocator's own figures, to tell data the server holds from memory the allocator keeps
/// (issue #10). The test process runs on the same allocator as the binary (`server::heap`).
#[tokio::test]
async fn the_heap_gauges_show_what_is_allocated_and_what_is_resident() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app().await;
    // One scrape: the three are read together there, while allocations move between scrapes.
    let text = app.get("/metrics").await.text().await.unwrap();
    let heap = |kind| gauge_in(&text, "process_heap_bytes", &[("kind", kind)]);
    let (allocated, active, resident) = (heap("allocated"), heap("active"), heap("resident"));
    assert!(
        allocated > 0.0,
        "a running server holds memory: {allocated}"
    );
    // Pages in use hold the allocations, and resident memory holds those pages.
    assert!(
        allocated <= active && active <= resident,
        "allocated {allocated} ≤ active {active} ≤ resident {resident}"
    );
    heap("retained");
}

#[tokio::test]
async fn postgres_primary_and_each_replica_have_their_own_series() {
    let _serial = SERIAL.lock().await;
    let Some(db) = postgres_adapter::testing::TestDatabase::create("poolmetrics")
        .await
        .unwrap()
    else {
        return;
    };
    // The primary doubles as the replica: only the pools matter here, not replication.
    let app = spawn_app_with(&[
        "--database-url",
        &db.url,
        "--database-read-urls",
        &db.url,
        "--db-max-connections",
        "4",
    ])
    .await;
    let user = app.signup("pooledpg").await;
    app.create_post(&user, "on the primary").await;

    assert_eq!(
        gauge(&app, "db_pool_max_connections", &[("pool", "primary")]).await,
        4.0
    );
    let replica = [("pool", "replica"), ("replica", "0")];
    assert_eq!(gauge(&app, "db_pool_max_connections", &replica).await, 4.0);
    let primary_idle = [("pool", "primary"), ("state", "idle")];
    assert!(gauge(&app, "db_pool_connections", &primary_idle).await >= 1.0);
    let primary_busy = [("pool", "primary"), ("state", "in_use")];
    assert_eq!(gauge(&app, "db_pool_connections", &primary_busy).await, 0.0);
    // Replica pools connect lazily; the series exist before their first connection.
    let replica_busy = [("pool", "replica"), ("replica", "0"), ("state", "in_use")];
    assert_eq!(gauge(&app, "db_pool_connections", &replica_busy).await, 0.0);
    // Not a standby: its lag cannot be measured, and it serves nothing.
    let lag = gauge(&app, "db_replica_lag_seconds", &[("replica", "0")]).await;
    assert_eq!(lag, f64::INFINITY);
    let reads = gauge(&app, "db_replica_reads_total", &[("replica", "0")]).await;
    assert_eq!(reads, 0.0);
}

#[tokio::test]
async fn rate_limit_rejections_are_zero_before_the_first_refusal() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app().await;
    for policy in ["general", "post", "login", "signup"] {
        let v = gauge(&app, "rate_limited_total", &[("policy", policy)]).await;
        // Other tests of this binary refuse nothing, so the counter is still at 0.
        assert_eq!(v, 0.0, "{policy}");
    }
}

#[tokio::test]
async fn with_redis_the_breaker_and_fallback_series_exist_at_zero() {
    let _serial = SERIAL.lock().await;
    let Some(url) = std::env::var("SOCIALSCALE_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        eprintln!("note: SOCIALSCALE_TEST_REDIS_URL is not set: skipping the Redis series test");
        return;
    };
    let prefix = format!("ss-series-{}:", std::process::id());
    let app = spawn_app_with(&["--redis-url", &url, "--redis-key-prefix", &prefix]).await;
    assert_eq!(gauge(&app, "redis_breaker_open", &[]).await, 0.0);
    for policy in [
        "general",
        "post",
        "login",
        "signup",
        "login_failures",
        "login_failures_account",
    ] {
        let v = gauge(&app, "rate_limit_fallback_total", &[("policy", policy)]).await;
        assert_eq!(v, 0.0, "{policy}");
    }
}
