//! [`FollowRepository`] over the `follows` table, keeping both users' counters in step.
//!
//! Index use (checked by `tests/contract.rs` with EXPLAIN QUERY PLAN): follow/unfollow hit the
//! `(follower_id, following_id)` primary key; `followers` walks `follows_following_id_id_idx`
//! and `following` walks `follows_follower_id_id_idx`, both covering (the table is WITHOUT
//! ROWID, so they carry the other user's id), then fetch each other user by primary key.

use async_trait::async_trait;
use domain::model::{FollowEdge, FollowId, FollowRecord, KeyClaim, Keyset, UserId};
use domain::ports::{FollowError, FollowRepository, Keyed};
use domain::StoreError;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::codec::{self, before_key, key, limit};
use crate::error::{store_error, violation, ResultExt};
use crate::group::unkeyed;
use crate::store::BEGIN_WRITE;
use crate::SqliteStore;

/// Moves both counters of an edge in one statement (one primary-key probe per user): the
/// follower's `following_count` and the followed user's `followers_count` by `?3` (+1 / -1).
/// `(id = ?n)` is 1 on the matching row and 0 on the other.
pub(crate) const BUMP_COUNTERS: &str = "\
    UPDATE users SET \
        following_count = following_count + ?3 * (id = ?1), \
        followers_count = followers_count + ?3 * (id = ?2) \
    WHERE id IN (?1, ?2)";

/// One page of a follow list. `{edge}` is the column matching `user`, `{other}` the one whose
/// summary is shown. `CROSS JOIN` pins the loop order (edges outside, in index order, so the
/// LIMIT stops the walk early and no sort is needed).
macro_rules! edge_page {
    ($edge:literal, $other:literal) => {
        concat!(
            "SELECT f.id, u.id, u.username, u.name \
             FROM follows AS f CROSS JOIN users AS u ON u.id = f.",
            $other,
            " WHERE f.",
            $edge,
            " = ?1 AND f.id < ?2 ORDER BY f.id DESC LIMIT ?3"
        )
    };
}

pub(crate) const FOLLOWERS: &str = edge_page!("following_id", "follower_id");
pub(crate) const FOLLOWING: &str = edge_page!("follower_id", "following_id");
/// The fan-out's walk of a user's followers: `follows_following_id_id_idx` alone (covering).
pub(crate) const FOLLOWER_IDS: &str = "SELECT id, follower_id FROM follows \
    WHERE following_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
/// Which of a JSON array of user keys `?1` follows: one primary-key probe per candidate.
pub(crate) const FOLLOWED_AMONG: &str = "SELECT following_id FROM follows \
    WHERE follower_id = ?1 AND following_id IN (SELECT value FROM json_each(?2))";
pub(crate) const INSERT: &str = "INSERT INTO follows (id, follower_id, following_id, created_at) \
    VALUES (?1, ?2, ?3, ?4)";
pub(crate) const DELETE: &str = "DELETE FROM follows WHERE follower_id = ?1 AND following_id = ?2";

fn edge(row: &SqliteRow) -> Result<FollowEdge, StoreError> {
    Ok(FollowEdge {
        id: FollowId::from_uuid(codec::uuid_at(row, 0)?),
        user: codec::summary(row, 1)?,
    })
}

impl SqliteStore {
    /// A keyset page of rows keyed by one user (`?1`), cursor `?2`, limit `?3`, from the read
    /// pool: a user's posts, the feed, follower and following lists.
    pub(crate) async fn user_page<T>(
        &self,
        sql: &'static str,
        user: UserId,
        q: Keyset,
        decode: fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(key(user.as_uuid()))
            .bind(before_key(q.before))
            .bind(limit(q.limit))
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(decode).collect()
    }
}

/// Classifies a failed edge INSERT.
pub(crate) fn follow_error(e: sqlx::Error) -> FollowError {
    if let Some(db) = violation(&e, ErrorKind::UniqueViolation) {
        // The pair's primary key names both columns; a clash on the edge id alone would be an
        // id-generator bug, not an existing follow.
        if db.message().contains("follows.follower_id") {
            return FollowError::AlreadyFollowing;
        }
    } else if violation(&e, ErrorKind::ForeignKeyViolation).is_some() {
        return FollowError::UnknownUser;
    }
    // A CHECK violation (self-follow) lands here too: the service rejects it before calling,
    // so reaching the store is a bug.
    FollowError::Store(store_error(e))
}

#[async_trait]
impl FollowRepository for SqliteStore {
    async fn follow(&self, edge: &FollowRecord) -> Result<(), FollowError> {
        // Queued to the group-commit writer (`group`), which inserts the edge and moves both
        // counters in its batch's transaction; answered once that committed.
        let item = (edge.clone(), None);
        unkeyed(
            self.writers
                .follows
                .submit(item)
                .await
                .map_err(StoreError::from)?,
        )
    }

    async fn follow_keyed(
        &self,
        edge: &FollowRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<()>, FollowError> {
        // The same writer: the claim is made in the batch's transaction, before the INSERT.
        let item = (edge.clone(), Some(claim.clone()));
        self.writers
            .follows
            .submit(item)
            .await
            .map_err(StoreError::from)?
    }

    async fn unfollow(&self, follower: UserId, following: UserId) -> Result<bool, StoreError> {
        let follower = key(follower.as_uuid());
        let following = key(following.as_uuid());
        let mut tx = self.write.begin_with(BEGIN_WRITE).await.store()?;
        let deleted = sqlx::query(DELETE)
            .bind(follower.as_str())
            .bind(following.as_str())
            .execute(&mut *tx)
            .await
            .store()?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await.store()?;
            return Ok(false);
        }
        sqlx::query(BUMP_COUNTERS)
            .bind(follower)
            .bind(following)
            .bind(-1_i64)
            .execute(&mut *tx)
            .await
            .store()?;
        tx.commit().await.store()?;
        Ok(true)
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
                codec::uuid_at(row, 0)?,
                UserId::from_uuid(codec::uuid_at(row, 1)?),
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
        let keys = codec::key_list(candidates.iter().map(|c| c.as_uuid()));
        let rows = sqlx::query(FOLLOWED_AMONG)
            .bind(key(user.as_uuid()))
            .bind(keys)
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter()
            .map(|row| Ok(UserId::from_uuid(codec::uuid_at(row, 0)?)))
            .collect()
    }
}
