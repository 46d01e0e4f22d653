//! The fan-out timelines and the feed event stream against the machine's Redis
//! (`SOCIALSCALE_TEST_REDIS_URL`), against a private redis-server, and against no Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::suites;
use common::support::{add_undecodable, conn, posted, shared, unavailable, unreachable};
use domain::model::{PostId, TimelineEntry, UserId};
use domain::ports::{FeedEventStream, TimelineStore, TimelineWindow};
use redis_adapter::testing::{can_start_servers, redis_url, ClosedPort, RedisServer};
use redis_adapter::{RedisFeedStream, RedisTimelines, TimelineSettings};
use uuid::Uuid;

#[tokio::test]
async fn redis_timelines_pass_the_timeline_store_contract() {
    let Some(url) = redis_url().await else { return };
    suites::timeline_suites(&url).await;
}

#[tokio::test]
async fn redis_feed_stream_passes_the_feed_event_stream_contract() {
    let Some(url) = redis_url().await else { return };
    suites::stream_suites(&url).await;
}

fn user() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

async fn pttl(url: &str, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn(url).await)
        .await
        .unwrap()
}

/// Deleting the stream (what a flush does to it) takes the group with it; the next calls
/// create it again, and an event published in between is not lost.
#[tokio::test]
async fn the_group_is_created_again_after_the_stream_is_gone() {
    let Some(url) = redis_url().await else { return };
    let stream = RedisFeedStream::new(shared(&url));
    stream.publish(&[posted(1)]).await.unwrap();
    let got = stream.receive("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    stream.ack(&[got[0].id.clone()]).await.unwrap();

    let _: () = redis::cmd("DEL")
        .arg(stream.key())
        .query_async(&mut conn(&url).await)
        .await
        .unwrap();
    let e = posted(2);
    stream.publish(&[e]).await.unwrap();
    let got = stream
        .receive("w1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(got.iter().map(|d| d.entry).collect::<Vec<_>>(), vec![e]);

    // And once more with nothing published: a blocking read recreates it too.
    let _: () = redis::cmd("DEL")
        .arg(stream.key())
        .query_async(&mut conn(&url).await)
        .await
        .unwrap();
    assert!(stream
        .receive("w1", 10, Duration::from_millis(50))
        .await
        .unwrap()
        .is_empty());
    assert!(stream
        .claim_stale("w2", Duration::ZERO, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(stream.lag().await.unwrap(), 0);
}

/// An entry that does not decode is acknowledged and dropped, never a panic or a wedge.
#[tokio::test]
async fn undecodable_entries_are_dropped() {
    let Some(url) = redis_url().await else { return };
    let stream = RedisFeedStream::new(shared(&url));
    let good = posted(1);
    stream.publish(&[good]).await.unwrap();
    add_undecodable(&url, stream.key()).await;
    stream.publish(&[good]).await.unwrap();
    let got = stream.receive("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.entry).collect::<Vec<_>>(),
        vec![good, good]
    );
    assert_eq!(stream.lag().await.unwrap(), 2, "the bad ones are gone");
    let ids: Vec<String> = got.into_iter().map(|d| d.id).collect();
    stream.ack(&ids).await.unwrap();
    stream.ack(&["not-an-id".to_owned()]).await.unwrap();
    assert_eq!(stream.lag().await.unwrap(), 0);
}

/// A blocking read has a connection of its own: other calls do not queue behind it, and it
/// does not trip the per-call timeout (shorter than its wait).
#[tokio::test]
async fn a_blocking_read_holds_up_nothing_and_is_not_a_timeout() {
    let Some(url) = redis_url().await else { return };
    let redis = shared(&url);
    let stream = Arc::new(RedisFeedStream::new(redis.clone()));
    stream.lag().await.unwrap();
    let wait = redis.timeout() + Duration::from_millis(500);
    let reader = stream.clone();
    let started = Instant::now();
    let read = tokio::spawn(async move { reader.receive("w1", 10, wait).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    stream.lag().await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "a call waited {:?} behind the blocking read",
        asked.elapsed()
    );
    // Something arrives while it blocks: it wakes with it.
    let e = posted(7);
    stream.publish(&[e]).await.unwrap();
    let got = read.await.unwrap().unwrap();
    assert_eq!(got.iter().map(|d| d.entry).collect::<Vec<_>>(), vec![e]);
    assert!(started.elapsed() < wait, "woken by the event, not the wait");

    // Empty, it waits its whole `wait`, longer than the call timeout, without failing.
    let started = Instant::now();
    assert!(stream.receive("w1", 10, wait).await.unwrap().is_empty());
    assert!(started.elapsed() >= wait - Duration::from_millis(50));
    assert!(!redis.is_degraded());
}

/// Reads renew a timeline's lifetime; pushes give a new timeline key its state's lifetime.
#[tokio::test]
async fn timelines_expire_with_their_state_and_reads_renew_them() {
    let Some(url) = redis_url().await else { return };
    let redis = shared(&url);
    let settings = TimelineSettings {
        cap: 10,
        inactive: Duration::from_secs(600),
        building: Duration::from_secs(60),
        edges: Duration::from_secs(300),
    };
    let store = RedisTimelines::new(redis.clone(), settings);
    let (u, a) = (user(), user());
    let keys = |kind: &str| format!("{}{kind}:{{{}}}", redis.prefix(), u.as_uuid());
    assert!(store.begin_rebuild(u).await.unwrap());
    let e = TimelineEntry {
        post: PostId::from_uuid(Uuid::now_v7()),
        author: a,
    };
    assert_eq!(store.push(e, &[u]).await.unwrap(), 1);
    let building = pttl(&url, &keys("tl")).await;
    assert!(
        (1..=60_000).contains(&building),
        "as long as the claim: {building}"
    );
    store.finish_rebuild(u, &[], true).await.unwrap();
    assert!(pttl(&url, &keys("tl")).await > 60_000);
    assert!(pttl(&url, &keys("tls")).await > 60_000);

    let _: () = redis::cmd("PEXPIRE")
        .arg(keys("tls"))
        .arg(5_000)
        .query_async(&mut conn(&url).await)
        .await
        .unwrap();
    let got = store.window(u, None, 10).await.unwrap();
    assert_eq!(
        got,
        TimelineWindow::Ready {
            entries: vec![e],
            exhausted: true
        }
    );
    assert!(
        pttl(&url, &keys("tls")).await > 500_000,
        "the read renewed it"
    );
    assert!(pttl(&url, &keys("tl")).await > 500_000);

    assert!(store
        .apply_edge(u, a, 1, domain::ports::EdgeChange::Unfollowed)
        .await
        .unwrap());
    let edges = pttl(&url, &keys("fg")).await;
    assert!(
        (1..=300_000).contains(&edges),
        "edges live `edges`: {edges}"
    );
}

/// A fresh server has no scripts: the pipelined pushes load theirs and go through.
#[tokio::test]
async fn pipelined_scripts_load_themselves_on_a_fresh_server() {
    if !can_start_servers() {
        return;
    }
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let redis = shared(&server.url());
    let store = RedisTimelines::new(redis, TimelineSettings::default());
    let (users, a) = ((0..300).map(|_| user()).collect::<Vec<_>>(), user());
    let e = TimelineEntry {
        post: PostId::from_uuid(Uuid::now_v7()),
        author: a,
    };
    assert_eq!(store.push(e, &users).await.unwrap(), 0, "no timelines yet");
    for &u in &users[..3] {
        assert!(store.begin_rebuild(u).await.unwrap());
    }
    assert_eq!(store.push(e, &users).await.unwrap(), 3, "across batches");
    store.remove(e, &users).await.unwrap();
    store.drop_timelines(&users).await.unwrap();
}

/// With Redis away every call fails as unavailable, quickly (the timeout, then the breaker).
#[tokio::test]
async fn without_redis_every_call_is_unavailable_quickly() {
    let closed = ClosedPort::new();
    let redis = unreachable(closed.port);
    let store = RedisTimelines::new(redis.clone(), TimelineSettings::default());
    let stream = RedisFeedStream::new(redis.clone());
    let (u, e) = (
        user(),
        TimelineEntry {
            post: PostId::from_uuid(Uuid::now_v7()),
            author: user(),
        },
    );
    let started = Instant::now();
    for _ in 0..2 {
        unavailable(store.window(u, None, 10).await);
        unavailable(store.push(e, &[u]).await);
        unavailable(store.remove(e, &[u]).await);
        unavailable(store.begin_rebuild(u).await);
        unavailable(store.finish_rebuild(u, &[e], true).await);
        unavailable(store.drop_timelines(&[u]).await);
        unavailable(store.mark_pulled(u).await);
        unavailable(store.pulled_authors().await);
        unavailable(store.unmark_pulled(u, 1).await);
        unavailable(
            store
                .apply_edge(u, e.author, 1, domain::ports::EdgeChange::Unfollowed)
                .await,
        );
        unavailable(stream.publish(&[posted(1)]).await);
        unavailable(stream.receive("w", 10, Duration::from_secs(5)).await);
        unavailable(stream.claim_stale("w", Duration::ZERO, 10).await);
        unavailable(stream.ack(&["1-0".to_owned()]).await);
        unavailable(stream.lag().await);
    }
    assert!(redis.is_degraded(), "the breaker opened");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "30 calls took {:?}",
        started.elapsed()
    );
}
