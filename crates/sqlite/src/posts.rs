//! [`PostRepository`] over the `posts` table, keeping `users.posts_count` in step.
//!
//! Index use (checked by `tests/contract.rs` with EXPLAIN QUERY PLAN): `by_id` and `latest`
//! go through the primary key (a descending range for `latest`, so no sort); `by_author` and
//! every step of `feed` through `posts_author_id_id_idx`.

use async_trait::async_trait;
use domain::model::{Keyset, PostId, PostRecord, UserId};
use domain::ports::PostRepository;
use domain::StoreError;

use crate::codec::{self, before_key, key, limit};
use crate::error::ResultExt;
use crate::store::BEGIN_WRITE;
use crate::SqliteStore;

pub(crate) const INSERT: &str =
    "INSERT INTO posts (id, author_id, content, created_at) VALUES (?1, ?2, ?3, ?4)";
pub(crate) const COUNT_UP: &str = "UPDATE users SET posts_count = posts_count + 1 WHERE id = ?1";
pub(crate) const COUNT_DOWN: &str = "UPDATE users SET posts_count = posts_count - 1 WHERE id = ?1";
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
        let author = key(post.author_id.as_uuid());
        let mut tx = self.write.begin_with(BEGIN_WRITE).await.store()?;
        // Counter first: zero rows updated means an unknown author, learnt without relying on
        // a foreign-key error, and nothing has been written yet.
        let bumped = sqlx::query(COUNT_UP)
            .bind(author.as_str())
            .execute(&mut *tx)
            .await
            .store()?;
        if bumped.rows_affected() == 0 {
            tx.rollback().await.store()?;
            return Ok(false);
        }
        sqlx::query(INSERT)
            .bind(key(post.id.as_uuid()))
            .bind(author)
            .bind(post.content.as_str())
            .bind(post.created_at.unix_millis())
            .execute(&mut *tx)
            .await
            .store()?;
        tx.commit().await.store()?;
        Ok(true)
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
        let author = key(author.as_uuid());
        let mut tx = self.write.begin_with(BEGIN_WRITE).await.store()?;
        // The author condition is part of the DELETE, so "not yours" and "no such post" cost
        // the same single statement and can never remove someone else's post.
        let deleted = sqlx::query(DELETE)
            .bind(key(id.as_uuid()))
            .bind(author.as_str())
            .execute(&mut *tx)
            .await
            .store()?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await.store()?;
            return Ok(false);
        }
        sqlx::query(COUNT_DOWN)
            .bind(author)
            .execute(&mut *tx)
            .await
            .store()?;
        tx.commit().await.store()?;
        Ok(true)
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
        let rows = sqlx::query(BY_AUTHOR)
            .bind(key(author.as_uuid()))
            .bind(before_key(q.before))
            .bind(limit(q.limit))
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(codec::post).collect()
    }

    async fn feed(&self, user: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        let rows = sqlx::query(FEED)
            .bind(key(user.as_uuid()))
            .bind(before_key(q.before))
            .bind(limit(q.limit))
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(codec::post).collect()
    }
}
