//! Read-replica routing.
//!
//! Most tests use two databases on the shared server standing in for a primary and its
//! replica. They do not replicate, and that is what makes routing visible: a row written only
//! to the "replica" shows up exactly when a read was routed there. One test runs a real
//! streaming standby of a private primary ([`LocalCluster`]) and holds its replay to see which
//! side a read was served by.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestDb;
use domain::model::{Email, Keyset, NewUser, PostId, PostRecord, Timestamp, UserId, Username};
use domain::ports::{PostRepository, UserRepository};
use postgres_adapter::testing::{ClosedPort, LocalCluster};
use postgres_adapter::{PgOptions, PgStore};
use uuid::Uuid;

/// Routing in these tests only depends on the cursor being old enough; 0 makes any cursor so.
fn options(min_age: Duration) -> PgOptions {
    PgOptions {
        replica_min_age: min_age,
        replica_acquire_timeout: Duration::from_millis(300),
        replica_retry_after: Duration::from_secs(60),
        ..PgOptions::default()
    }
}

fn user() -> NewUser {
    let s = &Uuid::new_v4().simple().to_string()[..10];
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(&format!("r{s}@example.com")).unwrap(),
        username: Username::parse(&format!("r_{s}")).unwrap(),
        name: None,
        password_hash: "hash".to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

async fn post(store: &PgStore, author: UserId, content: &str) -> PostRecord {
    let p = PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author,
        content: content.to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    };
    assert!(PostRepository::create(store, &p).await.unwrap());
    p
}

fn contents(rows: &[PostRecord]) -> Vec<&str> {
    rows.iter().map(|p| p.content.as_str()).collect()
}

/// The same author and an older post on both sides, then rows that differ.
async fn primary_and_replica(min_age: Duration) -> Option<(TestDb, TestDb, PgStore, UserId)> {
    let primary = TestDb::new("primary").await?;
    let replica = TestDb::new("replica").await?;
    let author = user();
    UserRepository::create(&primary.store, &author)
        .await
        .unwrap();
    UserRepository::create(&replica.store, &author)
        .await
        .unwrap();
    let old = post(&primary.store, author.id, "old").await;
    PostRepository::create(&replica.store, &old).await.unwrap();
    post(&primary.store, author.id, "on the primary only").await;
    post(&replica.store, author.id, "on the replica only").await;
    let routed = PgStore::connect(
        &primary.db.url,
        std::slice::from_ref(&replica.db.url),
        options(min_age),
    )
    .await
    .unwrap();
    Some((primary, replica, routed, author.id))
}

#[tokio::test]
async fn pages_after_an_old_cursor_read_the_replica_and_everything_else_the_primary() {
    let Some((_p, _r, store, author)) = primary_and_replica(Duration::ZERO).await else {
        return;
    };
    let first = Keyset {
        before: None,
        limit: 10,
    };
    let later = Keyset {
        before: Some(Uuid::now_v7()),
        limit: 10,
    };

    // First pages: the primary (they may hold the caller's own write of a moment ago).
    let got = store.latest(first).await.unwrap();
    assert_eq!(contents(&got), ["on the primary only", "old"]);
    let got = store.by_author(author, first).await.unwrap();
    assert_eq!(contents(&got), ["on the primary only", "old"]);
    let got = store.feed(author, first).await.unwrap();
    assert_eq!(contents(&got), ["on the primary only", "old"]);

    // Pages after a cursor: the replica.
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["on the replica only", "old"]);
    let got = store.by_author(author, later).await.unwrap();
    assert_eq!(contents(&got), ["on the replica only", "old"]);
    let got = store.feed(author, later).await.unwrap();
    assert_eq!(contents(&got), ["on the replica only", "old"]);

    // Writes and read-your-writes lookups: the primary.
    let mine = post(&store, author, "just posted").await;
    let got = PostRepository::by_id(&store, mine.id).await.unwrap();
    assert_eq!(got, Some(mine.clone()));
    let me = UserRepository::by_id(&store, author)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me.posts_count, 3, "the primary's counter");
    let got = store.by_author(author, first).await.unwrap();
    assert_eq!(got[0], mine, "the author sees their post at once");
    assert_eq!(store.replica_status(), (1, 1));
}

#[tokio::test]
async fn a_fresh_cursor_stays_on_the_primary() {
    let Some((_p, _r, store, _)) = primary_and_replica(Duration::from_secs(3600)).await else {
        return;
    };
    let later = Keyset {
        before: Some(Uuid::now_v7()),
        limit: 10,
    };
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["on the primary only", "old"]);
}

#[tokio::test]
async fn a_dead_replica_is_routed_around() {
    let Some(primary) = TestDb::new("deadrep").await else {
        return;
    };
    // Held for the whole test, so no server can start on it meanwhile: connection refused.
    let closed = ClosedPort::new().unwrap();
    let dead = format!("postgres://postgres@127.0.0.1:{}/nope", closed.port);
    let replicas = [dead, primary.db.url.clone()];
    let store = PgStore::connect(&primary.db.url, &replicas[..1], options(Duration::ZERO))
        .await
        .unwrap();
    let author = user();
    UserRepository::create(&store, &author).await.unwrap();
    post(&store, author.id, "hello").await;
    let later = Keyset {
        before: Some(Uuid::now_v7()),
        limit: 10,
    };
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["hello"], "served by the primary instead");
    assert_eq!(
        store.replica_status(),
        (1, 0),
        "and the replica is now skipped"
    );
    // A skipped replica is not tried again meanwhile: the next read goes straight to the
    // primary and the replica stays skipped.
    store.latest(later).await.unwrap();
    assert_eq!(store.replica_status(), (1, 0));

    // With one dead and one live replica, reads keep landing on the live one.
    let two = PgStore::connect(&primary.db.url, &replicas, options(Duration::ZERO))
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(contents(&two.latest(later).await.unwrap()), ["hello"]);
    }
    assert_eq!(two.replica_status(), (2, 1));
    // The suites still pass through a store with a dead replica.
    domain::testkit::repos::post_repository_contract(&domain::testkit::repos::Repos::sharing(
        two.clone(),
    ))
    .await;
}

/// Runs a blocking call of the cluster helper (it waits on child processes) off the runtime's
/// worker, which needs the multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> Result<T, String>) -> T {
    tokio::task::block_in_place(f).unwrap()
}

/// Polls `read` until it answers `want`; the deadline only bounds a failure.
async fn until_reads(what: &str, want: &[&str], read: impl AsyncFn() -> Vec<PostRecord>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = read().await;
        if contents(&got) == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {:?}",
            contents(&got)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On a real standby: with its replay held, a deep page shows the standby's older state while
/// first pages and lookups show the primary's; resumed, it converges; stopped, deep pages are
/// served by the primary with no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_pages_read_a_streaming_standby_and_fall_back_when_it_stops() {
    let Some(mut cluster) = blocking(|| {
        let mut cluster = LocalCluster::start()?;
        if let Some(c) = cluster.as_mut() {
            c.add_standby()?;
        }
        Ok(cluster)
    }) else {
        return;
    };
    let store = PgStore::connect(
        &cluster.primary_url("postgres"),
        &[cluster.standby_url("postgres")],
        options(Duration::ZERO),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let author = user();
    UserRepository::create(&store, &author).await.unwrap();
    let old = post(&store, author.id, "old").await;
    post(&store, author.id, "kept").await;
    let first = Keyset {
        before: None,
        limit: 10,
    };
    let deep = Keyset {
        before: Some(Uuid::now_v7()),
        limit: 10,
    };
    blocking(|| cluster.wait_standby_caught_up());
    assert_eq!(
        contents(&store.latest(deep).await.unwrap()),
        ["kept", "old"]
    );

    // Replay held, then a delete on the primary: only the primary knows.
    blocking(|| cluster.pause_standby_replay());
    assert!(PostRepository::delete(&store, old.id, author.id)
        .await
        .unwrap());

    let got = store.latest(deep).await.unwrap();
    assert_eq!(contents(&got), ["kept", "old"], "a deep page: the standby");
    let got = store.by_author(author.id, deep).await.unwrap();
    assert_eq!(contents(&got), ["kept", "old"], "a deep page: the standby");
    let got = store.feed(author.id, deep).await.unwrap();
    assert_eq!(contents(&got), ["kept", "old"], "a deep page: the standby");
    let got = store.latest(first).await.unwrap();
    assert_eq!(contents(&got), ["kept"], "a first page: the primary");
    let got = store.by_author(author.id, first).await.unwrap();
    assert_eq!(contents(&got), ["kept"], "a first page: the primary");
    let got = PostRepository::by_id(&store, old.id).await.unwrap();
    assert_eq!(got, None, "a lookup: the primary");

    blocking(|| cluster.resume_standby_replay());
    until_reads("the standby converging", &["kept"], async || {
        store.latest(deep).await.unwrap()
    })
    .await;
    assert_eq!(store.replica_status(), (1, 1));

    // Gone: its sessions are ended, and deep pages move to the primary without an error.
    blocking(|| cluster.stop_standby());
    let got = store.latest(deep).await.unwrap();
    assert_eq!(contents(&got), ["kept"], "the primary, instead");
    assert_eq!(store.replica_status(), (1, 0), "the standby is now skipped");
    let got = store.by_author(author.id, deep).await.unwrap();
    assert_eq!(contents(&got), ["kept"]);
    store.close().await;
}
