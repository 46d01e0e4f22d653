//! Read-replica routing on a real streaming standby of a private primary ([`LocalCluster`]),
//! whose freshness the store measures: a standby that lags (replay delayed or paused) serves
//! no page it may not hold every row of, and serves them again once it has caught up.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::{contents, page, post, post_as, routing_options as options, user};
use domain::model::PostRecord;
use domain::ports::{PostRepository, UserRepository};
use postgres_adapter::testing::LocalCluster;
use postgres_adapter::PgStore;
use uuid::Uuid;

/// A cursor minted an hour ago: every row below it committed long ago.
fn old_cursor() -> Uuid {
    let ago = SystemTime::now() - Duration::from_secs(3600);
    let secs = ago
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, 0))
}

/// The pages the standby has served.
fn standby_reads(store: &PgStore) -> u64 {
    store.replica_stats()[0].reads
}

/// A private primary, migrated, then a streaming standby made by `standby`, and a store
/// routing to both.
async fn cluster(
    standby: impl FnOnce(&mut LocalCluster) -> Result<(), String>,
) -> Option<(LocalCluster, PgStore)> {
    let mut cluster = blocking(LocalCluster::start)?;
    let primary = PgStore::connect(&cluster.primary_url("postgres"), &[], options())
        .await
        .unwrap();
    primary.migrate().await.unwrap();
    primary.close().await;
    blocking(|| standby(&mut cluster));
    let store = PgStore::connect(
        &cluster.primary_url("postgres"),
        &[cluster.standby_url("postgres")],
        options(),
    )
    .await
    .unwrap();
    Some((cluster, store))
}

/// Runs a blocking call of the cluster helper (it waits on child processes) off the runtime's
/// worker, which needs the multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> Result<T, String>) -> T {
    tokio::task::block_in_place(f).unwrap()
}

/// Reads `read` until the standby served it, checking every answer, wherever it came from,
/// is `want`; the deadline only bounds a failure.
async fn until_the_standby_serves(
    store: &PgStore,
    want: &[&str],
    read: impl AsyncFn() -> Vec<PostRecord>,
) {
    let before = standby_reads(store);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = read().await;
        assert_eq!(contents(&got), want, "wherever it is read");
        if standby_reads(store) > before {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the standby never served the page"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// A standby whose replay is delayed (`recovery_min_apply_delay`) is routed around for every
/// page it may not hold all of: here a post whose id was minted before the cursor's but
/// committed after it, as a slow write's is, and which the standby has not replayed. Once the
/// delay is lifted and it has caught up, the standby serves that very page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_standby_is_routed_around_then_used_once_caught_up() {
    let Some((cluster, store)) =
        cluster(|c| c.add_delayed_standby(Duration::from_secs(3600))).await
    else {
        return;
    };
    let author = user();
    UserRepository::create(&store, &author).await.unwrap();
    post(&store, author.id, "old").await;

    let slow = Uuid::now_v7();
    let cursor = post(&store, author.id, "cursor").await;
    post_as(&store, slow, author.id, "committed late").await;
    let later = page(Some(cursor.id.as_uuid()));
    // Past the write window (and the 2 s the router used to wait): by the cursor's age alone
    // the standby would now serve the page, and miss the late post.
    let window = options().write_window();
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    let on_standby = blocking(|| cluster.standby_sql("SELECT count(*) FROM posts"));
    assert_eq!(on_standby, "0", "the standby has none of these posts");

    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["committed late", "old"]);
    let got = store.by_author(author.id, later).await.unwrap();
    assert_eq!(contents(&got), ["committed late", "old"]);
    let got = store.feed(author.id, later).await.unwrap();
    assert_eq!(contents(&got), ["committed late", "old"]);
    assert_eq!(standby_reads(&store), 0, "all three from the primary");
    assert_eq!(store.replica_status(), (1, 1), "lagging, not down");

    blocking(|| cluster.delay_standby_replay(Duration::ZERO));
    until_the_standby_serves(&store, &["committed late", "old"], async || {
        store.latest(later).await.unwrap()
    })
    .await;
    let got = store.by_author(author.id, later).await.unwrap();
    assert_eq!(contents(&got), ["committed late", "old"]);
    assert!(
        store.replica_stats()[0].lag.is_some(),
        "its lag is measured"
    );
    store.close().await;
}

/// With its replay paused, a standby still serves the pages it holds every row of, and shows
/// its older state there (a post deleted since still listed, within `replica_max_lag`) while
/// first pages and lookups show the primary's; resumed, it converges; stopped, its pages are
/// served by the primary with no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_standby_serves_what_it_holds_and_is_routed_around_once_stopped() {
    let Some((mut cluster, store)) = cluster(LocalCluster::add_standby).await else {
        return;
    };
    let author = user();
    UserRepository::create(&store, &author).await.unwrap();
    let old = post(&store, author.id, "old").await;
    post(&store, author.id, "kept").await;
    let first = page(None);
    let deep = page(Some(old_cursor()));
    blocking(|| cluster.wait_standby_caught_up());
    until_the_standby_serves(&store, &[], async || store.latest(deep).await.unwrap()).await;
    let later = page(Some(Uuid::now_v7()));
    tokio::time::sleep(options().write_window() + Duration::from_millis(200)).await;
    until_the_standby_serves(&store, &["kept", "old"], async || {
        store.latest(later).await.unwrap()
    })
    .await;

    // Replay held, then a delete on the primary: only the primary knows.
    blocking(|| cluster.pause_standby_replay());
    assert!(PostRepository::delete(&store, old.id, author.id)
        .await
        .unwrap());
    let served = standby_reads(&store);
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["kept", "old"], "a later page: the standby");
    let got = store.by_author(author.id, later).await.unwrap();
    assert_eq!(contents(&got), ["kept", "old"], "a later page: the standby");
    let got = store.feed(author.id, later).await.unwrap();
    assert_eq!(contents(&got), ["kept", "old"], "a later page: the standby");
    assert_eq!(standby_reads(&store), served + 3);
    let got = store.latest(first).await.unwrap();
    assert_eq!(contents(&got), ["kept"], "a first page: the primary");
    let got = store.by_author(author.id, first).await.unwrap();
    assert_eq!(contents(&got), ["kept"], "a first page: the primary");
    let got = PostRepository::by_id(&store, old.id).await.unwrap();
    assert_eq!(got, None, "a lookup: the primary");

    blocking(|| cluster.resume_standby_replay());
    until_reads("the standby converging", &["kept"], async || {
        store.latest(later).await.unwrap()
    })
    .await;
    assert_eq!(store.replica_status(), (1, 1));

    // Gone: its sessions are ended, and its pages move to the primary without an error.
    blocking(|| cluster.stop_standby());
    let got = store.latest(later).await.unwrap();
    assert_eq!(contents(&got), ["kept"], "the primary, instead");
    assert_eq!(store.replica_status(), (1, 0), "the standby is now skipped");
    let got = store.by_author(author.id, later).await.unwrap();
    assert_eq!(contents(&got), ["kept"]);
    store.close().await;
}
