//! The [`LiveLog`] contract.
//!
//! Written against the port only, so the in-process log and the shared one (Redis) run the same
//! checks, on any executor: the append racing a waiting read is a plain future polled beside it
//! (see [`join_all`]), started late by a timer thread, not a spawned task.
//!
//! Timing is checked loosely (a busy machine is not a broken log): an empty read must have
//! waited, and must not have waited much longer than asked; a woken read must come back long
//! before its wait would have ended.

// A suite reports a broken contract by panicking, exactly like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use super::join::{join_all, sleep, BoxFuture};
use super::timeline::sample_from;
use crate::model::{LiveEvent, LiveEventId, OutboxEntry, Replay};
use crate::ports::LiveLog;

/// How long an empty `read_after` may take beyond its `wait`: a busy machine, not a hang.
const SLACK: Duration = Duration::from_secs(2);

/// More than any read or replay of the suite can find.
const ALL: usize = 100_000;

/// The smallest history the suite works with: every step before the one about dropping must
/// fit in it.
const MIN_HISTORY: usize = 30;

/// Everything a live log must do, on a fresh (empty) log whose configured history is `history`
/// (at least 30; a small one, such as 50, keeps the run short).
pub async fn live_log_contract(log: &dyn LiveLog, history: usize) {
    assert!(
        history >= MIN_HISTORY,
        "the suite needs a history of at least {MIN_HISTORY}"
    );
    let mut seqs = Seqs(1_000);
    let start = an_empty_log_has_a_stable_head(log).await;
    entries_come_back_in_order_with_growing_ids(log, &mut seqs).await;
    an_empty_read_waits_about_its_wait(log).await;
    a_waiting_read_wakes_on_an_append(log, &mut seqs).await;
    a_seq_already_taken_is_skipped(log, &mut seqs).await;
    replay_returns_what_follows_or_resets(log, &mut seqs).await;
    replay_resets_once_what_follows_was_dropped(log, history, &mut seqs, start).await;
}

/// `n` outbox entries of every kind with the seqs `first..first + n`: for adapters' own tests.
pub fn sample(first: i64, n: usize) -> Vec<OutboxEntry> {
    sample_from(first, n)
}

/// Hands out entries with seqs never used before in the run.
struct Seqs(i64);

impl Seqs {
    fn take(&mut self, n: usize) -> Vec<OutboxEntry> {
        let entries = sample_from(self.0, n);
        self.0 += n as i64;
        entries
    }
}

fn entries_of(events: &[LiveEvent]) -> Vec<OutboxEntry> {
    events.iter().map(|e| e.entry).collect()
}

/// Every held entry after `after`, without waiting.
async fn all_after(log: &dyn LiveLog, after: LiveEventId) -> Vec<LiveEvent> {
    log.read_after(after, ALL, Duration::ZERO).await.unwrap()
}

/// Appending nothing is fine, and the head of a log with no entry is a position like any
/// other: asked twice it is the same, and nothing follows it yet.
async fn an_empty_log_has_a_stable_head(log: &dyn LiveLog) -> LiveEventId {
    log.append(&[]).await.unwrap();
    let head = log.head().await.unwrap();
    assert_eq!(log.head().await.unwrap(), head, "the head stands still");
    assert!(
        log.read_after(head, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "nothing follows the head of an empty log"
    );
    head
}

/// Entries come back after the head they were appended behind, in order, each exactly as it
/// was appended (seq, event, time to the millisecond), at strictly growing positions; the head
/// moves to the last of them, and `max` bounds a read.
async fn entries_come_back_in_order_with_growing_ids(log: &dyn LiveLog, seqs: &mut Seqs) {
    let before = log.head().await.unwrap();
    let entries = seqs.take(6);
    log.append(&entries[..4]).await.unwrap();
    log.append(&entries[4..]).await.unwrap();
    let got = all_after(log, before).await;
    assert_eq!(
        entries_of(&got),
        entries,
        "every entry, in order, as appended"
    );
    assert!(
        got[0].id > before,
        "after the head they were appended behind"
    );
    assert!(
        got.windows(2).all(|w| w[0].id < w[1].id),
        "strictly growing ids: {got:?}"
    );
    assert_eq!(
        log.head().await.unwrap(),
        got[5].id,
        "the head is the newest"
    );

    let read = |after, max| log.read_after(after, max, Duration::ZERO);
    assert_eq!(read(before, 2).await.unwrap(), got[..2].to_vec(), "max");
    assert_eq!(read(got[1].id, 3).await.unwrap(), got[2..5].to_vec());
    assert_eq!(read(got[3].id, 10).await.unwrap(), got[4..].to_vec());
    assert!(read(before, 0).await.unwrap().is_empty(), "a max of 0");
    assert!(read(got[5].id, 10).await.unwrap().is_empty());
}

/// A read with nothing new waits about its `wait`, then answers nothing.
async fn an_empty_read_waits_about_its_wait(log: &dyn LiveLog) {
    let head = log.head().await.unwrap();
    let wait = Duration::from_millis(300);
    let started = Instant::now();
    let got = log.read_after(head, 10, wait).await.unwrap();
    let took = started.elapsed();
    assert!(got.is_empty(), "nothing was appended: {got:?}");
    assert!(took >= wait / 2, "it did not wait: {took:?}");
    assert!(took < wait + SLACK, "an empty read took {took:?}");
}

/// A read waiting for entries comes back with one appended meanwhile, long before its wait.
async fn a_waiting_read_wakes_on_an_append(log: &dyn LiveLog, seqs: &mut Seqs) {
    let head = log.head().await.unwrap();
    let entry = seqs.take(1);
    let wait = Duration::from_secs(10);
    let started = Instant::now();
    let read: BoxFuture<'_, Option<Vec<LiveEvent>>> =
        Box::pin(async move { Some(log.read_after(head, 10, wait).await.unwrap()) });
    let appended = &entry;
    let write: BoxFuture<'_, Option<Vec<LiveEvent>>> = Box::pin(async move {
        sleep(Duration::from_millis(200)).await;
        log.append(appended).await.unwrap();
        None
    });
    let got = join_all(vec![read, write])
        .await
        .into_iter()
        .flatten()
        .next();
    let took = started.elapsed();
    let got = got.expect("the read answered");
    assert_eq!(
        entries_of(&got),
        entry,
        "the read returned the appended entry"
    );
    assert!(
        took < Duration::from_secs(5),
        "woken by the append, not its wait: {took:?}"
    );
    assert_eq!(log.head().await.unwrap(), got[0].id);
}

/// An entry whose seq the log already took is skipped, whether it comes again in the same
/// call or in a later one, and whatever else it carries.
async fn a_seq_already_taken_is_skipped(log: &dyn LiveLog, seqs: &mut Seqs) {
    let before = log.head().await.unwrap();
    let entries = seqs.take(3);
    let (a, b, c) = (entries[0], entries[1], entries[2]);
    log.append(&[a, a, b]).await.unwrap();
    let mut a_again = c;
    a_again.seq = a.seq;
    log.append(&[a_again, b, c]).await.unwrap();
    let head = log.head().await.unwrap();
    log.append(&[c]).await.unwrap();
    let got = all_after(log, before).await;
    assert_eq!(entries_of(&got), vec![a, b, c], "each seq once, the first");
    assert_eq!(
        log.head().await.unwrap(),
        head,
        "a skipped entry takes no position"
    );
    assert_eq!(head, got[2].id);
}

/// Replay answers exactly what follows a held position, nothing after the head, and `Reset`
/// past the head or when more than `max` entries follow.
async fn replay_returns_what_follows_or_resets(log: &dyn LiveLog, seqs: &mut Seqs) {
    let before = log.head().await.unwrap();
    log.append(&seqs.take(5)).await.unwrap();
    let got = all_after(log, before).await;
    assert_eq!(got.len(), 5);
    let head = got[4].id;
    let replay = |after, max| log.replay(after, max);
    assert_eq!(
        replay(before, 10).await.unwrap(),
        Replay::Events(got.clone())
    );
    assert_eq!(
        replay(got[1].id, 10).await.unwrap(),
        Replay::Events(got[2..].to_vec()),
        "exactly the entries after a held id"
    );
    assert_eq!(
        replay(before, 5).await.unwrap(),
        Replay::Events(got.clone()),
        "as many as `max` follow"
    );
    assert_eq!(
        replay(before, 4).await.unwrap(),
        Replay::Reset,
        "more than `max` follow"
    );
    assert_eq!(replay(head, 10).await.unwrap(), Replay::Events(vec![]));
    assert_eq!(replay(head, 0).await.unwrap(), Replay::Events(vec![]));
    for past in [
        LiveEventId::new(head.ms, head.n + 1),
        LiveEventId::new(head.ms + 1, 0),
    ] {
        assert_eq!(
            replay(past, 10).await.unwrap(),
            Replay::Reset,
            "{past} is past the head {head}"
        );
    }
}

/// Past its history the log drops its oldest entries but keeps at least the newest `history`.
/// Replay from a position some dropped entry followed is `Reset`; from any held one it is the
/// entries that follow.
async fn replay_resets_once_what_follows_was_dropped(
    log: &dyn LiveLog,
    history: usize,
    seqs: &mut Seqs,
    start: LiveEventId,
) {
    let everything = all_after(log, start).await;
    assert_eq!(
        log.replay(start, ALL).await.unwrap(),
        Replay::Events(everything.clone()),
        "nothing was dropped yet: the whole log replays from its first head"
    );
    let first = everything[0].id;
    let mut appended: Vec<LiveEvent> = everything;
    let mut rounds = 0;
    let held = loop {
        let head = log.head().await.unwrap();
        let batch = seqs.take(history);
        log.append(&batch).await.unwrap();
        let got = log.read_after(head, history, Duration::ZERO).await.unwrap();
        assert_eq!(entries_of(&got), batch, "a whole history's worth is held");
        appended.extend(got);
        let held = all_after(log, start).await;
        if held[0].id != first {
            break held;
        }
        rounds += 1;
        assert!(
            rounds < 20,
            "{} entries appended to a log of history {history} and none dropped",
            appended.len()
        );
    };

    let kept = appended.len() - held.len();
    assert_eq!(
        held,
        appended[kept..].to_vec(),
        "what is held is the newest, with no gap"
    );
    assert!(held.len() >= history, "at least `history` are kept");
    assert_eq!(
        log.replay(start, ALL).await.unwrap(),
        Replay::Reset,
        "entries after the first head were dropped"
    );
    // Nothing is missing after the newest dropped entry, but a log need not know which entry
    // that was (Redis does not): the whole rest, or a reset.
    let newest_dropped = appended[kept - 1].id;
    let replayed = log.replay(newest_dropped, ALL).await.unwrap();
    assert!(
        replayed == Replay::Events(held.clone()) || replayed == Replay::Reset,
        "from the newest dropped entry: {replayed:?}"
    );
    assert_eq!(
        log.replay(held[0].id, ALL).await.unwrap(),
        Replay::Events(held[1..].to_vec()),
        "from the oldest held entry"
    );
    let recent = held[held.len() - 5].id;
    assert_eq!(
        log.replay(recent, 10).await.unwrap(),
        Replay::Events(held[held.len() - 4..].to_vec()),
        "a recent position still replays"
    );
}
