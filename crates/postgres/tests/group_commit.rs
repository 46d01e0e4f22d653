//! Group commit on PostgreSQL: bursts of concurrent creates and follows, some invalid, some
//! duplicates under one idempotency key, each answered on its own and written in fewer
//! statements than items; a writer killed in the middle of a batch answers errors, never a
//! false success; a write that queued past its send window is refused and writes nothing, its
//! key included (the bound replica routing relies on).

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::TestDb;
use domain::model::{
    Email, Fingerprint, IdempotencyKey, KeyClaim, KeyScope, Keyset, NewUser, PostId, PostRecord,
    Timestamp, UserId, Username,
};
use domain::ports::{IdempotencyKeyRepository, Keyed, PostRepository, UserRepository};
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
    // Keyed, the same: and its key is not claimed either, so a retry with it writes.
    let alone = key_claim(author.id, "stale-alone");
    let answer =
        PostRepository::create_keyed(&store, &new_post(author.id, stale, "stale"), &alone).await;
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
    // The two stale posts were the first items; the held one is the third.
    while store.write_batches().0.items < 3 {
        tokio::task::yield_now().await;
    }
    // One of them keyed: its claim is in the batch statement it is left out of.
    let queued_key = key_claim(author.id, "queued");
    let queued: Vec<_> = (0..3)
        .map(|i| {
            let (store, p) = (store.clone(), new_post(author.id, Uuid::now_v7(), "queued"));
            let claim = (i == 0).then(|| queued_key.clone());
            tokio::spawn(async move {
                match claim {
                    Some(c) => PostRepository::create_keyed(&store, &p, &c)
                        .await
                        .map(|k| matches!(k, Keyed::Done(true))),
                    None => PostRepository::create(&store, &p).await,
                }
            })
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
    // At the posts' own time (`new_post`), when a key they claimed would be live.
    for claim in [&alone, &queued_key] {
        let at = Timestamp::from_unix_millis(0);
        let kept = IdempotencyKeyRepository::find(&store, &claim.scope, &claim.key, at)
            .await
            .unwrap();
        assert_eq!(kept, None, "a write not sent claims no key");
    }
}

fn key_claim(user: UserId, key: &str) -> KeyClaim {
    KeyClaim {
        scope: KeyScope::user(user),
        key: IdempotencyKey::parse(key.as_bytes()).unwrap(),
        fingerprint: Fingerprint::of("test").field("key", Some(key)).finish(),
    }
}
