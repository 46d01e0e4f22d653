//! Group commit of post creations and follows (see the `group-commit` crate): concurrent
//! `create`/`follow` calls queue to one writer task per kind, which writes each batch as one
//! multi-row statement (`unnest` of arrays) with the counter updates folded in, aggregated per
//! user. One statement is one transaction: one round trip and one commit for the whole batch.
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

use std::collections::HashSet;

use domain::model::{FollowRecord, KeyClaim, PostRecord};
use domain::ports::{FollowError, Keyed};
use domain::StoreError;
use group_commit::{GroupCommit, Limits, Stats};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{is_unavailable, store_error};
use crate::idempotency::{self, claimed};
use crate::{follows, posts};

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

/// The claims of a batch's items, in the CTE every batch statement has (`claimed`): from `fit`
/// (the items that can be written), those with a key; `$5..$7` of the statement are the keys'
/// columns (NULL for an item without one), `$8` their lifetime.
macro_rules! claim_fitting_items {
    () => {
        claimed!(
            "SELECT f.scope, f.key, f.fingerprint, f.id, f.created_at FROM fit AS f \
             WHERE f.key IS NOT NULL",
            "$8"
        )
    };
}

/// `$1..$4`: the batch as arrays, `$5..$7` the items' keys (see [`claim_fitting_items`]),
/// `$8` the keys' lifetime; returns the ordinal (1-based) of every item inserted. The users'
/// rows are updated in id order (the aggregate is sorted), the order every other multi-user
/// write here takes, to keep deadlocks rare.
pub(crate) const CREATE_BATCH: &str = concat!(
    "WITH input AS ( \
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], \
                             $5::text[], $6::text[], $7::bytea[]) \
            WITH ORDINALITY AS t(id, author_id, content, created_at, scope, key, fingerprint, ord) \
    ), \
    fit AS ( \
        SELECT i.* FROM input AS i \
        WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = i.author_id) \
          AND NOT EXISTS (SELECT 1 FROM posts AS p WHERE p.id = i.id) \
    ), ",
    claim_fitting_items!(),
    ", \
    ins AS ( \
        INSERT INTO posts (id, author_id, content, created_at) \
        SELECT f.id, f.author_id, f.content, f.created_at FROM fit AS f \
        WHERE f.key IS NULL OR f.id IN (SELECT resource FROM claimed) \
        RETURNING id, author_id \
    ), \
    bump AS ( \
        UPDATE users SET posts_count = users.posts_count + c.n \
        FROM (SELECT author_id, count(*) AS n FROM ins GROUP BY author_id ORDER BY author_id) AS c \
        WHERE users.id = c.author_id \
    ) \
    SELECT i.ord FROM input AS i JOIN ins ON ins.id = i.id"
);

/// The same for edges: `$1` ids, `$2` followers, `$3` followed users, `$4` times, `$5..$8` the
/// keys as for posts. Both counters of every user touched move by the sum of their new edges.
pub(crate) const FOLLOW_BATCH: &str = concat!(
    "WITH input AS ( \
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], \
                             $5::text[], $6::text[], $7::bytea[]) \
            WITH ORDINALITY AS t(id, follower_id, following_id, created_at, scope, key, fingerprint, ord) \
    ), \
    fit AS ( \
        SELECT i.* FROM input AS i \
        WHERE i.follower_id <> i.following_id \
          AND EXISTS (SELECT 1 FROM users AS u WHERE u.id = i.follower_id) \
          AND EXISTS (SELECT 1 FROM users AS u WHERE u.id = i.following_id) \
          AND NOT EXISTS (SELECT 1 FROM follows AS e \
                          WHERE e.follower_id = i.follower_id AND e.following_id = i.following_id) \
          AND NOT EXISTS (SELECT 1 FROM follows AS e WHERE e.id = i.id) \
    ), ",
    claim_fitting_items!(),
    ", \
    ins AS ( \
        INSERT INTO follows (id, follower_id, following_id, created_at) \
        SELECT f.id, f.follower_id, f.following_id, f.created_at FROM fit AS f \
        WHERE f.key IS NULL OR f.id IN (SELECT resource FROM claimed) \
        RETURNING id, follower_id, following_id \
    ), \
    delta AS ( \
        SELECT id, sum(out_n) AS out_n, sum(in_n) AS in_n FROM ( \
            SELECT follower_id AS id, 1 AS out_n, 0 AS in_n FROM ins \
            UNION ALL \
            SELECT following_id, 0, 1 FROM ins \
        ) AS d GROUP BY id ORDER BY id \
    ), \
    bump AS ( \
        UPDATE users SET \
            following_count = users.following_count + delta.out_n, \
            followers_count = users.followers_count + delta.in_n \
        FROM delta WHERE users.id = delta.id \
    ) \
    SELECT i.ord FROM input AS i JOIN ins ON ins.id = i.id"
);

/// The two writer tasks of a store; they stop once every clone of the store is gone.
#[derive(Debug)]
pub(crate) struct Writers {
    pub(crate) posts: GroupCommit<Item<PostRecord>, PostAnswer>,
    pub(crate) follows: GroupCommit<Item<FollowRecord>, FollowAnswer>,
}

impl Writers {
    /// Starts both writers on the current runtime, writing on the primary `pool`.
    pub(crate) fn spawn(pool: &PgPool) -> Self {
        let p = pool.clone();
        let posts = GroupCommit::spawn("postgres", "posts", Limits::default(), move |batch| {
            let pool = p.clone();
            async move { create_posts(&pool, batch).await }
        });
        let p = pool.clone();
        let follows = GroupCommit::spawn("postgres", "follows", Limits::default(), move |batch| {
            let pool = p.clone();
            async move { follow_edges(&pool, batch).await }
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

/// The items' keys as the statements' `$5..$7` columns (NULL for an item without a key).
struct KeyColumns<'a> {
    scopes: Vec<Option<&'a str>>,
    keys: Vec<Option<&'a str>>,
    fingerprints: Vec<Option<&'a [u8]>>,
}

fn key_columns<'a, T>(batch: &'a [Item<T>], sent: &[usize]) -> KeyColumns<'a> {
    let claims = || sent.iter().map(|&i| batch[i].1.as_ref());
    KeyColumns {
        scopes: claims().map(|c| c.map(|c| c.scope.as_str())).collect(),
        keys: claims().map(|c| c.map(|c| c.key.as_str())).collect(),
        fingerprints: claims()
            .map(|c| c.map(|c| &c.fingerprint.as_bytes()[..]))
            .collect(),
    }
}

async fn create_posts(pool: &PgPool, batch: Vec<Item<PostRecord>>) -> Vec<PostAnswer> {
    if let [(post, claim)] = batch.as_slice() {
        return vec![posts::create_one(pool, post, claim.as_ref()).await];
    }
    let sent = first_of_each(&batch, |(p, claim)| {
        std::iter::once(Unique::Id(p.id.as_uuid()))
            .chain(key_of(claim))
            .collect()
    });
    let column =
        |f: fn(&PostRecord) -> Uuid| sent.iter().map(|&i| f(&batch[i].0)).collect::<Vec<_>>();
    let contents: Vec<&str> = sent.iter().map(|&i| batch[i].0.content.as_str()).collect();
    let times: Vec<OffsetDateTime> = sent
        .iter()
        .map(|&i| batch[i].0.created_at.to_datetime())
        .collect();
    let keys = key_columns(&batch, &sent);
    let done = sqlx::query_scalar::<_, i64>(CREATE_BATCH)
        .bind(column(|p| p.id.as_uuid()))
        .bind(column(|p| p.author_id.as_uuid()))
        .bind(contents)
        .bind(times)
        .bind(keys.scopes)
        .bind(keys.keys)
        .bind(keys.fingerprints)
        .bind(idempotency::TTL)
        .fetch_all(pool)
        .await;
    let not_inserted = match settle(remap(outcome(done), &sent), batch.len()) {
        Ok(alone) => alone,
        Err(e) => return vec![Err(e); batch.len()],
    };
    let mut answers = Vec::with_capacity(batch.len());
    for ((post, claim), alone) in batch.iter().zip(not_inserted) {
        answers.push(if alone {
            posts::create_one(pool, post, claim.as_ref()).await
        } else {
            Ok(Keyed::Done(true))
        });
    }
    answers
}

async fn follow_edges(pool: &PgPool, batch: Vec<Item<FollowRecord>>) -> Vec<FollowAnswer> {
    if let [(edge, claim)] = batch.as_slice() {
        return vec![follows::follow_one(pool, edge, claim.as_ref()).await];
    }
    let sent = first_of_each(&batch, |(e, claim)| {
        [
            Unique::Id(e.id.as_uuid()),
            Unique::Edge(e.follower_id.as_uuid(), e.following_id.as_uuid()),
        ]
        .into_iter()
        .chain(key_of(claim))
        .collect()
    });
    let column =
        |f: fn(&FollowRecord) -> Uuid| sent.iter().map(|&i| f(&batch[i].0)).collect::<Vec<_>>();
    let times: Vec<OffsetDateTime> = sent
        .iter()
        .map(|&i| batch[i].0.created_at.to_datetime())
        .collect();
    let keys = key_columns(&batch, &sent);
    let done = sqlx::query_scalar::<_, i64>(FOLLOW_BATCH)
        .bind(column(|e| e.id.as_uuid()))
        .bind(column(|e| e.follower_id.as_uuid()))
        .bind(column(|e| e.following_id.as_uuid()))
        .bind(times)
        .bind(keys.scopes)
        .bind(keys.keys)
        .bind(keys.fingerprints)
        .bind(idempotency::TTL)
        .fetch_all(pool)
        .await;
    let not_inserted = match settle(remap(outcome(done), &sent), batch.len()) {
        Ok(alone) => alone,
        Err(e) => return (0..batch.len()).map(|_| Err(e.clone().into())).collect(),
    };
    let mut answers = Vec::with_capacity(batch.len());
    for ((edge, claim), alone) in batch.iter().zip(not_inserted) {
        answers.push(if alone {
            follows::follow_one(pool, edge, claim.as_ref()).await
        } else {
            Ok(Keyed::Done(()))
        });
    }
    answers
}

#[cfg(test)]
mod tests;
