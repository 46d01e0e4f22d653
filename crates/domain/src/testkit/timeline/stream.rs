//! The [`FeedEventStream`] contract.

// A suite reports a broken contract by panicking, exactly like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::model::{FeedEvent, OutboxEntry, PostId, Timestamp, UserId};
use crate::ports::{Delivery, FeedEventStream};
use crate::testkit::limiter::TimeControl;

/// The idle time after which the suite claims pending events.
const IDLE: Duration = Duration::from_millis(50);

/// Long enough that nothing the suite just touched is idle for it.
const NEVER_IDLE: Duration = Duration::from_secs(600);

/// How long an empty `receive` may take beyond its `wait`: a busy machine, not a hang.
const SLACK: Duration = Duration::from_secs(2);

/// Everything an event stream must do, on a fresh (empty) stream. `time` lets the pending
/// events grow idle: a real sleep for a store on a real clock.
pub async fn feed_event_stream_contract(stream: &dyn FeedEventStream, time: &dyn TimeControl) {
    let (c1, c2) = (consumer("c1"), consumer("c2"));
    assert_eq!(
        stream.lag().await.unwrap(),
        0,
        "the suite needs a fresh stream"
    );
    stream.publish(&[]).await.unwrap();
    assert!(stream
        .receive(&c1, 10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());

    let entries = sample(5);
    stream.publish(&entries).await.unwrap();
    assert_eq!(stream.lag().await.unwrap(), 5);

    // Each event goes to one consumer, once, in order.
    let first = stream
        .receive(&c1, 3, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(events(&first), entries[..3].to_vec());
    let rest = stream
        .receive(&c2, 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(events(&rest), entries[3..].to_vec());
    let ids: Vec<String> = first.iter().chain(&rest).map(|d| d.id.clone()).collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "every delivery has its own id");

    // Unacknowledged events are not delivered again, and an empty receive waits about `wait`.
    let wait = Duration::from_millis(300);
    let started = Instant::now();
    assert!(stream.receive(&c1, 10, wait).await.unwrap().is_empty());
    assert!(
        started.elapsed() < wait + SLACK,
        "an empty receive took {:?}",
        started.elapsed()
    );
    assert!(stream
        .receive(&c2, 10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stream.lag().await.unwrap(),
        5,
        "delivered is not acknowledged"
    );

    // Pending events idle long enough go to whoever claims them, oldest first, up to `max`.
    assert!(stream
        .claim_stale(&c2, NEVER_IDLE, 10)
        .await
        .unwrap()
        .is_empty());
    time.advance(IDLE * 2).await;
    let claimed = stream.claim_stale(&c2, IDLE, 2).await.unwrap();
    assert_eq!(events(&claimed), entries[..2].to_vec());
    assert_eq!(
        ids_of(&claimed),
        ids[..2].to_vec(),
        "a claim keeps the event's id"
    );
    let more = stream.claim_stale(&c2, IDLE, 10).await.unwrap();
    let later: Vec<OutboxEntry> = more
        .iter()
        .filter(|d| !ids[..2].contains(&d.id))
        .map(|d| d.entry)
        .collect();
    assert_eq!(
        later,
        entries[2..].to_vec(),
        "the other stale events, in order"
    );
    assert!(
        stream
            .claim_stale(&c1, NEVER_IDLE, 10)
            .await
            .unwrap()
            .is_empty(),
        "a claim restarts the idle time"
    );
    assert!(stream
        .receive(&c1, 10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());

    // Acknowledged events are gone: the lag falls, and nothing brings them back.
    stream.ack(&ids[..3]).await.unwrap();
    assert_eq!(stream.lag().await.unwrap(), 2);
    stream.ack(&ids[..3]).await.unwrap();
    assert_eq!(
        stream.lag().await.unwrap(),
        2,
        "acknowledging twice changes nothing"
    );
    stream.ack(&[]).await.unwrap();
    stream.ack(&ids[3..]).await.unwrap();
    assert_eq!(stream.lag().await.unwrap(), 0);
    time.advance(IDLE * 2).await;
    assert!(stream.claim_stale(&c1, IDLE, 10).await.unwrap().is_empty());

    // Later events are delivered, and only they.
    let next = sample(2);
    stream.publish(&next).await.unwrap();
    let got = stream
        .receive(&c1, 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(events(&got), next);
    stream.ack(&ids_of(&got)).await.unwrap();
    assert_eq!(stream.lag().await.unwrap(), 0);
}

fn consumer(name: &str) -> String {
    format!("{name}-{}", Uuid::new_v4().simple())
}

fn events(d: &[Delivery]) -> Vec<OutboxEntry> {
    d.iter().map(|d| d.entry).collect()
}

fn ids_of(d: &[Delivery]) -> Vec<String> {
    d.iter().map(|d| d.id.clone()).collect()
}

/// `n` entries of every kind, in seq order.
fn sample(n: usize) -> Vec<OutboxEntry> {
    sample_from(1_000, n)
}

/// `n` entries of every kind with the seqs `first..first + n`, each recorded at a distinct
/// millisecond.
pub(crate) fn sample_from(first: i64, n: usize) -> Vec<OutboxEntry> {
    let id = || Uuid::now_v7();
    (0..n)
        .map(|i| {
            let (a, b) = (id(), id());
            let event = match i % 4 {
                0 => FeedEvent::Posted {
                    post: PostId::from_uuid(a),
                    author: UserId::from_uuid(b),
                },
                1 => FeedEvent::Followed {
                    follower: UserId::from_uuid(a),
                    followee: UserId::from_uuid(b),
                },
                2 => FeedEvent::Unfollowed {
                    follower: UserId::from_uuid(a),
                    followee: UserId::from_uuid(b),
                },
                _ => FeedEvent::Deleted {
                    post: PostId::from_uuid(a),
                    author: UserId::from_uuid(b),
                },
            };
            let seq = first + i as i64;
            OutboxEntry {
                seq,
                event,
                recorded_at: Timestamp::from_unix_millis(1_700_000_000_000 + seq),
            }
        })
        .collect()
}
