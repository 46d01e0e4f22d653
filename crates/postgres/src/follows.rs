//! [`FollowRepository`] over the `follows` table, keeping both users' counters in step.
//!
//! Follow and unfollow are single statements: the edge and both counters change together.
//! Follows are group-committed (`group`: a multi-row statement per batch).
//! Lists read where [`PgStore::page_route`] says.
//!
//! Index use (plans in docs/SCALING.md): follow/unfollow the `(follower_id, following_id)`
//! primary key; `followers` walks `follows_following_id_id_idx` and `following`
//! `follows_follower_id_id_idx` backwards (index-only: each carries the other side), then
//! fetch each other user by primary key.

use async_trait::async_trait;
use domain::model::{FollowEdge, FollowId, FollowRecord, KeyClaim, Keyset, UserId};
use domain::ports::{FollowError, FollowRepository, Keyed};
use domain::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::codec;
use crate::error::{store_error, violation, ResultExt, FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION};
use crate::group::unkeyed;
use crate::idempotency::{self, claimed};
use crate::PgStore;

/// Inserts the edge and moves the follower's `following_count` and the followed user's
/// `followers_count` by one. The constraints decide: the primary key rejects an existing edge,
/// the foreign keys an unknown user, and then the statement (counters included) writes nothing.
/// The UPDATE locks both user rows in index order, so two opposite follows cannot deadlock.
pub(crate) const FOLLOW: &str = "\
    WITH edge AS ( \
        INSERT INTO follows (id, follower_id, following_id, created_at) \
        VALUES ($1, $2, $3, $4) RETURNING follower_id, following_id \
    ) \
    UPDATE users SET \
        following_count = following_count + (users.id = edge.follower_id)::int, \
        followers_count = followers_count + (users.id = edge.following_id)::int \
    FROM edge WHERE users.id IN (edge.follower_id, edge.following_id)";

/// [`FOLLOW`] under an idempotency key (`$5` scope, `$6` key, `$7` fingerprint, `$8` its
/// lifetime): the edge is inserted only when the key was claimed, and a failing edge fails the
/// whole statement, claim included. Zero rows updated is a live key in the way.
pub(crate) const FOLLOW_KEYED: &str = concat!(
    "WITH ",
    claimed!("VALUES ($5, $6, $7, $1, $4)", "$8"),
    ", \
    edge AS ( \
        INSERT INTO follows (id, follower_id, following_id, created_at) \
        SELECT $1, $2, $3, $4 FROM claimed RETURNING follower_id, following_id \
    ) \
    UPDATE users SET \
        following_count = following_count + (users.id = edge.follower_id)::int, \
        followers_count = followers_count + (users.id = edge.following_id)::int \
    FROM edge WHERE users.id IN (edge.follower_id, edge.following_id)"
);

/// Removes the edge and moves both counters back; zero rows updated means there was no edge.
pub(crate) const UNFOLLOW: &str = "\
    WITH gone AS ( \
        DELETE FROM follows WHERE follower_id = $1 AND following_id = $2 \
        RETURNING follower_id, following_id \
    ) \
    UPDATE users SET \
        following_count = following_count - (users.id = gone.follower_id)::int, \
        followers_count = followers_count - (users.id = gone.following_id)::int \
    FROM gone WHERE users.id IN (gone.follower_id, gone.following_id)";

/// One page of a follow list. `{edge}` is the column matching `user`, `{other}` the one whose
/// summary is shown.
macro_rules! edge_page {
    ($edge:literal, $other:literal) => {
        concat!(
            "SELECT f.id, u.id, u.username, u.name \
             FROM follows AS f JOIN users AS u ON u.id = f.",
            $other,
            " WHERE f.",
            $edge,
            " = $1 AND f.id < $2 ORDER BY f.id DESC LIMIT $3"
        )
    };
}

pub(crate) const FOLLOWERS: &str = edge_page!("following_id", "follower_id");
pub(crate) const FOLLOWING: &str = edge_page!("follower_id", "following_id");
/// The fan-out's walk of a user's followers: `follows_following_id_id_idx` alone (index-only).
pub(crate) const FOLLOWER_IDS: &str = "SELECT id, follower_id FROM follows \
    WHERE following_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
/// Which of `$2` user `$1` follows: one primary-key probe per candidate.
pub(crate) const FOLLOWED_AMONG: &str = "SELECT following_id FROM follows \
    WHERE follower_id = $1 AND following_id = ANY($2)";

fn edge(row: &PgRow) -> Result<FollowEdge, StoreError> {
    Ok(FollowEdge {
        id: FollowId::from_uuid(row.try_get(0).store()?),
        user: codec::summary(row, 1)?,
    })
}

/// Classifies a failed follow.
fn follow_error(e: sqlx::Error) -> FollowError {
    if let Some(db) = violation(&e, UNIQUE_VIOLATION) {
        // The pair's primary key; a clash on the edge id alone would be an id-generator bug,
        // not an existing follow.
        if db.constraint() == Some("follows_pkey") {
            return FollowError::AlreadyFollowing;
        }
    } else if violation(&e, FOREIGN_KEY_VIOLATION).is_some() {
        return FollowError::UnknownUser;
    }
    // A CHECK violation (self-follow) lands here too: the service rejects it before calling,
    // so reaching the store is a bug.
    FollowError::Store(store_error(e))
}

/// One edge with [`FOLLOW`], or [`FOLLOW_KEYED`] under a claim: a batch of one, and every
/// item a batch statement did not insert (`group`), whose answer this gives exactly.
pub(crate) async fn follow_one(
    conn: &mut PgConnection,
    edge: &FollowRecord,
    claim: Option<&KeyClaim>,
) -> Result<Keyed<()>, FollowError> {
    let query = sqlx::query(if claim.is_some() {
        FOLLOW_KEYED
    } else {
        FOLLOW
    })
    .bind(edge.id.as_uuid())
    .bind(edge.follower_id.as_uuid())
    .bind(edge.following_id.as_uuid())
    .bind(edge.created_at.to_datetime());
    let query = match claim {
        Some(claim) => idempotency::bind_claim(query, claim).bind(idempotency::TTL),
        None => query,
    };
    let done = query.execute(conn).await.map_err(follow_error)?;
    Ok(if claim.is_some() && done.rows_affected() == 0 {
        Keyed::Taken
    } else {
        Keyed::Done(())
    })
}

#[async_trait]
impl FollowRepository for PgStore {
    async fn follow(&self, edge: &FollowRecord) -> Result<(), FollowError> {
        // Queued to the group-commit writer (`group`), answered once its batch committed; the
        // wait (queue included) is bounded by the call deadline.
        let submit = self.writers().follows.submit((edge.clone(), None));
        unkeyed(
            self.bounded(async { submit.await.map_err(StoreError::from) })
                .await?,
        )
    }

    async fn follow_keyed(
        &self,
        edge: &FollowRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<()>, FollowError> {
        // The same writer: the claim goes into the batch statement with the edge.
        let submit = self
            .writers()
            .follows
            .submit((edge.clone(), Some(claim.clone())));
        self.bounded(async { submit.await.map_err(StoreError::from) })
            .await?
    }

    async fn unfollow(&self, follower: UserId, following: UserId) -> Result<bool, StoreError> {
        let done = self
            .primary_op(
                sqlx::query(UNFOLLOW)
                    .bind(follower.as_uuid())
                    .bind(following.as_uuid())
                    .execute(self.primary()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn followers(&self, user: UserId, q: Keyset) -> Result<Vec<FollowEdge>, StoreError> {
        self.user_page(FOLLOWERS, user, q, edge).await
    }

    async fn following(&self, user: UserId, q: Keyset) -> Result<Vec<FollowEdge>, StoreError> {
        self.user_page(FOLLOWING, user, q, edge).await
    }

    async fn follower_ids(
        &self,
        user: UserId,
        q: Keyset,
    ) -> Result<Vec<(Uuid, UserId)>, StoreError> {
        self.user_page(FOLLOWER_IDS, user, q, |row| {
            Ok((
                row.try_get(0).store()?,
                UserId::from_uuid(row.try_get(1).store()?),
            ))
        })
        .await
    }

    async fn followed_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = candidates.iter().map(|c| c.as_uuid()).collect();
        let rows = self
            .primary_op(
                sqlx::query(FOLLOWED_AMONG)
                    .bind(user.as_uuid())
                    .bind(&ids)
                    .fetch_all(self.primary()),
            )
            .await?;
        rows.iter()
            .map(|row| Ok(UserId::from_uuid(row.try_get(0).store()?)))
            .collect()
    }
}
