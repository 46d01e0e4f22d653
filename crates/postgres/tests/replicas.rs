//! Read-replica routing, with stand-in replicas.
//!
//! Two databases on the shared server stand in for a primary and its replica. They do not
//! replicate, and that is what makes routing visible: a row written only to the "replica"
//! shows up exactly when a read was routed there. Nothing replicates, so nothing can be
//! measured either: each test fixes how fresh the stand-in is taken to be
//! (`pin_replica_freshness`), except the ones about the probe itself. The tests on a real
//! streaming standby, whose freshness is measured, are in `standby.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::{contents, page, post, routing_options as options, user, TestDb};
use domain::model::UserId;
use domain::ports::{PostRepository, UserRepository};
use postgres_adapter::testing::ClosedPort;
use postgres_adapter::PgStore;
use uuid::Uuid;

/// A stand-in taken to be fresh as of a day from now holds, as far as routing can tell, every
/// row of any cursor a test makes.
fn always() -> Option<SystemTime> {
    Some(SystemTime::now() + Duration::from_secs(86_400))
}

/// When a UUIDv7 was minted.
fn minted(id: Uuid) -> SystemTime {
    let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
    SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
}

/// The pages each replica has served.
fn reads(store: &PgStore) -> Vec<u64> {
    store.replica_stats().iter().map(|r| r.reads).collect()
}

/// The same author and an older post on both sides, then rows that differ. The stand-in is
/// taken to hold every row ([`always`]).
async fn primary_and_replica() -> Option<(TestDb, TestDb, PgStore, UserId)> {
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
        options(),
    )
    .await
    .unwrap();
    routed.pin_replica_freshness(0, always());
    Some((primary, replica, routed, author.id))
}

#[tokio::test]
async fn pages_after_a_cursor_the_replica_holds_read_it_and_everything_else_the_primary() {
    let Some((_p, _r, store, author)) = primary_and_replica().await else {
        return;
    };
    let first = page(None);
    let later = page(Some(Uuid::now_v7()));

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
    assert_eq!(reads(&store), [3], "counted");

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

/// A row below a cursor may still commit up to the write window after the cursor was minted:
/// a replica serves the page only once it is known fresh as of then, not a millisecond before.
#[tokio::test]
async fn a_replica_serves_a_page_only_once_fresh_as_of_the_cursor_plus_the_write_window() {
    let Some((_p, _r, store, _)) = primary_and_replica().await else {
        return;
    };
    let cursor = Uuid::now_v7();
    let later = page(Some(cursor));
    let needed = minted(cursor) + options().write_window();

    store.pin_replica_freshness(0, Some(needed - Duration::from_millis(1)));
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["on the primary only", "old"]);
    // Not known: nothing.
    store.pin_replica_freshness(0, None);
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["on the primary only", "old"]);
    assert_eq!(reads(&store), [0]);

    store.pin_replica_freshness(0, Some(needed));
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["on the replica only", "old"]);
    assert_eq!(reads(&store), [1]);
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
    let store = PgStore::connect(&primary.db.url, &replicas[..1], options())
        .await
        .unwrap();
    // Taken to be fresh, so a read tries it and finds it unreachable.
    store.pin_replica_freshness(0, always());
    let author = user();
    UserRepository::create(&store, &author).await.unwrap();
    post(&store, author.id, "hello").await;
    let later = page(Some(Uuid::now_v7()));
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
    let two = PgStore::connect(&primary.db.url, &replicas, options())
        .await
        .unwrap();
    two.pin_replica_freshness(0, always());
    two.pin_replica_freshness(1, always());
    for _ in 0..4 {
        assert_eq!(contents(&two.latest(later).await.unwrap()), ["hello"]);
    }
    assert_eq!(two.replica_status(), (2, 1));
    // The first read tried the dead one (round-robin starts there) and fell back on the
    // primary; the dead one was skipped from then on.
    assert_eq!(reads(&two), [0, 3]);
    // The suites still pass through a store with a dead replica.
    domain::testkit::repos::post_repository_contract(&domain::testkit::repos::Repos::sharing(
        two.clone(),
    ))
    .await;
}

/// Polls until `done`; the deadline only bounds a failure.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The probe, on replicas it cannot measure: one it cannot reach is skipped, and one that is not
/// a standby (here another database of a primary) never serves, however old the cursor.
#[tokio::test]
async fn a_replica_that_cannot_be_measured_serves_nothing() {
    let Some(primary) = TestDb::new("unmeasured").await else {
        return;
    };
    let Some(other) = TestDb::new("notstandby").await else {
        return;
    };
    let closed = ClosedPort::new().unwrap();
    let dead = format!("postgres://postgres@127.0.0.1:{}/nope", closed.port);
    let store = PgStore::connect(&primary.db.url, &[dead, other.db.url.clone()], options())
        .await
        .unwrap();
    let author = user();
    UserRepository::create(&store, &author).await.unwrap();
    post(&store, author.id, "hello").await;
    // Both are probed in the same round: once the dead one is skipped, the other was measured.
    eventually("the probe skips the unreachable replica", || {
        store.replica_status() == (2, 1)
    })
    .await;
    // A cursor old enough for any replica that could be measured.
    let later = page(Some(Uuid::now_v7()));
    tokio::time::sleep(options().write_window() + Duration::from_millis(100)).await;
    for _ in 0..4 {
        let got = store.latest(later).await.unwrap();
        assert_eq!(contents(&got), ["hello"]);
    }
    assert_eq!(reads(&store), [0, 0]);
    let lags: Vec<_> = store.replica_stats().iter().map(|r| r.lag).collect();
    assert_eq!(lags, [None, None], "no lag can be measured");
    store.close().await;
}
