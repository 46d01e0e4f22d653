//! `LiveMemoryLog` against the `LiveLog` contract, plus what only an in-process log can show:
//! positions from another process's log (another epoch) replay as a reset.

use std::time::Duration;

use domain::model::{LiveEventId, OutboxEntry, Replay};
use domain::ports::LiveLog;
use domain::testkit::live::{live_log_contract, sample};
use local::LiveMemoryLog;

#[tokio::test]
async fn live_memory_log_passes_the_live_log_contract() {
    live_log_contract(&LiveMemoryLog::new(50), 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_memory_log_passes_the_contract_on_a_multi_threaded_runtime() {
    live_log_contract(&LiveMemoryLog::new(30), 30).await;
}

fn posted(seq: i64) -> OutboxEntry {
    sample(seq, 1)[0]
}

/// A restarted process makes a new log: a position the old one handed out is not its own, even
/// when the new log has an entry at the same `n`.
#[tokio::test]
async fn positions_of_another_epoch_replay_as_a_reset() {
    let before = LiveMemoryLog::new(50);
    before.append(&[posted(1), posted(2)]).await.unwrap();
    let old = before.head().await.unwrap();
    assert_eq!(old, LiveEventId::new(before.epoch(), 2));

    let after = LiveMemoryLog::new(50);
    assert!(after.epoch() > before.epoch(), "a later log, a later epoch");
    assert_eq!(
        after.head().await.unwrap(),
        LiveEventId::new(after.epoch(), 0)
    );
    after
        .append(&[posted(1), posted(2), posted(3)])
        .await
        .unwrap();
    assert_eq!(after.replay(old, 10).await.unwrap(), Replay::Reset);
    let earlier = LiveEventId::new(after.epoch() - 1, 2);
    assert_eq!(after.replay(earlier, 10).await.unwrap(), Replay::Reset);
    let own = LiveEventId::new(after.epoch(), 2);
    match after.replay(own, 10).await.unwrap() {
        Replay::Events(events) => assert_eq!(events.len(), 1),
        Replay::Reset => panic!("its own position replays"),
    }
}

/// A reader on another task is woken by an append, and a reader that gives up leaves nothing
/// behind that holds up the next.
#[tokio::test]
async fn a_reader_on_another_task_is_woken() {
    let log = std::sync::Arc::new(LiveMemoryLog::new(50));
    let head = log.head().await.unwrap();
    let reader = {
        let log = log.clone();
        tokio::spawn(async move { log.read_after(head, 10, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    log.append(&[posted(7)]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("woken well before its wait")
        .unwrap()
        .unwrap();
    assert_eq!(got.iter().map(|e| e.entry.seq).collect::<Vec<_>>(), vec![7]);
}

/// The ring knows exactly what it dropped: from the newest dropped entry nothing is missing, so
/// it replays the whole ring; from the one before, the newest dropped is missing.
#[tokio::test]
async fn replay_from_the_newest_dropped_entry_is_the_whole_ring() {
    let log = LiveMemoryLog::new(3);
    let rows: Vec<OutboxEntry> = (1..=5).map(posted).collect();
    log.append(&rows).await.unwrap();
    let epoch = log.epoch();
    let ring = log
        .read_after(LiveEventId::new(epoch, 0), 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        ring.iter().map(|e| e.id.n).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(
        log.replay(LiveEventId::new(epoch, 2), 10).await.unwrap(),
        Replay::Events(ring)
    );
    assert_eq!(
        log.replay(LiveEventId::new(epoch, 1), 10).await.unwrap(),
        Replay::Reset
    );
    // A seq the ring dropped may come again; one it holds may not.
    log.append(&[rows[4], rows[0]]).await.unwrap();
    assert_eq!(log.head().await.unwrap(), LiveEventId::new(epoch, 6));
}
