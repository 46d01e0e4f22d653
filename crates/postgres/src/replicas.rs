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

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::PgPool;

pub(crate) use probe::spawn_probe;

mod probe;

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

#[cfg(test)]
mod tests {
    use super::*;

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
