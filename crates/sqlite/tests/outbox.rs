//! The feed outbox beyond the domain's suite (which `contract.rs` runs): bulk loads record no
//! events and leave the triggers in place, whether they commit, skip `restore` or roll back;
//! a row of a kind this build does not know is an error, not a panic.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

use domain::model::{
    Email, FeedEvent, FollowId, FollowRecord, NewUser, PostId, PostRecord, Timestamp, UserId,
    Username,
};
use domain::ports::{BulkStore, FeedOutbox, PostRepository};
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

fn user() -> NewUser {
    let s = &Uuid::new_v4().simple().to_string()[..10];
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(&format!("b{s}@example.com")).unwrap(),
        username: Username::parse(&format!("b_{s}")).unwrap(),
        name: None,
        password_hash: "hash".to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

fn post(author: UserId) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author,
        content: "seeded".to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

fn edge(a: UserId, b: UserId) -> FollowRecord {
    FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: a,
        following_id: b,
        created_at: Timestamp::from_unix_millis(0),
    }
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

/// Loads two users, an edge and a post each; `finish` decides how the load ends.
async fn load(store: &SqliteStore, fresh: bool, finish: Finish) -> [UserId; 2] {
    let (a, b) = (user(), user());
    let ids = [a.id, b.id];
    let mut load = store.begin_load(fresh).await.unwrap();
    load.users(&[a, b]).await.unwrap();
    load.follows(&[edge(ids[0], ids[1])]).await.unwrap();
    load.posts(&[post(ids[0]), post(ids[1])]).await.unwrap();
    match finish {
        Finish::Commit => {
            load.restore().await.unwrap();
            load.recount().await.unwrap();
            load.commit().await.unwrap();
        }
        Finish::CommitWithoutRestore => load.commit().await.unwrap(),
        Finish::Abandon => drop(load),
    }
    ids
}

#[derive(Clone, Copy, Debug)]
enum Finish {
    Commit,
    CommitWithoutRestore,
    Abandon,
}

/// After any load, the four triggers are there and a post records its event again.
async fn triggers_work(store: &SqliteStore, dir: &TempDir, author: UserId) {
    assert_eq!(
        outbox_triggers(dir).await,
        [
            "feed_outbox_delete",
            "feed_outbox_follow",
            "feed_outbox_post",
            "feed_outbox_unfollow"
        ]
    );
    let p = post(author);
    assert!(PostRepository::create(store, &p).await.unwrap());
    let pending = store.pending(10).await.unwrap();
    let events: Vec<FeedEvent> = pending.iter().map(|e| e.event).collect();
    assert_eq!(events, [FeedEvent::Posted { post: p.id, author }]);
    let seqs: Vec<i64> = pending.iter().map(|e| e.seq).collect();
    store.relayed(&seqs).await.unwrap();
}

#[tokio::test]
async fn bulk_loads_record_no_events_and_keep_the_triggers() {
    let (store, dir) = store().await;
    let [first, _] = load(&store, true, Finish::Commit).await;
    assert_eq!(store.backlog().await.unwrap(), 0, "fresh load");
    triggers_work(&store, &dir, first).await;

    for finish in [Finish::Commit, Finish::CommitWithoutRestore] {
        let [u, _] = load(&store, false, finish).await;
        assert_eq!(store.backlog().await.unwrap(), 0, "{finish:?}");
        triggers_work(&store, &dir, u).await;
    }

    // Rolled back: nothing loaded, the triggers as they were.
    let [ghost, _] = load(&store, false, Finish::Abandon).await;
    let p = post(ghost);
    assert!(
        !PostRepository::create(&store, &p).await.unwrap(),
        "not loaded"
    );
    assert_eq!(store.backlog().await.unwrap(), 0);
    triggers_work(&store, &dir, first).await;
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
