//! [`PostRepository`] over the `posts` table, keeping `users.posts_count` in step.
//!
//! Writes are single statements (a data-modifying CTE moves the counter in the same statement,
//! hence the same transaction, as the row): one round trip, no BEGIN/COMMIT. Creations are
//! group-committed (`group`): one multi-row statement per batch of concurrent ones, and
//! [`CREATE`] for a lone one or an item the batch could not insert. `by_id` reads the
//! primary (it fills a cache that a delete invalidates: a refill from a lagging replica would
//! resurrect the post for a TTL); lists read where [`PgStore::page_route`] says.
//!
//! Index use (plans in docs/SCALING.md): `by_id` and `latest` the primary key (`latest` walks
//! it backwards from the cursor, so no sort), `by_author` and every per-author probe of `feed`
//! `posts_author_id_id_idx`.

use async_trait::async_trait;
use domain::model::{KeyClaim, Keyset, PostId, PostRecord, UserId};
use domain::ports::{Keyed, PostRepository};
use domain::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::codec::{self, before, limit};
use crate::error::ResultExt;
use crate::group::unkeyed;
use crate::idempotency::{self, claimed};
use crate::PgStore;

/// Zero rows inserted means an unknown author: the counter UPDATE found no row, so the INSERT
/// selected nothing, and nothing was written.
pub(crate) const CREATE: &str = "\
    WITH author AS ( \
        UPDATE users SET posts_count = posts_count + 1 WHERE id = $2 RETURNING id \
    ) \
    INSERT INTO posts (id, author_id, content, created_at) \
    SELECT $1, author.id, $3, $4 FROM author";

/// [`CREATE`] under an idempotency key (`$5` scope, `$6` key, `$7` fingerprint, `$8` its
/// lifetime): the key is claimed only for a known author, and the post written only when it
/// was. Answers (post inserted, author known, a live key was there before): a post not
/// inserted is a live key in the way unless the author is unknown and no key was live.
pub(crate) const CREATE_KEYED: &str = concat!(
    "WITH ",
    claimed!(
        "SELECT $5::text, $6::text, $7::bytea, $1::uuid, $4::timestamptz \
         WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)",
        "$8"
    ),
    ", \
    author AS ( \
        UPDATE users SET posts_count = posts_count + 1 \
        WHERE id = $2 AND EXISTS (SELECT 1 FROM claimed) RETURNING id \
    ), \
    ins AS ( \
        INSERT INTO posts (id, author_id, content, created_at) \
        SELECT $1, author.id, $3, $4 FROM author RETURNING id \
    ) \
    SELECT EXISTS (SELECT 1 FROM ins), EXISTS (SELECT 1 FROM users WHERE id = $2), \
           EXISTS (SELECT 1 FROM idempotency_keys \
                   WHERE scope = $5 AND key = $6 AND created_at > $4 - $8::interval)"
);

/// The author condition is part of the DELETE, so "not yours" and "no such post" cost the same
/// single statement and can never remove someone else's post.
pub(crate) const DELETE: &str = "\
    WITH gone AS ( \
        DELETE FROM posts WHERE id = $1 AND author_id = $2 RETURNING author_id \
    ) \
    UPDATE users SET posts_count = posts_count - 1 FROM gone WHERE users.id = gone.author_id";

pub(crate) const BY_ID: &str = "SELECT id, author_id, content, created_at FROM posts WHERE id = $1";

/// A backward walk of the primary key from the cursor that stops after `LIMIT` rows: no sort.
pub(crate) const LATEST: &str = "SELECT id, author_id, content, created_at FROM posts \
    WHERE id < $1 ORDER BY id DESC LIMIT $2";

/// The page's ids come from an index-only backward range on `posts_author_id_id_idx`, then
/// only those rows are fetched. MATERIALIZED pins that order: given the plain form, the planner
/// walked the *primary key* backwards filtering on the author whenever the author wrote a few
/// percent of all posts (estimating the page near the top), a walk without bound for an author
/// whose posts are all old (docs/SCALING.md).
pub(crate) const BY_AUTHOR: &str = "\
    WITH page AS MATERIALIZED ( \
        SELECT q.id FROM posts AS q WHERE q.author_id = $1 AND q.id < $2 \
        ORDER BY q.id DESC LIMIT $3 \
    ) \
    SELECT p.id, p.author_id, p.content, p.created_at \
    FROM page JOIN posts AS p ON p.id = page.id \
    ORDER BY p.id DESC";

/// The feed computed on read, with a cost bounded by `(followed + 1) × limit` index entries
/// whatever the size of `posts`:
///
/// * `authors`: the user plus whom they follow (`follows_follower_id_id_idx`, index-only).
///   UNION ALL cannot repeat an author: the CHECK on `follows` forbids following oneself.
/// * `page`: per author (LATERAL), their newest `limit` ids below the cursor, an index-only
///   backward range on `posts_author_id_id_idx`; of all of those the newest `limit` (a top-N
///   sort of a bounded set). A page needs no more than `limit` posts from any one author, so
///   none is missed.
/// * only then are the `limit` winning rows fetched from the heap, by primary key.
pub(crate) const FEED: &str = "\
    WITH authors(id) AS ( \
        SELECT $1::uuid \
        UNION ALL \
        SELECT following_id FROM follows WHERE follower_id = $1 \
    ), \
    page AS ( \
        SELECT c.id FROM authors AS a \
        CROSS JOIN LATERAL ( \
            SELECT q.id FROM posts AS q \
            WHERE q.author_id = a.id AND q.id < $2 \
            ORDER BY q.id DESC LIMIT $3 \
        ) AS c \
        ORDER BY c.id DESC LIMIT $3 \
    ) \
    SELECT p.id, p.author_id, p.content, p.created_at \
    FROM page JOIN posts AS p ON p.id = page.id \
    ORDER BY p.id DESC";

/// One post with [`CREATE`], or [`CREATE_KEYED`] under a claim: a batch of one, and every
/// item a batch statement did not insert (`group`), whose answer this gives exactly.
pub(crate) async fn create_one(
    conn: &mut PgConnection,
    post: &PostRecord,
    claim: Option<&KeyClaim>,
) -> Result<Keyed<bool>, StoreError> {
    let Some(claim) = claim else {
        let done = sqlx::query(CREATE)
            .bind(post.id.as_uuid())
            .bind(post.author_id.as_uuid())
            .bind(post.content.as_str())
            .bind(post.created_at.to_datetime())
            .execute(&mut *conn)
            .await
            .store()?;
        return Ok(Keyed::Done(done.rows_affected() == 1));
    };
    let query = sqlx::query(CREATE_KEYED)
        .bind(post.id.as_uuid())
        .bind(post.author_id.as_uuid())
        .bind(post.content.as_str())
        .bind(post.created_at.to_datetime());
    let row = idempotency::bind_claim(query, claim)
        .bind(idempotency::TTL)
        .fetch_one(conn)
        .await
        .store()?;
    let (inserted, known, live): (bool, bool, bool) = (
        row.try_get(0).store()?,
        row.try_get(1).store()?,
        row.try_get(2).store()?,
    );
    Ok(match (inserted, known, live) {
        (true, _, _) => Keyed::Done(true),
        (false, false, false) => Keyed::Done(false),
        // A known author's claim found a live key (perhaps one committed after this
        // statement's snapshot was taken, which the claim waited for).
        (false, _, _) => Keyed::Taken,
    })
}

#[async_trait]
impl PostRepository for PgStore {
    async fn create(&self, post: &PostRecord) -> Result<bool, StoreError> {
        // Queued to the group-commit writer (`group`), answered once its batch committed; the
        // wait (queue included) is bounded by the call deadline.
        let submit = self.writers().posts.submit((post.clone(), None));
        unkeyed(
            self.bounded(async { submit.await.map_err(StoreError::from) })
                .await?,
        )
    }

    async fn create_keyed(
        &self,
        post: &PostRecord,
        claim: &KeyClaim,
    ) -> Result<Keyed<bool>, StoreError> {
        // The same writer: the claim goes into the batch statement with the post.
        let submit = self
            .writers()
            .posts
            .submit((post.clone(), Some(claim.clone())));
        self.bounded(async { submit.await.map_err(StoreError::from) })
            .await?
    }

    async fn by_id(&self, id: PostId) -> Result<Option<PostRecord>, StoreError> {
        self.primary_op(
            sqlx::query(BY_ID)
                .bind(id.as_uuid())
                .fetch_optional(self.primary()),
        )
        .await?
        .as_ref()
        .map(codec::post)
        .transpose()
    }

    async fn delete(&self, id: PostId, author: UserId) -> Result<bool, StoreError> {
        let done = self
            .primary_op(
                sqlx::query(DELETE)
                    .bind(id.as_uuid())
                    .bind(author.as_uuid())
                    .execute(self.primary()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn latest(&self, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        let rows = self
            .read(self.page_route(&q), |pool| async move {
                sqlx::query(LATEST)
                    .bind(before(q.before))
                    .bind(limit(q.limit))
                    .fetch_all(&pool)
                    .await
            })
            .await?;
        rows.iter().map(codec::post).collect()
    }

    async fn by_author(&self, author: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.user_page(BY_AUTHOR, author, q, codec::post).await
    }

    async fn feed(&self, user: UserId, q: Keyset) -> Result<Vec<PostRecord>, StoreError> {
        self.user_page(FEED, user, q, codec::post).await
    }
}

impl PgStore {
    /// A keyset page of rows keyed by one user (`$1`), cursor `$2`, limit `$3`, routed like
    /// every page (see `page_route`): a user's posts, the feed, follower and following lists.
    pub(crate) async fn user_page<T>(
        &self,
        sql: &'static str,
        user: UserId,
        q: Keyset,
        decode: fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self
            .read(self.page_route(&q), |pool| async move {
                sqlx::query(sql)
                    .bind(user.as_uuid())
                    .bind(before(q.before))
                    .bind(limit(q.limit))
                    .fetch_all(&pool)
                    .await
            })
            .await?;
        rows.iter().map(decode).collect()
    }
}
