//! The feed outbox beyond the domain's suite (which `contract.rs` runs): the testkit's bulk-load
//! scenario with SQLite's trigger list; a row of a kind this build does not know is an error,
//! not a panic.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

use domain::ports::FeedOutbox;
use domain::testkit::repos::bulk_loads_record_no_events;
use domain::StoreError;
use sqlite::SqliteStore;
use sqlx::Connection;
use tempfile::TempDir;
use uuid::Uuid;

async fn store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqliteStore::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// A connection of its own to the test's file, for what the ports do not do.
async fn raw(dir: &TempDir) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    sqlx::SqliteConnection::connect(&url).await.unwrap()
}

async fn outbox_triggers(dir: &TempDir) -> Vec<String> {
    let mut conn = raw(dir).await;
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' \
         AND name GLOB 'feed_outbox_*' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn bulk_loads_record_no_events_and_keep_the_triggers() {
    let (store, dir) = store().await;
    bulk_loads_record_no_events(&store, || outbox_triggers(&dir)).await;
    store.close().await;
}

#[tokio::test]
async fn an_unknown_kind_is_an_error() {
    let (store, dir) = store().await;
    let mut conn = raw(&dir).await;
    let id = Uuid::now_v7().to_string();
    sqlx::query("INSERT INTO feed_outbox (kind, a, b) VALUES ('repost', ?1, ?1)")
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = store.pending(10).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Internal(ref m) if m.contains("repost")),
        "{err:?}"
    );
    assert_eq!(store.backlog().await.unwrap(), 1);
    store.close().await;
}
