//! Group commit of post creations and follows (see the `group-commit` crate): concurrent
//! `create`/`follow` calls queue to one writer task per kind, which writes each batch as one
//! `BEGIN IMMEDIATE` transaction on the writer connection.
//!
//! A failing item fails alone without savepoints: SQLite undoes a statement that violates a
//! constraint (its trigger effects included) and leaves the transaction open, so an unknown
//! author, a duplicate id, an existing edge or a self-follow gets its own answer while its
//! batch-mates commit. Any other error (lock timeout, I/O) rolls the whole batch back and every
//! item of it gets that error. Answers go out only after COMMIT returned.
//!
//! An item with an idempotency key claims it first, in the batch's transaction
//! (`idempotency::claim`): a live key in the way (a retry, or a duplicate earlier in this very
//! batch) answers `Taken` for that item alone, before anything of it is written; a write that
//! then fails on its own undoes its claim. The key and the write commit together or not at all.

use domain::model::{FollowRecord, KeyClaim, PostRecord};
use domain::ports::{FollowError, Keyed};
use domain::StoreError;
use group_commit::{GroupCommit, Limits, Stats};
use sqlx::error::ErrorKind;
use sqlx::SqlitePool;

use crate::codec::key;
use crate::error::{store_error, violation};
use crate::store::BEGIN_WRITE;
use crate::{follows, idempotency, posts};

/// A write and the idempotency key it claims, if any.
pub(crate) type Item<T> = (T, Option<KeyClaim>);
pub(crate) type PostAnswer = Result<Keyed<bool>, StoreError>;
pub(crate) type FollowAnswer = Result<Keyed<()>, FollowError>;

/// The two writer tasks of a store; they stop once every clone of the store is gone.
#[derive(Debug)]
pub(crate) struct Writers {
    pub(crate) posts: GroupCommit<Item<PostRecord>, PostAnswer>,
    pub(crate) follows: GroupCommit<Item<FollowRecord>, FollowAnswer>,
}

impl Writers {
    /// Starts both writers on the current runtime, writing through `write` (the one-connection
    /// pool, shared fairly with the writes that do not batch: deletes, unfollows, users).
    pub(crate) fn spawn(write: &SqlitePool) -> Self {
        let pool = write.clone();
        let posts = GroupCommit::spawn("sqlite", "posts", Limits::default(), move |batch| {
            let pool = pool.clone();
            async move { all_or_each(batch.len(), create_posts(&pool, &batch).await) }
        });
        let pool = write.clone();
        let follows = GroupCommit::spawn("sqlite", "follows", Limits::default(), move |batch| {
            let pool = pool.clone();
            async move { all_or_each(batch.len(), follow_edges(&pool, &batch).await) }
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

/// The answer to a write without a key, which no key can be in the way of.
pub(crate) fn unkeyed<T, E: From<StoreError>>(answer: Result<Keyed<T>, E>) -> Result<T, E> {
    match answer? {
        Keyed::Done(value) => Ok(value),
        Keyed::Taken => {
            Err(StoreError::Internal("an unkeyed write answered Taken".to_owned()).into())
        }
    }
}

/// Each item's own answer, or the batch's error (nothing of it was committed) for every item.
fn all_or_each<T, E: From<StoreError>>(
    n: usize,
    batch: Result<Vec<Result<T, E>>, StoreError>,
) -> Vec<Result<T, E>> {
    match batch {
        Ok(each) => each,
        Err(e) => (0..n).map(|_| Err(E::from(e.clone()))).collect(),
    }
}

/// A constraint violation: SQLite has undone the statement, the transaction goes on.
fn item_failed(e: &sqlx::Error) -> bool {
    [
        ErrorKind::UniqueViolation,
        ErrorKind::ForeignKeyViolation,
        ErrorKind::NotNullViolation,
        ErrorKind::CheckViolation,
    ]
    .into_iter()
    .any(|kind| violation(e, kind).is_some())
}

async fn create_posts(
    pool: &SqlitePool,
    batch: &[Item<PostRecord>],
) -> Result<Vec<PostAnswer>, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await.map_err(store_error)?;
    let mut answers = Vec::with_capacity(batch.len());
    for (post, claim) in batch {
        if let Some(claim) = claim {
            let claimed = idempotency::claim(&mut tx, claim, post.id.as_uuid(), post.created_at)
                .await
                .map_err(store_error)?;
            if !claimed {
                answers.push(Ok(Keyed::Taken));
                continue;
            }
        }
        // The `posts_count_up` trigger runs inside the INSERT: undone with it on a violation.
        let inserted = sqlx::query(posts::INSERT)
            .bind(key(post.id.as_uuid()))
            .bind(key(post.author_id.as_uuid()))
            .bind(post.content.as_str())
            .bind(post.created_at.unix_millis())
            .execute(&mut *tx)
            .await;
        let answer = match inserted {
            Ok(_) => Ok(true),
            Err(e) if violation(&e, ErrorKind::ForeignKeyViolation).is_some() => Ok(false),
            // A duplicate id: the same error a lone INSERT gave before batching.
            Err(e) if item_failed(&e) => Err(store_error(e)),
            // The transaction is dropped, hence rolled back.
            Err(e) => return Err(store_error(e)),
        };
        if let (Some(claim), Ok(false) | Err(_)) = (claim, &answer) {
            idempotency::unclaim(&mut tx, claim)
                .await
                .map_err(store_error)?;
        }
        answers.push(answer.map(Keyed::Done));
    }
    tx.commit().await.map_err(store_error)?;
    Ok(answers)
}

async fn follow_edges(
    pool: &SqlitePool,
    batch: &[Item<FollowRecord>],
) -> Result<Vec<FollowAnswer>, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await.map_err(store_error)?;
    let mut answers = Vec::with_capacity(batch.len());
    for (edge, claim) in batch {
        if let Some(claim) = claim {
            let claimed = idempotency::claim(&mut tx, claim, edge.id.as_uuid(), edge.created_at)
                .await
                .map_err(store_error)?;
            if !claimed {
                answers.push(Ok(Keyed::Taken));
                continue;
            }
        }
        let follower = key(edge.follower_id.as_uuid());
        let following = key(edge.following_id.as_uuid());
        // The primary key catches an existing edge (also one made earlier in this batch), the
        // foreign keys an unknown user, the CHECK a self-follow.
        let inserted = sqlx::query(follows::INSERT)
            .bind(key(edge.id.as_uuid()))
            .bind(follower.as_str())
            .bind(following.as_str())
            .bind(edge.created_at.unix_millis())
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if item_failed(&e) => {
                if let Some(claim) = claim {
                    idempotency::unclaim(&mut tx, claim)
                        .await
                        .map_err(store_error)?;
                }
                answers.push(Err(follows::follow_error(e)));
                continue;
            }
            Err(e) => return Err(store_error(e)),
        }
        // Not a constraint that can fail for this item: an error here ends the batch.
        sqlx::query(follows::BUMP_COUNTERS)
            .bind(follower)
            .bind(following)
            .bind(1_i64)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        answers.push(Ok(Keyed::Done(())));
    }
    tx.commit().await.map_err(store_error)?;
    Ok(answers)
}
