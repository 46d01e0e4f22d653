//! The domain's repository contract suites against PostgreSQL, each on a fresh database, plus
//! what only an adapter that knows it is PostgreSQL can check: migrations, outages and query plans.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestDb;
use domain::model::{Email, Keyset, NewUser, PostId, PostRecord, Timestamp, UserId, Username};
use domain::ports::{HealthProbe, UserRepository};
use domain::testkit::repos;
use domain::StoreError;
use postgres_adapter::{PgOptions, PgStore};
use sqlx::Connection;
use uuid::Uuid;

#[tokio::test]
async fn user_repository_contract() {
    let Some(db) = TestDb::new("users").await else {
        return;
    };
    repos::user_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn api_key_repository_contract() {
    let Some(db) = TestDb::new("apikeys").await else {
        return;
    };
    repos::api_key_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn post_repository_contract() {
    let Some(db) = TestDb::new("posts").await else {
        return;
    };
    repos::post_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn follow_repository_contract() {
    let Some(db) = TestDb::new("follows").await else {
        return;
    };
    repos::follow_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn idempotency_key_contract() {
    let Some(db) = TestDb::new("keys").await else {
        return;
    };
    repos::idempotency_key_contract(&db.repos()).await;
}

#[tokio::test]
async fn feed_outbox_contract() {
    let Some(db) = TestDb::new("outbox").await else {
        return;
    };
    repos::feed_outbox_contract(&db.repos()).await;
}

#[tokio::test]
async fn counters_exact_under_concurrency() {
    let Some(db) = TestDb::new("counts").await else {
        return;
    };
    repos::counters_exact_under_concurrency(&db.repos()).await;
}

fn signup(username: &str, email: &str) -> NewUser {
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        name: None,
        password_hash: "hash".to_owned(),
        created_at: Timestamp::from_unix_millis(1_700_000_000_123),
    }
}

#[tokio::test]
async fn migrate_is_idempotent_and_keeps_data() {
    let Some(db) = TestDb::new("migrate").await else {
        return;
    };
    let user = db
        .store
        .create(&signup("keeper", "keeper@example.com"))
        .await
        .unwrap();
    db.store.migrate().await.unwrap();
    // A restart: a second store on the same database migrates again without error.
    let again = PgStore::connect(&db.db.url, &[], PgOptions::default())
        .await
        .unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.by_id(user.id).await.unwrap(), Some(user));
    assert_eq!(again.backend(), "postgres");
    again.ping().await.unwrap();
    again.close().await;
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let Some(db) = TestDb::new("closed").await else {
        return;
    };
    db.store.close().await;
    let err = db.store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// A call through the adapter's pool that outlives `statement_timeout` (here: waiting on a lock
/// another session holds) is cancelled by the server and answers `Unavailable` (503), not
/// `Internal`, and does not hang. The message pins the cause: were the timeout not set on the
/// pool's connections, the store's own, longer call deadline would answer instead.
#[tokio::test]
async fn the_statement_timeout_applies_to_every_connection() {
    use domain::ports::PostRepository;
    let Some(db) = TestDb::new("timeout").await else {
        return;
    };
    let author = UserRepository::create(&db.store, &signup("locked", "locked@example.com"))
        .await
        .unwrap();
    let options = PgOptions {
        statement_timeout: Duration::from_millis(200),
        ..PgOptions::default()
    };
    let store = PgStore::connect(&db.db.url, &[], options).await.unwrap();
    let mut holder = sqlx::PgConnection::connect(&db.db.url).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let first = Keyset {
        before: None,
        limit: 10,
    };
    let post = PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author.id,
        content: "blocked".to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    };
    // Only bounds a hang; the statement timeout fires long before.
    let bound = Duration::from_secs(20);
    let read = tokio::time::timeout(bound, store.latest(first)).await;
    let write = tokio::time::timeout(bound, PostRepository::create(&store, &post)).await;
    for (what, got) in [
        ("latest", read.map(|r| r.map(|_| ()))),
        ("create", write.map(|r| r.map(|_| ()))),
    ] {
        let err = got
            .unwrap_or_else(|_| panic!("{what} hung behind the lock"))
            .unwrap_err();
        match err {
            StoreError::Unavailable(m) => assert!(m.contains("statement timeout"), "{what}: {m}"),
            other => panic!("{what}: {other:?}"),
        }
    }

    // The lock gone, the same pool serves again.
    lock.rollback().await.unwrap();
    assert!(PostRepository::create(&store, &post).await.unwrap());
    assert_eq!(store.latest(first).await.unwrap(), [post]);
}

/// Every statement the ports run is served by an index, on an empty and on an analysed
/// database (docs/SCALING.md has the plans on a million posts).
#[tokio::test]
async fn no_statement_scans_a_table() {
    let Some(db) = TestDb::new("plans").await else {
        return;
    };
    repos::post_repository_contract(&db.repos()).await;
    repos::follow_repository_contract(&db.repos()).await;
    sqlx::query("ANALYZE")
        .execute(db.store.primary())
        .await
        .unwrap();
    let mut conn = db.store.primary().acquire().await.unwrap();
    // On tiny tables a sequential scan is the cheapest plan; forbid it to see what PostgreSQL
    // would use at scale (the same choice as on big tables, checked in docs/SCALING.md).
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    for (name, sql) in postgres_adapter::STATEMENTS {
        let plan = postgres_adapter::explain(&mut conn, sql).await.unwrap();
        assert!(!plan.contains("Seq Scan"), "{name}: seq scan\n{plan}");
    }
}
