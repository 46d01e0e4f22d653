//! The probe that measures each replica's freshness (see the parent module): the primary's WAL
//! position once a second, kept for a while, against each replica's replay position.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::PgPool;

use super::{millis, unix_ms, Replicas};
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
}
