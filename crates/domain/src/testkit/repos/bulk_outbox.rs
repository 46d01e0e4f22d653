//! Bulk loads and the outbox: a load records no events and leaves the outbox triggers as they
//! were, whether it commits, commits without `restore` or is abandoned. The adapter says how
//! to list its enabled outbox triggers; everything else is the same on every database.

use std::future::Future;

use uuid::Uuid;

use super::helpers::{at, new_user};
use crate::model::{FeedEvent, FollowId, FollowRecord, PostId, PostRecord, UserId};
use crate::ports::{BulkStore, FeedOutbox, PostRepository};

/// The four outbox triggers, by name, as `enabled_triggers` must list them.
const OUTBOX_TRIGGERS: [&str; 4] = [
    "feed_outbox_delete",
    "feed_outbox_follow",
    "feed_outbox_post",
    "feed_outbox_unfollow",
];

#[derive(Clone, Copy, Debug)]
enum Finish {
    Commit,
    CommitWithoutRestore,
    Abandon,
}

fn post(author: UserId) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author,
        content: "seeded".to_owned(),
        created_at: at(0),
    }
}

/// Loads two users, an edge and a post each; `finish` decides how the load ends.
async fn load<S: BulkStore>(store: &S, fresh: bool, finish: Finish) -> [UserId; 2] {
    let (a, b) = (new_user("bulk"), new_user("bulk"));
    let ids = [a.id, b.id];
    let edge = FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: ids[0],
        following_id: ids[1],
        created_at: at(0),
    };
    let mut load = store.begin_load(fresh).await.expect("begin");
    load.users(&[a, b]).await.expect("users");
    load.follows(&[edge]).await.expect("follows");
    load.posts(&[post(ids[0]), post(ids[1])])
        .await
        .expect("posts");
    match finish {
        Finish::Commit => {
            load.restore().await.expect("restore");
            load.recount().await.expect("recount");
            load.commit().await.expect("commit");
        }
        Finish::CommitWithoutRestore => load.commit().await.expect("commit"),
        Finish::Abandon => drop(load),
    }
    ids
}

/// After any load, the four triggers are enabled and a post records its event again.
async fn triggers_work<S, T, Fut>(store: &S, enabled_triggers: &T, author: UserId)
where
    S: FeedOutbox + PostRepository,
    T: Fn() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    assert_eq!(enabled_triggers().await, OUTBOX_TRIGGERS);
    let p = post(author);
    assert!(PostRepository::create(store, &p).await.expect("create"));
    let pending = store.pending(10).await.expect("pending");
    let events: Vec<FeedEvent> = pending.iter().map(|e| e.event).collect();
    assert_eq!(events, [FeedEvent::Posted { post: p.id, author }]);
    let seqs: Vec<i64> = pending.iter().map(|e| e.seq).collect();
    store.relayed(&seqs).await.expect("relayed");
}

/// Every way a bulk load can end records no events and leaves the triggers enabled. Needs a
/// store of its own (it counts the whole outbox). `enabled_triggers` lists the enabled outbox
/// triggers by name, sorted.
pub async fn bulk_loads_record_no_events<S, T, Fut>(store: &S, enabled_triggers: T)
where
    S: BulkStore + FeedOutbox + PostRepository,
    T: Fn() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let [first, _] = load(store, true, Finish::Commit).await;
    assert_eq!(store.backlog().await.expect("backlog"), 0, "fresh load");
    triggers_work(store, &enabled_triggers, first).await;

    for finish in [Finish::Commit, Finish::CommitWithoutRestore] {
        let [u, _] = load(store, false, finish).await;
        assert_eq!(store.backlog().await.expect("backlog"), 0, "{finish:?}");
        triggers_work(store, &enabled_triggers, u).await;
    }

    // Rolled back: nothing loaded, the triggers as they were.
    let [ghost, _] = load(store, false, Finish::Abandon).await;
    let created = PostRepository::create(store, &post(ghost)).await;
    assert!(!created.expect("create"), "not loaded");
    assert_eq!(store.backlog().await.expect("backlog"), 0);
    triggers_work(store, &enabled_triggers, first).await;
}
