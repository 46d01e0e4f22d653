//! [`PostRepository`] over the `posts` table; `users.posts_count` is kept in step by triggers
//! (migration 0002), so each post write is a single statement. Creations are group-committed
//! (`group`): many inserts in one transaction.
//!
//! Index use (checked by `tests/contract.rs` with EXPLAIN QUERY PLAN): `by_id` and `latest`
//! go through the primary key (a descending range for `latest`, so no sort); `by_author` and
//! every step of `feed` through `posts_author_id_id_idx`.

use crate::codec::{self, before_key, key, limit};
use crate::error::ResultExt;
use crate::group::unkeyed;
use crate::SqliteStore;
use async_trait::async_trait;
use domain::model::{KeyClaim, Keyset, PostId, PostRecord, UserId};
use domain::ports::{Keyed, PostRepository};
use domain::StoreError;

pub(crate) const INSERT: &str =
    "INSERT INTO posts (id, author_id, content, created_at) VALUES (?1, ?2, ?3, ?4)";
/// What the `posts_count_up` / `posts_count_down` triggers run (migration 0002), kept here only
/// so the plan check covers them.
pub(crate) const TRIGGER_COUNT_UP: &str =
    "UPDATE users SET posts_count = posts_count + 1 WHERE id = ?1";
pub(crate) const TRIGGER_COUNT_DOWN: &str =
    "UPDATE users SET posts_count = posts_count - 1 WHERE id = ?1";
pub(crate) const BY_ID: &str = "SELECT id, author_id, content, created_at FROM posts WHERE id = ?1";
pub(crate) const DELETE: &str = "DELETE FROM posts WHERE id = ?1 AND author_id = ?2";
/// A descending walk of the primary key from the cursor: stops after `LIMIT` rows, no sort.
pub(crate) const LATEST: &str = "SELECT id, author_id, content, created_at FROM posts \
    WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
pub(crate) const BY_AUTHOR: &str = "SELECT id, author_id, content, created_at FROM posts \
    WHERE author_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

/// The feed, computed on read, with a cost bounded by `(followed + 1) × limit` index entries
/// whatever the size of the posts table:
///
/// * `authors` is the user plus whom they follow (`follows_follower_id_id_idx`, covering).
///   UNION ALL cannot repeat an author: the CHECK on `follows` forbids following oneself.
/// * `bounds` finds, per author, their `limit`-th newest id below the cursor (`floor`; `''`
///   when they have fewer), walking at most `limit` entries of `posts_author_id_id_idx`.
/// * each author's posts in `[floor, before)` — at most `limit` of them, found by a range on
///   the same index — are fetched and sorted, and the newest `limit` kept. A page needs no
///   more than `limit` posts from any one author, so none is missed.
///
/// The loop order and the index are pinned (`CROSS JOIN`, `INDEXED BY`): a simpler
/// `id IN (per-author subquery)` form was turned into a scan of `posts` by the planner once
/// ANALYZE statistics described a small table, and the pins keep that from recurring. If the
/// index is ever dropped, the statement fails to prepare instead of silently scanning.
pub(crate) const FEED: &str = "\
    WITH authors(id) AS ( \
        SELECT ?1 \
        UNION ALL \
        SELECT following_id FROM follows WHERE follower_id = ?1 \
    ), \
    bounds(author, floor) AS ( \
        SELECT a.id, coalesce(( \
            SELECT q.id FROM posts AS q INDEXED BY posts_author_id_id_idx \
            WHERE q.author_id = a.id AND q.id < ?2 \
            ORDER BY q.id DESC LIMIT 1 OFFSET ?3 - 1 \
        ), '') \
        FROM authors AS a \
    ) \
    SELECT p.id, p.author_id, p.content, p.created_at \
    FROM bounds AS b CROSS JOIN posts AS p INDEXED BY posts_author_id_id_idx \
    WHERE p.author_id = b.author AND p.id < ?2 AND p.id >= b.floor \
    ORDER BY p.id DESC LIMIT ?3";

#[async_trait]
impl PostRepository for SqliteStore {
    async fn create(&self, post: &PostRecord) -> Result<bool, StoreError> {
        // Queued to the group-commit writer (`group`): answered once its batch committed. The
        // `posts_count_up` trigger bumps the author's counter inside the INSERT, and an
        // unknown author is a foreign-key violation that leaves nothing written (`Ok(false)`).
        unkeyed(self.writers.posts.submit((post.clone(), None)).await?)
    }

    async fn create_keyed(
        &self,
        post: &PostRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<bool>, StoreError> {
        // The same writer: the claim is made in the batch's transaction, before the INSERT.
        let item = (post.clone(), Some(claim.clone()));
        self.writers.posts.submit(item).await?
    }

    async fn by_id(&self, id: PostId) -> Result<Option<PostRecord>, StoreError> {
        sqlx::query(BY_ID)
            .bind(key(id.as_uuid()))
            .fetch_optional(&self.read)
            .await
            .store()?
            .as_ref()
            .map(codec::post)
            .transpose()
    }

    async fn delete(&self, id: PostId, author: UserId) -> Result<bool, StoreError> {
        // The author condition is part of the DELETE, so "not yours" and "no such post" cost
        // the same single statement and can never remove someone else's post; the
        // `posts_count_down` trigger decrements the counter in the same statement.
        let deleted = sqlx::query(DELETE)
            .bind(key(id.as_uuid()))
            .bind(key(author.as_uuid()))
            .execute(&self.write)
            .await
            .store()?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn latest(&self, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        let rows = sqlx::query(LATEST)
            .bind(before_key(q.before))
            .bind(limit(q.limit))
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(codec::post).collect()
    }

    async fn by_author(&self, author: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.user_page(BY_AUTHOR, author, q, codec::post).await
    }

    async fn feed(&self, user: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.user_page(FEED, user, q, codec::post).await
    }
}
