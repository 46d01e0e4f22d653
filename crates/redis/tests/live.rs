//! The live log against the machine's Redis (`SOCIALSCALE_TEST_REDIS_URL`) and against no
//! Redis: the contract, plus what only a shared log shows — two instances appending the same
//! outbox rows, a flush of the stream, entries written by something else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::support::{
    add_undecodable, conn, posted, same_prefix, shared, unavailable, unreachable,
};
use domain::model::{LiveEvent, OutboxEntry, Replay};
use domain::ports::LiveLog;
use redis_adapter::testing::{redis_url, ClosedPort};
use redis_adapter::RedisLiveLog;

const HISTORY: usize = 50;

#[tokio::test]
async fn redis_live_log_passes_the_live_log_contract() {
    let Some(url) = redis_url().await else { return };
    common::suites::live_suites(&url).await;
}

fn seqs(events: &[LiveEvent]) -> Vec<i64> {
    events.iter().map(|e| e.entry.seq).collect()
}

/// Two instances' relays hand on the same rows, at once and again later: each event is in the
/// log once, and both instances read it at the same position.
#[tokio::test]
async fn two_instances_appending_the_same_rows_log_each_once() {
    let Some(url) = redis_url().await else { return };
    let redis = shared(&url);
    let one = RedisLiveLog::new(redis.clone(), HISTORY);
    let two = RedisLiveLog::new(same_prefix(&url, &redis), HISTORY);
    let rows: Vec<OutboxEntry> = (1..=6).map(posted).collect();
    let (a, b) = tokio::join!(one.append(&rows[..4]), two.append(&rows[2..]));
    a.unwrap();
    b.unwrap();
    one.append(&rows).await.unwrap();
    two.append(&rows[..3]).await.unwrap();

    let zero = domain::model::LiveEventId::ZERO;
    let seen_by_one = one.read_after(zero, 100, Duration::ZERO).await.unwrap();
    let seen_by_two = two.read_after(zero, 100, Duration::ZERO).await.unwrap();
    let mut got = seqs(&seen_by_one);
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6], "each row once");
    assert_eq!(seen_by_one, seen_by_two, "the same events at the same ids");
    assert_eq!(one.head().await.unwrap(), two.head().await.unwrap());
    for e in &seen_by_one {
        assert_eq!(Some(&e.entry), rows.iter().find(|r| r.seq == e.entry.seq));
    }
}

/// A flush (here: the stream deleted) loses every event: a position from before it replays as
/// a reset, whether the stream is still gone or has been written to again.
#[tokio::test]
async fn a_flushed_log_resets_old_positions() {
    let Some(url) = redis_url().await else { return };
    let log = RedisLiveLog::new(shared(&url), HISTORY);
    log.append(&[posted(1), posted(2), posted(3)])
        .await
        .unwrap();
    let got = log
        .read_after(domain::model::LiveEventId::ZERO, 10, Duration::ZERO)
        .await
        .unwrap();
    let (old, head) = (got[0].id, got[2].id);
    assert_eq!(
        log.replay(old, 10).await.unwrap(),
        Replay::Events(got[1..].to_vec())
    );

    let _: () = redis::cmd("DEL")
        .arg(log.key())
        .query_async(&mut conn(&url).await)
        .await
        .unwrap();
    assert_eq!(log.replay(old, 10).await.unwrap(), Replay::Reset);
    assert_eq!(log.replay(head, 10).await.unwrap(), Replay::Reset);
    assert_eq!(
        log.head().await.unwrap(),
        domain::model::LiveEventId::ZERO,
        "no stream, no head"
    );

    // Written to again (new seqs: the old ones are still known for a while).
    log.append(&[posted(4), posted(5)]).await.unwrap();
    let new_head = log.head().await.unwrap();
    assert!(new_head > head);
    assert_eq!(log.replay(old, 10).await.unwrap(), Replay::Reset);
    assert_eq!(
        log.replay(head, 10).await.unwrap(),
        Replay::Reset,
        "{head} was never a position of the new stream"
    );
    assert_eq!(
        log.replay(new_head, 10).await.unwrap(),
        Replay::Events(vec![])
    );
}

/// An entry that does not decode (written by something else) is skipped, by reads and replays
/// alike, and a read does not stall on a run of them.
#[tokio::test]
async fn entries_that_do_not_decode_are_skipped() {
    let Some(url) = redis_url().await else { return };
    let log = RedisLiveLog::new(shared(&url), HISTORY);
    log.append(&[posted(1)]).await.unwrap();
    let start = log.head().await.unwrap();
    add_undecodable(&url, log.key()).await;
    let bad_head = log.head().await.unwrap();
    let read = log.read_after(start, 10, Duration::ZERO).await.unwrap();
    assert!(read.is_empty(), "only undecodable entries follow: {read:?}");

    let reader = log.read_after(start, 10, Duration::from_secs(10));
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        log.append(&[posted(3)]).await.unwrap();
    };
    let started = Instant::now();
    let (read, ()) = tokio::join!(reader, writer);
    assert_eq!(seqs(&read.unwrap()), vec![3], "read past the bad entries");
    assert!(started.elapsed() < Duration::from_secs(5));
    match log.replay(start, 10).await.unwrap() {
        Replay::Events(events) => assert_eq!(seqs(&events), vec![3]),
        Replay::Reset => panic!("nothing was dropped"),
    }
    assert!(log.head().await.unwrap() > bad_head);
}

/// With Redis away every call fails as unavailable, quickly: a waiting read does not sit out
/// its wait.
#[tokio::test]
async fn without_redis_every_call_is_unavailable_quickly() {
    let closed = ClosedPort::new();
    let redis = unreachable(closed.port);
    let log = RedisLiveLog::new(redis.clone(), HISTORY);
    let zero = domain::model::LiveEventId::ZERO;
    let started = Instant::now();
    unavailable(log.read_after(zero, 10, Duration::from_secs(10)).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a read on a closed port took {:?}",
        started.elapsed()
    );
    for _ in 0..2 {
        unavailable(log.read_after(zero, 10, Duration::from_secs(10)).await);
        unavailable(log.read_after(zero, 10, Duration::ZERO).await);
        unavailable(log.append(&[posted(1)]).await);
        unavailable(log.head().await);
        unavailable(log.replay(zero, 10).await);
    }
    assert!(redis.is_degraded(), "the breaker opened");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "11 calls took {:?}",
        started.elapsed()
    );
}
