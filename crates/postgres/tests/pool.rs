//! The connection pool: a connection the server ended while it sat idle in the pool is
//! replaced when it is next taken, not handed to a query that then fails. (A connection used
//! within the last 500 ms is handed out without that check: see `store::PING_IF_IDLE_FOR`.)

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{post, user, TestDb};
use domain::ports::{PostRepository, UserRepository};
use postgres_adapter::PgOptions;
use sqlx::{Connection, Executor};

#[tokio::test]
async fn connections_ended_by_the_server_while_idle_are_replaced_before_use() {
    let options = PgOptions {
        max_connections: 3,
        ..PgOptions::default()
    };
    let Some(db) = TestDb::with("idleping", &[], options).await else {
        return;
    };
    let author = user();
    UserRepository::create(&db.store, &author).await.unwrap();
    // Every connection of the pool in use at once, then idle in the pool.
    let (a, b, c) = tokio::join!(
        post(&db.store, author.id, "one"),
        db.store.primary().execute("SELECT pg_sleep(0.05)"),
        db.store.primary().execute("SELECT pg_sleep(0.05)"),
    );
    b.unwrap();
    c.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db.store.primary())
        .await
        .unwrap();

    // As a server restart or an idle-session timeout would: every backend of this database
    // but the one asking ends.
    let mut admin = sqlx::PgConnection::connect(&db.db.url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(ended.len() >= 3, "the pool's connections: {ended:?}");
    let _ = admin.close().await;
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Reads and a write, as many at once as the pool holds: each gets a live connection.
    let (read, write, page) = tokio::join!(
        UserRepository::by_id(&db.store, author.id),
        post(&db.store, author.id, "two"),
        db.store.primary().execute("SELECT 1"),
    );
    assert_eq!(read.unwrap().unwrap().posts_count, 1);
    assert_eq!(write.content, "two");
    page.unwrap();
    let first = PostRepository::by_id(&db.store, a.id).await.unwrap();
    assert_eq!(first.unwrap().content, "one");
}
