//! Group commit of post creations and follows (see the `group-commit` crate): concurrent
//! `create`/`follow` calls queue to one writer task per kind, which writes each batch as one
//! multi-row statement (`unnest` of arrays, in `group/statements`) with the counter updates
//! folded in, aggregated per user. One statement is one transaction: one round trip and one
//! commit for the whole batch.
//!
//! A failing item fails alone. The batch statement inserts only what cannot fail: rows whose
//! users exist (and, for follows, that are not self-follows), whose id or edge does not exist
//! yet, whose idempotency key (if any) it could claim, and within a batch only the first item
//! of any id, edge or key (a repeat waits). Counters move by what was actually inserted. Every
//! item the statement did not insert is then run alone with the single-item statement, whose
//! answer is exactly the one it gave before batching (`Ok(false)` for an unknown author,
//! `AlreadyFollowing`, `UnknownUser`, `Taken` for a live key, the error of a duplicate id...);
//! re-run after the batch, it also sees what the batch wrote, as if the items had run one
//! after the other.
//!
//! An item's key is claimed in the same statement as its row (the `claimed` CTE, see
//! `idempotency`), and its row is inserted only if the claim was: the statement commits both or
//! neither. The filter above runs before the claim, so a key is never claimed for a row that
//! would not be inserted; a row that the filter let through and a concurrent transaction then
//! inserted first (a race between instances) fails the statement with a unique violation, and
//! then every item runs alone.
//!
//! If the batch statement itself fails with a database error (e.g. a deadlock with a
//! concurrent write on the same users), each item runs alone; if the database cannot be
//! reached, every item gets that error. Answers go out only after the statements returned,
//! i.e. committed.
//!
//! A batch holds one connection for its statements. Once it has it, an item whose id was
//! minted longer ago than the send window (the store's `acquire_timeout`) is not sent: it is
//! answered `Unavailable` and nothing is written. Every statement then ends within
//! `statement_timeout` (the server cancels it), so a row commits at most
//! `send window + statement_timeout` after its id was minted, however long it queued: the
//! bound replica routing relies on (`PgOptions::write_window`, `replicas`). Its caller is
//! still waiting then (the call deadline is longer), so it learns the true outcome.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::model::{FollowRecord, KeyClaim, PostRecord};
use domain::ports::{FollowError, Keyed};
use domain::StoreError;
use group_commit::{GroupCommit, Limits, Stats};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{is_unavailable, store_error};
use crate::idempotency;
use crate::{follows, posts};

mod statements;

use statements::key_columns;
pub(crate) use statements::{CREATE_BATCH, FOLLOW_BATCH};

/// A write and the idempotency key it claims, if any.
pub(crate) type Item<T> = (T, Option<KeyClaim>);
pub(crate) type PostAnswer = Result<Keyed<bool>, StoreError>;
pub(crate) type FollowAnswer = Result<Keyed<()>, FollowError>;

/// The answer to a write without a key, which no key can be in the way of.
pub(crate) fn unkeyed<T, E: From<StoreError>>(answer: Result<Keyed<T>, E>) -> Result<T, E> {
    match answer? {
        Keyed::Done(value) => Ok(value),
        Keyed::Taken => {
            Err(StoreError::Internal("an unkeyed write answered Taken".to_owned()).into())
        }
    }
}

/// The two writer tasks of a store; they stop once every clone of the store is gone.
#[derive(Debug)]
pub(crate) struct Writers {
    pub(crate) posts: GroupCommit<Item<PostRecord>, PostAnswer>,
    pub(crate) follows: GroupCommit<Item<FollowRecord>, FollowAnswer>,
}

impl Writers {
    /// Starts both writers on the current runtime, writing on the primary `pool` what is at
    /// most `send_window` old (see the module doc).
    pub(crate) fn spawn(pool: &PgPool, send_window: Duration) -> Self {
        let window = SendWindow(send_window);
        let p = pool.clone();
        let posts = GroupCommit::spawn("postgres", "posts", Limits::default(), move |batch| {
            let pool = p.clone();
            async move {
                match pool.acquire().await {
                    Ok(mut conn) => create_posts(&mut conn, window, batch).await,
                    Err(e) => vec![Err(store_error(e)); batch.len()],
                }
            }
        });
        let p = pool.clone();
        let follows = GroupCommit::spawn("postgres", "follows", Limits::default(), move |batch| {
            let pool = p.clone();
            async move {
                match pool.acquire().await {
                    Ok(mut conn) => follow_edges(&mut conn, window, batch).await,
                    Err(e) => {
                        let e = store_error(e);
                        (0..batch.len()).map(|_| Err(e.clone().into())).collect()
                    }
                }
            }
        });
        Writers { posts, follows }
    }

    pub(crate) fn stats(&self) -> (Stats, Stats) {
        (self.posts.stats(), self.follows.stats())
    }

    pub(crate) fn abort(&self) {
        self.posts.abort();
        self.follows.abort();
    }
}

/// How long after its id was minted a write may still be sent.
#[derive(Clone, Copy, Debug)]
struct SendWindow(Duration);

impl SendWindow {
    /// Whether the write of `id` (a UUIDv7: it carries the time it was minted) is past its
    /// window. An id without a time (not v7: not one of ours) is never held back.
    fn closed_for(self, id: Uuid) -> bool {
        let Some(ts) = id.get_timestamp() else {
            return false;
        };
        let (secs, nanos) = ts.to_unix();
        let minted = UNIX_EPOCH + Duration::new(secs, nanos);
        SystemTime::now()
            .duration_since(minted)
            .is_ok_and(|age| age > self.0)
    }
}

/// The answer to a write past its window: nothing was written, and a retry may work.
fn too_late() -> StoreError {
    StoreError::Unavailable("the write waited too long to be sent to the database".to_owned())
}

/// The positions of the items that go into the batch statement: the first of each key. A
/// repeat runs alone after the statement, so it sees the first one's outcome, as a sequential
/// run would.
fn first_of_each<'a, T, K: Eq + std::hash::Hash>(
    items: &'a [T],
    keys: impl Fn(&'a T) -> Vec<K>,
) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(items.len() * 2);
    (0..items.len())
        .filter(|&i| {
            // Every key is recorded, even once one is known to repeat: an item after this one
            // with any of these keys must wait too.
            let mut fresh = true;
            for k in keys(&items[i]) {
                fresh &= seen.insert(k);
            }
            fresh
        })
        .collect()
}

/// What the batch statement's failure means for its items.
enum BatchOutcome {
    /// The ordinals (0-based) inserted.
    Inserted(Vec<usize>),
    /// Each item runs alone (a database error of the batch as a whole).
    EachAlone,
    /// The database cannot be reached: every item gets this.
    Down(StoreError),
}

fn outcome(done: Result<Vec<i64>, sqlx::Error>) -> BatchOutcome {
    match done {
        Ok(ords) => BatchOutcome::Inserted(
            ords.into_iter()
                .filter_map(|o| usize::try_from(o - 1).ok())
                .collect(),
        ),
        Err(e @ sqlx::Error::Database(_)) if !is_unavailable(&e) || is_retryable(&e) => {
            tracing::warn!(error = %e, "batch insert failed; writing its items one by one");
            BatchOutcome::EachAlone
        }
        Err(e) => BatchOutcome::Down(store_error(e)),
    }
}

/// A deadlock or serialization failure: the items run alone, each in a transaction of its own.
fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c == "40P01" || c == "40001"),
        _ => false,
    }
}

/// Whether each of `n` items still has to run alone: all of them unless the statement
/// inserted it; an error when the database is down.
fn settle(outcome: BatchOutcome, n: usize) -> Result<Vec<bool>, StoreError> {
    match outcome {
        BatchOutcome::Inserted(done) => {
            let mut alone = vec![true; n];
            for i in done {
                if let Some(a) = alone.get_mut(i) {
                    *a = false;
                }
            }
            Ok(alone)
        }
        BatchOutcome::EachAlone => Ok(vec![true; n]),
        BatchOutcome::Down(e) => Err(e),
    }
}

/// Ordinals over the items sent (0-based) → positions in the whole batch.
fn remap(outcome: BatchOutcome, sent: &[usize]) -> BatchOutcome {
    match outcome {
        BatchOutcome::Inserted(ords) => BatchOutcome::Inserted(
            ords.into_iter()
                .filter_map(|o| sent.get(o).copied())
                .collect(),
        ),
        other => other,
    }
}

/// What may appear at most once among the items of one batch statement.
#[derive(PartialEq, Eq, Hash)]
enum Unique<'a> {
    Id(Uuid),
    Edge(Uuid, Uuid),
    Key(&'a str, &'a str),
}

fn key_of(claim: &Option<KeyClaim>) -> Option<Unique<'_>> {
    claim
        .as_ref()
        .map(|c| Unique::Key(c.scope.as_str(), c.key.as_str()))
}

async fn create_posts(
    conn: &mut PoolConnection<Postgres>,
    window: SendWindow,
    batch: Vec<Item<PostRecord>>,
) -> Vec<PostAnswer> {
    // Checked again before each statement: time passes while earlier ones run.
    let alone = async |conn: &mut PoolConnection<Postgres>, (post, claim): &Item<PostRecord>| {
        if window.closed_for(post.id.as_uuid()) {
            return Err(too_late());
        }
        posts::create_one(conn, post, claim.as_ref()).await
    };
    if let [item] = batch.as_slice() {
        return vec![alone(conn, item).await];
    }
    // An item past its window is left out here and answered by `alone` below.
    let sent: Vec<usize> = first_of_each(&batch, |(p, claim)| {
        std::iter::once(Unique::Id(p.id.as_uuid()))
            .chain(key_of(claim))
            .collect()
    })
    .into_iter()
    .filter(|&i| !window.closed_for(batch[i].0.id.as_uuid()))
    .collect();
    let column =
        |f: fn(&PostRecord) -> Uuid| sent.iter().map(|&i| f(&batch[i].0)).collect::<Vec<_>>();
    let contents: Vec<&str> = sent.iter().map(|&i| batch[i].0.content.as_str()).collect();
    let times: Vec<OffsetDateTime> = sent
        .iter()
        .map(|&i| batch[i].0.created_at.to_datetime())
        .collect();
    let keys = key_columns(&batch, &sent);
    let done = if sent.is_empty() {
        Ok(Vec::new())
    } else {
        sqlx::query_scalar::<_, i64>(CREATE_BATCH)
            .bind(column(|p| p.id.as_uuid()))
            .bind(column(|p| p.author_id.as_uuid()))
            .bind(contents)
            .bind(times)
            .bind(keys.scopes)
            .bind(keys.keys)
            .bind(keys.fingerprints)
            .bind(idempotency::TTL)
            .fetch_all(&mut **conn)
            .await
    };
    let not_inserted = match settle(remap(outcome(done), &sent), batch.len()) {
        Ok(alone) => alone,
        Err(e) => return vec![Err(e); batch.len()],
    };
    let mut answers = Vec::with_capacity(batch.len());
    for (item, left) in batch.iter().zip(not_inserted) {
        answers.push(if left {
            alone(conn, item).await
        } else {
            Ok(Keyed::Done(true))
        });
    }
    answers
}

async fn follow_edges(
    conn: &mut PoolConnection<Postgres>,
    window: SendWindow,
    batch: Vec<Item<FollowRecord>>,
) -> Vec<FollowAnswer> {
    // As in `create_posts`.
    let alone = async |conn: &mut PoolConnection<Postgres>, (edge, claim): &Item<FollowRecord>| {
        if window.closed_for(edge.id.as_uuid()) {
            return Err(too_late().into());
        }
        follows::follow_one(conn, edge, claim.as_ref()).await
    };
    if let [item] = batch.as_slice() {
        return vec![alone(conn, item).await];
    }
    let sent: Vec<usize> = first_of_each(&batch, |(e, claim)| {
        [
            Unique::Id(e.id.as_uuid()),
            Unique::Edge(e.follower_id.as_uuid(), e.following_id.as_uuid()),
        ]
        .into_iter()
        .chain(key_of(claim))
        .collect()
    })
    .into_iter()
    .filter(|&i| !window.closed_for(batch[i].0.id.as_uuid()))
    .collect();
    let column =
        |f: fn(&FollowRecord) -> Uuid| sent.iter().map(|&i| f(&batch[i].0)).collect::<Vec<_>>();
    let times: Vec<OffsetDateTime> = sent
        .iter()
        .map(|&i| batch[i].0.created_at.to_datetime())
        .collect();
    let keys = key_columns(&batch, &sent);
    let done = if sent.is_empty() {
        Ok(Vec::new())
    } else {
        sqlx::query_scalar::<_, i64>(FOLLOW_BATCH)
            .bind(column(|e| e.id.as_uuid()))
            .bind(column(|e| e.follower_id.as_uuid()))
            .bind(column(|e| e.following_id.as_uuid()))
            .bind(times)
            .bind(keys.scopes)
            .bind(keys.keys)
            .bind(keys.fingerprints)
            .bind(idempotency::TTL)
            .fetch_all(&mut **conn)
            .await
    };
    let not_inserted = match settle(remap(outcome(done), &sent), batch.len()) {
        Ok(alone) => alone,
        Err(e) => return (0..batch.len()).map(|_| Err(e.clone().into())).collect(),
    };
    let mut answers = Vec::with_capacity(batch.len());
    for (item, left) in batch.iter().zip(not_inserted) {
        answers.push(if left {
            alone(conn, item).await
        } else {
            Ok(Keyed::Done(()))
        });
    }
    answers
}

#[cfg(test)]
mod tests;
