//! What clients see when PostgreSQL is down or overloaded: 503 `ServiceUnavailableError`, fast,
//! never a hang and never a 500 with a driver message; readiness fails while the database does.

use std::str::FromStr;
use std::time::Duration;

use postgres_adapter::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::{assert_error, spawn_app_with, TestApp};

/// Far above any bound the server keeps (statement timeouts here are ≤ 500 ms): it only turns
/// a hang into a failure instead of a stuck suite.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A TCP relay to the test server that can be cut, standing in for a database that dies: the
/// listener goes away (new connections are refused) and open connections are dropped.
struct Relay {
    url: String,
    cut: CancellationToken,
}

impl Relay {
    async fn to(db: &TestDatabase) -> Relay {
        let target = PgConnectOptions::from_str(&db.url).unwrap();
        let upstream = format!("{}:{}", target.get_host(), target.get_port());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let here = listener.local_addr().unwrap();
        let cut = CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(c) => c,
                        Err(_) => return,
                    },
                    () = stop.cancelled() => return,
                };
                let stop = stop.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {},
                        () = stop.cancelled() => {},
                    }
                });
            }
        });
        let url = db.url.replacen(
            &format!("{}:{}", target.get_host(), target.get_port()),
            &here.to_string(),
            1,
        );
        assert_ne!(url, db.url, "the relay URL must differ");
        Relay { url, cut }
    }
}

/// Signs a user up; their profile URL.
async fn someone(app: &TestApp) -> String {
    let user = app.signup("outage_user").await;
    format!("/users/{}", user.id)
}

async fn assert_unavailable(res: reqwest::Response) {
    let body = assert_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableError",
    )
    .await;
    let text = body.to_string().to_lowercase();
    for leak in [
        "sqlx",
        "pool",
        "connection",
        "postgres",
        "timed out",
        "statement",
    ] {
        assert!(!text.contains(leak), "driver detail leaked: {body}");
    }
}

#[tokio::test]
async fn a_database_that_goes_down_gives_503_and_not_ready() {
    let db = TestDatabase::create("down").await.unwrap().unwrap();
    let relay = Relay::to(&db).await;
    let app = spawn_app_with(&[
        "--database-url",
        &relay.url,
        "--db-statement-timeout-ms",
        "500",
    ])
    .await;
    let profile = someone(&app).await;
    // Users are read through the cache: one read before the cut stays served from it, which
    // is the point of caching; the reads that must reach the database answer 503.
    let cached = app.signup("cached_user").await;
    let cached = format!("/users/{}", cached.id);
    assert_eq!(app.get(&cached).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/users/by-username/outage_user").await.status(),
        StatusCode::OK
    );

    relay.cut.cancel();
    // A generous guard, not a speed check: without it a hang would hang the suite.
    tokio::time::timeout(HANG_GUARD, async {
        assert_unavailable(app.get(&profile).await).await;
        assert_unavailable(app.get("/users/by-username/outage_user").await).await;
        assert_eq!(app.get(&cached).await.status(), StatusCode::OK);
    })
    .await
    .expect("answered, not hung");

    let res = app.get("/health/readiness").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = app.get("/health").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let h: Value = res.json().await.unwrap();
    assert_eq!(h["backends"]["database"], "postgres");
    assert_eq!(h["services"]["database"], "unhealthy");
}

#[tokio::test]
async fn an_exhausted_pool_gives_503_not_a_hang() {
    let app = spawn_app_with(&[
        "--db-max-connections",
        "1",
        "--db-statement-timeout-ms",
        "300",
    ])
    .await;
    let profile = someone(&app).await;

    // Another session locks `users`: the server's one connection blocks on the lock until its
    // statement timeout, and a second request cannot get a connection at all.
    let mut blocker = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker
        .execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let (a, b) = tokio::time::timeout(HANG_GUARD, async {
        tokio::join!(app.get(&profile), app.get(&profile))
    })
    .await
    .expect("answered, not hung");
    assert_unavailable(a).await;
    assert_unavailable(b).await;

    blocker.execute("ROLLBACK").await.unwrap();
    assert_eq!(app.get(&profile).await.status(), StatusCode::OK, "recovers");
}
