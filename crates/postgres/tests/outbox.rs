//! The feed outbox beyond the domain's suite (which `contract.rs` runs): the testkit's bulk-load
//! scenario with PostgreSQL's list of enabled triggers; a row of a kind this build does not
//! know is an error, not a panic.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestDb;
use domain::ports::FeedOutbox;
use domain::testkit::repos::bulk_loads_record_no_events;
use domain::StoreError;
use postgres_adapter::PgStore;
use uuid::Uuid;

/// The outbox triggers that are enabled, by name.
async fn enabled_triggers(store: &PgStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tgname::text FROM pg_trigger WHERE tgname LIKE 'feed_outbox%' \
         AND tgenabled = 'O' ORDER BY 1",
    )
    .fetch_all(store.primary())
    .await
    .unwrap()
}

#[tokio::test]
async fn bulk_loads_record_no_events_and_keep_the_triggers() {
    let Some(db) = TestDb::new("bulkoutbox").await else {
        return;
    };
    bulk_loads_record_no_events(&db.store, || enabled_triggers(&db.store)).await;
}

#[tokio::test]
async fn an_unknown_kind_is_an_error() {
    let Some(db) = TestDb::new("outboxkind").await else {
        return;
    };
    sqlx::query("INSERT INTO feed_outbox (kind, a, b) VALUES ('repost', $1, $1)")
        .bind(Uuid::now_v7())
        .execute(db.store.primary())
        .await
        .unwrap();
    let err = db.store.pending(10).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Internal(ref m) if m.contains("repost")),
        "{err:?}"
    );
    assert_eq!(db.store.backlog().await.unwrap(), 1);
}
