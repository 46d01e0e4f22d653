//! The feed outbox beyond the domain's suite (which `contract.rs` runs): bulk loads record no
//! events and leave the triggers enabled, whether they commit, skip `restore` or roll back; a
//! row of a kind this build does not know is an error, not a panic.

// A failed setup step is a failed test; clippy's test allowance does not cover shared helpers.
#![allow(clippy::unwrap_used)]

mod common;

use common::{user, TestDb};
use domain::model::{FeedEvent, FollowId, FollowRecord, PostId, PostRecord, Timestamp, UserId};
use domain::ports::{BulkStore, FeedOutbox, PostRepository};
use domain::StoreError;
use postgres_adapter::PgStore;
use uuid::Uuid;

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

#[derive(Clone, Copy, Debug)]
enum Finish {
    Commit,
    CommitWithoutRestore,
    Abandon,
}

/// Loads two users, an edge and a post each; `finish` decides how the load ends.
async fn load(store: &PgStore, fresh: bool, finish: Finish) -> [UserId; 2] {
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

/// After any load, the four triggers are enabled and a post records its event again.
async fn triggers_work(store: &PgStore, author: UserId) {
    let enabled: Vec<String> = sqlx::query_scalar(
        "SELECT tgname::text FROM pg_trigger WHERE tgname LIKE 'feed_outbox%' \
         AND tgenabled = 'O' ORDER BY 1",
    )
    .fetch_all(store.primary())
    .await
    .unwrap();
    assert_eq!(
        enabled,
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
    let Some(db) = TestDb::new("bulkoutbox").await else {
        return;
    };
    let store = &db.store;
    let [first, _] = load(store, true, Finish::Commit).await;
    assert_eq!(store.backlog().await.unwrap(), 0, "fresh load");
    triggers_work(store, first).await;

    for finish in [Finish::Commit, Finish::CommitWithoutRestore] {
        let [u, _] = load(store, false, finish).await;
        assert_eq!(store.backlog().await.unwrap(), 0, "{finish:?}");
        triggers_work(store, u).await;
    }

    // Rolled back: nothing loaded, the triggers as they were.
    let [ghost, _] = load(store, false, Finish::Abandon).await;
    assert!(!PostRepository::create(store, &post(ghost)).await.unwrap());
    assert_eq!(store.backlog().await.unwrap(), 0);
    triggers_work(store, first).await;
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
