//! Group commit on PostgreSQL: bursts of concurrent creates and follows, some invalid, some
//! duplicates under one idempotency key, each answered on its own and written in fewer
//! statements than items; a writer killed in the
//! middle of a batch answers errors, never a false success.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestDb;
use domain::model::{Email, Keyset, NewUser, PostId, PostRecord, Timestamp, UserId, Username};
use domain::ports::{PostRepository, UserRepository};
use domain::testkit::repos;
use domain::StoreError;
use uuid::Uuid;

#[tokio::test]
async fn bursts_are_answered_one_by_one_and_committed_in_batches() {
    let Some(db) = TestDb::new("bursts").await else {
        return;
    };
    repos::posts_burst_each_answered(&db.repos()).await;
    repos::follows_burst_each_answered(&db.repos()).await;
    let (posts, follows) = db.store.write_batches();
    assert!(posts.items >= 200, "{posts:?}");
    assert!(posts.batches < posts.items, "no batching: {posts:?}");
    assert!(follows.batches < follows.items, "no batching: {follows:?}");
}

#[tokio::test]
async fn keyed_duplicates_fail_alone_inside_shared_batches() {
    let Some(db) = TestDb::new("keyedburst").await else {
        return;
    };
    let before = db.store.write_batches();
    repos::keyed_duplicates_in_one_burst(&db.repos()).await;
    let (posts, follows) = db.store.write_batches();
    // The duplicates went into batch statements with their batch-mates, which all committed.
    let (post_items, post_batches) = (
        posts.items - before.0.items,
        posts.batches - before.0.batches,
    );
    assert!(post_batches < post_items, "no batching: {posts:?}");
    assert!(
        follows.batches - before.1.batches < follows.items - before.1.items,
        "{follows:?}"
    );
}

#[tokio::test]
async fn a_writer_killed_mid_batch_answers_errors_never_success() {
    let Some(db) = TestDb::new("crash").await else {
        return;
    };
    let store = db.store.clone();
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

    // Another transaction locks the author's row: the batch's insert waits for it.
    let mut blocker = store.primary().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user.id.as_uuid())
        .execute(&mut *blocker)
        .await
        .unwrap();

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
    blocker.rollback().await.unwrap();

    // The statement already sent may still complete (as after a connection lost mid-commit);
    // whatever happened, it happened whole: the counter equals the rows.
    let rows = PostRepository::by_author(
        &store,
        user.id,
        Keyset {
            before: None,
            limit: 100,
        },
    )
    .await
    .unwrap();
    let after = UserRepository::by_id(&store, user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.posts_count, u64::try_from(rows.len()).unwrap());
    let late = PostRepository::create(&store, &posts[0]).await;
    assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
}
