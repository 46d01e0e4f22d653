//! The read replicas: their pools, how fresh each one is known to be, and which one a page
//! after a cursor may read.
//!
//! # Freshness
//!
//! A probe task (one per store, [`spawn_probe`]) runs at most once a second. Each round it
//! notes the wall-clock time `t0`, then reads the primary's WAL write position
//! (`pg_current_wal_lsn()`), and keeps the pair in a short history. It then reads each
//! replica's replay position (`pg_last_wal_replay_lsn()`). The newest sample whose position
//! the replica has replayed tells how fresh it is: a transaction whose commit returned before
//! `t0` has its commit record below the position read after `t0` (PostgreSQL flushes, hence
//! writes, a commit record before answering the commit), so once the replica has replayed up
//! to that position, the transaction is visible there. The replica is then *fresh as of* `t0`.
//!
//! A page after cursor `c` (a UUIDv7, so it carries the time `c_t` its row was minted) holds
//! rows with smaller ids: minted before `c_t`. The writer sends no write older than its send
//! window, and the server cancels any statement after `statement_timeout`
//! ([`crate::group`]), so every such row has committed by `c_t + write_window`. A replica
//! fresh as of that time holds every one of them: it may serve the page. Anything else reads
//! the primary.
//!
//! A replica whose probe fails to reach it is skipped for `replica_retry_after`, as one whose
//! read fails; one that is not a standby (not in recovery) cannot be measured and serves
//! nothing; one more than `replica_max_lag` behind serves nothing either,
//! which bounds how stale a page it serves can be (a post deleted meanwhile still listed).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::PgPool;

use crate::error::is_unavailable;
use crate::store::is_connection_error;

/// The primary's WAL write position, as a number (bytes since `0/0`). The write position is
/// an end-of-record pointer, which a standby's replay position can equal once it caught up.
const PRIMARY_LSN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";

/// The replica's replay position; NULL on a server that is not a standby (one that is not in
/// recovery may still report where a past recovery stopped: a promoted standby, a primary
/// after a crash).
const REPLAY_LSN: &str = "SELECT CASE WHEN pg_is_in_recovery() \
    THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END";

/// Sent along the probes' queries: they must never queue behind a saturated pool for long.
const PROBE_BUDGET: Duration = Duration::from_secs(2);

/// What the store knows of one replica.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) pool: PgPool,
    /// Milliseconds since `Replicas::started` before which this replica is skipped; 0 = usable.
    down_until: AtomicU64,
    /// Unix milliseconds: everything committed on the primary before then is visible here.
    /// 0 = not known (not probed yet, not a standby, or behind every sample kept).
    fresh_as_of: AtomicU64,
    /// How far behind the primary the last probe found it, in milliseconds; `u64::MAX` = not
    /// known.
    lag_ms: AtomicU64,
    /// Pages this replica has served.
    reads: AtomicU64,
    /// Set by a test that fixes the freshness itself: the probe leaves this replica alone.
    pinned: AtomicBool,
    /// The "not a standby" warning is logged once.
    warned: AtomicBool,
}

/// One replica's state for `/metrics` and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Its position in the list of replica URLs.
    pub index: usize,
    /// How far behind the primary its last probe found it (at the probe's one-second
    /// resolution); `None` while not known: not probed yet, unreachable, not a standby.
    pub lag: Option<Duration>,
    /// Pages it has served since start.
    pub reads: u64,
    /// Not skipped after a failure.
    pub up: bool,
}

#[derive(Debug)]
pub(crate) struct Replicas {
    list: Vec<Replica>,
    /// Round-robin position over `list`.
    next: AtomicUsize,
    /// The clock `down_until` is measured on.
    started: Instant,
    retry_after: Duration,
    max_lag: Duration,
    /// How long after its id was minted a row may still commit (see the module doc).
    write_window: Duration,
}

impl Replicas {
    pub(crate) fn new(
        pools: Vec<PgPool>,
        retry_after: Duration,
        max_lag: Duration,
        write_window: Duration,
    ) -> Self {
        let list = pools
            .into_iter()
            .map(|pool| Replica {
                pool,
                down_until: AtomicU64::new(0),
                fresh_as_of: AtomicU64::new(0),
                lag_ms: AtomicU64::new(u64::MAX),
                reads: AtomicU64::new(0),
                pinned: AtomicBool::new(false),
                warned: AtomicBool::new(false),
            })
            .collect();
        Replicas {
            list,
            next: AtomicUsize::new(0),
            started: Instant::now(),
            retry_after,
            max_lag,
            write_window,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn pools(&self) -> impl Iterator<Item = &PgPool> {
        self.list.iter().map(|r| &r.pool)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_up(&self, r: &Replica, now: u64) -> bool {
        r.down_until.load(Ordering::Relaxed) <= now
    }

    /// The next replica, in round-robin order, that is up and holds every row below a cursor
    /// minted at `cursor_ms` (Unix milliseconds); `None`: the primary must serve.
    pub(crate) fn pick(&self, cursor_ms: u64) -> Option<&Replica> {
        let n = self.list.len();
        if n == 0 {
            return None;
        }
        let needed = cursor_ms.saturating_add(millis(self.write_window));
        let oldest = unix_ms().saturating_sub(millis(self.max_lag));
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|i| &self.list[(start + i) % n]).find(|r| {
            let fresh = r.fresh_as_of.load(Ordering::Relaxed);
            self.is_up(r, now) && fresh != 0 && fresh >= needed && fresh >= oldest
        })
    }

    pub(crate) fn served(&self, r: &Replica) {
        r.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn mark_down(&self, r: &Replica) {
        let until = self
            .now_ms()
            .saturating_add(millis(self.retry_after))
            .max(1);
        r.down_until.store(until, Ordering::Relaxed);
        r.lag_ms.store(u64::MAX, Ordering::Relaxed);
    }

    /// How many replicas are configured and how many are not being skipped.
    pub(crate) fn status(&self) -> (usize, usize) {
        let now = self.now_ms();
        let up = self.list.iter().filter(|r| self.is_up(r, now)).count();
        (self.list.len(), up)
    }

    pub(crate) fn stats(&self) -> Vec<ReplicaStats> {
        let now = self.now_ms();
        self.list
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let lag = r.lag_ms.load(Ordering::Relaxed);
                ReplicaStats {
                    index,
                    lag: (lag != u64::MAX).then(|| Duration::from_millis(lag)),
                    reads: r.reads.load(Ordering::Relaxed),
                    up: self.is_up(r, now),
                }
            })
            .collect()
    }

    /// Fixes replica `index` as fresh as of `at` (`None`: unknown) and stops probing it.
    pub(crate) fn pin(&self, index: usize, at: Option<SystemTime>) {
        let Some(r) = self.list.get(index) else {
            return;
        };
        r.pinned.store(true, Ordering::Relaxed);
        let at = at.map_or(0, |t| {
            t.duration_since(UNIX_EPOCH).map_or(0, |d| millis(d).max(1))
        });
        r.fresh_as_of.store(at, Ordering::Relaxed);
    }

    /// Records what a probe found: the replica fresh as of `fresh` (Unix ms), or not known.
    fn measured(&self, r: &Replica, fresh: Option<u64>) {
        let fresh = fresh.unwrap_or(0);
        r.fresh_as_of.store(fresh, Ordering::Relaxed);
        let lag = if fresh == 0 {
            u64::MAX
        } else {
            unix_ms().saturating_sub(fresh)
        };
        r.lag_ms.store(lag, Ordering::Relaxed);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// Recent samples of the primary's WAL position: `(Unix ms, position)`, oldest first.
#[derive(Debug, Default)]
struct History {
    samples: VecDeque<(u64, i64)>,
}

impl History {
    /// Adds a sample and forgets those older than `keep` before it.
    fn push(&mut self, at: u64, lsn: i64, keep: Duration) {
        if self.samples.back().is_some_and(|&(_, last)| lsn < last) {
            // The position went back: another server now answers at the primary's address
            // (a restore, a failover). Nothing measured against the old one holds.
            self.samples.clear();
        }
        self.samples.push_back((at, lsn));
        let horizon = at.saturating_sub(millis(keep));
        while self.samples.front().is_some_and(|&(t, _)| t < horizon) {
            self.samples.pop_front();
        }
    }

    /// The time of the newest sample at or below `replayed`: the replica is fresh as of then.
    fn fresh_as_of(&self, replayed: i64) -> Option<u64> {
        self.samples
            .iter()
            .rev()
            .find(|&&(_, lsn)| lsn <= replayed)
            .map(|&(t, _)| t)
    }
}

/// Starts the probe of `replicas` against `primary`, one round per `interval` (at least a
/// second apart whatever it is given). It stops once the store is dropped or closed.
pub(crate) fn spawn_probe(primary: PgPool, replicas: &Arc<Replicas>, interval: Duration) {
    let replicas = Arc::downgrade(replicas);
    let interval = interval.max(Duration::from_secs(1));
    tokio::spawn(probe_loop(primary, replicas, interval));
}

async fn probe_loop(primary: PgPool, replicas: Weak<Replicas>, interval: Duration) {
    let mut history = History::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(replicas) = replicas.upgrade() else {
            return;
        };
        if primary.is_closed() {
            return;
        }
        probe_once(&primary, &replicas, &mut history).await;
    }
}

async fn probe_once(primary: &PgPool, replicas: &Replicas, history: &mut History) {
    let t0 = unix_ms();
    let sample = sqlx::query_scalar::<_, i64>(PRIMARY_LSN).fetch_one(primary);
    match tokio::time::timeout(PROBE_BUDGET, sample).await {
        // A sample more than `max_lag` old can no longer make a replica usable.
        Ok(Ok(lsn)) => history.push(t0, lsn, replicas.max_lag + Duration::from_secs(2)),
        // The primary is down or busy: no new sample; replicas are judged on the older ones,
        // which only makes them look staler.
        Ok(Err(e)) => tracing::debug!(error = %e, "replica probe: no primary WAL position"),
        Err(_) => tracing::debug!("replica probe: the primary did not answer in time"),
    }
    let rounds = replicas.list.iter().enumerate().map(|(i, r)| async move {
        if r.pinned.load(Ordering::Relaxed) {
            return None;
        }
        let read = sqlx::query_scalar::<_, Option<i64>>(REPLAY_LSN).fetch_one(&r.pool);
        Some((i, r, tokio::time::timeout(PROBE_BUDGET, read).await))
    });
    for (i, r, answer) in futures::future::join_all(rounds)
        .await
        .into_iter()
        .flatten()
    {
        match answer {
            Ok(Ok(Some(replayed))) => replicas.measured(r, history.fresh_as_of(replayed)),
            Ok(Ok(None)) => {
                replicas.measured(r, None);
                if !r.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        replica = i,
                        "read replica is not a standby (pg_is_in_recovery() is false): its \
                         freshness cannot be measured, so it serves no reads"
                    );
                }
            }
            Ok(Err(e)) if is_unavailable(&e) && is_connection_error(&e) => {
                if replicas.is_up(r, replicas.now_ms()) {
                    tracing::warn!(replica = i, error = %e, "read replica unreachable; skipping it");
                }
                replicas.mark_down(r);
            }
            Ok(Err(e)) => {
                tracing::warn!(replica = i, error = %e, "read replica probe failed");
                replicas.measured(r, None);
            }
            Err(_) => {
                if replicas.is_up(r, replicas.now_ms()) {
                    tracing::warn!(replica = i, "read replica probe timed out; skipping it");
                }
                replicas.mark_down(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Duration = Duration::from_secs(60);

    #[test]
    fn a_replica_is_fresh_as_of_the_newest_sample_it_has_replayed() {
        let mut h = History::default();
        h.push(1_000, 100, KEEP);
        h.push(2_000, 100, KEEP);
        h.push(3_000, 250, KEEP);
        h.push(4_000, 400, KEEP);
        assert_eq!(h.fresh_as_of(50), None, "behind every sample");
        assert_eq!(
            h.fresh_as_of(100),
            Some(2_000),
            "an idle stretch counts to its end"
        );
        assert_eq!(h.fresh_as_of(399), Some(3_000));
        assert_eq!(h.fresh_as_of(400), Some(4_000));
        assert_eq!(h.fresh_as_of(1_000), Some(4_000));
    }

    #[test]
    fn old_samples_are_forgotten_and_a_position_going_back_clears_them() {
        let mut h = History::default();
        h.push(1_000, 100, Duration::from_secs(2));
        h.push(2_000, 200, Duration::from_secs(2));
        h.push(4_000, 300, Duration::from_secs(2));
        assert_eq!(h.fresh_as_of(150), None, "the sample of 1 000 is gone");
        assert_eq!(h.fresh_as_of(250), Some(2_000));
        h.push(5_000, 10, Duration::from_secs(2));
        assert_eq!(
            h.fresh_as_of(250),
            Some(5_000),
            "only the new server's sample"
        );
        assert_eq!(h.samples.len(), 1);
    }

    fn replicas(write_window: Duration, max_lag: Duration) -> Replicas {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        Replicas::new(vec![pool], Duration::from_secs(5), max_lag, write_window)
    }

    #[tokio::test]
    async fn a_page_reads_a_replica_only_past_the_cursor_plus_the_write_window() {
        let set = replicas(Duration::from_secs(10), Duration::from_secs(3600));
        let now = unix_ms();
        assert!(set.pick(now - 60_000).is_none(), "not measured yet");
        set.measured(&set.list[0], Some(now - 5_000));
        assert!(
            set.pick(now - 15_000).is_some(),
            "its rows committed by now - 5 s"
        );
        assert!(
            set.pick(now - 14_000).is_none(),
            "one may still have been in flight"
        );
        set.mark_down(&set.list[0]);
        assert!(set.pick(now - 60_000).is_none(), "skipped while down");
        assert_eq!(set.status(), (1, 0));
    }

    #[tokio::test]
    async fn a_replica_further_behind_than_the_maximum_lag_serves_nothing() {
        let set = replicas(Duration::from_secs(1), Duration::from_secs(30));
        let now = unix_ms();
        set.measured(&set.list[0], Some(now - 31_000));
        assert!(set.pick(now - 3_600_000).is_none());
        assert!(set.stats()[0]
            .lag
            .is_some_and(|l| l >= Duration::from_secs(31)));
        set.measured(&set.list[0], Some(now - 29_000));
        assert!(set.pick(now - 3_600_000).is_some());
        set.measured(&set.list[0], None);
        assert_eq!(set.stats()[0].lag, None);
    }
}
