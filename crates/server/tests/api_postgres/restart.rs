//! A private PostgreSQL ([`LocalCluster`]: `initdb` and `pg_ctl` on a free port) stopped under
//! concurrent reads and writes and started again: while it is down every request that needs
//! it is answered 503, none 500, none left hanging; once it is back, full service within 5 s.

use std::sync::Arc;
use std::time::Duration;

use postgres_adapter::testing::LocalCluster;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::helpers::{spawn_app_with, TestUser};
use crate::load::{assert_statuses, Load, Outcome, Request};

const UP: u8 = 0;
const STOPPING: u8 = 1;
const DOWN: u8 = 2;
const STARTING: u8 = 3;
const BACK: u8 = 4;

/// One label per writer, so each one's acknowledged posts can be counted.
const WRITES: [&str; 3] = ["POST /posts (a)", "POST /posts (b)", "POST /posts (c)"];

/// Every kind of request the load sends; each must be seen answered 503 while down.
const KINDS: [&str; 4] = [
    "POST /posts",
    "GET /posts",
    "GET /users/:id/posts",
    "GET /feed",
];

/// How much longer than 3 s the database stays down, at most, waiting for every kind of
/// request to be sent and answered in that phase: twice the server's deadline for one call at
/// a 1 s statement timeout (replica acquire 0.5 s + acquire 1 s + statement 1 s + 1 s margin).
const DOWN_LIMIT: Duration = Duration::from_secs(7);

/// The bound on recovery: requests sent this long after the server is back all succeed.
const RECOVERY: Duration = Duration::from_secs(5);

/// A blocking call of the cluster helper (it waits on child processes), off the runtime's
/// worker; the test runs on the multi-threaded runtime for it.
fn blocking<T>(f: impl FnOnce() -> Result<T, String>) -> T {
    tokio::task::block_in_place(f).unwrap()
}

fn is_success(o: &Outcome) -> bool {
    o.status.as_ref().is_ok_and(|s| (200..300).contains(s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restarted_under_load_answers_503_while_down_and_serves_within_5s_of_return() {
    let Some(mut cluster) = blocking(LocalCluster::start) else {
        return;
    };
    let url = cluster.primary_url("postgres");
    let app = spawn_app_with(&["--database-url", &url, "--db-statement-timeout-ms", "1000"]).await;
    let writers: Vec<TestUser> = [
        app.signup("restart_a").await,
        app.signup("restart_b").await,
        app.signup("restart_c").await,
    ]
    .into();
    for w in &writers {
        for i in 0..3 {
            app.create_post(w, &format!("before {i}")).await;
        }
    }
    let top: Value = app.get("/posts?limit=1").await.json().await.unwrap();
    let cursor = top["nextCursor"].as_str().unwrap().to_owned();

    // Every request needs the database: writes, and pages after a cursor (never cached).
    let base = app.base.clone();
    let mut requests: Vec<Request> = writers
        .iter()
        .zip(WRITES)
        .map(|(w, what)| {
            let (base, token) = (base.clone(), w.token.clone());
            Arc::new(move |c: &reqwest::Client| {
                let r = c
                    .request(Method::POST, format!("{base}/posts"))
                    .bearer_auth(&token)
                    .json(&json!({"content": "under load"}));
                (what, r)
            }) as Request
        })
        .collect();
    let reader = &writers[0];
    let pages = [
        ("GET /posts", format!("/posts?limit=10&cursor={cursor}")),
        (
            "GET /users/:id/posts",
            format!("/users/{}/posts?limit=10&cursor={cursor}", reader.id),
        ),
        ("GET /feed", format!("/feed?limit=10&cursor={cursor}")),
    ];
    for (what, path) in pages {
        let (url, token) = (format!("{base}{path}"), reader.token.clone());
        requests.push(Arc::new(move |c: &reqwest::Client| {
            (what, c.get(&url).bearer_auth(&token))
        }));
    }

    let load = Load::start(requests, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    load.set_phase(STOPPING);
    blocking(|| cluster.stop_primary());
    load.set_phase(DOWN);
    // Down for 3 s, and then until every kind of request has been sent and answered while
    // down: one answer can take the server's whole deadline (a connection attempt, then the
    // statement), so a fixed window may hold no complete request of some kind.
    tokio::time::sleep(Duration::from_secs(3)).await;
    load.until(DOWN_LIMIT, |seen| {
        KINDS.iter().all(|what| {
            seen.iter()
                .any(|o| o.what.starts_with(what) && o.sent_in == DOWN && o.answered_in == DOWN)
        })
    })
    .await;
    load.set_phase(STARTING);
    blocking(|| cluster.start_primary());
    let back = Instant::now();
    load.set_phase(BACK);
    tokio::time::sleep(RECOVERY + Duration::from_secs(2)).await;
    let outcomes = load.stop().await;

    // No 500, no other status, every request answered.
    assert_statuses(&outcomes, &[200, 201, 503]);
    let up: Vec<&Outcome> = outcomes.iter().filter(|o| o.answered_in == UP).collect();
    assert!(up.iter().any(|o| is_success(o)), "served before the stop");
    let down: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_in == DOWN && o.answered_in == DOWN)
        .collect();
    assert!(
        !down.is_empty(),
        "no request was answered while the server was down"
    );
    let served: Vec<&&Outcome> = down.iter().filter(|o| o.status != Ok(503)).collect();
    assert!(served.is_empty(), "only 503s while down: {served:?}");
    for what in KINDS {
        assert!(
            down.iter().any(|o| o.what.starts_with(what)),
            "{what} while down"
        );
    }
    let recovered: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_at >= back + RECOVERY)
        .collect();
    assert!(!recovered.is_empty(), "no request after the recovery bound");
    let failed: Vec<&&Outcome> = recovered.iter().filter(|o| !is_success(o)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests sent 5 s after the server came back failed, e.g. {:?}",
        failed.len(),
        recovered.len(),
        &failed[..failed.len().min(5)]
    );
    // No acknowledged post was lost: each author's counter (exact, kept with the rows) holds
    // at least the 3 posts of the setup and every 201 (a 503 may or may not have been written:
    // its connection can die during the commit).
    for (w, what) in writers.iter().zip(WRITES) {
        let acked = outcomes
            .iter()
            .filter(|o| o.what == what && o.status == Ok(201))
            .count();
        let tried = outcomes.iter().filter(|o| o.what == what).count();
        let me: Value = app
            .get(&format!("/users/{}", w.id))
            .await
            .json()
            .await
            .unwrap();
        let count = usize::try_from(me["postsCount"].as_u64().unwrap()).unwrap();
        assert!(
            (3 + acked..=3 + tried).contains(&count),
            "{what}: {count} posts, {acked} acknowledged of {tried}"
        );
    }
}
