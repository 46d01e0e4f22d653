//! Group commit on PostgreSQL: bursts of concurrent creates and follows, some invalid, each
//! answered on its own and written in fewer statements than items; a writer killed in the
//! middle of a batch answers errors, never a false success; a write that queued past its send
//! window is refused and writes nothing (the bound replica routing relies on).

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::TestDb;
use domain::model::{Email, Keyset, NewUser, PostId, PostRecord, Timestamp, UserId, Username};
use domain::ports::{PostRepository, UserRepository};
use domain::testkit::repos;
use domain::StoreError;
use postgres_adapter::PgOptions;
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

fn new_post(author: UserId, id: Uuid, content: &str) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(id),
        author_id: author,
        content: content.to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

/// A write is sent at most the send window (the acquire timeout) after its id was minted, so
/// every row commits within the write window of its id: one that waited longer, alone or
/// queued behind a slow batch, is answered `Unavailable` and written nowhere.
#[tokio::test]
async fn a_write_past_its_send_window_is_refused_and_writes_nothing() {
    let options = PgOptions {
        acquire_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let Some(db) = TestDb::with("window", &[], options).await else {
        return;
    };
    let store = db.store.clone();
    let author = common::user();
    UserRepository::create(&store, &author).await.unwrap();

    let minted = SystemTime::now() - Duration::from_secs(10);
    let secs = minted.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let stale = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        secs.as_secs(),
        secs.subsec_nanos(),
    ));
    let answer = PostRepository::create(&store, &new_post(author.id, stale, "stale")).await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );

    // A batch held by a lock for longer than the window: what queued behind it meanwhile is
    // past its window by the time the writer takes it.
    let mut blocker = store.primary().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(author.id.as_uuid())
        .execute(&mut *blocker)
        .await
        .unwrap();
    let held = new_post(author.id, Uuid::now_v7(), "held");
    let first = {
        let (store, p) = (store.clone(), held.clone());
        tokio::spawn(async move { PostRepository::create(&store, &p).await })
    };
    // The stale post was the first item; the held one is the second.
    while store.write_batches().0.items < 2 {
        tokio::task::yield_now().await;
    }
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let (store, p) = (store.clone(), new_post(author.id, Uuid::now_v7(), "queued"));
            tokio::spawn(async move { PostRepository::create(&store, &p).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    blocker.rollback().await.unwrap();

    assert!(first.await.unwrap().unwrap(), "sent in time: written");
    for call in queued {
        let answer = call.await.unwrap();
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "{answer:?}"
        );
    }
    let rows = PostRepository::by_author(
        &store,
        author.id,
        Keyset {
            before: None,
            limit: 10,
        },
    )
    .await
    .unwrap();
    assert_eq!(common::contents(&rows), ["held"]);
    let after = UserRepository::by_id(&store, author.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.posts_count, 1);
}
