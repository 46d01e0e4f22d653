//! Group commit on SQLite: bursts of concurrent creates and follows, some invalid, some
//! duplicates under one idempotency key, each answered on its own and written in fewer
//! transactions than items; a writer killed in the
//! middle of a batch answers errors and writes nothing.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

use domain::model::{Email, NewUser, PostId, PostRecord, Timestamp, UserId, Username};
use domain::ports::{PostRepository, UserRepository};
use domain::testkit::repos::{self, Repos};
use domain::StoreError;
use sqlite::SqliteStore;
use sqlx::{Connection, Executor};
use tempfile::TempDir;
use uuid::Uuid;

async fn store(dir: &TempDir) -> (SqliteStore, String) {
    let path = dir.path().join("test.db").display().to_string();
    let store = SqliteStore::connect(&format!("sqlite://{path}"), 4)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, path)
}

#[tokio::test]
async fn bursts_are_answered_one_by_one_and_committed_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store(&dir).await;
    let repos = Repos::sharing(store.clone());
    repos::posts_burst_each_answered(&repos).await;
    repos::follows_burst_each_answered(&repos).await;
    let (posts, follows) = store.write_batches();
    // Every create and follow went through the writers (the bursts and their setup), and the
    // concurrent ones shared transactions.
    assert!(posts.items >= 200, "{posts:?}");
    assert!(posts.batches < posts.items, "no batching: {posts:?}");
    assert!(follows.batches < follows.items, "no batching: {follows:?}");
    store.close().await;
}

#[tokio::test]
async fn keyed_duplicates_fail_alone_inside_shared_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store(&dir).await;
    let before = store.write_batches();
    repos::keyed_duplicates_in_one_burst(&Repos::sharing(store.clone())).await;
    let (posts, follows) = store.write_batches();
    // The duplicates shared transactions with their batch-mates, which all committed.
    let (post_items, post_batches) = (
        posts.items - before.0.items,
        posts.batches - before.0.batches,
    );
    assert!(post_batches < post_items, "no batching: {posts:?}");
    assert!(
        follows.batches - before.1.batches < follows.items - before.1.items,
        "{follows:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn bursts_on_a_memory_database() {
    let store = SqliteStore::connect("sqlite::memory:", 2).await.unwrap();
    store.migrate().await.unwrap();
    let repos = Repos::sharing(store.clone());
    repos::posts_burst_each_answered(&repos).await;
    repos::follows_burst_each_answered(&repos).await;
    store.close().await;
}

#[tokio::test]
async fn a_writer_killed_mid_batch_answers_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = store(&dir).await;
    let user = UserRepository::create(
        &store,
        &NewUser {
            id: UserId::from_uuid(Uuid::now_v7()),
            email: Email::parse("crash@example.com").unwrap(),
            username: Username::parse("crash").unwrap(),
            name: None,
            password_hash: "hash".to_owned(),
            created_at: Timestamp::from_unix_millis(0),
        },
    )
    .await
    .unwrap();

    // Another connection holds the write lock: the writer's batch waits in BEGIN IMMEDIATE.
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    blocker.execute("BEGIN IMMEDIATE").await.unwrap();

    let posts: Vec<PostRecord> = (0..20)
        .map(|i| PostRecord {
            id: PostId::from_uuid(Uuid::now_v7()),
            author_id: user.id,
            content: format!("doomed {i}"),
            created_at: Timestamp::from_unix_millis(i),
        })
        .collect();
    let calls: Vec<_> = posts
        .iter()
        .map(|p| {
            let (store, p) = (store.clone(), p.clone());
            tokio::spawn(async move { PostRepository::create(&store, &p).await })
        })
        .collect();
    // The writer has taken a batch (on this single-threaded runtime, all 20 queued first).
    while store.write_batches().0.items == 0 {
        tokio::task::yield_now().await;
    }
    store.kill_writers();
    for call in calls {
        let answer = call.await.unwrap();
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "a killed writer answers an error, never success: {answer:?}"
        );
    }
    blocker.execute("ROLLBACK").await.unwrap();
    blocker.close().await.unwrap();

    for p in &posts {
        assert_eq!(PostRepository::by_id(&store, p.id).await.unwrap(), None);
    }
    let after = UserRepository::by_id(&store, user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.posts_count, 0);
    // Later writes answer errors too: the writer is gone.
    let late = PostRepository::create(&store, &posts[0]).await;
    assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
}
